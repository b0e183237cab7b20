package relay_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/ferryhq/ferry/p2p"
	"github.com/ferryhq/ferry/p2p/p2ptest"
	"github.com/ferryhq/ferry/relay"
	"github.com/ferryhq/ferry/relay/rendezvous"
)

func TestRelayedTransfer(t *testing.T) {
	ctx := testContext(t)
	r := startRelay(t, relay.Config{Metrics: "127.0.0.1:0"})
	addr := relayAddr(t, r)
	sender, _ := newSender(t, addr)
	if err := p2p.Register(ctx, sender, r.ID(), "42"); err != nil {
		t.Fatalf("Register: %v", err)
	}

	receiver, _ := newSender(t, addr) // claiming needs a slot
	s, err := p2p.Claim(ctx, receiver, r.ID(), "42")
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	if s.ID != sender.ID() || s.Relay.ID != r.ID() {
		t.Fatalf("Claim: got sender %s via %s, want %s via %s", s.ID, s.Relay.ID, sender.ID(), r.ID())
	}
	if err := p2p.DialViaRelay(ctx, receiver, s.Relay, s.ID); err != nil {
		t.Fatalf("DialViaRelay: %v", err)
	}
	// 64 MiB each way: far beyond libp2p's default 128 KiB per circuit.
	n := int64(64 << 20)
	if testing.Short() {
		n = 4 << 20
	}
	c := echo(ctx, t, receiver, sender.ID(), n)
	if !p2p.IsRelayed(c) {
		t.Errorf("stream ran over %s, want a relayed connection", c.RemoteMultiaddr())
	}

	resp, err := http.Get("http://" + r.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	relayed := metricValue(t, string(body), "ferry_relay_bytes_total")
	if relayed < float64(2*n) {
		t.Errorf("ferry_relay_bytes_total = %.0f, want ≥ %d", relayed, 2*n)
	}
	for _, m := range []string{"ferry_relay_sessions 1", "ferry_relay_reservations 2",
		`ferry_relay_rendezvous_ops_total{op="claim",status="ok"} 1`} {
		if !strings.Contains(string(body), m+"\n") {
			t.Errorf("/metrics lacks %q", m)
		}
	}
	resp, err = http.Get("http://" + r.MetricsAddr() + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz: got %s, want 200", resp.Status)
	}
}

func metricValue(t *testing.T, body, name string) float64 {
	t.Helper()
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", name, err)
			}
			return f
		}
	}
	t.Fatalf("metric %s not found", name)
	return 0
}

