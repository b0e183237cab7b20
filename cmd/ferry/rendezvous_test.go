package main

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ferryhq/ferry/internal/redistest"
	"github.com/ferryhq/ferry/p2p"
)

// TestRendezvousLimitsAcrossRelays: two ferry relay processes share one
// Redis; a device's code cap and a code's claim limit hold across both, not
// per process, and a claim made on one opens circuits through the other.
func TestRendezvousLimitsAcrossRelays(t *testing.T) {
	redis := redistest.Start(t)
	dir := t.TempDir()
	flags := []string{"--redis", redis, "--max-codes-per-device", "2", "--max-claims-per-code", "2"}
	addr1, _ := startLoopbackRelay(t, filepath.Join(dir, "relay1"), flags...)
	addr2, _ := startLoopbackRelay(t, filepath.Join(dir, "relay2"), flags...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	relay1, err := p2p.ParseRelayAddr(addr1)
	if err != nil {
		t.Fatal(err)
	}
	relay2, err := p2p.ParseRelayAddr(addr2)
	if err != nil {
		t.Fatal(err)
	}
	// Each device on its own loopback address, with a slot on the relays
	// it names.
	device := func(ip string, addrs ...string) host.Host {
		h, err := p2p.NewHost(ctx, p2p.Config{Home: t.TempDir(), ListenAddrs: []string{"/ip4/" + ip + "/tcp/0"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		for _, a := range addrs {
			if _, _, err := p2p.ReserveRelay(ctx, h, a); err != nil {
				t.Fatal(err)
			}
		}
		return h
	}

	squatter := device("127.0.0.2", addr1, addr2)
	if err := p2p.Register(ctx, squatter, relay1.ID, "1"); err != nil {
		t.Fatal(err)
	}
	if err := p2p.Register(ctx, squatter, relay2.ID, "2"); err != nil {
		t.Fatal(err)
	}
	for i, r := range []peer.AddrInfo{relay1, relay2} {
		if err := p2p.Register(ctx, squatter, r.ID, "3"); !errors.Is(err, p2p.ErrRendezvousLimit) {
			t.Errorf("a third code, on relay %d: got %v, want ErrRendezvousLimit", i+1, err)
		}
	}

	sender := device("127.0.0.3", addr1)
	if err := p2p.Register(ctx, sender, relay1.ID, "4"); err != nil {
		t.Fatal(err)
	}
	first := device("127.0.0.4", addr1)
	if _, err := p2p.Claim(ctx, first, relay1.ID, "4"); err != nil {
		t.Fatalf("first claim, on relay 1: %v", err)
	}
	second := device("127.0.0.5", addr2)
	s, err := p2p.Claim(ctx, second, relay2.ID, "4")
	if err != nil {
		t.Fatalf("second claim, on relay 2: %v", err)
	}
	if s.ID != sender.ID() || s.Relay.ID != relay1.ID {
		t.Fatalf("claim on relay 2: got %s via %s, want %s via relay 1", s.ID, s.Relay.ID, sender.ID())
	}
	if err := p2p.DialViaRelay(ctx, second, s.Relay, s.ID); err != nil {
		t.Errorf("the claimer on relay 2 dialling the sender through relay 1: %v", err)
	}
	third := device("127.0.0.6", addr1, addr2)
	for i, r := range []peer.AddrInfo{relay1, relay2} {
		if _, err := p2p.Claim(ctx, third, r.ID, "4"); !errors.Is(err, p2p.ErrNameplateClaimed) {
			t.Errorf("third claim, on relay %d: got %v, want ErrNameplateClaimed", i+1, err)
		}
	}
	if err := p2p.DialViaRelay(ctx, third, relay1, sender.ID()); !errors.Is(err, p2p.ErrRelayRefused) {
		t.Errorf("a device that could not claim dialling the sender: got %v, want ErrRelayRefused", err)
	}
}
