package relay_test

import (
	"context"
	"io"
	"strconv"
	"testing"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ferryhq/ferry/p2p"
	"github.com/ferryhq/ferry/p2p/p2ptest"
	"github.com/ferryhq/ferry/relay"
)

// sinkProto is a test protocol: the handler reads everything, then
// answers one byte.
const sinkProto = "/ferry/test/sink/1"

func sinkHandler(s network.Stream) {
	if _, err := io.Copy(io.Discard, s); err != nil {
		s.Reset()
		return
	}
	s.Write([]byte{'k'})
	s.Close()
}

// pushOnce sends n zero bytes to p's sink and waits for the answer.
func pushOnce(ctx context.Context, tb testing.TB, h host.Host, p peer.ID, buf []byte, n int64) {
	s, err := h.NewStream(network.WithAllowLimitedConn(ctx, "bench"), p, sinkProto)
	if err != nil {
		tb.Fatal(err)
	}
	for left := n; left > 0; {
		m := min(left, int64(len(buf)))
		if _, err := s.Write(buf[:m]); err != nil {
			tb.Fatal(err)
		}
		left -= m
	}
	if err := s.CloseWrite(); err != nil {
		tb.Fatal(err)
	}
	ack := make([]byte, 1)
	if _, err := io.ReadFull(s, ack); err != nil {
		tb.Fatal(err)
	}
	s.Close()
}

// BenchmarkRelayThroughput moves the same data over one stream directly
// and through a relay on loopback; compare the two MB/s figures.
func BenchmarkRelayThroughput(b *testing.B) {
	const n = 64 << 20
	ctx := testContext(b)
	r := startRelay(b, relay.Config{})
	addr := relayAddr(b, r)
	sender, info := newSender(b, addr)
	sender.SetStreamHandler(sinkProto, sinkHandler)
	buf := make([]byte, 256<<10)

	b.Run("direct", func(b *testing.B) {
		rx := p2ptest.Host(b)
		if err := rx.Connect(ctx, peer.AddrInfo{ID: sender.ID(), Addrs: p2p.DialAddrs(sender)}); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(n)
		b.ResetTimer()
		for range b.N {
			pushOnce(ctx, b, rx, sender.ID(), buf, n)
		}
	})
	b.Run("relayed", func(b *testing.B) {
		rx := p2ptest.Host(b)
		if err := p2p.DialViaRelay(ctx, rx, info, sender.ID()); err != nil {
			b.Fatal(err)
		}
		conns := rx.Network().ConnsToPeer(sender.ID())
		if len(conns) != 1 || !p2p.IsRelayed(conns[0]) {
			b.Fatalf("want exactly one relayed connection, have %d", len(conns))
		}
		b.SetBytes(n)
		b.ResetTimer()
		for range b.N {
			pushOnce(ctx, b, rx, sender.ID(), buf, n)
		}
	})
}

// BenchmarkRendezvous measures what a sender and a receiver with fresh
// hosts wait for before pairing can start: reserve a slot, register,
// reserve the receiver's slot, claim, dial through the relay, and one
// round trip on a new stream.
func BenchmarkRendezvous(b *testing.B) {
	ctx := testContext(b)
	// Every iteration registers and claims from 127.0.0.1 (nameplates are
	// not given up): lift the address's caps.
	r := startRelay(b, relay.Config{PeerRate: 1000, PeerBurst: 1000, IPRate: 1000, IPBurst: 1000, MaxReservationsPerIP: 1 << 20})
	addr := relayAddr(b, r)
	for i := range b.N {
		b.StopTimer()
		tx, rx := p2ptest.Host(b), p2ptest.Host(b)
		tx.SetStreamHandler(sinkProto, sinkHandler)
		np := "b" + strconv.Itoa(i)
		b.StartTimer()

		rctx, cancel := context.WithCancel(ctx)
		if _, _, err := p2p.ReserveRelay(rctx, tx, addr); err != nil {
			b.Fatal(err)
		}
		if err := p2p.Register(ctx, tx, r.ID(), np); err != nil {
			b.Fatal(err)
		}
		if _, _, err := p2p.ReserveRelay(rctx, rx, addr); err != nil {
			b.Fatal(err)
		}
		s, err := p2p.Claim(ctx, rx, r.ID(), np)
		if err != nil {
			b.Fatal(err)
		}
		if err := p2p.DialViaRelay(ctx, rx, s.Relay, s.ID); err != nil {
			b.Fatal(err)
		}
		pushOnce(ctx, b, rx, s.ID, []byte{1}, 1)

		b.StopTimer()
		cancel()
		tx.Close()
		rx.Close()
		b.StartTimer()
	}
}