func TestRendezvous(t *testing.T) {
	ctx := testContext(t)
	clock := newFakeClock()
	const ttl = 5 * time.Minute
	r := startRelay(t, relay.Config{Now: clock.Now, RendezvousTTL: ttl})
	addr := relayAddr(t, r)
	s1, _ := newSender(t, addr)
	s2, _ := newSender(t, addr)
	rx, _ := newSender(t, addr)
	rx2 := reservedOn(t, "127.0.0.2", addr)
	noRsvp := p2ptest.Host(t)
	if _, err := p2p.ConnectRelay(ctx, noRsvp, addr); err != nil {
		t.Fatal(err)
	}
	id := r.ID()

	steps := []struct {
		name    string
		do      func() error
		advance time.Duration // after the step
		want    error
	}{
		{"unknown", func() error { _, err := p2p.Lookup(ctx, rx, id, "1"); return err }, 0, p2p.ErrNameplateUnknown},
		{"register", func() error { return p2p.Register(ctx, s1, id, "1") }, 0, nil},
		{"no reservation", func() error { return p2p.Register(ctx, noRsvp, id, "2") }, 0, p2p.ErrNoReservation},
		{"claim without reservation", func() error { _, err := p2p.Lookup(ctx, noRsvp, id, "1"); return err }, 0, p2p.ErrNoReservation},
		{"in use", func() error { return p2p.Register(ctx, s2, id, "1") }, 0, p2p.ErrNameplateTaken},
		{"same sender again", func() error { return p2p.Register(ctx, s1, id, "1") }, 0, nil},
		{"claim", func() error {
			got, err := p2p.Lookup(ctx, rx, id, "1")
			if err == nil && got != s1.ID() {
				t.Errorf("Lookup: got %s, want %s", got, s1.ID())
			}
			return err
		}, 0, nil},
		{"second claimer", func() error { _, err := p2p.Lookup(ctx, s2, id, "1"); return err }, 0, nil},
		{"two from one address", func() error { _, err := p2p.Lookup(ctx, s1, id, "1"); return err }, 0, p2p.ErrNameplateClaimed},
		{"third claimer", func() error { _, err := p2p.Lookup(ctx, rx2, id, "1"); return err }, 0, nil},
		{"same claimer again", func() error { _, err := p2p.Lookup(ctx, rx, id, "1"); return err }, 0, nil},
		{"in use while claimed", func() error { return p2p.Register(ctx, s2, id, "1") }, ttl - time.Second, p2p.ErrNameplateTaken},
		{"still in use", func() error { return p2p.Register(ctx, s2, id, "1") }, time.Second, p2p.ErrNameplateTaken},
		{"free after hold", func() error { return p2p.Register(ctx, s2, id, "1") }, ttl, nil},
		{"expired", func() error { _, err := p2p.Lookup(ctx, rx, id, "1"); return err }, ttl, p2p.ErrNameplateExpired},
		{"forgotten", func() error { _, err := p2p.Lookup(ctx, rx, id, "1"); return err }, 0, p2p.ErrNameplateUnknown},
		{"register 3", func() error { return p2p.Register(ctx, s1, id, "3") }, 0, nil},
		{"unregister by other", func() error { return p2p.Unregister(ctx, s2, id, "3") }, 0, p2p.ErrNameplateUnknown},
		{"unregister", func() error { return p2p.Unregister(ctx, s1, id, "3") }, 0, nil},
		{"gone", func() error { _, err := p2p.Lookup(ctx, rx, id, "3"); return err }, 0, p2p.ErrNameplateUnknown},
		{"bad nameplate", func() error { return p2p.Register(ctx, s1, id, "7-castle") }, 0, rendezvous.ErrMalformed},
	}
	for _, st := range steps {
		err := st.do()
		if st.want == nil && err != nil || st.want != nil && !errors.Is(err, st.want) {
			t.Fatalf("%s: got error %v, want %v", st.name, err, st.want)
		}
		clock.Advance(st.advance)
	}
}

func TestRendezvousRateLimit(t *testing.T) {
	ctx := testContext(t)
	clock := newFakeClock() // frozen: buckets never refill
	r := startRelay(t, relay.Config{Now: clock.Now, PeerRate: 1, PeerBurst: 5, IPRate: 1, IPBurst: 30})
	addr := relayAddr(t, r)
	flooder, _ := newSender(t, addr)
	other, _ := newSender(t, addr)

	var ok, limited int
	for i := range 20 {
		_, err := p2p.Lookup(ctx, flooder, r.ID(), "f"+strconv.Itoa(i))
		switch {
		case errors.Is(err, p2p.ErrNameplateUnknown):
			ok++
		case errors.Is(err, p2p.ErrRateLimited):
			limited++
		default:
			t.Fatalf("registration %d: %v", i, err)
		}
	}
	if ok != 5 || limited != 15 {
		t.Errorf("flood of 20: got %d served, %d rate-limited; want 5, 15", ok, limited)
	}
	if err := p2p.Register(ctx, other, r.ID(), "other"); err != nil {
		t.Errorf("another peer during the flood: %v", err)
	}
	// The address's bucket (30) runs dry too, for every peer on it.
	for i := range 9 {
		if _, err := p2p.Lookup(ctx, other, r.ID(), "o"+strconv.Itoa(i)); !errors.Is(err, p2p.ErrNameplateUnknown) && !errors.Is(err, p2p.ErrRateLimited) {
			t.Fatal(err)
		}
	}
	third, _ := newSender(t, addr)
	if _, err := p2p.Lookup(ctx, third, r.ID(), "other"); !errors.Is(err, p2p.ErrRateLimited) {
		t.Errorf("fresh peer on a flooded address: got %v, want ErrRateLimited", err)
	}
	clock.Advance(time.Minute)
	if _, err := p2p.Lookup(ctx, third, r.ID(), "other"); err != nil {
		t.Errorf("after a minute: %v", err)
	}
}

