package relay_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ferryhq/ferry/internal/fakeclock"
	"github.com/ferryhq/ferry/p2p"
	"github.com/ferryhq/ferry/p2p/p2ptest"
	"github.com/ferryhq/ferry/relay"
)

// echoProto is a test protocol: the handler sends back what it reads.
const echoProto = "/ferry/test/echo/1"

// newFakeClock is a settable clock for Config.Now.
func newFakeClock() *fakeclock.Clock {
	return fakeclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// startRelay starts a relay on loopback; zero fields of cfg take test
// defaults.
func startRelay(t testing.TB, cfg relay.Config) *relay.Server {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if len(cfg.Listen) == 0 {
		cfg.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	}
	s, err := relay.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("relay.New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func relayAddr(t testing.TB, s *relay.Server) string {
	t.Helper()
	addrs := s.Addrs()
	if len(addrs) == 0 {
		t.Fatal("relay has no addresses")
	}
	return addrs[0].String()
}

// newSender starts a host that reserves a slot on the relay (until the
// test ends) and echoes echoProto streams.
func newSender(t testing.TB, addr string) (host.Host, peer.AddrInfo) {
	t.Helper()
	h := p2ptest.Host(t)
	h.SetStreamHandler(echoProto, func(s network.Stream) {
		if _, err := io.Copy(s, s); err != nil {
			s.Reset()
			return
		}
		s.Close()
	})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	info, circuits, err := p2p.ReserveRelay(ctx, h, addr)
	if err != nil {
		t.Fatalf("ReserveRelay: %v", err)
	}
	if len(circuits) == 0 {
		t.Fatal("ReserveRelay returned no circuit addresses")
	}
	return h, info
}

// echo sends n pseudo-random bytes over a new echoProto stream to p and
// checks that the same bytes come back. It returns the stream's conn.
func echo(ctx context.Context, t testing.TB, h host.Host, p peer.ID, n int64) network.Conn {
	t.Helper()
	c, err := echoSeed(ctx, h, p, n, uint64(n))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// echoSeed is echo with the data drawn from seed; it may run in any
// goroutine.
func echoSeed(ctx context.Context, h host.Host, p peer.ID, n int64, seed uint64) (network.Conn, error) {
	s, err := h.NewStream(network.WithAllowLimitedConn(ctx, "test"), p, echoProto)
	if err != nil {
		return nil, fmt.Errorf("open stream to %s: %w", p, err)
	}
	defer s.Close()
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	src := io.LimitReader(rand.NewChaCha8(key), n)
	sent, got := sha256.New(), sha256.New()
	var wg sync.WaitGroup
	var werr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, werr = io.Copy(io.MultiWriter(s, sent), src); werr == nil {
			werr = s.CloseWrite()
		}
	}()
	m, rerr := io.Copy(got, s)
	wg.Wait()
	if werr != nil || rerr != nil {
		return nil, fmt.Errorf("echo %d bytes: write: %v, read: %v (read %d)", n, werr, rerr, m)
	}
	if m != n || !bytes.Equal(got.Sum(nil), sent.Sum(nil)) {
		return nil, fmt.Errorf("echo: got %d bytes (sha256 %x), want %d bytes (sha256 %x)", m, got.Sum(nil), n, sent.Sum(nil))
	}
	return s.Conn(), nil
}
