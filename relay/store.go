package relay

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/ferryhq/ferry/relay/rendezvous"
	"github.com/libp2p/go-libp2p/core/peer"
)

// store keeps rendezvous entries: nameplate → sender peer ID, and who
// claimed it.
//
// An entry is held from Register until it expires (ttl after its last
// registration or new claim). While it is held no other sender can take
// the nameplate, and up to limits.claims receivers may claim it (at most
// limits.claimsPerIP of them from one address); each learns the sender and
// pairing decides which had the code. A claimer may claim again (a receiver
// that restarted), which extends nothing. Expired entries are remembered
// for another ttl, so that a late claim hears "expired" rather than
// "unknown".
//
// Holdings are capped: a peer may hold limits.peerNameplates live
// registrations and limits.peerClaims live claims, an address
// limits.ipNameplates and limits.ipClaims (StatusLimit beyond).
//
// While an entry is remembered (held or expired) its sender is reachable
// through the relay only by its claimers and the peers it allowed
// (AllowCircuit).
//
// Every method is atomic with respect to every other, also across relay
// processes sharing one Redis.
type store interface {
	// Register gives r.nameplate to r.peer, unless another peer holds it
	// (StatusInUse) or r.peer or its address hold as many as allowed
	// (StatusLimit). Registering a held nameplate of one's own again
	// renews it, replaces its relay addresses and allow-list, and keeps
	// its claims.
	Register(ctx context.Context, r registration, now time.Time) (rendezvous.Status, error)
	// Claim returns the peer waiting on c.nameplate and its relay
	// addresses (space-separated multiaddrs), and counts c.peer among its
	// claimers.
	Claim(ctx context.Context, c claim, now time.Time) (sender peer.ID, relayAddrs string, _ rendezvous.Status, _ error)
	// Unregister forgets nameplate if p holds it (else StatusUnknown).
	Unregister(ctx context.Context, nameplate string, p peer.ID, now time.Time) (rendezvous.Status, error)
	// AllowCircuit reports whether src may open a relayed connection to
	// dest: yes, unless dest has a remembered entry of which src is
	// neither a claimer nor on the allow-list.
	AllowCircuit(ctx context.Context, src, dest peer.ID, now time.Time) (bool, error)
	// Ping reports whether the store can serve.
	Ping(ctx context.Context) error
	Close() error
}

// registration is a Register request, with the sender's address.
type registration struct {
	nameplate string
	peer      peer.ID
	ip        string // addrKey of the sender's address
	relay     string // the relay process's addresses, space-separated
	allow     []peer.ID
}

// claim is a Claim request, with the claimer's address.
type claim struct {
	nameplate string
	peer      peer.ID
	ip        string // addrKey of the claimer's address
}

// storeLimits are the rules a store enforces (see store).
type storeLimits struct {
	ttl                          time.Duration
	claims, claimsPerIP          int
	peerNameplates, ipNameplates int
	peerClaims, ipClaims         int
}

type entry struct {
	peer     peer.ID
	ip       string
	relay    string
	allow    []peer.ID
	claimers map[peer.ID]string // claimer → its address (addrKey)
	expires  time.Time          // end of the hold
	forget   time.Time          // when the entry is dropped altogether
}

// owner keys of the holdings indexes.
func peerOwner(p peer.ID) string { return "p:" + string(p) }
func ipOwner(ip string) string   { return "ip:" + ip }

// holdings maps an owner (peerOwner, ipOwner) to nameplates. Members are
// hints: each count checks them against the entries, and drops the ones
// that no longer belong to the owner.
type holdings map[string]map[string]struct{}

func (h holdings) add(owner, np string) {
	s := h[owner]
	if s == nil {
		s = make(map[string]struct{})
		h[owner] = s
	}
	s[np] = struct{}{}
}

// memStore is the in-memory store of a single relay process.
type memStore struct {
	lim        storeLimits
	maxEntries int

	mu         sync.Mutex
	entries    map[string]*entry // guarded by mu
	registered holdings          // guarded by mu: nameplates each owner registered
	claimed    holdings          // guarded by mu: nameplates each owner claimed
	lastSweep  time.Time         // guarded by mu
}

func newMemStore(lim storeLimits, maxEntries int) *memStore {
	return &memStore{
		lim: lim, maxEntries: maxEntries,
		entries:    make(map[string]*entry),
		registered: make(holdings),
		claimed:    make(holdings),
	}
}

// sweepLocked drops forgotten entries and stale holdings, at most once per
// second unless the map is full.
func (s *memStore) sweepLocked(now time.Time) {
	if now.Sub(s.lastSweep) < time.Second && len(s.entries) < s.maxEntries {
		return
	}
	s.lastSweep = now
	for np, e := range s.entries {
		if !now.Before(e.forget) {
			delete(s.entries, np)
		}
	}
	for owner := range s.registered {
		s.countRegisteredLocked(owner, now)
	}
	for owner := range s.claimed {
		s.countClaimedLocked(owner, now)
	}
}

func (s *memStore) getLocked(np string, now time.Time) *entry {
	e := s.entries[np]
	if e != nil && !now.Before(e.forget) {
		delete(s.entries, np)
		return nil
	}
	return e
}