func TestGarbage(t *testing.T) {
	ctx := testContext(t)
	r := startRelay(t, relay.Config{})
	addr := relayAddr(t, r)
	h, _ := newSender(t, addr)
	for _, tc := range []struct {
		name  string
		proto protocol.ID
		in    []byte
	}{
		{"rendezvous http", rendezvous.ProtocolID, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
		{"rendezvous empty", rendezvous.ProtocolID, nil},
		{"rendezvous long", rendezvous.ProtocolID, []byte(strings.Repeat("\x01", 4096))},
		{"rendezvous bad op", rendezvous.ProtocolID, []byte{9, 1, '7'}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := h.NewStream(ctx, r.ID(), tc.proto)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			s.Write(tc.in) // may fail once the relay has answered
			s.CloseWrite()
			b, err := io.ReadAll(s)
			if err != nil {
				t.Fatalf("read answer: %v", err)
			}
			resp, err := rendezvous.ParseResponse(b)
			if err != nil {
				t.Fatalf("parse answer %x: %v", b, err)
			}
			if resp.Status != rendezvous.StatusMalformed || resp.Message == "" {
				t.Errorf("answer: got %s %q, want malformed with a message", resp.Status, resp.Message)
			}
		})
	}
	// Garbage on the circuit relay protocol and raw TCP.
	s, err := h.NewStream(ctx, r.ID(), "/libp2p/circuit/relay/0.2.0/hop")
	if err != nil {
		t.Fatal(err)
	}
	s.Write([]byte("\xff\xff\xff\xff\x0fgarbage"))
	s.CloseWrite()
	io.ReadAll(s)
	s.Close()
	tcpAddr := strings.Split(addr, "/") // /ip4/127.0.0.1/tcp/PORT/p2p/ID
	conn, err := net.Dial("tcp", net.JoinHostPort(tcpAddr[2], tcpAddr[4]))
	if err != nil {
		t.Fatal(err)
	}
	conn.Write([]byte(strings.Repeat("garbage\n", 1000)))
	conn.Close()

	// The relay still serves.
	sender, _ := newSender(t, addr)
	if err := p2p.Register(ctx, sender, r.ID(), "9"); err != nil {
		t.Fatalf("register after garbage: %v", err)
	}
	if got, err := p2p.Lookup(ctx, h, r.ID(), "9"); err != nil || got != sender.ID() {
		t.Fatalf("lookup after garbage: got %s, %v; want %s", got, err, sender.ID())
	}
}

func TestMaxReservations(t *testing.T) {
	ctx := testContext(t)
	r := startRelay(t, relay.Config{MaxReservations: 2})
	addr := relayAddr(t, r)
	a, _ := newSender(t, addr)
	newSender(t, addr)
	extra := p2ptest.Host(t)
	if _, _, err := p2p.ReserveRelay(ctx, extra, addr); !errors.Is(err, p2p.ErrRelayFull) {
		t.Fatalf("third reservation: got %v, want ErrRelayFull", err)
	}
	if err := p2p.Register(ctx, extra, r.ID(), "5"); !errors.Is(err, p2p.ErrNoReservation) {
		t.Errorf("register without a slot: got %v, want ErrNoReservation", err)
	}
	if err := p2p.Register(ctx, a, r.ID(), "5"); err != nil {
		t.Errorf("holder of a slot still served: %v", err)
	}
}

func TestIdentityPersists(t *testing.T) {
	dir := t.TempDir()
	r1 := startRelay(t, relay.Config{DataDir: dir})
	id := r1.ID()
	if err := r1.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r1.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	r2 := startRelay(t, relay.Config{DataDir: dir})
	if r2.ID() != id {
		t.Errorf("restarted relay: got peer ID %s, want %s", r2.ID(), id)
	}
	for _, a := range r2.Addrs() {
		if got, err := peer.AddrInfoFromP2pAddr(a); err != nil || got.ID != id {
			t.Errorf("address %s does not end in /p2p/%s", a, id)
		}
	}
}

