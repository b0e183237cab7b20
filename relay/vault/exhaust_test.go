package vault

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ferryhq/ferry/internal/archive"
	"github.com/ferryhq/ferry/internal/wire"
	"github.com/ferryhq/ferry/p2p"
	"github.com/ferryhq/ferry/p2p/p2ptest"
	"github.com/ferryhq/ferry/relay/vaultproto"
	"github.com/ferryhq/ferry/relay/vaultstore"
)

// heapInUse is the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestTinyFramesHoldNothing: throwaway identities open streams that each
// announce the largest upload and send four bytes of it. They hold no
// request slot and almost no memory, and a real device's List is answered
// at once. Before, each was admitted on its first byte and allocated its
// announced 24 MiB: 64 of them grew the heap by 1.5 GiB and held every
// slot, so the device's List timed out.
func TestTinyFramesHoldNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("16 libp2p hosts")
	}
	srv := p2ptest.Host(t)
	st, err := vaultstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const identities, perIdentity = 16, 8
	headers := make(chan struct{}, identities*perIdentity)
	s, err := Register(srv, Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	s.onHeader = func(wire.Type, int) { headers <- struct{}{} }
	attackers := make([]host.Host, identities)
	for i := range attackers {
		attackers[i] = p2ptest.Host(t)
		if err := attackers[i].Connect(context.Background(), peer.AddrInfo{ID: srv.ID(), Addrs: p2p.DialAddrs(srv)}); err != nil {
			t.Fatal(err)
		}
	}
	dev := pair(t, srv)
	if _, err := dev.List(context.Background()); err != nil {
		t.Fatalf("List before the attack: %v", err)
	}
	before := heapInUse()

	frame := binary.AppendUvarint(nil, uint64(vaultproto.IDSize+vaultproto.NameSize+vaultproto.MaxChunk)+1)
	frame = append(frame, byte(vaultproto.OpPutChunk), 1, 2, 3, 4)
	var streams []network.Stream
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, a := range attackers {
		for range perIdentity {
			wg.Go(func() {
				st, err := a.NewStream(context.Background(), srv.ID(), vaultproto.ProtocolID)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := st.Write(frame); err != nil {
					t.Error(err)
				}
				mu.Lock()
				streams = append(streams, st)
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, st := range streams {
			st.Reset()
		}
	})
	for range identities * perIdentity {
		waitFor(t, headers, "the relay reading an attacker's header")
	}
	grown := int64(heapInUse()) - int64(before)
	// 128 streams × (a 16 KiB first buffer + a 4 KiB read-ahead + libp2p's
	// own) is a few MiB; the old reader's 24 MiB each would be 3 GiB.
	const bound = 64 << 20
	t.Logf("%d streams announcing %d bytes each: heap grew by %.1f MiB", len(streams), vaultproto.MaxChunk, float64(grown)/(1<<20))
	if grown > bound {
		t.Errorf("the heap grew by %d bytes, want at most %d", grown, bound)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := dev.List(ctx); err != nil {
		t.Errorf("a real device's List while %d streams stall: %v", len(streams), err)
	}
}

// TestMaxTotal: the vault as a whole holds at most MaxTotal bytes,
// whichever accounts they belong to; deleting makes room again, and a
// restart counts what is stored.
func TestMaxTotal(t *testing.T) {
	dir := t.TempDir()
	s, _ := newServerAt(t, dir, Config{MaxTotal: 2500})
	ctx := context.Background()
	chunk := make([]byte, 1000)
	for i, acct := range []string{"a", "b", "c"} {
		err := s.putChunk(ctx, acct, [vaultproto.IDSize]byte{byte(i)}, [vaultproto.NameSize]byte{1}, chunk)
		if want := i < 2; (err == nil) != want || !want && !errors.Is(err, vaultproto.ErrFull) {
			t.Errorf("account %s's 1000 bytes with %d held: %v", acct, 1000*i, err)
		}
	}
	s, _ = newServerAt(t, dir, Config{MaxTotal: 2500})
	if err := s.putChunk(ctx, "c", [vaultproto.IDSize]byte{2}, [vaultproto.NameSize]byte{1}, chunk); !errors.Is(err, vaultproto.ErrFull) {
		t.Errorf("after a restart, a chunk past the total: %v, want ErrFull", err)
	}
	if err := s.delete(ctx, "a", [vaultproto.IDSize]byte{0}); err != nil {
		t.Fatal(err)
	}
	if err := s.putChunk(ctx, "c", [vaultproto.IDSize]byte{2}, [vaultproto.NameSize]byte{1}, chunk); err != nil {
		t.Errorf("after a delete made room: %v", err)
	}
}

// TestIPLimits: one address opens at most IPStreams vault streams and
// creates at most IPNewBackups backups a day, however many accounts it
// uses; another address is not held up.
func TestIPLimits(t *testing.T) {
	s, _ := newServer(t, Config{IPStreams: 2, IPNewBackups: 3})
	var held []*ipState
	for i := range 3 {
		ip, err := s.openIP("192.0.2.1")
		if want := i < 2; (err == nil) != want || !want && !errors.Is(err, vaultproto.ErrBusy) {
			t.Errorf("stream %d from one address: %v", i+1, err)
		}
		if err == nil {
			held = append(held, ip)
		}
	}
	if _, err := s.openIP("198.51.100.7"); err != nil {
		t.Errorf("another address: %v", err)
	}
	s.closeIP(held[1])
	ip := held[0]
	ctx := withIP(context.Background(), ip)
	for i := range 4 {
		acct := fmt.Sprintf("throwaway-%d", i)
		_, err := do2(s, ctx, acct, vaultproto.Request{Op: vaultproto.OpPutKeySlot, ID: [vaultproto.IDSize]byte{byte(i)}, Slot: vaultproto.KeySlot{Version: vaultproto.KeySlotV2, Params: archive.Params{Time: 1, MemoryKiB: 64, Threads: 1}}})
		if want := i < 3; (err == nil) != want || !want && !errors.Is(err, vaultproto.ErrBusy) {
			t.Errorf("new backup %d from one address: %v", i+1, err)
		}
	}
	if ipv6 := ipKey(mustAddr(t, "/ip6/2001:db8:1:2ff::1/tcp/1")); ipv6 != ipKey(mustAddr(t, "/ip6/2001:db8:1:200::9/tcp/2")) || ipv6 == ipKey(mustAddr(t, "/ip6/2001:db8:1:300::1/tcp/1")) {
		t.Errorf("IPv6 addresses are not grouped by /56: %s", ipv6)
	}
}

// do2 is do with a request context of the caller's.
func do2(s *Server, ctx context.Context, acct string, req vaultproto.Request) ([]byte, error) {
	typ, body := req.Encode()
	var buf bytes.Buffer
	if err := s.answer(ctx, &buf, &session{from: peer.ID(acct)}, typ, body); err != nil {
		return nil, err
	}
	rt, rb, err := wire.NewReader(&buf).Next()
	if err != nil {
		return nil, err
	}
	if rt == wire.Error {
		return nil, vaultproto.ErrorOf(wire.ParseError(rb))
	}
	return rb, nil
}

func mustAddr(t *testing.T, s string) ma.Multiaddr {
	t.Helper()
	a, err := ma.NewMultiaddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
