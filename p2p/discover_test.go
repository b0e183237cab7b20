package p2p

import (
	"context"
	"errors"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
)

// TestDiscoverByAddress: given the sender's addresses, Discover dials them
// with no search, protects the connection and keeps the addresses for a
// reconnect; with nothing to go by it says so.
func TestDiscoverByAddress(t *testing.T) {
	ctx := context.Background()
	sender := newTestHost(t, "", "/ip4/127.0.0.1/tcp/0")
	receiver := newTestHost(t, "", "/ip4/127.0.0.1/tcp/0")
	var steps []Step
	f, err := Discover(ctx, receiver, Target{
		Addrs:  []peer.AddrInfo{{ID: sender.ID(), Addrs: sender.Network().ListenAddresses()}},
		MDNS:   true, // not needed: the address is given
		OnStep: func(s Step) { steps = append(steps, s) },
	})
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	if f.ID != sender.ID() || f.Relay.ID != "" || len(steps) != 0 {
		t.Errorf("found %+v after steps %+v; want the sender, directly, with no search", f, steps)
	}
	if len(receiver.Network().ConnsToPeer(sender.ID())) == 0 || !receiver.ConnManager().IsProtected(sender.ID(), "ferry-session") {
		t.Error("no protected connection to the sender")
	}
	if len(receiver.Peerstore().Addrs(sender.ID())) == 0 {
		t.Error("the sender's addresses were not kept for a reconnect")
	}

	if _, err := Discover(ctx, receiver, Target{}); !errors.Is(err, ErrNoDiscovery) {
		t.Errorf("Discover with nothing to go by: %v, want ErrNoDiscovery", err)
	}
}
