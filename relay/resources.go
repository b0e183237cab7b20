package relay

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	circuit "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"

	ratelimit "github.com/libp2p/go-libp2p/x/rate"

	"github.com/ferryhq/ferry/relay/vault"
	"github.com/ferryhq/ferry/relay/vaultproto"
)

// rendezvousService is the resource manager service of rendezvous streams.
const rendezvousService = "ferry.rendezvous"

// maxFDs is the number of file descriptors the relay plans for.
const maxFDs = 8192

// The resource manager's limits of one peer's vault streams: memory for
// the requests being read (four of the largest at once, as their buffers
// grow), and streams (a client keeps up to 8 idle and runs a few calls).
const (
	vaultPeerMemory  = 256 << 20
	vaultPeerStreams = 32
)

// newResourceManager bounds the relay host: cfg.MaxMemory in all, and per
// peer (and per connection) room for cfg.MaxCircuits streams with full
// windows plus 1 MiB for the rest. Streams and connections are sized for
// cfg.MaxReservations peers with cfg.MaxCircuits circuits each.
func newResourceManager(cfg *Config) (network.ResourceManager, error) {
	peerMemory := int64(cfg.MaxCircuits)*int64(cfg.StreamWindow) + 1<<20
	circuitPeerMemory := peerMemory
	if cfg.Vault != nil {
		// A device's vault requests, read whole before they are served:
		// four uploads of the largest chunk as their buffers grow.
		peerMemory += vaultPeerMemory
	}
	scaling := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&scaling)
	base := scaling.Scale(cfg.MaxMemory, maxFDs)

	lim := func(n int) rcmgr.LimitVal { return rcmgr.LimitVal(n) }
	circuits := cfg.MaxReservations * cfg.MaxCircuits
	peerStreams := 4*cfg.MaxCircuits + 64 // hop and stop streams, identify, ping, rendezvous
	conns := 2*cfg.MaxReservations + 256
	partial := rcmgr.PartialLimitConfig{
		System: rcmgr.ResourceLimits{
			Memory:         rcmgr.LimitVal64(cfg.MaxMemory),
			Conns:          lim(conns),
			ConnsInbound:   lim(conns),
			FD:             lim(maxFDs / 2),
			Streams:        lim(2*circuits + 4096),
			StreamsInbound: lim(2*circuits + 4096),
		},
		// Connections being set up (before their peer is known).
		Transient: rcmgr.ResourceLimits{
			Conns:           lim(512),
			ConnsInbound:    lim(512),
			ConnsOutbound:   lim(128),
			FD:              lim(512),
			Streams:         lim(1024),
			StreamsInbound:  lim(1024),
			StreamsOutbound: lim(1024),
			Memory:          64 << 20,
		},
		PeerDefault: rcmgr.ResourceLimits{
			Memory:          rcmgr.LimitVal64(peerMemory),
			Streams:         lim(peerStreams),
			StreamsInbound:  lim(peerStreams),
			StreamsOutbound: lim(peerStreams),
			Conns:           lim(8),
			ConnsInbound:    lim(8),
			ConnsOutbound:   lim(8),
		},
		Conn: rcmgr.ResourceLimits{Memory: rcmgr.LimitVal64(circuitPeerMemory)},
		Service: map[string]rcmgr.ResourceLimits{
			circuit.ServiceName: {
				Memory:          rcmgr.LimitVal64(min(cfg.MaxMemory/2, int64(circuits)*int64(2*cfg.BufferSize))),
				Streams:         lim(2 * circuits),
				StreamsInbound:  lim(2 * circuits),
				StreamsOutbound: lim(circuits),
			},
			rendezvousService: {
				Memory:         1 << 20,
				Streams:        lim(1024),
				StreamsInbound: lim(1024),
			},
			vault.ServiceName: {
				Memory:         rcmgr.LimitVal64(cfg.MaxMemory / 2),
				Streams:        lim(4096),
				StreamsInbound: lim(4096),
			},
		},
		ServicePeer: map[string]rcmgr.ResourceLimits{
			circuit.ServiceName: {
				Streams:         lim(2*cfg.MaxCircuits + 8),
				StreamsInbound:  lim(2*cfg.MaxCircuits + 8),
				StreamsOutbound: lim(cfg.MaxCircuits + 4),
			},
			rendezvousService: {
				Memory:         16 << 10,
				Streams:        lim(4),
				StreamsInbound: lim(4),
			},
			vault.ServiceName: {
				Memory:         rcmgr.LimitVal64(vaultPeerMemory),
				Streams:        lim(vaultPeerStreams),
				StreamsInbound: lim(vaultPeerStreams),
			},
		},
	}
	// The vault's protocol scopes take the service's limits (their
	// defaults, 16 MiB per peer, would refuse one large upload).
	vaultProto := protocol.ID(vaultproto.ProtocolID)
	partial.Protocol = map[protocol.ID]rcmgr.ResourceLimits{vaultProto: partial.Service[vault.ServiceName]}
	partial.ProtocolPeer = map[protocol.ID]rcmgr.ResourceLimits{vaultProto: partial.ServicePeer[vault.ServiceName]}
	// Offices and carrier-grade NAT put many devices behind one address:
	// allow cfg.MaxConnsPerIP connections per IPv4 address (IPv6 /56), and
	// new ones at 2 per second with bursts of half that many.
	perIP := cfg.MaxConnsPerIP
	subnet4 := []rcmgr.ConnLimitPerSubnet{{PrefixLength: 32, ConnCount: perIP}}
	subnet6 := []rcmgr.ConnLimitPerSubnet{{PrefixLength: 56, ConnCount: perIP}, {PrefixLength: 48, ConnCount: 8 * perIP}}
	burst := max(perIP/2, 8)
	connRate := &ratelimit.Limiter{
		NetworkPrefixLimits: []ratelimit.PrefixLimit{
			{Prefix: netip.MustParsePrefix("127.0.0.0/8")},
			{Prefix: netip.MustParsePrefix("::1/128")},
		},
		SubnetRateLimiter: ratelimit.SubnetLimiter{
			IPv4SubnetLimits: []ratelimit.SubnetLimit{{PrefixLength: 32, Limit: ratelimit.Limit{RPS: 2, Burst: burst}}},
			IPv6SubnetLimits: []ratelimit.SubnetLimit{
				{PrefixLength: 56, Limit: ratelimit.Limit{RPS: 2, Burst: burst}},
				{PrefixLength: 48, Limit: ratelimit.Limit{RPS: 10, Burst: 5 * burst}},
			},
			GracePeriod: time.Minute,
		},
	}
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(partial.Build(base)),
		rcmgr.WithLimitPerSubnet(subnet4, subnet6),
		rcmgr.WithConnRateLimiters(connRate))
	if err != nil {
		return nil, fmt.Errorf("resource manager: %w", err)
	}
	return rm, nil
}
