package relay

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	circuit "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// acl is the circuit relay's admission: who may reserve a slot (see
// reservations) and who may open a relayed connection to whom. A peer that
// registered a nameplate is reachable, until its entry is forgotten, only
// by the peers that claimed it and those it allowed (store.AllowCircuit);
// every other peer holding a slot is reachable by all, as libp2p's relay
// has it. When the store cannot answer, the circuit is refused.
type acl struct {
	rsv     *reservations
	store   store
	now     func() time.Time
	log     *slog.Logger
	refused func(reason string)
}

var _ circuit.ACLFilter = (*acl)(nil)

// aclTimeout bounds the store lookup of one circuit request.
const aclTimeout = 2 * time.Second

func (a *acl) AllowReserve(p peer.ID, addr ma.Multiaddr) bool { return a.rsv.allow(p, addr) }

func (a *acl) AllowConnect(src peer.ID, _ ma.Multiaddr, dest peer.ID) bool {
	ctx, cancel := context.WithTimeout(context.Background(), aclTimeout)
	defer cancel()
	ok, err := a.store.AllowCircuit(ctx, src, dest, a.now())
	if err != nil {
		a.log.Error("circuit refused: the rendezvous store did not answer", "src", src, "dest", dest, "err", err)
		a.refused("circuit_store_unavailable")
		return false
	}
	if !ok {
		a.log.Debug("circuit refused: the destination waits on a nameplate its source did not claim", "src", src, "dest", dest)
		a.refused("circuit_not_claimer")
	}
	return ok
}

// reservations decides which peers may reserve a relay slot and remembers
// which hold one, so that only a peer with a reservation may register or
// claim a nameplate. It enforces MaxReservations and MaxReservationsPerIP
// itself; the circuit relay's own constraints are set looser (see New), so
// a reservation allowed here is granted there.
type reservations struct {
	max, maxPerIP int
	ttl           time.Duration
	now           func() time.Time
	refused       func(reason string)

	mu    sync.Mutex
	peers map[peer.ID]held // guarded by mu
}

type held struct {
	ip      string // addrKey
	expires time.Time
}

func (r *reservations) allow(p peer.ID, a ma.Multiaddr) bool {
	ip, err := manet.ToIP(a)
	if err != nil {
		r.refused("reservation_no_ip")
		return false
	}
	key := addrKey(ip)
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	perIP := 0
	for q, h := range r.peers {
		if !now.Before(h.expires) {
			delete(r.peers, q)
			continue
		}
		if h.ip == key && q != p {
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
	r.peers[p] = held{ip: key, expires: now.Add(r.ttl)}
	return true
}

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

// addrKey is the "address" that per-IP limits count: an IPv4 address, or
// the /56 prefix of an IPv6 one (what one subscriber usually gets, as the
// resource manager's connection limits count).
func addrKey(ip net.IP) string {
	if v4 := ip.To4(); v4 != nil {
		return v4.String()
	}
	return (&net.IPNet{IP: ip.Mask(net.CIDRMask(56, 128)), Mask: net.CIDRMask(56, 128)}).String()
}
