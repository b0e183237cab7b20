package relay_test

import (
	"errors"
	"testing"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ferryhq/ferry/internal/archive"
	"github.com/ferryhq/ferry/internal/wire"
	"github.com/ferryhq/ferry/p2p/p2ptest"
	"github.com/ferryhq/ferry/relay"
	"github.com/ferryhq/ferry/relay/vaultproto"
	"github.com/ferryhq/ferry/relay/vaultstore"
)

// TestVaultConfig: the relay's vault limits reach the vault.
func TestVaultConfig(t *testing.T) {
	ctx := testContext(t)
	st, err := vaultstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := startRelay(t, relay.Config{Vault: st, VaultMaxBackups: 1, VaultDeviceRequests: 2, VaultDeviceRate: -1})
	c, err := vaultproto.Dial(ctx, p2ptest.Host(t), relayAddr(t, r))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p := archive.Params{Time: 1, MemoryKiB: 64, Threads: 1}
	for i, want := range []error{nil, vaultproto.ErrQuota} {
		if err := c.PutKeySlot(ctx, [16]byte{byte(i)}, p, [32]byte{}, [32]byte{}, [vaultproto.WrappedSize]byte{}); !errors.Is(err, want) {
			t.Errorf("backup %d with at most 1: %v, want %v", i+1, err, want)
		}
	}
}

// TestVaultNeedsReservation: peer IDs are free, reservations are not: a
// device that holds no reservation on the relay is refused by the vault
// with a sentence, one that holds one is served, and the relay's limit of
// reservations per IP address bounds how many accounts one address uses at
// once. (Before, any peer ID was an account with its own quota.)
func TestVaultNeedsReservation(t *testing.T) {
	ctx := testContext(t)
	st, err := vaultstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := startRelay(t, relay.Config{Vault: st, MaxReservationsPerIP: 2})
	info := peer.AddrInfo{ID: r.ID(), Addrs: r.Addrs()}
	p := archive.Params{Time: 1, MemoryKiB: 64, Threads: 1}
	put := func(h host.Host, i byte) error {
		s, err := h.NewStream(ctx, r.ID(), vaultproto.ProtocolID)
		if err != nil {
			return err
		}
		defer s.Close()
		body := append([]byte{i}, make([]byte, 15)...)
		body = append(body, 2, 1, 64, 1) // key slot v2, 1 pass over 64 KiB, 1 lane
		body = append(body, make([]byte, 32+32+vaultproto.WrappedSize)...)
		if err := wire.Write(s, 0x08, body); err != nil {
			return err
		}
		typ, ans, err := wire.NewReader(s).Next()
		if err != nil {
			return err
		}
		if typ == wire.Error {
			return wire.ParseError(ans)
		}
		return nil
	}
	// A raw peer without a reservation.
	h := p2ptest.Host(t)
	if err := h.Connect(ctx, info); err != nil {
		t.Fatal(err)
	}
	err = put(h, 1)
	var re *wire.RemoteError
	if !errors.As(err, &re) || re.Message != vaultproto.ErrNoAccess.Error() {
		t.Fatalf("a key slot from a peer without a reservation: %v, want the vault's no-access answer", err)
	}
	// Through the vault client, which reserves: served, up to the
	// reservations one address may hold.
	for i := range 3 {
		c, err := vaultproto.Dial(ctx, p2ptest.Host(t), relayAddr(t, r))
		if err != nil {
			t.Fatal(err)
		}
		err = c.PutKeySlot(ctx, [16]byte{byte(10 + i)}, p, [32]byte{}, [32]byte{}, [vaultproto.WrappedSize]byte{})
		if want := i < 2; (err == nil) != want {
			t.Errorf("device %d on one address: %v (served: want %v)", i+1, err, want)
		}
		if i == 2 && !errors.Is(err, vaultproto.ErrNoAccess) {
			t.Errorf("device 3 on one address allowing 2 reservations: %v, want vaultproto.ErrNoAccess", err)
		}
	}
}