// countRegisteredLocked counts the held entries that owner registered,
// dropping the members that are no longer its.
func (s *memStore) countRegisteredLocked(owner string, now time.Time) int {
	n := 0
	for np := range s.registered[owner] {
		e := s.getLocked(np, now)
		if e == nil || owner != peerOwner(e.peer) && owner != ipOwner(e.ip) {
			delete(s.registered[owner], np)
			continue
		}
		if now.Before(e.expires) {
			n++
		}
	}
	if len(s.registered[owner]) == 0 {
		delete(s.registered, owner)
	}
	return n
}

// countClaimedLocked counts owner's claims on held entries, dropping the
// members it no longer claims.
func (s *memStore) countClaimedLocked(owner string, now time.Time) int {
	n := 0
	for np := range s.claimed[owner] {
		e := s.getLocked(np, now)
		m := 0
		if e != nil {
			for p, ip := range e.claimers {
				if owner == peerOwner(p) || owner == ipOwner(ip) {
					m++
				}
			}
		}
		if m == 0 {
			delete(s.claimed[owner], np)
			continue
		}
		if now.Before(e.expires) {
			n += m
		}
	}
	if len(s.claimed[owner]) == 0 {
		delete(s.claimed, owner)
	}
	return n
}

func (s *memStore) Register(_ context.Context, r registration, now time.Time) (rendezvous.Status, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked(now)
	e := s.getLocked(r.nameplate, now)
	allow := slices.Clone(r.allow)
	if e != nil && now.Before(e.expires) {
		if e.peer != r.peer {
			return rendezvous.StatusInUse, nil
		}
		e.ip, e.relay, e.allow = r.ip, r.relay, allow
		e.expires, e.forget = now.Add(s.lim.ttl), now.Add(2*s.lim.ttl)
		s.registered.add(ipOwner(r.ip), r.nameplate)
		return rendezvous.StatusOK, nil
	}
	if e == nil && len(s.entries) >= s.maxEntries {
		return rendezvous.StatusUnavailable, nil
	}
	if s.countRegisteredLocked(peerOwner(r.peer), now) >= s.lim.peerNameplates ||
		s.countRegisteredLocked(ipOwner(r.ip), now) >= s.lim.ipNameplates {
		return rendezvous.StatusLimit, nil
	}
	s.entries[r.nameplate] = &entry{
		peer: r.peer, ip: r.ip, relay: r.relay, allow: allow,
		claimers: make(map[peer.ID]string),
		expires:  now.Add(s.lim.ttl), forget: now.Add(2 * s.lim.ttl),
	}
	s.registered.add(peerOwner(r.peer), r.nameplate)
	s.registered.add(ipOwner(r.ip), r.nameplate)
	return rendezvous.StatusOK, nil
}

func (s *memStore) Claim(_ context.Context, c claim, now time.Time) (peer.ID, string, rendezvous.Status, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.getLocked(c.nameplate, now)
	switch {
	case e == nil:
		return "", "", rendezvous.StatusUnknown, nil
	case !now.Before(e.expires):
		return "", "", rendezvous.StatusExpired, nil
	}
	if ip, ok := e.claimers[c.peer]; ok {
		if ip != c.ip {
			e.claimers[c.peer] = c.ip
			s.claimed.add(ipOwner(c.ip), c.nameplate)
		}
		return e.peer, e.relay, rendezvous.StatusOK, nil
	}
	sameIP := 0
	for _, ip := range e.claimers {
		if ip == c.ip {
			sameIP++
		}
	}
	if len(e.claimers) >= s.lim.claims || sameIP >= s.lim.claimsPerIP {
		return "", "", rendezvous.StatusClaimed, nil
	}
	if s.countClaimedLocked(peerOwner(c.peer), now) >= s.lim.peerClaims ||
		s.countClaimedLocked(ipOwner(c.ip), now) >= s.lim.ipClaims {
		return "", "", rendezvous.StatusLimit, nil
	}
	e.claimers[c.peer] = c.ip
	e.expires, e.forget = now.Add(s.lim.ttl), now.Add(2*s.lim.ttl)
	s.claimed.add(peerOwner(c.peer), c.nameplate)
	s.claimed.add(ipOwner(c.ip), c.nameplate)
	return e.peer, e.relay, rendezvous.StatusOK, nil
}

func (s *memStore) Unregister(_ context.Context, np string, p peer.ID, now time.Time) (rendezvous.Status, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.getLocked(np, now)
	if e == nil || e.peer != p {
		return rendezvous.StatusUnknown, nil
	}
	delete(s.entries, np)
	return rendezvous.StatusOK, nil
}

func (s *memStore) AllowCircuit(_ context.Context, src, dest peer.ID, now time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	restricted := false
	for np := range s.registered[peerOwner(dest)] {
		e := s.getLocked(np, now)
		if e == nil || e.peer != dest {
			continue
		}
		if _, ok := e.claimers[src]; ok || slices.Contains(e.allow, src) {
			return true, nil
		}
		restricted = true
	}
	return !restricted, nil
}

func (s *memStore) Ping(context.Context) error { return nil }
func (s *memStore) Close() error               { return nil }
