package relay_test

import (
	"context"
	"errors"
	"strconv"
	"testing"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ferryhq/ferry/p2p"
	"github.com/ferryhq/ferry/p2p/p2ptest"
	"github.com/ferryhq/ferry/relay"
)

// reservedOn is p2ptest.HostOn with a slot reserved on the relay at addr (kept
// until the test ends).
func reservedOn(t testing.TB, ip, addr string) host.Host {
	t.Helper()
	h := p2ptest.HostOn(t, ip)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if _, _, err := p2p.ReserveRelay(ctx, h, addr); err != nil {
		t.Fatalf("ReserveRelay from %s: %v", ip, err)
	}
	return h
}

// TestNameplateCapPerPeer: one peer cannot squat the nameplate space: after
// MaxNameplatesPerPeer (default 4) live registrations its next one is
// refused; its own nameplates it may register again, and one it gives up
// makes room. Other peers are not affected.
func TestNameplateCapPerPeer(t *testing.T) {
	ctx := testContext(t)
	r := startRelay(t, relay.Config{})
	addr := relayAddr(t, r)
	squatter := reservedOn(t, "127.0.0.2", addr)
	for i := 1; i <= 4; i++ {
		if err := p2p.Register(ctx, squatter, r.ID(), strconv.Itoa(i)); err != nil {
			t.Fatalf("registration %d of 4: %v", i, err)
		}
	}
	if err := p2p.Register(ctx, squatter, r.ID(), "5"); err == nil {
		t.Fatal("a fifth nameplate for one peer was accepted, want it refused")
	} else if !errors.Is(err, p2p.ErrRendezvousLimit) {
		t.Fatalf("fifth nameplate: got %v, want ErrRendezvousLimit", err)
	}
	if err := p2p.Register(ctx, squatter, r.ID(), "2"); err != nil {
		t.Errorf("registering its own nameplate again: %v", err)
	}
	if err := p2p.Unregister(ctx, squatter, r.ID(), "3"); err != nil {
		t.Fatal(err)
	}
	if err := p2p.Register(ctx, squatter, r.ID(), "5"); err != nil {
		t.Errorf("after giving one up: %v", err)
	}
	other := reservedOn(t, "127.0.0.3", addr)
	if err := p2p.Register(ctx, other, r.ID(), "6"); err != nil {
		t.Errorf("another peer: %v", err)
	}
}

// TestNameplateCapPerIP: fresh peer IDs cost nothing, so one address holds
// at most MaxReservationsPerIP nameplates whatever its peers.
func TestNameplateCapPerIP(t *testing.T) {
	ctx := testContext(t)
	r := startRelay(t, relay.Config{MaxReservationsPerIP: 3})
	addr := relayAddr(t, r)
	a := reservedOn(t, "127.0.0.2", addr)
	b := reservedOn(t, "127.0.0.2", addr)
	for i, h := range []host.Host{a, a, b} {
		if err := p2p.Register(ctx, h, r.ID(), "n"+strconv.Itoa(i)); err != nil {
			t.Fatalf("registration %d of 3 from one address: %v", i, err)
		}
	}
	if err := p2p.Register(ctx, b, r.ID(), "n3"); !errors.Is(err, p2p.ErrRendezvousLimit) {
		t.Errorf("fourth nameplate from one address: got %v, want ErrRendezvousLimit", err)
	}
	if err := p2p.Register(ctx, reservedOn(t, "127.0.0.3", addr), r.ID(), "n4"); err != nil {
		t.Errorf("from another address: %v", err)
	}
}

// TestClaimNeedsReservation: a peer that holds no slot on the relay cannot
// claim, so claiming identities are as bounded as slots are.
func TestClaimNeedsReservation(t *testing.T) {
	ctx := testContext(t)
	r := startRelay(t, relay.Config{})
	addr := relayAddr(t, r)
	sender, _ := newSender(t, addr)
	if err := p2p.Register(ctx, sender, r.ID(), "4"); err != nil {
		t.Fatal(err)
	}
	unreserved := p2ptest.HostOn(t, "127.0.0.2")
	if _, err := p2p.ConnectRelay(ctx, unreserved, addr); err != nil {
		t.Fatal(err)
	}
	if got, err := p2p.Lookup(ctx, unreserved, r.ID(), "4"); err == nil {
		t.Fatalf("a peer without a slot claimed the nameplate and learnt %s", got)
	} else if !errors.Is(err, p2p.ErrNoReservation) {
		t.Fatalf("claim without a slot: got %v, want ErrNoReservation", err)
	}
	rx := reservedOn(t, "127.0.0.3", addr)
	if got, err := p2p.Lookup(ctx, rx, r.ID(), "4"); err != nil || got != sender.ID() {
		t.Fatalf("claim with a slot: got %s, %v; want %s", got, err, sender.ID())
	}
}

// TestSeveralClaims: a nameplate takes MaxClaims (default 3) claims, at most
// MaxClaims-1 from one address, so an attacker that claims first no longer
// locks the real receiver out: pairing decides who had the code.
func TestSeveralClaims(t *testing.T) {
	ctx := testContext(t)
	r := startRelay(t, relay.Config{})
	addr := relayAddr(t, r)
	sender, _ := newSender(t, addr)
	if err := p2p.Register(ctx, sender, r.ID(), "7"); err != nil {
		t.Fatal(err)
	}
	claim := func(h host.Host) (peer.ID, error) { return p2p.Lookup(ctx, h, r.ID(), "7") }
	attacker := reservedOn(t, "127.0.0.2", addr)
	if _, err := claim(attacker); err != nil {
		t.Fatalf("first claim: %v", err)
	}
	receiver := reservedOn(t, "127.0.0.2", addr)
	if got, err := claim(receiver); err != nil || got != sender.ID() {
		t.Fatalf("the real receiver after an attacker's claim: got %s, %v; want %s", got, err, sender.ID())
	}
	if _, err := claim(reservedOn(t, "127.0.0.2", addr)); !errors.Is(err, p2p.ErrNameplateClaimed) {
		t.Errorf("third claim from one address: got %v, want ErrNameplateClaimed", err)
	}
	if _, err := claim(reservedOn(t, "127.0.0.3", addr)); err != nil {
		t.Errorf("third claim from another address: %v", err)
	}
	if _, err := claim(reservedOn(t, "127.0.0.4", addr)); !errors.Is(err, p2p.ErrNameplateClaimed) {
		t.Errorf("fourth claim: got %v, want ErrNameplateClaimed", err)
	}
	if _, err := claim(attacker); err != nil {
		t.Errorf("a claimer claiming again: %v", err)
	}
}

