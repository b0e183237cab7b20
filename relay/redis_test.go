package relay_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/internal/redistest"
	"github.com/ferryhq/ferry/p2p"
	"github.com/ferryhq/ferry/p2p/p2ptest"
	"github.com/ferryhq/ferry/relay"
)

// TestRedisSharedState: two relay processes share rendezvous state through
// Redis; a sender registers on one, a receiver looks up on the other and
// reaches the sender through the first.
func TestRedisSharedState(t *testing.T) {
	ctx := testContext(t)
	url := redistest.Start(t)
	a := startRelay(t, relay.Config{Redis: url, Metrics: "127.0.0.1:0"})
	b := startRelay(t, relay.Config{Redis: url})
	sender, _ := newSender(t, relayAddr(t, a))
	if err := p2p.Register(ctx, sender, a.ID(), "12"); err != nil {
		t.Fatalf("register on relay A: %v", err)
	}
	other, _ := newSender(t, relayAddr(t, b))
	if err := p2p.Register(ctx, other, b.ID(), "12"); !errors.Is(err, p2p.ErrNameplateTaken) {
		t.Errorf("second sender on relay B: got %v, want ErrNameplateTaken", err)
	}

	rx := reservedOn(t, "127.0.0.2", relayAddr(t, b))
	s, err := p2p.Claim(ctx, rx, b.ID(), "12")
	if err != nil {
		t.Fatalf("claim on relay B: %v", err)
	}
	if s.ID != sender.ID() || s.Relay.ID != a.ID() {
		t.Fatalf("claim on relay B: got %s via %s, want %s via relay A %s", s.ID, s.Relay.ID, sender.ID(), a.ID())
	}
	if got, err := p2p.Lookup(ctx, sender, a.ID(), "12"); err != nil || got != sender.ID() {
		t.Errorf("second claim, on relay A: got %s, %v; want %s", got, err, sender.ID())
	}
	if _, err := p2p.Lookup(ctx, other, b.ID(), "12"); err != nil {
		t.Errorf("third claim, on relay B: %v", err)
	}
	if _, err := p2p.Lookup(ctx, reservedOn(t, "127.0.0.3", relayAddr(t, a)), a.ID(), "12"); !errors.Is(err, p2p.ErrNameplateClaimed) {
		t.Errorf("fourth claim, on relay A: got %v, want ErrNameplateClaimed", err)
	}
	if _, err := p2p.Lookup(ctx, rx, b.ID(), "12"); err != nil {
		t.Errorf("same receiver claiming again: %v", err)
	}
	if err := p2p.DialViaRelay(ctx, rx, s.Relay, s.ID); err != nil {
		t.Fatalf("dial sender through relay A: %v", err)
	}
	if c := echo(ctx, t, rx, s.ID, 4<<20); !p2p.IsRelayed(c) {
		t.Errorf("echo ran over %s, want relayed", c.RemoteMultiaddr())
	}
	if err := p2p.Unregister(ctx, sender, a.ID(), "12"); err != nil {
		t.Errorf("unregister: %v", err)
	}
	if err := p2p.Register(ctx, other, b.ID(), "12"); err != nil {
		t.Errorf("register after unregister: %v", err)
	}
}

