package p2p

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/grandcat/zeroconf"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Service is one _ferry._tcp instance as a platform's own DNS-SD API sees
// it (Android's NsdManager, Apple's NWListener and NWBrowser), for an app
// that does the discovery itself and turns Ferry's mDNS off: NewService
// says what a sender advertises, record for record what Advertise would
// (see "Discovery wire format" in doc.go), and Sender reads what a
// receiver's app found, with the checks Find makes.
type Service struct {
	Instance string   // the instance name: the sender's peer ID
	Type     string   // ServiceType
	Domain   string   // "local."
	Host     string   // the SRV target: <lower-cased peer ID>.local.
	Port     int      // the SRV port: the host's TCP port
	IPs      []string // the A and AAAA records
	TXT      []string // the TXT record, "key=value" strings
}

// ErrNoServiceAddr means a service names no address Ferry can dial.
var ErrNoServiceAddr = errors.New("the service gives no address and port that can be dialled")

// NewService is the service a sender on h advertises for nameplate at ips,
// the addresses the app sees: of those, the ones h listens on (all of them
// when it listens on every interface) that a record can carry (IPv6
// link-local ones cannot: no zone). It asks the system for no list of
// interfaces.
func NewService(h host.Host, nameplate string, ips []net.IP) (Service, error) {
	if err := checkNameplate(nameplate); err != nil {
		return Service{}, fmt.Errorf("service: %w", err)
	}
	li, err := hostListenInfo(h)
	if err != nil {
		return Service{}, fmt.Errorf("service: %w", err)
	}
	addrs := listenedIPs(ips, li)
	if len(addrs) == 0 {
		return Service{}, fmt.Errorf("service: none of the addresses %v is one this device listens on", ips)
	}
	id := h.ID().String()
	rec := txtRecord{Nameplate: nameplate, ID: h.ID(), QUICPort: li.quicPort}
	return Service{Instance: id, Type: ServiceType, Domain: mdnsDomain, Host: strings.ToLower(id) + "." + mdnsDomain,
		Port: li.tcpPort, IPs: addrs, TXT: rec.marshal()}, nil
}

// Sender reads a service an app found: the nameplate it advertises and the
// sender at its addresses. A service of another type, with a malformed TXT
// record (as Find skips it), or with no address and port to dial is an
// error. As with Find, the peer ID is not trusted by itself: libp2p's
// handshake proves the peer holds its key, and pairing binds both peer IDs.
func (s Service) Sender() (nameplate string, info peer.AddrInfo, err error) {
	if t := strings.Trim(strings.ToLower(s.Type), "."); t != "" && t != ServiceType && t != ServiceType+".local" {
		return "", peer.AddrInfo{}, fmt.Errorf("service type %q: want %s", s.Type, ServiceType)
	}
	rec, err := parseTXT(s.TXT)
	if err != nil {
		return "", peer.AddrInfo{}, err
	}
	e := zeroconf.NewServiceEntry(s.Instance, ServiceType, mdnsDomain)
	e.Port, e.Text = s.Port, s.TXT
	for _, a := range s.IPs {
		ip := net.ParseIP(a)
		switch {
		case ip == nil:
		case ip.To4() != nil:
			e.AddrIPv4 = append(e.AddrIPv4, ip.To4())
		default:
			e.AddrIPv6 = append(e.AddrIPv6, ip)
		}
	}
	info, ok := matchEntry(e, func(string, peer.ID) bool { return true })
	if !ok {
		return "", peer.AddrInfo{}, ErrNoServiceAddr
	}
	return rec.Nameplate, info, nil
}
