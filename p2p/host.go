package p2p

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// Security names a libp2p channel security protocol for TCP connections.
// (QUIC always uses its built-in TLS 1.3.)
const (
	// SecurityTLS is libp2p's TLS 1.3 (AES-GCM where the CPU has AES
	// instructions). It is the default: see BenchmarkStreamThroughput.
	SecurityTLS = "tls"
	// SecurityNoise is libp2p's Noise XX with ChaChaPoly.
	SecurityNoise = "noise"
)

// DefaultSecurity is the security protocol offered first when
// Config.Security is empty. Chosen by measurement; see doc.go.
const DefaultSecurity = SecurityTLS

// Config configures NewHost. The zero value is not usable: Home is required.
type Config struct {
	// Home is the device's data directory. The libp2p identity is kept in
	// Home/identity.key (Ed25519, mode 0600) and created on first use, so
	// the peer ID is stable across restarts.
	Home string

	// ListenAddrs are multiaddrs to listen on. Empty means TCP and QUIC on
	// every IPv4 and IPv6 interface, on a port chosen by the system (the
	// same port for IPv4 and IPv6 where it is free, so that one mDNS SRV
	// record describes both).
	ListenAddrs []string

	// Security is SecurityTLS or SecurityNoise, the protocol offered first
	// on TCP; the other one is offered as a fallback. Empty means
	// DefaultSecurity.
	Security string

	// Logger receives the host's own log lines. Nil discards them.
	Logger *slog.Logger
}

// Connection manager limits. A Ferry device talks to one or two peers at a
// time; these only guard against floods. Sessions protect their connection
// with ConnManager().Protect so that trimming never cuts a transfer.
const (
	connLow   = 16
	connHigh  = 48
	connGrace = time.Minute
)

