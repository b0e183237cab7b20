package relay

import (
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	circuit "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// reservations decides which peers may reserve a relay slot and remembers
// which hold one, so that only a peer with a reservation may register a
// nameplate. It enforces MaxReservations and MaxReservationsPerIP itself;
// the circuit relay's own constraints are set looser (see New), so a
// reservation allowed here is granted there.
type reservations struct {
	max, maxPerIP int
	ttl           time.Duration
	now           func() time.Time
	refused       func(reason string)

	mu    sync.Mutex
	peers map[peer.ID]held // guarded by mu
}

type held struct {
	ip      string
	expires time.Time
}

var _ circuit.ACLFilter = (*reservations)(nil)

func (r *reservations) AllowReserve(p peer.ID, a ma.Multiaddr) bool {
	ip, err := manet.ToIP(a)
	if err != nil {
		r.refused("reservation_no_ip")
		return false
	}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	perIP := 0
	for q, h := range r.peers {
		if !now.Before(h.expires) {
			delete(r.peers, q)
			continue
		}
		if h.ip == ip.String() && q != p {
			perIP++
		}
	}
	if _, renew := r.peers[p]; !renew {
		if len(r.peers) >= r.max {
			r.refused("reservation_full")
			return false
		}
		if perIP >= r.maxPerIP {
			r.refused("reservation_ip_full")
			return false
		}
	}
	r.peers[p] = held{ip: ip.String(), expires: now.Add(r.ttl)}
	return true
}

// AllowConnect lets any peer open a circuit; the relay itself checks that
// the destination holds a reservation and enforces MaxCircuits.
func (r *reservations) AllowConnect(peer.ID, ma.Multiaddr, peer.ID) bool { return true }

// has reports whether p holds a live reservation.
func (r *reservations) has(p peer.ID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	h, ok := r.peers[p]
	return ok && r.now().Before(h.expires)
}

func (r *reservations) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.peers)
}

// disconnected drops p's reservation when its last connection closes, as
// the circuit relay does.
func (r *reservations) disconnected(n network.Network, c network.Conn) {
	p := c.RemotePeer()
	if n.Connectedness(p) == network.Connected {
		return
	}
	r.mu.Lock()
	delete(r.peers, p)
	r.mu.Unlock()
}
