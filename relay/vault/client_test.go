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

	"github.com/ferryhq/ferry/internal/archive"
	"github.com/ferryhq/ferry/p2p"
	"github.com/ferryhq/ferry/p2p/p2ptest"
	"github.com/ferryhq/ferry/relay/vaultproto"
	"github.com/ferryhq/ferry/relay/vaultstore"
)

// pair returns a client on a new host talking to server, dialled as a
// device dials its relay (the server's host advertises no loopback address,
// so the client keeps the one it was given).
func pair(t testing.TB, server host.Host) *vaultproto.Client {
	t.Helper()
	c, err := vaultproto.Dial(context.Background(), p2ptest.Host(t), p2p.DialAddrs(server)[0].String()+"/p2p/"+server.ID().String())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// vaultHost returns a host on loopback that serves a vault in a new
// directory.
func vaultHost(t testing.TB) host.Host {
	t.Helper()
	st, err := vaultstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := p2ptest.Host(t)
	if _, err := Register(srv, Config{Store: st}); err != nil {
		t.Fatal(err)
	}
	return srv
}

func TestClientServer(t *testing.T) {
	ctx := context.Background()
	srv := vaultHost(t)
	c := pair(t, srv)
	id := [vaultproto.IDSize]byte{7}
	n1, n2 := [vaultproto.NameSize]byte{1}, [vaultproto.NameSize]byte{2}
	if err := c.PutChunk(ctx, id, n1, []byte("one")); err != nil {
		t.Fatal(err)
	}
	have, err := c.HasChunks(ctx, id, [][vaultproto.NameSize]byte{n1, n2})
	if err != nil || !have[0] || have[1] {
		t.Fatalf("HasChunks: %v, %v; want [true false]", have, err)
	}
	if err := c.PutManifest(ctx, id, [][vaultproto.NameSize]byte{n1, n2}, []byte("m")); !errors.Is(err, vaultproto.ErrMissingChunks) {
		t.Errorf("PutManifest naming a missing chunk: %v, want ErrMissingChunks", err)
	}
	if err := c.PutManifest(ctx, id, [][vaultproto.NameSize]byte{n1}, []byte("m")); err != nil {
		t.Fatal(err)
	}
	other := pair(t, srv)
	if b, err := other.GetChunk(ctx, id, n1, nil); err != nil || string(b) != "one" {
		t.Errorf("GetChunk by another device: %q, %v", b, err)
	}
	if _, err := other.GetChunk(ctx, id, n2, nil); !errors.Is(err, vaultproto.ErrChunkMissing) {
		t.Errorf("GetChunk of a missing chunk: %v, want ErrChunkMissing", err)
	}
	if b, err := other.GetManifest(ctx, id); err != nil || string(b) != "m" {
		t.Errorf("GetManifest: %q, %v", b, err)
	}
	p := archive.Params{Time: 1, MemoryKiB: 64, Threads: 1}
	pub, priv := testKey(1)
	if err := c.PutKeySlot(ctx, id, p, [32]byte{1}, pub, [vaultproto.WrappedSize]byte{3}); err != nil {
		t.Fatal(err)
	}
	var gotParams archive.Params
	var gotSalt [vaultproto.SaltSize]byte
	w, err := other.UnlockKey(ctx, id, func(gp archive.Params, salt [vaultproto.SaltSize]byte, msg []byte) ([vaultproto.SignatureSize]byte, error) {
		gotParams, gotSalt = gp, salt
		return signWith(priv, msg), nil
	})
	if err != nil || w != [vaultproto.WrappedSize]byte{3} || gotParams != p || gotSalt != [32]byte{1} {
		t.Errorf("UnlockKey: %x %v, parameters %+v salt %x", w, err, gotParams, gotSalt)
	}
	_, wrong := testKey(2)
	if _, err := other.UnlockKey(ctx, id, prover(wrong)); !errors.Is(err, vaultproto.ErrWrongPassword) {
		t.Errorf("UnlockKey with another key: %v, want ErrWrongPassword", err)
	}
	list, err := c.List(ctx)
	if err != nil || len(list) != 1 || list[0].ID != id {
		t.Errorf("List: %+v, %v", list, err)
	}
	if err := c.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := other.GetManifest(ctx, id); !errors.Is(err, vaultproto.ErrNotFound) {
		t.Errorf("GetManifest after Delete: %v, want ErrNotFound", err)
	}
}

// BenchmarkClientGetChunk fetches 4 MiB objects on vaultWorkers-like parallel
// streams from a vault in a directory, over real hosts on loopback: the
// network part of a restore.
func BenchmarkClientGetChunk(b *testing.B) {
	ctx := context.Background()
	srv := vaultHost(b)
	c := pair(b, srv)
	id := [vaultproto.IDSize]byte{7}
	const size, objects, workers = 4 << 20, 16, 4
	obj := make([]byte, size)
	for i := range objects {
		obj[0] = byte(i)
		if err := c.PutChunk(ctx, id, [vaultproto.NameSize]byte{byte(i)}, obj); err != nil {
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
				got, err := c.GetChunk(ctx, id, [vaultproto.NameSize]byte{byte(i % objects)}, buf)
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
	id, name := [vaultproto.IDSize]byte{7}, [vaultproto.NameSize]byte{1}
	if err := patient.PutChunk(ctx, id, name, []byte("kept")); err != nil {
		t.Fatal(err)
	}

	srv.Close()
	if _, err := hasty.GetChunk(ctx, id, name, nil); !errors.Is(err, vaultproto.ErrConnLost) {
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

func signWith(priv ed25519.PrivateKey, msg []byte) (sig [vaultproto.SignatureSize]byte) {
	copy(sig[:], ed25519.Sign(priv, msg))
	return sig
}

// prover signs with priv.
func prover(priv ed25519.PrivateKey) func(archive.Params, [vaultproto.SaltSize]byte, []byte) ([vaultproto.SignatureSize]byte, error) {
	return func(_ archive.Params, _ [vaultproto.SaltSize]byte, msg []byte) ([vaultproto.SignatureSize]byte, error) {
		return signWith(priv, msg), nil
	}
}
