package relay_test

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/internal/redistest"
	"github.com/ferryhq/ferry/p2p"
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

	rx := newHost(t)
	info, err := p2p.ConnectRelay(ctx, rx, relayAddr(t, b))
	if err != nil {
		t.Fatal(err)
	}
	s, err := p2p.Claim(ctx, rx, info.ID, "12")
	if err != nil {
		t.Fatalf("claim on relay B: %v", err)
	}
	if s.ID != sender.ID() || s.Relay.ID != a.ID() {
		t.Fatalf("claim on relay B: got %s via %s, want %s via relay A %s", s.ID, s.Relay.ID, sender.ID(), a.ID())
	}
	if _, err := p2p.Lookup(ctx, sender, a.ID(), "12"); !errors.Is(err, p2p.ErrNameplateClaimed) {
		t.Errorf("second claim on relay A: got %v, want ErrNameplateClaimed", err)
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
// reports it on /healthz, rather than hanging or crashing.
func TestRedisDown(t *testing.T) {
	ctx := testContext(t)
	url := redistest.Start(t)
	r := startRelay(t, relay.Config{Redis: url, Metrics: "127.0.0.1:0"})
	sender, _ := newSender(t, relayAddr(t, r))
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
	resp, err := http.Get("http://" + r.MetricsAddr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("GET /healthz with Redis down: got %s, want 503", resp.Status)
	}
}
