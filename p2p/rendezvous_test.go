package p2p

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/relay/rendezvous"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

func TestParseRelayAddr(t *testing.T) {
	const id = "12D3KooWKUEwWAmCYy6tobUXTUKZTaqjqzxjEHKA9HJnQ3xTmrsy"
	for _, tc := range []struct {
		in      string
		wantErr bool
	}{
		{"/ip4/203.0.113.7/tcp/4001/p2p/" + id, false},
		{"/dns4/relay.example.org/udp/4001/quic-v1/p2p/" + id, false},
		{"/ip4/203.0.113.7/tcp/4001", true},
		{"/p2p/" + id, true},
		{"203.0.113.7:4001", true},
		{"", true},
	} {
		info, err := ParseRelayAddr(tc.in)
		if tc.wantErr {
			if !errors.Is(err, ErrRelayAddr) {
				t.Errorf("ParseRelayAddr(%q): got %v, want ErrRelayAddr", tc.in, err)
			}
			continue
		}
		if err != nil || info.ID.String() != id || len(info.Addrs) != 1 {
			t.Errorf("ParseRelayAddr(%q): got %v, %v", tc.in, info, err)
		}
	}
}

func TestCircuitAddrs(t *testing.T) {
	relay := peer.AddrInfo{
		ID:    peer.ID("relay"),
		Addrs: []ma.Multiaddr{ma.StringCast("/ip4/203.0.113.7/tcp/4001")},
	}
	h := testHost(t)
	got := CircuitAddrs(peer.AddrInfo{ID: h.ID(), Addrs: relay.Addrs}, h.ID())
	want := "/ip4/203.0.113.7/tcp/4001/p2p/" + h.ID().String() + "/p2p-circuit/p2p/" + h.ID().String()
	if len(got) != 1 || got[0].String() != want {
		t.Errorf("CircuitAddrs: got %v, want [%s]", got, want)
	}
}

func testHost(t *testing.T) host.Host {
	t.Helper()
	h, err := NewHost(context.Background(), Config{Home: t.TempDir(), ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// TestRendezvousClientAnswers drives the client against a fake relay that
// answers with fixed bytes: every status maps to its sentinel, and hostile
// answers become ErrRelayProtocol, never a hang or a bare EOF.
func TestRendezvousClientAnswers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	fake, cli := testHost(t), testHost(t)
	if err := cli.Connect(ctx, peer.AddrInfo{ID: fake.ID(), Addrs: DialAddrs(fake)}); err != nil {
		t.Fatal(err)
	}
	answer := make(chan []byte, 1)
	fake.SetStreamHandler(rendezvous.ProtocolID, func(s network.Stream) {
		io.ReadAll(io.LimitReader(s, rendezvous.MaxRequestLen+1))
		s.Write(<-answer)
		s.Close()
	})
	resp := func(r rendezvous.Response) []byte {
		b, err := r.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		name   string
		answer []byte
		want   error
	}{
		{"unknown", resp(rendezvous.Response{Status: rendezvous.StatusUnknown, Message: "no"}), ErrNameplateUnknown},
		{"expired", resp(rendezvous.Response{Status: rendezvous.StatusExpired}), ErrNameplateExpired},
		{"claimed", resp(rendezvous.Response{Status: rendezvous.StatusClaimed}), ErrNameplateClaimed},
		{"in use", resp(rendezvous.Response{Status: rendezvous.StatusInUse}), ErrNameplateTaken},
		{"rate limited", resp(rendezvous.Response{Status: rendezvous.StatusRateLimited, Seconds: 3}), ErrRateLimited},
		{"no reservation", resp(rendezvous.Response{Status: rendezvous.StatusNoReservation}), ErrNoReservation},
		{"unavailable", resp(rendezvous.Response{Status: rendezvous.StatusUnavailable}), ErrRelayUnavailable},
		{"limit", resp(rendezvous.Response{Status: rendezvous.StatusLimit, Message: "4 nameplates"}), ErrRendezvousLimit},
		{"malformed", resp(rendezvous.Response{Status: rendezvous.StatusMalformed}), ErrRelayProtocol},
		{"ok without peer", resp(rendezvous.Response{Status: rendezvous.StatusOK}), ErrRelayProtocol},
		{"garbage", []byte("HTTP/1.1 400 Bad Request\r\n\r\n"), ErrRelayProtocol},
		{"empty", nil, ErrRelayProtocol},
		{"endless", []byte(strings.Repeat("x", 4*rendezvous.MaxResponseLen)), ErrRelayProtocol},
	} {
		answer <- tc.answer
		_, err := Lookup(ctx, cli, fake.ID(), "7")
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
	answer <- resp(rendezvous.Response{Status: rendezvous.StatusOK, Peer: cli.ID()})
	if got, err := Lookup(ctx, cli, fake.ID(), "7"); err != nil || got != cli.ID() {
		t.Errorf("ok: got %s, %v; want %s", got, err, cli.ID())
	}
	if err := Register(ctx, cli, fake.ID(), "no-dashes"); !errors.Is(err, rendezvous.ErrMalformed) {
		t.Errorf("bad nameplate: got %v, want ErrMalformed", err)
	}

	// A relay of another version does not speak this protocol.
	fake.RemoveStreamHandler(rendezvous.ProtocolID)
	fake.SetStreamHandler("/ferry/rendezvous/1", func(s network.Stream) { s.Reset() })
	if _, err := Lookup(ctx, cli, fake.ID(), "7"); !errors.Is(err, ErrRelayProtocol) {
		t.Errorf("relay without %s: got %v, want ErrRelayProtocol", rendezvous.ProtocolID, err)
	}
}

// TestRegisterAllowList: Register sends the allow-list once per peer, and
// of a long one the last MaxRelayAllow peers.
func TestRegisterAllowList(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	fake, cli := testHost(t), testHost(t)
	if err := cli.Connect(ctx, peer.AddrInfo{ID: fake.ID(), Addrs: DialAddrs(fake)}); err != nil {
		t.Fatal(err)
	}
	got := make(chan rendezvous.Request, 1)
	fake.SetStreamHandler(rendezvous.ProtocolID, func(s network.Stream) {
		b, _ := io.ReadAll(io.LimitReader(s, rendezvous.MaxRequestLen+1))
		req, err := rendezvous.ParseRequest(b)
		if err != nil {
			t.Errorf("client sent %x: %v", b, err)
		}
		got <- req
		ok, _ := rendezvous.Response{Status: rendezvous.StatusOK}.MarshalBinary()
		s.Write(ok)
		s.Close()
	})
	var ids []peer.ID
	for range MaxRelayAllow + 2 {
		ids = append(ids, testHost(t).ID())
	}
	for _, tc := range []struct {
		name     string
		in, want []peer.ID
	}{
		{"none", nil, nil},
		{"repeats", []peer.ID{ids[0], ids[1], ids[0]}, ids[:2]},
		{"too many", ids, ids[2:]},
	} {
		if err := Register(ctx, cli, fake.ID(), "7", tc.in...); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if req := <-got; !slices.Equal(req.Allow, tc.want) {
			t.Errorf("%s: relay got allow-list %v, want %v", tc.name, req.Allow, tc.want)
		}
	}
}
