package p2p

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/grandcat/zeroconf"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// ServiceType is the DNS-SD service type Ferry senders advertise.
const ServiceType = "_ferry._tcp"

const mdnsDomain = "local."

// DefaultFindTimeout is how long Find browses when given no timeout.
const DefaultFindTimeout = 5 * time.Second

// ErrNotFound means no sender with the wanted nameplate answered on the
// local network in time.
var ErrNotFound = errors.New("no device with this code answered on the local network. " +
	"The two devices may be on different networks, the Wi-Fi may isolate clients from each other, " +
	"a firewall may block mDNS (UDP port 5353), or multicast may be off. " +
	"Check that both are on the same network, or use a relay on both devices")

// ErrNoInterface means there is no up, multicast-capable network interface
// to advertise or browse on.
var ErrNoInterface = errors.New("no network interface that can do multicast is up; connect to a network, or use a relay on both devices")

// Advertise announces h on every up, multicast-capable interface (not
// loopback) as a _ferry._tcp instance for nameplate, with h's TCP port in
// the SRV record and TXT v=1, np=<nameplate>, id=<peer ID> (and quic=<UDP
// port> when h listens on QUIC). It advertises until stop is called or ctx
// ends; stop sends a goodbye, waits for the responder to finish, and may be
// called more than once.
func Advertise(ctx context.Context, h host.Host, nameplate string) (stop func(), err error) {
	if err := checkNameplate(nameplate); err != nil {
		return nil, fmt.Errorf("advertise: %w", err)
	}
	li, err := hostListenInfo(h)
	if err != nil {
		return nil, fmt.Errorf("advertise: %w", err)
	}
	ifaces := multicastInterfaces()
	ips := advertisedIPs(ifaces, li)
	if len(ips) == 0 {
		return nil, fmt.Errorf("advertise: %w", ErrNoInterface)
	}
	rec := txtRecord{Nameplate: nameplate, ID: h.ID(), QUICPort: li.quicPort}
	id := h.ID().String()
	// Instance and host names carry the peer ID, so that two senders on one
	// network never collide, whatever their system host names.
	srv, err := zeroconf.RegisterProxy(id, ServiceType, mdnsDomain, li.tcpPort,
		strings.ToLower(id), ips, rec.marshal(), ifaces)
	if err != nil {
		return nil, fmt.Errorf("advertise: mdns register: %w", err)
	}

	var once sync.Once
	done := make(chan struct{})
	stop = func() {
		once.Do(func() {
			close(done)
			srv.Shutdown()
		})
	}
	go func() {
		select {
		case <-ctx.Done():
			stop()
		case <-done:
		}
	}()
	return stop, nil
}

// Find browses for _ferry._tcp and returns the first sender whose nameplate
// matches, with addresses built from its A/AAAA records and ports. Entries
// with a malformed TXT record, another version, or an invalid peer ID are
// skipped. After timeout (DefaultFindTimeout when zero) it returns an error
// wrapping ErrNotFound.
func Find(ctx context.Context, nameplate string, timeout time.Duration) (peer.AddrInfo, error) {
	if err := checkNameplate(nameplate); err != nil {
		return peer.AddrInfo{}, fmt.Errorf("find: %w", err)
	}
	info, err := FindFunc(ctx, func(np string, _ peer.ID) bool { return np == nameplate }, timeout)
	if errors.Is(err, ErrNotFound) {
		return info, fmt.Errorf("find nameplate %s: %w", nameplate, ErrNotFound)
	}
	return info, err
}

