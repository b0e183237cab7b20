package vaultproto

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"testing"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"

	"github.com/ferryhq/ferry/internal/archive"
	"github.com/ferryhq/ferry/internal/wire"
	"github.com/ferryhq/ferry/p2p"
	"github.com/ferryhq/ferry/p2p/p2ptest"
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
		{"wrong type", func(st network.Stream) { wire.Write(st, AnswerData, []byte("x")) },
			func(c *Client) error { return c.PutChunk(ctx, [16]byte{}, [32]byte{}, []byte("x")) }, ErrProtocol},
		{"non-empty ack", func(st network.Stream) { wire.Write(st, AnswerAck, []byte("x")) },
			func(c *Client) error { return c.Delete(ctx, [16]byte{}) }, ErrProtocol},
		{"short bitmap", func(st network.Stream) { wire.Write(st, AnswerBitmap) },
			func(c *Client) error { _, err := c.HasChunks(ctx, [16]byte{}, make([][32]byte, 9)); return err }, ErrProtocol},
		{"unknown error code", func(st network.Stream) { wire.WriteError(st, 99, "?") },
			func(c *Client) error { _, err := c.GetManifest(ctx, [16]byte{}); return err }, ErrRelay},
		{"costly argon2 parameters", func(st network.Stream) {
			k := KeySlot{Version: KeySlotV2, Params: archive.Params{Time: 1, MemoryKiB: 1 << 22, Threads: 1}}
			wire.Write(st, AnswerKeyParams, AppendKeyParams(nil, k, [ChallengeSize]byte{}))
		}, func(c *Client) error { _, err := c.UnlockKey(ctx, [16]byte{}, mustNotProve(t)); return err }, ErrProtocol},
		{"old key slot", func(st network.Stream) {
			wire.Write(st, AnswerKeyParams, appendParams(nil, KeySlotV1, archive.Params{Time: 3, MemoryKiB: 64 << 10, Threads: 4}, [32]byte{}))
		}, func(c *Client) error { _, err := c.UnlockKey(ctx, [16]byte{}, mustNotProve(t)); return err }, ErrOldKeySlot},
		{"bad list", func(st network.Stream) { wire.Write(st, AnswerBackups, []byte{5}) },
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
		k := KeySlot{Version: KeySlotV2, Params: archive.Params{Time: 1, MemoryKiB: 64, Threads: 1}}
		wire.Write(st, AnswerKeyParams, AppendKeyParams(nil, k, [ChallengeSize]byte{}))
		if _, _, err := r.Next(); err != nil {
			st.Reset()
			return
		}
		wire.Write(st, AnswerWrapped, []byte("x"))
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