// NewHost starts a libp2p host for the device whose identity lives in
// cfg.Home: TCP and QUIC transports, TLS 1.3 or Noise security, yamux
// streams, libp2p's default resource manager (on), a small connection
// manager, and the relay transport so that /p2p-circuit addresses can be
// dialled. Its peer ID is h.ID(). The caller closes it.
func NewHost(ctx context.Context, cfg Config) (host.Host, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("new host: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sk, err := LoadIdentity(cfg.Home)
	if err != nil {
		return nil, fmt.Errorf("new host: %w", err)
	}

	tlsOpt := libp2p.Security(libp2ptls.ID, libp2ptls.New)
	noiseOpt := libp2p.Security(noise.ID, noise.New)
	var security libp2p.Option
	switch sec := cmp.Or(cfg.Security, DefaultSecurity); sec {
	case SecurityTLS:
		security = libp2p.ChainOptions(tlsOpt, noiseOpt)
	case SecurityNoise:
		security = libp2p.ChainOptions(noiseOpt, tlsOpt)
	default:
		return nil, fmt.Errorf("new host: security %q: want %q or %q", sec, SecurityTLS, SecurityNoise)
	}

	listen := cfg.ListenAddrs
	defaultListen := len(listen) == 0
	if defaultListen {
		// IPv4 first; IPv6 joins on the same ports below.
		listen = []string{"/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"}
	}
	cm, err := connmgr.NewConnManager(connLow, connHigh, connmgr.WithGracePeriod(connGrace))
	if err != nil {
		return nil, fmt.Errorf("new host: connection manager: %w", err)
	}
	h, err := libp2p.New(
		libp2p.Identity(sk),
		libp2p.ListenAddrStrings(listen...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		security,
		libp2p.ConnectionManager(cm),
		libp2p.DialRanker(tcpFirstDialRanker),
		// DCUtR: a relayed connection is upgraded to a direct one when
		// both sides' NATs allow it (it uses public addresses only).
		libp2p.EnableHolePunching(),
		libp2p.UserAgent("ferry"),
		libp2p.DisableMetrics(),
		libp2p.AddrsFactory(Advertised),
	)
	if err != nil {
		return nil, fmt.Errorf("new host: libp2p: %w", err)
	}
	if defaultListen {
		listenIPv6SamePorts(h, log)
	}
	log.Debug("p2p host started", "peer", h.ID().String(), "addrs", h.Network().ListenAddresses())
	return h, nil
}

// Advertised is the host's address factory: of its own addresses, what it
// tells any peer it connects to (libp2p identify, its pushes and the signed
// peer record) — the public ones only. Loopback, private (LAN), CGNAT,
// link-local and unspecified addresses are never advertised, to a paired
// device or not: a peer that reached this device through a relay does not
// learn where it sits on its network. Ferry finds devices by mDNS (which
// announces the LAN addresses on the LAN, to the LAN), by an address the user
// gives, or through the relay, never by identify. Public addresses are kept
// because hole punching (DCUtR) needs them, and sends them to the peer anyway.
// The host's own view of its addresses is DialAddrs.
func Advertised(addrs []ma.Multiaddr) []ma.Multiaddr {
	out := make([]ma.Multiaddr, 0, len(addrs))
	for _, a := range addrs {
		if manet.IsPublicAddr(a) {
			out = append(out, a)
		}
	}
	return out
}

// DialAddrs are the addresses at which h can be dialled directly: every
// listen address, on every interface (loopback and LAN included), which is
// more than h.Addrs(), the advertised ones. Status shows these, for a
// receiver's --peer.
func DialAddrs(h host.Host) []ma.Multiaddr {
	if all, ok := h.(interface{ AllAddrs() []ma.Multiaddr }); ok {
		return all.AllAddrs()
	}
	var out []ma.Multiaddr
	for _, a := range h.Network().ListenAddresses() {
		if _, err := a.ValueForProtocol(ma.P_CIRCUIT); err != nil {
			out = append(out, a)
		}
	}
	return out
}

// quicAfterTCP is the head start TCP gets over QUIC when a peer offers both.
// libp2p's default ranker dials QUIC first, but on this stack TCP with TLS
// moves bulk data about three times faster than QUIC (see doc.go), and bulk
// data is Ferry's job. QUIC still wins where TCP does not connect.
const quicAfterTCP = 250 * time.Millisecond

// tcpFirstDialRanker ranks direct TCP addresses as libp2p's default ranker
// would, and everything else (QUIC, relay circuits) after them, delayed by
// quicAfterTCP.
func tcpFirstDialRanker(addrs []ma.Multiaddr) []network.AddrDelay {
	var tcp, rest []ma.Multiaddr
	for _, a := range addrs {
		if isDirectTCP(a) {
			tcp = append(tcp, a)
		} else {
			rest = append(rest, a)
		}
	}
	if len(tcp) == 0 {
		return swarm.DefaultDialRanker(rest)
	}
	out := swarm.DefaultDialRanker(tcp)
	for _, d := range swarm.DefaultDialRanker(rest) {
		d.Delay += quicAfterTCP
		out = append(out, d)
	}
	return out
}

// isDirectTCP reports whether a is plain TCP (not a relay circuit, not a
// websocket).
func isDirectTCP(a ma.Multiaddr) bool {
	tcp := false
	for _, c := range a {
		switch c.Code() {
		case ma.P_TCP:
			tcp = true
		case ma.P_CIRCUIT, ma.P_WS, ma.P_WSS, ma.P_TLS:
			return false
		}
	}
	return tcp
}

// listenIPv6SamePorts adds IPv6 listeners on the ports the IPv4 ones got,
// falling back to a fresh port, and carries on without IPv6 if it is off.
func listenIPv6SamePorts(h host.Host, log *slog.Logger) {
	for _, a := range h.Network().ListenAddresses() {
		var v6, fallback string
		if port, err := a.ValueForProtocol(ma.P_TCP); err == nil {
			v6, fallback = "/ip6/::/tcp/"+port, "/ip6/::/tcp/0"
		} else if port, err := a.ValueForProtocol(ma.P_UDP); err == nil && isQUIC(a) {
			v6, fallback = "/ip6/::/udp/"+port+"/quic-v1", "/ip6/::/udp/0/quic-v1"
		} else {
			continue
		}
		err := h.Network().Listen(ma.StringCast(v6))
		if err != nil {
			err = h.Network().Listen(ma.StringCast(fallback))
		}
		if err != nil {
			log.Debug("no IPv6 listener", "addr", v6, "err", err)
		}
	}
}

func isQUIC(a ma.Multiaddr) bool {
	_, err := a.ValueForProtocol(ma.P_QUIC_V1)
	return err == nil
}

// listenInfo is what mDNS advertises about a host's listeners: the TCP and
// QUIC ports (IPv4 preferred) and which IPs they apply to.
type listenInfo struct {
	tcpPort, quicPort int
	tcp6Port          int             // the IPv6 TCP port, if different listeners
	anyV4, anyV6      bool            // listening on 0.0.0.0 / ::
	ips               map[string]bool // specific listen IPs
}

func hostListenInfo(h host.Host) (listenInfo, error) {
	li := listenInfo{ips: make(map[string]bool)}
	for _, a := range h.Network().ListenAddresses() {
		var ip net.IP
		if s, err := a.ValueForProtocol(ma.P_IP4); err == nil {
			ip = net.ParseIP(s).To4()
		} else if s, err := a.ValueForProtocol(ma.P_IP6); err == nil {
			ip = net.ParseIP(s)
		}
		if ip == nil {
			continue // not a plain IP listener (e.g. a relay circuit)
		}
		v4 := ip.To4() != nil
		switch {
		case ip.IsUnspecified() && v4:
			li.anyV4 = true
		case ip.IsUnspecified():
			li.anyV6 = true
		default:
			li.ips[ip.String()] = true
		}
		if s, err := a.ValueForProtocol(ma.P_TCP); err == nil {
			port, _ := strconv.Atoi(s)
			if v4 {
				li.tcpPort = port
			} else if li.tcp6Port == 0 {
				li.tcp6Port = port
			}
		} else if s, err := a.ValueForProtocol(ma.P_UDP); err == nil && isQUIC(a) {
			port, _ := strconv.Atoi(s)
			if li.quicPort == 0 || v4 {
				li.quicPort = port
			}
		}
	}
	if li.tcpPort == 0 {
		li.tcpPort = li.tcp6Port
	}
	if li.tcp6Port == 0 {
		li.tcp6Port = li.tcpPort
	}
	if li.tcpPort == 0 {
		return li, errors.New("the host has no TCP listener")
	}
	return li, nil
}