// FindFunc is Find with a matcher of its own: it returns the first valid
// sender entry for which match(nameplate, peer ID) is true. A receiver uses
// it to find a device it paired with before, whatever code it shows now.
func FindFunc(ctx context.Context, match func(nameplate string, id peer.ID) bool, timeout time.Duration) (peer.AddrInfo, error) {
	if timeout <= 0 {
		timeout = DefaultFindTimeout
	}
	ifaces := multicastInterfaces()
	if len(ifaces) == 0 {
		return peer.AddrInfo{}, fmt.Errorf("find: %w", ErrNoInterface)
	}
	resolver, err := zeroconf.NewResolver(zeroconf.SelectIfaces(ifaces))
	if err != nil {
		return peer.AddrInfo{}, fmt.Errorf("find: mdns resolver: %w", err)
	}
	bctx, cancel := context.WithTimeout(ctx, timeout)
	entries := make(chan *zeroconf.ServiceEntry, 8)
	// The resolver closes entries once bctx ends; draining until then lets
	// its goroutines exit (they block on a full channel otherwise).
	defer func() {
		cancel()
		for range entries {
		}
	}()
	if err := resolver.Browse(bctx, ServiceType, mdnsDomain, entries); err != nil {
		return peer.AddrInfo{}, fmt.Errorf("find: mdns browse: %w", err)
	}
	for e := range entries {
		if info, ok := matchEntry(e, match); ok {
			return info, nil
		}
	}
	if err := ctx.Err(); err != nil {
		return peer.AddrInfo{}, fmt.Errorf("find: %w", err)
	}
	return peer.AddrInfo{}, fmt.Errorf("find: %w", ErrNotFound)
}

// matchEntry returns the sender described by e if it is a valid Ferry entry
// that match accepts, with at least one dialable address.
func matchEntry(e *zeroconf.ServiceEntry, match func(nameplate string, id peer.ID) bool) (peer.AddrInfo, bool) {
	rec, err := parseTXT(e.Text)
	if err != nil || !match(rec.Nameplate, rec.ID) || e.Port <= 0 || e.Port > 65535 {
		return peer.AddrInfo{}, false
	}
	info := peer.AddrInfo{ID: rec.ID}
	add := func(family string, ip net.IP) {
		if ip.IsUnspecified() || ip.IsLinkLocalUnicast() || ip.IsMulticast() {
			return // unusable, or needs a zone the record cannot carry
		}
		tcp, err := ma.NewMultiaddr("/" + family + "/" + ip.String() + "/tcp/" + strconv.Itoa(e.Port))
		if err == nil {
			info.Addrs = append(info.Addrs, tcp)
		}
		if rec.QUICPort != 0 {
			q, err := ma.NewMultiaddr("/" + family + "/" + ip.String() + "/udp/" + strconv.Itoa(rec.QUICPort) + "/quic-v1")
			if err == nil {
				info.Addrs = append(info.Addrs, q)
			}
		}
	}
	for _, ip := range e.AddrIPv4 {
		if ip4 := ip.To4(); ip4 != nil {
			add("ip4", ip4)
		}
	}
	for _, ip := range e.AddrIPv6 {
		if ip.To4() == nil && len(ip) == net.IPv6len {
			add("ip6", ip)
		}
	}
	return info, len(info.Addrs) > 0
}

// multicastInterfaces lists the interfaces mDNS should use: up, multicast,
// not loopback.
func multicastInterfaces() []net.Interface {
	all, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var out []net.Interface
	for _, ifi := range all {
		if ifi.Flags&net.FlagUp != 0 && ifi.Flags&net.FlagMulticast != 0 && ifi.Flags&net.FlagLoopback == 0 {
			out = append(out, ifi)
		}
	}
	return out
}

// advertisedIPs lists the addresses of ifaces on which h accepts
// connections at the advertised ports (see listenedIPs), loopback left out.
func advertisedIPs(ifaces []net.Interface, li listenInfo) []string {
	var ips []net.IP
	for _, ifi := range ifaces {
		addrs, err := ifi.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() {
				ips = append(ips, ipn.IP)
			}
		}
	}
	return listenedIPs(ips, li)
}

// listenedIPs keeps the addresses on which h accepts connections at the
// advertised ports: IPv4 always, IPv6 only if it is not link-local (the
// record cannot carry a zone) and the IPv6 TCP listener shares the
// advertised port.
func listenedIPs(all []net.IP, li listenInfo) []string {
	var ips []string
	for _, ip := range all {
		if ip == nil || ip.IsLinkLocalUnicast() {
			continue
		}
		if ip4 := ip.To4(); ip4 != nil {
			if li.anyV4 || li.ips[ip4.String()] {
				ips = append(ips, ip4.String())
			}
			continue
		}
		if li.tcp6Port == li.tcpPort && (li.anyV6 || li.ips[ip.String()]) {
			ips = append(ips, ip.String())
		}
	}
	return ips
}
