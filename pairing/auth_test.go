package pairing

import (
	"errors"
	"net"
	"testing"
)

// pairedStores pairs recv and send over a pipe with a fresh trust store each.
func pairedStores(t *testing.T, recv, send side) (storeR, storeS *Store) {
	t.Helper()
	var err error
	if storeR, err = Open(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if storeS, err = Open(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	code := mustCode(t, "3-zebra-acorn")
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	ra, rb := runBoth(
		func() (*Peer, error) {
			return Pair(ctx, a, Config{Role: Initiator, Code: code, Local: recv.id, RemotePeer: send.peer, Store: storeR})
		},
		func() (*Peer, error) {
			return Pair(ctx, b, Config{Role: Responder, Code: code, Local: send.id, RemotePeer: recv.peer, Store: storeS})
		})
	if ra.err != nil || rb.err != nil {
		t.Fatalf("pair: %v / %v", ra.err, rb.err)
	}
	return storeR, storeS
}

func TestAuthenticatePaired(t *testing.T) {
	for name, mk := range transports(t) {
		t.Run(name, func(t *testing.T) {
			recv, send := newSides(t)
			storeR, storeS := pairedStores(t, recv, send)
			ctx := testCtx(t)
			a, b := mk(t)
			ra, rb := runBoth(
				func() (*Peer, error) {
					return Authenticate(ctx, a, AuthConfig{Role: Initiator, Local: recv.id, RemotePeer: send.peer, Store: storeR})
				},
				func() (*Peer, error) {
					return Authenticate(ctx, b, AuthConfig{Role: Responder, Local: send.id, RemotePeer: recv.peer, Store: storeS, Offer: []byte("o")})
				})
			if ra.err != nil || rb.err != nil {
				t.Fatalf("authenticate: %v / %v", ra.err, rb.err)
			}
			if ra.peer.Device.PeerID != send.peer || rb.peer.Device.PeerID != recv.peer || string(ra.peer.Offer) != "o" {
				t.Errorf("got %+v / %+v", ra.peer, rb.peer)
			}
		})
	}
}

func TestAuthenticateRefusesStrangers(t *testing.T) {
	recv, send := newSides(t)
	storeR, storeS := pairedStores(t, recv, send)
	stranger := testIdentity(t, "stranger", "stranger")
	strangerPeer := mustPeerID(t, stranger)
	emptyStore, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}

	t.Run("responder does not know initiator", func(t *testing.T) {
		ctx := testCtx(t)
		// The stranger claims to know the sender (its own store has it).
		strangerStore, _ := Open(t.TempDir())
		d, _ := storeR.Get(send.peer)
		if err := strangerStore.Add(d); err != nil {
			t.Fatal(err)
		}
		a, b := net.Pipe()
		defer a.Close()
		defer b.Close()
		ra, rb := runBoth(
			func() (*Peer, error) {
				return Authenticate(ctx, a, AuthConfig{Role: Initiator, Local: stranger, RemotePeer: send.peer, Store: strangerStore})
			},
			func() (*Peer, error) {
				return Authenticate(ctx, b, AuthConfig{Role: Responder, Local: send.id, RemotePeer: strangerPeer, Store: storeS})
			})
		if !errors.Is(ra.err, ErrNotPaired) || !errors.Is(rb.err, ErrNotPaired) {
			t.Errorf("got %v / %v, want ErrNotPaired on both", ra.err, rb.err)
		}
	})
	t.Run("initiator does not know responder", func(t *testing.T) {
		a, b := net.Pipe()
		defer a.Close()
		defer b.Close()
		_, err := Authenticate(testCtx(t), a, AuthConfig{Role: Initiator, Local: recv.id, RemotePeer: strangerPeer, Store: emptyStore})
		if !errors.Is(err, ErrNotPaired) {
			t.Errorf("got %v, want ErrNotPaired", err)
		}
	})
	t.Run("pinned noise key differs", func(t *testing.T) {
		ctx := testCtx(t)
		// The receiver's store has the sender's peer ID with another Noise key
		// (as if the sender's key had been replaced).
		bad, _ := Open(t.TempDir())
		d, _ := storeR.Get(send.peer)
		d.NoiseStatic = make([]byte, 32)
		d.NoiseStatic[0] = 9
		if err := bad.Add(d); err != nil {
			t.Fatal(err)
		}
		a, b := net.Pipe()
		defer a.Close()
		defer b.Close()
		ra, rb := runBoth(
			func() (*Peer, error) {
				return Authenticate(ctx, a, AuthConfig{Role: Initiator, Local: recv.id, RemotePeer: send.peer, Store: bad})
			},
			func() (*Peer, error) {
				return Authenticate(ctx, b, AuthConfig{Role: Responder, Local: send.id, RemotePeer: recv.peer, Store: storeS})
			})
		if !errors.Is(ra.err, ErrNotPaired) || !errors.Is(rb.err, ErrNotPaired) {
			t.Errorf("got %v / %v, want ErrNotPaired on both", ra.err, rb.err)
		}
	})
	t.Run("forgotten device", func(t *testing.T) {
		ctx := testCtx(t)
		if err := storeS.Forget(recv.peer); err != nil {
			t.Fatal(err)
		}
		a, b := net.Pipe()
		defer a.Close()
		defer b.Close()
		ra, rb := runBoth(
			func() (*Peer, error) {
				return Authenticate(ctx, a, AuthConfig{Role: Initiator, Local: recv.id, RemotePeer: send.peer, Store: storeR})
			},
			func() (*Peer, error) {
				return Authenticate(ctx, b, AuthConfig{Role: Responder, Local: send.id, RemotePeer: recv.peer, Store: storeS})
			})
		if !errors.Is(ra.err, ErrNotPaired) || !errors.Is(rb.err, ErrNotPaired) {
			t.Errorf("got %v / %v, want ErrNotPaired on both", ra.err, rb.err)
		}
	})
}
