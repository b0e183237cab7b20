package p2p

import (
	"net"
	"slices"
	"strconv"
	"testing"

	ma "github.com/multiformats/go-multiaddr"
)

// TestServiceRoundTrip: what NewService says a sender advertises is what
// Sender reads back on the receiver's side: the nameplate, the sender's peer
// ID and addresses it can be dialled at, from the addresses the app gave
// (only those the host listens on).
func TestServiceRoundTrip(t *testing.T) {
	h := newTestHost(t, "", "/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1")
	ips := []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.99.0.1"), net.ParseIP("fe80::1")}
	s, err := NewService(h, "42", ips)
	if err != nil {
		t.Fatalf("NewService: %v", err)
	}
	li, err := hostListenInfo(h)
	if err != nil {
		t.Fatal(err)
	}
	if s.Type != ServiceType || s.Domain != "local." || s.Instance != h.ID().String() || s.Port != li.tcpPort {
		t.Errorf("service %+v: want type %s, domain local., instance %s, port %d", s, ServiceType, h.ID(), li.tcpPort)
	}
	if want := []string{"127.0.0.1"}; !slices.Equal(s.IPs, want) {
		t.Errorf("IPs = %v, want %v (not one the host does not listen on, nor link-local)", s.IPs, want)
	}
	wantTXT := []string{"v=1", "np=42", "id=" + h.ID().String(), "quic=" + strconv.Itoa(li.quicPort)}
	if !slices.Equal(s.TXT, wantTXT) {
		t.Errorf("TXT = %q, want %q", s.TXT, wantTXT)
	}

	np, info, err := s.Sender()
	if err != nil {
		t.Fatalf("Sender: %v", err)
	}
	if np != "42" || info.ID != h.ID() {
		t.Errorf("Sender = %q, %s; want 42, %s", np, info.ID, h.ID())
	}
	want := []ma.Multiaddr{
		ma.StringCast("/ip4/127.0.0.1/tcp/" + strconv.Itoa(li.tcpPort)),
		ma.StringCast("/ip4/127.0.0.1/udp/" + strconv.Itoa(li.quicPort) + "/quic-v1"),
	}
	if !slices.EqualFunc(info.Addrs, want, ma.Multiaddr.Equal) {
		t.Errorf("addrs = %v, want %v", info.Addrs, want)
	}

	if _, err := NewService(h, "42", []net.IP{net.ParseIP("10.99.0.1")}); err == nil {
		t.Error("NewService with no address the host listens on: no error")
	}
	if _, err := NewService(h, "4-2", ips); err == nil {
		t.Error("NewService with a bad nameplate: no error")
	}
}

// TestServiceSenderRefuses: what an app found but Ferry would not dial.
func TestServiceSenderRefuses(t *testing.T) {
	id := testPeerID(t).String()
	good := Service{Instance: id, Type: "_ferry._tcp.", Port: 4001, IPs: []string{"192.168.1.2"}, TXT: []string{"v=1", "np=7", "id=" + id}}
	if _, _, err := good.Sender(); err != nil {
		t.Fatalf("good service: %v", err)
	}
	for name, mod := range map[string]func(*Service){
		"other type":    func(s *Service) { s.Type = "_http._tcp" },
		"no TXT":        func(s *Service) { s.TXT = nil },
		"other version": func(s *Service) { s.TXT = []string{"v=2", "np=7", "id=" + id} },
		"bad id":        func(s *Service) { s.TXT = []string{"v=1", "np=7", "id=nope"} },
		"no port":       func(s *Service) { s.Port = 0 },
		"port too big":  func(s *Service) { s.Port = 70000 },
		"no address":    func(s *Service) { s.IPs = nil },
		"bad address":   func(s *Service) { s.IPs = []string{"router.local"} },
		"only unusable": func(s *Service) { s.IPs = []string{"0.0.0.0", "fe80::1", "224.0.0.251"} },
	} {
		s := good
		s.IPs, s.TXT = slices.Clone(good.IPs), slices.Clone(good.TXT)
		mod(&s)
		if _, _, err := s.Sender(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
