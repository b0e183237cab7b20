package ferry

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/pairing"
)

// examplePeerID is a valid peer ID, for the fuzz target's seeds.
const examplePeerID = "12D3KooWM868rL2nXaqamUsUN2v6PRpgEEUXgt2P82rzXeAFsmen"

func TestURIRoundTrip(t *testing.T) {
	id, relayID := newPeerID(t).String(), newPeerID(t).String()
	code, err := pairing.ParseCode("7-zebra-acorn")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []URI{
		{Code: code},
		{Code: code, Peers: []string{"/ip4/192.168.1.20/tcp/4001/p2p/" + id}},
		{Code: code, Peers: []string{"/ip4/192.168.1.20/tcp/4001/p2p/" + id, "/ip6/fe80::1/udp/4001/quic-v1/p2p/" + id,
			"/dns4/my-laptop.local/tcp/4001/p2p/" + id}},
		{Code: code, Relay: "/ip4/198.51.100.7/tcp/4001/p2p/" + relayID},
		{Code: code, Peers: []string{"/ip4/198.51.100.7/tcp/4001/p2p/" + relayID + "/p2p-circuit/p2p/" + id},
			Relay: "/ip4/198.51.100.7/tcp/4001/p2p/" + relayID},
	} {
		s := u.String()
		got, err := ParseURI(s)
		if err != nil {
			t.Errorf("ParseURI(%q): %v", s, err)
			continue
		}
		if !reflect.DeepEqual(got, u) {
			t.Errorf("ParseURI(%q) = %+v, want %+v", s, got, u)
		}
		if !strings.HasPrefix(s, "ferry:7-zebra-acorn") {
			t.Errorf("URI %q does not start with the scheme and the code", s)
		}
	}
}

func TestParseURI(t *testing.T) {
	id, other := newPeerID(t).String(), newPeerID(t).String()
	a := "/ip4/127.0.0.1/tcp/4001/p2p/" + id
	for _, c := range []struct {
		in    string
		peers []string
		bad   string // a word of the error, or empty when it parses
	}{
		{in: "ferry:7-zebra-acorn?peer=" + a, peers: []string{a}},
		{in: "FERRY:7-Zebra-Acorn?peer=" + a, peers: []string{a}},
		{in: "ferry://7-zebra-acorn?peer=" + a + "&future=1", peers: []string{a}},
		{in: "  ferry:7-zebra-acorn?peer=" + a + "&peer=" + a + "\n", peers: []string{a}},
		{in: "ferry:7-zebra-acorn?peer=" + strings.ReplaceAll(a, "/", "%2F"), peers: []string{a}},
		{in: "ferry:7-zebra-acorn", peers: nil},
		{in: "7-zebra-acorn", bad: "start"},
		{in: "https://example.com/?peer=" + a, bad: "start"},
		{in: "ferry:", bad: "code"},
		{in: "ferry:7-zebra-acron?peer=" + a, bad: "acorn"},
		{in: "ferry:7-zebra-acorn?peer=/ip4/127.0.0.1/tcp/4001", bad: "/p2p/"},
		{in: "ferry:7-zebra-acorn?peer=/p2p/" + id, bad: "where"},
		{in: "ferry:7-zebra-acorn?peer=not-an-address", bad: "multiaddr"},
		{in: "ferry:7-zebra-acorn?peer=" + a + "&peer=/ip4/127.0.0.2/tcp/1/p2p/" + other, bad: "two different"},
		{in: "ferry:7-zebra-acorn?relay=" + a + "&relay=" + a, bad: "more than one relay"},
		{in: "ferry:7-zebra-acorn?peer=%zz", bad: "garbled"},
		{in: "ferry:7-zebra-acorn?peer=" + a + strings.Repeat("&peer="+a, 300), bad: "long"},
	} {
		u, err := ParseURI(c.in)
		if c.bad != "" {
			if err == nil || !errors.Is(err, ErrBadURI) || !strings.Contains(err.Error(), c.bad) {
				t.Errorf("ParseURI(%.80q) = %v, want an ErrBadURI that says %q", c.in, err, c.bad)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseURI(%.80q): %v", c.in, err)
			continue
		}
		if u.Code.String() != "7-zebra-acorn" || !reflect.DeepEqual(u.Peers, c.peers) {
			t.Errorf("ParseURI(%.80q) = %+v, want the code and peers %q", c.in, u, c.peers)
		}
	}
	many := "ferry:7-zebra-acorn?"
	for i := range MaxURIPeers + 1 {
		many += "&peer=/ip4/10.0.0." + string(rune('1'+i)) + "/tcp/1/p2p/" + id
	}
	if _, err := ParseURI(many); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("a URI with %d peers: %v, want refused", MaxURIPeers+1, err)
	}
}

func TestReceiveTarget(t *testing.T) {
	id := newPeerID(t).String()
	a := "/ip4/127.0.0.1/tcp/4001/p2p/" + id
	var opt ReceiveOptions
	if code, err := receiveTarget(" 7-zebra-acorn ", &opt); err != nil || code.String() != "7-zebra-acorn" || opt.Addrs != nil {
		t.Errorf("a code: %v %+v, %v", code, opt, err)
	}
	opt = ReceiveOptions{Relay: "/ip4/127.0.0.9/tcp/1/p2p/" + id}
	code, err := receiveTarget("ferry:7-zebra-acorn?peer="+a+"&relay=/ip4/127.0.0.8/tcp/1/p2p/"+id, &opt)
	if err != nil {
		t.Fatal(err)
	}
	if code.String() != "7-zebra-acorn" || !reflect.DeepEqual(opt.Addrs, []string{a}) || opt.Relay != "/ip4/127.0.0.9/tcp/1/p2p/"+id {
		t.Errorf("a URI: %v %+v (the relay given first must stay)", code, opt)
	}
	if _, err := receiveTarget("ferry:nonsense", &ReceiveOptions{}); !errors.Is(err, ErrBadURI) {
		t.Errorf("a bad URI: %v, want ErrBadURI", err)
	}
}

// FuzzParseURI: whatever parses prints back to a URI that parses to the
// same thing, never longer than the limit allows.
func FuzzParseURI(f *testing.F) {
	id := examplePeerID
	f.Add("ferry:7-zebra-acorn?peer=/ip4/192.168.1.20/tcp/4001/p2p/" + id)
	f.Add("ferry:7-zebra-acorn?peer=/ip6/::1/udp/1/quic-v1/p2p/" + id + "&relay=/dns/relay.example/tcp/443/p2p/" + id)
	f.Add("ferry://7-zebra-acorn?peer=/dns4/a%20b/tcp/1/p2p/" + id + "&x=%zz")
	f.Add("ferry:7-zebra-acorn?peer=/ip4/1.2.3.4/tcp/1/p2p/" + id + "/p2p-circuit/p2p/" + id)
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseURI(s)
		if err != nil {
			if !errors.Is(err, ErrBadURI) {
				t.Fatalf("ParseURI(%q): %v does not wrap ErrBadURI", s, err)
			}
			return
		}
		again, err := ParseURI(u.String())
		if err != nil {
			t.Fatalf("ParseURI(%q) gave %+v, whose String %q does not parse: %v", s, u, u.String(), err)
		}
		if !reflect.DeepEqual(again, u) {
			t.Fatalf("ParseURI(%q) = %+v, but its String %q parses to %+v", s, u, u.String(), again)
		}
	})
}