// TestRelayRestart: the sender's reservation comes back by itself after
// the relay restarts on the same address, and a transfer works again.
func TestRelayRestart(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	r1 := startRelay(t, relay.Config{DataDir: dir})
	addr := relayAddr(t, r1)
	sender, _ := newSender(t, addr)
	if err := r1.Close(); err != nil {
		t.Fatal(err)
	}
	listen := strings.TrimSuffix(addr, "/p2p/"+r1.ID().String())
	r2 := startRelay(t, relay.Config{DataDir: dir, Listen: []string{listen}})
	if r2.ID() != r1.ID() {
		t.Fatalf("restarted relay has a new ID")
	}
	// Wait (bounded) for the sender to reserve again on its own.
	start := time.Now()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := p2p.Register(ctx, sender, r2.ID(), "77")
		if err == nil {
			break
		}
		retry := errors.Is(err, p2p.ErrNoReservation) || errors.Is(err, p2p.ErrRelayUnreachable) || errors.Is(err, p2p.ErrRateLimited)
		if !retry || time.Now().After(deadline) {
			t.Fatalf("register after relay restart: %v", err)
		}
		time.Sleep(100 * time.Millisecond) // polling a condition, with a deadline
	}
	t.Logf("sender reserved again %s after the restart", time.Since(start).Round(time.Millisecond))
	rx, _ := newSender(t, addr)
	s, err := p2p.Claim(ctx, rx, r2.ID(), "77")
	if err != nil {
		t.Fatal(err)
	}
	if err := p2p.DialViaRelay(ctx, rx, s.Relay, s.ID); err != nil {
		t.Fatal(err)
	}
	echo(ctx, t, rx, s.ID, 1<<20)
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  relay.Config
	}{
		{"no data dir", relay.Config{}},
		{"tiny circuits", relay.Config{DataDir: t.TempDir(), CircuitData: 1 << 10}},
		{"bad redis", relay.Config{DataDir: t.TempDir(), Redis: "http://nope"}},
		{"bad announce", relay.Config{DataDir: t.TempDir(), Announce: []string{"nope"}}},
		{"odd window", relay.Config{DataDir: t.TempDir(), StreamWindow: 3 << 19}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if s, err := relay.New(context.Background(), tc.cfg); err == nil {
				s.Close()
				t.Errorf("relay.New(%+v) succeeded, want an error", tc.cfg)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := relay.New(ctx, relay.Config{DataDir: t.TempDir()}); !errors.Is(err, context.Canceled) {
		t.Errorf("relay.New with a cancelled context: got %v, want context.Canceled", err)
	}
}

// TestConcurrentSessions: many relayed sessions at once through one relay,
// each echoing its own data: all complete, and none sees another's bytes.
func TestConcurrentSessions(t *testing.T) {
	sessions, n := 100, int64(1<<20)
	if testing.Short() || raceEnabled {
		sessions = 20
	}
	const perSender = 10 // within MaxCircuits
	ctx := testContext(t)
	r := startRelay(t, relay.Config{})
	addr := relayAddr(t, r)
	var senders []peer.ID
	var info peer.AddrInfo
	for range (sessions + perSender - 1) / perSender {
		h, i := newSender(t, addr)
		senders, info = append(senders, h.ID()), i
	}
	rx := make([]host.Host, sessions)
	for i := range rx {
		rx[i] = p2ptest.Host(t)
	}
	errs := make(chan error, sessions)
	var wg sync.WaitGroup
	for i, h := range rx {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := senders[i/perSender]
			if err := p2p.DialViaRelay(ctx, h, info, p); err != nil {
				errs <- err
				return
			}
			c, err := echoSeed(ctx, h, p, n, uint64(i))
			if err == nil && !p2p.IsRelayed(c) {
				err = fmt.Errorf("session %d ran over %s, want relayed", i, c.RemoteMultiaddr())
			}
			if err != nil {
				errs <- fmt.Errorf("session %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestClaimedSenderGone: a sender that left the relay without giving up
// its nameplate (it crashed, or its send ended a moment ago) is, to the
// receiver that claims the code, no sender waiting with that code — not
// the circuit's jargon.
func TestClaimedSenderGone(t *testing.T) {
	ctx := testContext(t)
	r := startRelay(t, relay.Config{})
	addr := relayAddr(t, r)
	sender, _ := newSender(t, addr)
	if err := p2p.Register(ctx, sender, r.ID(), "43"); err != nil {
		t.Fatalf("Register: %v", err)
	}
	if err := sender.Close(); err != nil {
		t.Fatal(err)
	}
	receiver, _ := newSender(t, addr)
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		// The relay notices the sender's disconnect on its own time.
		if _, err = p2p.Discover(ctx, receiver, p2p.Target{Relay: addr, Nameplate: "43"}); errors.Is(err, p2p.ErrNameplateUnknown) {
			break
		}
	}
	if !errors.Is(err, p2p.ErrNameplateUnknown) {
		t.Fatalf("Discover of a sender that left: %v; want ErrNameplateUnknown", err)
	}
}
