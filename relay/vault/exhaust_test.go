package vault

import (
	"context"
	"encoding/binary"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/wire"
	"github.com/ferryhq/ferry/relay/vaultstore"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
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
	srv := loopbackHost(t)
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
		attackers[i] = loopbackHost(t)
		if err := attackers[i].Connect(context.Background(), peer.AddrInfo{ID: srv.ID(), Addrs: srv.Addrs()}); err != nil {
			t.Fatal(err)
		}
	}
	dev := pair(t, srv)
	if _, err := dev.List(context.Background()); err != nil {
		t.Fatalf("List before the attack: %v", err)
	}
	before := heapInUse()

	frame := binary.AppendUvarint(nil, uint64(IDSize+NameSize+MaxChunk)+1)
	frame = append(frame, byte(opPutChunk), 1, 2, 3, 4)
	var streams []network.Stream
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, a := range attackers {
		for range perIdentity {
			wg.Go(func() {
				st, err := a.NewStream(context.Background(), srv.ID(), ProtocolID)
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
	t.Logf("%d streams announcing %d bytes each: heap grew by %.1f MiB", len(streams), MaxChunk, float64(grown)/(1<<20))
	if grown > bound {
		t.Errorf("the heap grew by %d bytes, want at most %d", grown, bound)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := dev.List(ctx); err != nil {
		t.Errorf("a real device's List while %d streams stall: %v", len(streams), err)
	}
}
