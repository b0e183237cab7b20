package vault

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"

	"github.com/ferryhq/ferry/internal/archive"
	"github.com/ferryhq/ferry/internal/wire"
	"github.com/ferryhq/ferry/p2p"
	"github.com/ferryhq/ferry/p2p/p2ptest"
	"github.com/ferryhq/ferry/relay/vaultstore"
)

// pair returns a client on a new host talking to server, dialled as a
// device dials its relay (the server's host advertises no loopback address,
// so the client keeps the one it was given).
func pair(t testing.TB, server host.Host) *Client {
	t.Helper()
	c, err := Dial(context.Background(), p2ptest.Host(t), p2p.DialAddrs(server)[0].String()+"/p2p/"+server.ID().String())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClientServer(t *testing.T) {
	ctx := context.Background()
	st, err := vaultstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := p2ptest.Host(t)
	if _, err := Register(srv, Config{Store: st}); err != nil {
		t.Fatal(err)
	}
	c := pair(t, srv)
	id := [IDSize]byte{7}
	n1, n2 := [NameSize]byte{1}, [NameSize]byte{2}
	if err := c.PutChunk(ctx, id, n1, []byte("one")); err != nil {
		t.Fatal(err)
	}
	have, err := c.HasChunks(ctx, id, [][NameSize]byte{n1, n2})
	if err != nil || !have[0] || have[1] {
		t.Fatalf("HasChunks: %v, %v; want [true false]", have, err)
	}
	if err := c.PutManifest(ctx, id, [][NameSize]byte{n1, n2}, []byte("m")); !errors.Is(err, ErrMissingChunks) {
		t.Errorf("PutManifest naming a missing chunk: %v, want ErrMissingChunks", err)
	}
	if err := c.PutManifest(ctx, id, [][NameSize]byte{n1}, []byte("m")); err != nil {
		t.Fatal(err)
	}
	other := pair(t, srv)
	if b, err := other.GetChunk(ctx, id, n1, nil); err != nil || string(b) != "one" {
		t.Errorf("GetChunk by another device: %q, %v", b, err)
	}
	if _, err := other.GetChunk(ctx, id, n2, nil); !errors.Is(err, ErrChunkMissing) {
		t.Errorf("GetChunk of a missing chunk: %v, want ErrChunkMissing", err)
	}
	if b, err := other.GetManifest(ctx, id); err != nil || string(b) != "m" {
		t.Errorf("GetManifest: %q, %v", b, err)
	}
	p := archive.Params{Time: 1, MemoryKiB: 64, Threads: 1}
	pub, priv := testKey(1)
	if err := c.PutKeySlot(ctx, id, p, [32]byte{1}, pub, [WrappedSize]byte{3}); err != nil {
		t.Fatal(err)
	}
	var gotParams archive.Params
	var gotSalt [SaltSize]byte
	w, err := other.UnlockKey(ctx, id, func(gp archive.Params, salt [SaltSize]byte, msg []byte) ([SignatureSize]byte, error) {
		gotParams, gotSalt = gp, salt
		return signWith(priv, msg), nil
	})
	if err != nil || w != [WrappedSize]byte{3} || gotParams != p || gotSalt != [32]byte{1} {
		t.Errorf("UnlockKey: %x %v, parameters %+v salt %x", w, err, gotParams, gotSalt)
	}
	_, wrong := testKey(2)
	if _, err := other.UnlockKey(ctx, id, prover(wrong)); !errors.Is(err, ErrWrongPassword) {
		t.Errorf("UnlockKey with another key: %v, want ErrWrongPassword", err)
	}
	list, err := c.List(ctx)
	if err != nil || len(list) != 1 || list[0].ID != id {
		t.Errorf("List: %+v, %v", list, err)
	}
	if err := c.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := other.GetManifest(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetManifest after Delete: %v, want ErrNotFound", err)
	}
}

// TestClientRejectsHostileAnswers: a relay that answers outside the
// protocol gives ErrProtocol (or ErrRelay), never a wrong result.
func TestClientRejectsHostileAnswers(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name   string
		answer func(st network.Stream)
		call   func(c *Client) error
		want   error
	}{
		{"wrong type", func(st network.Stream) { wire.Write(st, rData, []byte("x")) },
			func(c *Client) error { return c.PutChunk(ctx, [16]byte{}, [32]byte{}, []byte("x")) }, ErrProtocol},
		{"non-empty ack", func(st network.Stream) { wire.Write(st, rAck, []byte("x")) },
			func(c *Client) error { return c.Delete(ctx, [16]byte{}) }, ErrProtocol},
		{"short bitmap", func(st network.Stream) { wire.Write(st, rBitmap) },
			func(c *Client) error { _, err := c.HasChunks(ctx, [16]byte{}, make([][32]byte, 9)); return err }, ErrProtocol},
		{"unknown error code", func(st network.Stream) { wire.WriteError(st, 99, "?") },
			func(c *Client) error { _, err := c.GetManifest(ctx, [16]byte{}); return err }, ErrRelay},
		{"costly argon2 parameters", func(st network.Stream) {
			k := KeySlot{Version: slotV2, Params: archive.Params{Time: 1, MemoryKiB: 1 << 22, Threads: 1}}
			wire.Write(st, rKeyParams, appendKeyParams(nil, k, [ChallengeSize]byte{}))
		}, func(c *Client) error { _, err := c.UnlockKey(ctx, [16]byte{}, mustNotProve(t)); return err }, ErrProtocol},
		{"old key slot", func(st network.Stream) {
			wire.Write(st, rKeyParams, appendParams(nil, slotV1, archive.Params{Time: 3, MemoryKiB: 64 << 10, Threads: 4}, [32]byte{}))
		}, func(c *Client) error { _, err := c.UnlockKey(ctx, [16]byte{}, mustNotProve(t)); return err }, ErrOldKeySlot},
		{"bad list", func(st network.Stream) { wire.Write(st, rBackups, []byte{5}) },
			func(c *Client) error { _, err := c.List(ctx); return err }, ErrProtocol},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := p2ptest.Host(t)
			srv.SetStreamHandler(ProtocolID, func(st network.Stream) {
				if _, _, err := wire.NewReader(st).Next(); err != nil {
					st.Reset()
					return
				}
				tc.answer(st)
				st.Close()
			})
			if err := tc.call(pair(t, srv)); !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
	// A short wrapped key after a proof.
	srv0 := p2ptest.Host(t)
	srv0.SetStreamHandler(ProtocolID, func(st network.Stream) {
		r := wire.NewReader(st)
		if _, _, err := r.Next(); err != nil {
			st.Reset()
			return
		}
		k := KeySlot{Version: slotV2, Params: archive.Params{Time: 1, MemoryKiB: 64, Threads: 1}}
		wire.Write(st, rKeyParams, appendKeyParams(nil, k, [ChallengeSize]byte{}))
		if _, _, err := r.Next(); err != nil {
			st.Reset()
			return
		}
		wire.Write(st, rWrapped, []byte("x"))
		st.Close()
	})
	_, priv := testKey(1)
	if _, err := pair(t, srv0).UnlockKey(ctx, [16]byte{}, prover(priv)); !errors.Is(err, ErrProtocol) {
		t.Errorf("a short wrapped key: %v, want ErrProtocol", err)
	}
	// A relay that hangs up without answering is an error, not a result.
	srv := p2ptest.Host(t)
	srv.SetStreamHandler(ProtocolID, func(st network.Stream) { st.Close() })
	if _, err := pair(t, srv).GetChunk(ctx, [16]byte{}, [32]byte{}, nil); err == nil {
		t.Error("GetChunk from a relay that hung up: no error")
	}
}

// BenchmarkClientGetChunk fetches 4 MiB objects on vaultWorkers-like parallel
// streams from a vault in a directory, over real hosts on loopback: the
// network part of a restore.
func BenchmarkClientGetChunk(b *testing.B) {
	ctx := context.Background()
	st, err := vaultstore.NewDir(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	srv := p2ptest.Host(b)
	if _, err := Register(srv, Config{Store: st}); err != nil {
		b.Fatal(err)
	}
	c := pair(b, srv)
	id := [IDSize]byte{7}
	const size, objects, workers = 4 << 20, 16, 4
	obj := make([]byte, size)
	for i := range objects {
		obj[0] = byte(i)
		if err := c.PutChunk(ctx, id, [NameSize]byte{byte(i)}, obj); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(size)
	b.ResetTimer()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				got, err := c.GetChunk(ctx, id, [NameSize]byte{byte(i % objects)}, buf)
				if err != nil || len(got) != size {
					b.Errorf("GetChunk: %d bytes, %v", len(got), err)
					return
				}
				buf = got[:0]
			}
		}()
	}
	wg.Wait()
}