// TestRedisDown: a relay whose Redis goes away answers "unavailable" and
// reports it on /healthz, rather than hanging or crashing; it refuses the
// circuits it cannot check.
func TestRedisDown(t *testing.T) {
	ctx := testContext(t)
	url := redistest.Start(t)
	r := startRelay(t, relay.Config{Redis: url, Metrics: "127.0.0.1:0"})
	sender, info := newSender(t, relayAddr(t, r))
	if err := p2p.Register(ctx, sender, r.ID(), "1"); err != nil {
		t.Fatal(err)
	}
	// Stop Redis by asking it to shut down.
	c, err := net.Dial("tcp", strings.TrimPrefix(strings.TrimSuffix(url, "/0"), "redis://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "SHUTDOWN NOSAVE\r\n")
	buf := make([]byte, 64)
	c.Read(buf) // returns when the server closes the connection
	c.Close()
	if err := p2p.Register(ctx, sender, r.ID(), "2"); !errors.Is(err, p2p.ErrRelayUnavailable) {
		t.Errorf("register with Redis down: got %v, want ErrRelayUnavailable", err)
	}
	if err := p2p.DialViaRelay(ctx, p2ptest.Host(t), info, sender.ID()); !errors.Is(err, p2p.ErrRelayRefused) {
		t.Errorf("circuit with Redis down: got %v, want ErrRelayRefused", err)
	}
	resp, err := http.Get("http://" + r.MetricsAddr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("GET /healthz with Redis down: got %s, want 503", resp.Status)
	}
}

// TestRedisSharedLimits: the rendezvous rules hold across relay processes
// sharing one Redis, not per process: a peer's nameplate cap, a
// nameplate's claim limit, the circuit rule (a claim made on one relay
// opens circuits through the other) and the rate limits.
func TestRedisSharedLimits(t *testing.T) {
	ctx := testContext(t)
	url := redistest.Start(t)
	clock := newFakeClock() // frozen: rate buckets never refill
	cfg := relay.Config{Redis: url, Now: clock.Now, PeerBurst: 8}
	a, b := startRelay(t, cfg), startRelay(t, cfg)
	addrA, addrB := relayAddr(t, a), relayAddr(t, b)

	t.Run("nameplate cap", func(t *testing.T) {
		squatter := reservedOn(t, "127.0.0.2", addrA)
		ctx2, cancel := context.WithCancel(ctx)
		defer cancel()
		if _, _, err := p2p.ReserveRelay(ctx2, squatter, addrB); err != nil {
			t.Fatal(err)
		}
		for i, r := range []*relay.Server{a, b, a, b} {
			if err := p2p.Register(ctx, squatter, r.ID(), "q"+strconv.Itoa(i)); err != nil {
				t.Fatalf("registration %d of 4: %v", i, err)
			}
		}
		for _, r := range []*relay.Server{a, b} {
			if err := p2p.Register(ctx, squatter, r.ID(), "q4"); !errors.Is(err, p2p.ErrRendezvousLimit) {
				t.Errorf("fifth nameplate on relay %s: got %v, want ErrRendezvousLimit", r.ID(), err)
			}
		}
	})

	t.Run("claim limit and circuits", func(t *testing.T) {
		sender, _ := newSender(t, addrA)
		if err := p2p.Register(ctx, sender, a.ID(), "c1"); err != nil {
			t.Fatal(err)
		}
		var claimed []p2p.Sender
		for i, r := range []*relay.Server{a, b, a} {
			h := reservedOn(t, "127.0.0."+strconv.Itoa(3+i), relayAddr(t, r))
			s, err := p2p.Claim(ctx, h, r.ID(), "c1")
			if err != nil {
				t.Fatalf("claim %d of 3: %v", i, err)
			}
			claimed = append(claimed, s)
			if i == 1 { // claimed on B: reaches the sender through A
				if s.Relay.ID != a.ID() {
					t.Fatalf("claim on B names relay %s, want A", s.Relay.ID)
				}
				if err := p2p.DialViaRelay(ctx, h, s.Relay, s.ID); err != nil {
					t.Errorf("circuit through A after a claim on B: %v", err)
				}
			}
		}
		late := reservedOn(t, "127.0.0.6", addrB)
		if _, err := p2p.Claim(ctx, late, b.ID(), "c1"); !errors.Is(err, p2p.ErrNameplateClaimed) {
			t.Errorf("fourth claim on B: got %v, want ErrNameplateClaimed", err)
		}
		if err := p2p.DialViaRelay(ctx, late, claimed[0].Relay, sender.ID()); !errors.Is(err, p2p.ErrRelayRefused) {
			t.Errorf("circuit through A from a peer that did not claim: got %v, want ErrRelayRefused", err)
		}
	})

	t.Run("rate limit", func(t *testing.T) {
		h := reservedOn(t, "127.0.0.7", addrA)
		ctx2, cancel := context.WithCancel(ctx)
		defer cancel()
		if _, _, err := p2p.ReserveRelay(ctx2, h, addrB); err != nil {
			t.Fatal(err)
		}
		var limited int
		for i := range 12 {
			r := []*relay.Server{a, b}[i%2]
			if _, err := p2p.Lookup(ctx, h, r.ID(), "none"); errors.Is(err, p2p.ErrRateLimited) {
				limited++
			} else if !errors.Is(err, p2p.ErrNameplateUnknown) {
				t.Fatalf("lookup %d: %v", i, err)
			}
		}
		if limited != 4 {
			t.Errorf("12 lookups spread over two relays with a burst of 8: %d rate-limited, want 4", limited)
		}
	})
}
