// Package p2ptest starts the libp2p hosts that tests use: real hosts (made
// by p2p.NewHost, identity in a temporary home) on loopback, closed when
// the test ends. A host from p2p.NewHost advertises only public addresses,
// so a test dials one with p2p.DialAddrs (Addr does).
package p2ptest

import (
	"context"
	"testing"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ferryhq/ferry/p2p"
)

// Host starts a host on 127.0.0.1 (a TCP port of its own).
func Host(tb testing.TB) host.Host { return HostOn(tb, "127.0.0.1") }

// HostOn starts a host listening on one loopback address, so that its
// connections come from it: 127.0.0.2 and 127.0.0.3 are two "IP addresses"
// to a relay.
func HostOn(tb testing.TB, ip string) host.Host {
	tb.Helper()
	h, err := p2p.NewHost(context.Background(), p2p.Config{Home: tb.TempDir(), ListenAddrs: []string{"/ip4/" + ip + "/tcp/0"}})
	if err != nil {
		tb.Fatalf("p2p.NewHost on %s: %v", ip, err)
	}
	tb.Cleanup(func() { h.Close() })
	return h
}

// Info is how another host reaches h: its peer ID and the addresses it
// listens on.
func Info(h host.Host) peer.AddrInfo { return peer.AddrInfo{ID: h.ID(), Addrs: p2p.DialAddrs(h)} }

// Addr is h's first listen address with /p2p/ID: what a device is given to
// dial a relay.
func Addr(tb testing.TB, h host.Host) string {
	tb.Helper()
	addrs := p2p.DialAddrs(h)
	if len(addrs) == 0 {
		tb.Fatal("p2ptest: the host listens on no address")
	}
	return addrs[0].String() + "/p2p/" + h.ID().String()
}

// Connect connects a to b.
func Connect(tb testing.TB, a, b host.Host) {
	tb.Helper()
	if err := a.Connect(context.Background(), Info(b)); err != nil {
		tb.Fatalf("connect: %v", err)
	}
}