// TestClientRetriesThroughRestart: the relay goes away mid-session and comes
// back (same identity, same port). A client with Retry waits and carries on;
// one without gives up at once with the connection's error.
func TestClientRetriesThroughRestart(t *testing.T) {
	ctx := context.Background()
	st, err := vaultstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	serve := func(listen string) host.Host {
		h, err := p2p.NewHost(ctx, p2p.Config{Home: home, ListenAddrs: []string{listen}})
		if err != nil {
			t.Fatalf("relay host on %s: %v", listen, err)
		}
		t.Cleanup(func() { h.Close() })
		if _, err := Register(h, Config{Store: st}); err != nil {
			t.Fatal(err)
		}
		return h
	}
	srv := serve("/ip4/127.0.0.1/tcp/0")
	addr := p2p.DialAddrs(srv)[0].String()
	patient, hasty := pair(t, srv), pair(t, srv)
	retried := make(chan error, 1)
	patient.Retry = 30 * time.Second
	patient.OnRetry = func(err error) {
		select {
		case retried <- err:
		default:
		}
	}
	id, name := [IDSize]byte{7}, [NameSize]byte{1}
	if err := patient.PutChunk(ctx, id, name, []byte("kept")); err != nil {
		t.Fatal(err)
	}

	srv.Close()
	if _, err := hasty.GetChunk(ctx, id, name, nil); !errors.Is(err, ErrConnLost) {
		t.Fatalf("GetChunk without Retry with the relay gone: %v, want ErrConnLost", err)
	}
	got := make(chan error, 1)
	go func() {
		b, err := patient.GetChunk(ctx, id, name, nil)
		if err == nil && string(b) != "kept" {
			err = fmt.Errorf("got %q, want %q", b, "kept")
		}
		got <- err
	}()
	select {
	case err := <-retried:
		t.Logf("first retry after: %v", err)
	case err := <-got:
		t.Fatalf("GetChunk with the relay gone ended before any retry: %v", err)
	}
	serve(addr) // back, as after a restart
	if err := <-got; err != nil {
		t.Errorf("GetChunk across the relay's restart: %v", err)
	}
}

// testKey is a deterministic Ed25519 key pair: a password's proof key.
func testKey(seed byte) ([32]byte, ed25519.PrivateKey) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
	var pub [32]byte
	copy(pub[:], priv.Public().(ed25519.PublicKey))
	return pub, priv
}

func signWith(priv ed25519.PrivateKey, msg []byte) (sig [SignatureSize]byte) {
	copy(sig[:], ed25519.Sign(priv, msg))
	return sig
}

// prover signs with priv.
func prover(priv ed25519.PrivateKey) func(archive.Params, [SaltSize]byte, []byte) ([SignatureSize]byte, error) {
	return func(_ archive.Params, _ [SaltSize]byte, msg []byte) ([SignatureSize]byte, error) {
		return signWith(priv, msg), nil
	}
}

// mustNotProve fails the test if it is asked for a proof.
func mustNotProve(t *testing.T) func(archive.Params, [SaltSize]byte, []byte) ([SignatureSize]byte, error) {
	return func(archive.Params, [SaltSize]byte, []byte) ([SignatureSize]byte, error) {
		t.Error("asked for a proof")
		return [SignatureSize]byte{}, errors.New("no proof")
	}
}
