package p2p

import (
	"crypto/rand"
	"errors"
	"net"
	"reflect"
	"strings"
	"testing"

	"github.com/grandcat/zeroconf"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

func testPeerID(t testing.TB) peer.ID {
	t.Helper()
	_, pk, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(pk)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestParseTXT(t *testing.T) {
	id := testPeerID(t)
	tests := []struct {
		name string
		txt  []string
		want txtRecord
		ok   bool
	}{
		{"minimal", []string{"v=1", "np=42", "id=" + id.String()}, txtRecord{Nameplate: "42", ID: id}, true},
		{"with quic", []string{"v=1", "np=7", "id=" + id.String(), "quic=4433"}, txtRecord{Nameplate: "7", ID: id, QUICPort: 4433}, true},
		{"any order, upper-case keys", []string{"ID=" + id.String(), "NP=9", "V=1"}, txtRecord{Nameplate: "9", ID: id}, true},
		{"unknown keys ignored", []string{"v=1", "np=9", "id=" + id.String(), "future=x", "flag", "=empty"}, txtRecord{Nameplate: "9", ID: id}, true},
		{"first duplicate wins", []string{"v=1", "np=9", "np=10", "id=" + id.String()}, txtRecord{Nameplate: "9", ID: id}, true},
		{"version 2", []string{"v=2", "np=9", "id=" + id.String()}, txtRecord{}, false},
		{"no version", []string{"np=9", "id=" + id.String()}, txtRecord{}, false},
		{"no nameplate", []string{"v=1", "id=" + id.String()}, txtRecord{}, false},
		{"no id", []string{"v=1", "np=9"}, txtRecord{}, false},
		{"bad id", []string{"v=1", "np=9", "id=12D3KooWnotapeer"}, txtRecord{}, false},
		{"empty nameplate", []string{"v=1", "np=", "id=" + id.String()}, txtRecord{}, false},
		{"nameplate with dash", []string{"v=1", "np=1-2", "id=" + id.String()}, txtRecord{}, false},
		{"long nameplate", []string{"v=1", "np=" + strings.Repeat("1", 33), "id=" + id.String()}, txtRecord{}, false},
		{"boolean version", []string{"v", "np=9", "id=" + id.String()}, txtRecord{}, false},
		{"quic port 0", []string{"v=1", "np=9", "id=" + id.String(), "quic=0"}, txtRecord{}, false},
		{"quic port too big", []string{"v=1", "np=9", "id=" + id.String(), "quic=65536"}, txtRecord{}, false},
		{"quic port signed", []string{"v=1", "np=9", "id=" + id.String(), "quic=+443"}, txtRecord{}, false},
		{"empty", nil, txtRecord{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseTXT(tt.txt)
			if !tt.ok {
				if err == nil {
					t.Fatalf("parseTXT(%q): got %+v, want an error", tt.txt, got)
				}
				if !errors.Is(err, errMalformedTXT) {
					t.Errorf("parseTXT(%q): got %v, want errMalformedTXT", tt.txt, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseTXT(%q): %v", tt.txt, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseTXT(%q): got %+v, want %+v", tt.txt, got, tt.want)
			}
			again, err := parseTXT(got.marshal())
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Errorf("round trip: got %+v (%v), want %+v", again, err, got)
			}
		})
	}
}

func FuzzParseTXT(f *testing.F) {
	id := testPeerID(f).String()
	f.Add("v=1\x00np=42\x00id=" + id)
	f.Add("v=1\x00np=7\x00id=" + id + "\x00quic=4433")
	f.Add("V=1\x00NP=x\x00np=y\x00ID=" + id + "\x00flag\x00=z")
	f.Add("v=2\x00np=42\x00id=" + id)
	f.Add("")
	f.Fuzz(func(t *testing.T, joined string) {
		txt := strings.Split(joined, "\x00")
		r, err := parseTXT(txt)
		if err != nil {
			return
		}
		out := r.marshal()
		r2, err := parseTXT(out)
		if err != nil {
			t.Fatalf("parse(marshal(%+v)) = %v", r, err)
		}
		if !reflect.DeepEqual(r, r2) {
			t.Fatalf("round trip: got %+v, want %+v", r2, r)
		}
		if !reflect.DeepEqual(r2.marshal(), out) {
			t.Fatalf("marshal not stable: got %q, want %q", r2.marshal(), out)
		}
	})
}

func TestMatchEntry(t *testing.T) {
	id := testPeerID(t)
	entry := func(port int, txt []string, ips ...string) *zeroconf.ServiceEntry {
		e := zeroconf.NewServiceEntry(id.String(), ServiceType, mdnsDomain)
		e.Port, e.Text = port, txt
		for _, s := range ips {
			ip := net.ParseIP(s)
			if ip.To4() != nil {
				e.AddrIPv4 = append(e.AddrIPv4, ip)
			} else {
				e.AddrIPv6 = append(e.AddrIPv6, ip)
			}
		}
		return e
	}
	good := []string{"v=1", "np=42", "id=" + id.String()}
	withQUIC := append(append([]string(nil), good...), "quic=5000")
	tests := []struct {
		name  string
		e     *zeroconf.ServiceEntry
		np    string
		want  []string
		found bool
	}{
		{"ipv4", entry(4001, good, "10.99.1.1"), "42", []string{"/ip4/10.99.1.1/tcp/4001"}, true},
		{"ipv4 and ipv6 with quic", entry(4001, withQUIC, "10.99.1.1", "fd00::1"), "42", []string{
			"/ip4/10.99.1.1/tcp/4001", "/ip4/10.99.1.1/udp/5000/quic-v1",
			"/ip6/fd00::1/tcp/4001", "/ip6/fd00::1/udp/5000/quic-v1"}, true},
		{"link-local ipv6 dropped", entry(4001, good, "fe80::1", "10.0.0.2"), "42", []string{"/ip4/10.0.0.2/tcp/4001"}, true},
		{"only link-local", entry(4001, good, "fe80::1"), "42", nil, false},
		{"no addresses", entry(4001, good), "42", nil, false},
		{"other nameplate", entry(4001, good, "10.99.1.1"), "43", nil, false},
		{"no port", entry(0, good, "10.99.1.1"), "42", nil, false},
		{"malformed txt", entry(4001, []string{"v=1", "np=42"}, "10.99.1.1"), "42", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, found := matchEntry(tt.e, func(np string, _ peer.ID) bool { return np == tt.np })
			if found != tt.found {
				t.Fatalf("found: got %v, want %v", found, tt.found)
			}
			if !found {
				return
			}
			if info.ID != id {
				t.Errorf("id: got %s, want %s", info.ID, id)
			}
			var got []string
			for _, a := range info.Addrs {
				got = append(got, a.String())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("addrs: got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestErrNotFoundSaysWhatToDo(t *testing.T) {
	for _, want := range []string{"different networks", "isolate clients", "firewall", "multicast", "a relay"} {
		if !strings.Contains(ErrNotFound.Error(), want) {
			t.Errorf("ErrNotFound: got %q, want it to mention %q", ErrNotFound, want)
		}
	}
}

func TestTCPFirstDialRanker(t *testing.T) {
	addrs := []ma.Multiaddr{
		ma.StringCast("/ip4/10.0.0.1/udp/5000/quic-v1"),
		ma.StringCast("/ip4/10.0.0.1/tcp/4001"),
	}
	ranked := tcpFirstDialRanker(addrs)
	if len(ranked) != 2 {
		t.Fatalf("ranked: got %d addrs, want 2", len(ranked))
	}
	delay := map[string]int64{}
	for _, d := range ranked {
		delay[d.Addr.String()] = int64(d.Delay)
	}
	if tcp, quic := delay["/ip4/10.0.0.1/tcp/4001"], delay["/ip4/10.0.0.1/udp/5000/quic-v1"]; tcp >= quic {
		t.Errorf("delays: got tcp %d, quic %d, want tcp first", tcp, quic)
	}
}