// TestClaimCaps: one peer holds at most MaxClaimsPerPeer (default 4) claims,
// one address at most MaxReservationsPerIP, so that no one collects the
// senders' peer IDs (and the right to reach them) by claiming everything.
func TestClaimCaps(t *testing.T) {
	ctx := testContext(t)
	senders := func(r *relay.Server) {
		for i := 1; i <= 5; i++ {
			s := reservedOn(t, "127.0.1."+strconv.Itoa(i), relayAddr(t, r))
			if err := p2p.Register(ctx, s, r.ID(), "s"+strconv.Itoa(i)); err != nil {
				t.Fatal(err)
			}
		}
	}

	r := startRelay(t, relay.Config{})
	senders(r)
	collector := reservedOn(t, "127.0.0.2", relayAddr(t, r))
	for i := 1; i <= 4; i++ {
		if _, err := p2p.Lookup(ctx, collector, r.ID(), "s"+strconv.Itoa(i)); err != nil {
			t.Fatalf("claim %d of 4: %v", i, err)
		}
	}
	if _, err := p2p.Lookup(ctx, collector, r.ID(), "s5"); !errors.Is(err, p2p.ErrRendezvousLimit) {
		t.Errorf("fifth claim of one peer: got %v, want ErrRendezvousLimit", err)
	}

	r = startRelay(t, relay.Config{MaxReservationsPerIP: 3})
	senders(r)
	b, c := reservedOn(t, "127.0.0.3", relayAddr(t, r)), reservedOn(t, "127.0.0.3", relayAddr(t, r))
	for _, st := range []struct {
		h  host.Host
		np string
	}{{b, "s1"}, {b, "s2"}, {c, "s3"}} {
		if _, err := p2p.Lookup(ctx, st.h, r.ID(), st.np); err != nil {
			t.Fatalf("claim of %s from 127.0.0.3: %v", st.np, err)
		}
	}
	if _, err := p2p.Lookup(ctx, c, r.ID(), "s4"); !errors.Is(err, p2p.ErrRendezvousLimit) {
		t.Errorf("fourth claim from one address: got %v, want ErrRendezvousLimit", err)
	}
	if _, err := p2p.Lookup(ctx, reservedOn(t, "127.0.0.4", relayAddr(t, r)), r.ID(), "s4"); err != nil {
		t.Errorf("claim from another address: %v", err)
	}
}

// TestCircuitOnlyFromClaimers: while a sender waits on a nameplate, the
// relay opens circuits to it only from the peers that claimed it and the
// peers the sender named when it registered (its paired devices); circuits
// to a peer that registered nothing stay open to all, and so does the
// sender once it gives its nameplate up.
func TestCircuitOnlyFromClaimers(t *testing.T) {
	ctx := testContext(t)
	r := startRelay(t, relay.Config{})
	addr := relayAddr(t, r)
	info, err := p2p.ParseRelayAddr(addr)
	if err != nil {
		t.Fatal(err)
	}
	sender, _ := newSender(t, addr)
	friend := p2ptest.Host(t)
	if err := p2p.Register(ctx, sender, r.ID(), "8", friend.ID()); err != nil {
		t.Fatal(err)
	}

	stranger := reservedOn(t, "127.0.0.2", addr)
	if err := p2p.DialViaRelay(ctx, stranger, info, sender.ID()); err == nil {
		t.Fatal("a peer that did not claim the nameplate reached the waiting sender through the relay")
	} else if !errors.Is(err, p2p.ErrRelayRefused) {
		t.Errorf("circuit from a non-claimer: got %v, want ErrRelayRefused", err)
	}

	claimer := reservedOn(t, "127.0.0.3", addr)
	s, err := p2p.Claim(ctx, claimer, r.ID(), "8")
	if err != nil {
		t.Fatal(err)
	}
	if err := p2p.DialViaRelay(ctx, claimer, s.Relay, s.ID); err != nil {
		t.Fatalf("circuit from the claimer: %v", err)
	}
	echo(ctx, t, claimer, s.ID, 1<<16)

	if err := p2p.DialViaRelay(ctx, friend, info, sender.ID()); err != nil {
		t.Errorf("circuit from a peer the sender allowed: %v", err)
	}
	echo(ctx, t, friend, sender.ID(), 1<<16)

	// A peer that registered nothing is reachable as before: the claimer
	// holds a slot and registered nothing.
	if err := p2p.DialViaRelay(ctx, stranger, info, claimer.ID()); err != nil {
		t.Errorf("circuit to a peer that registered no nameplate: %v", err)
	}

	if err := p2p.Unregister(ctx, sender, r.ID(), "8"); err != nil {
		t.Fatal(err)
	}
	late := p2ptest.Host(t)
	if err := p2p.DialViaRelay(ctx, late, info, sender.ID()); err != nil {
		t.Errorf("circuit to the sender after it gave its nameplate up: %v", err)
	}
}
