package relay

import (
	"context"
	"sync"
	"time"

	"github.com/ferryhq/ferry/relay/rendezvous"
	"github.com/libp2p/go-libp2p/core/peer"
)

// store keeps rendezvous entries: nameplate → sender peer ID.
//
// An entry is waiting from Register until it expires (ttl) or a receiver
// claims it. A claimed entry keeps its nameplate for its sender for another
// ttl, so that no second sender can take it while the first pairs; the same
// sender may register it again (starting over). Expired entries are
// remembered for another ttl, so that a late claim hears "expired" rather
// than "unknown".
//
// Every method is atomic with respect to every other, also across relay
// processes sharing one Redis.
type store interface {
	// Register gives nameplate to p, reachable through the relay at
	// relayAddrs (space-separated multiaddrs), until now+ttl, unless
	// another peer holds it (StatusInUse).
	Register(ctx context.Context, nameplate string, p peer.ID, relayAddrs string, now time.Time, ttl time.Duration) (rendezvous.Status, error)
	// Claim returns the peer waiting on nameplate and its relay addresses,
	// and marks it claimed by claimer. The same claimer may claim it again
	// while it stays claimed (a receiver that restarted); others hear
	// StatusClaimed.
	Claim(ctx context.Context, nameplate string, claimer peer.ID, now time.Time, ttl time.Duration) (peer.ID, string, rendezvous.Status, error)
	// Unregister forgets nameplate if p holds it (else StatusUnknown).
	Unregister(ctx context.Context, nameplate string, p peer.ID, now time.Time) (rendezvous.Status, error)
	// Ping reports whether the store can serve.
	Ping(ctx context.Context) error
	Close() error
}

type entry struct {
	peer    peer.ID
	relay   string
	claimed bool
	claimer peer.ID
	expires time.Time // end of waiting, or of the claimed hold
	forget  time.Time // when the entry is dropped altogether
}

// memStore is the in-memory store of a single relay process.
type memStore struct {
	maxEntries int

	mu        sync.Mutex
	entries   map[string]*entry // guarded by mu
	lastSweep time.Time         // guarded by mu
}

func newMemStore(maxEntries int) *memStore {
	return &memStore{maxEntries: maxEntries, entries: make(map[string]*entry)}
}

// sweepLocked drops forgotten entries, at most once per second unless
// the map is full.
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
}

func (s *memStore) getLocked(np string, now time.Time) *entry {
	e := s.entries[np]
	if e != nil && !now.Before(e.forget) {
		delete(s.entries, np)
		return nil
	}
	return e
}

func (s *memStore) Register(_ context.Context, np string, p peer.ID, relay string, now time.Time, ttl time.Duration) (rendezvous.Status, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked(now)
	e := s.getLocked(np, now)
	if e != nil && now.Before(e.expires) && e.peer != p {
		return rendezvous.StatusInUse, nil
	}
	if e == nil && len(s.entries) >= s.maxEntries {
		return rendezvous.StatusUnavailable, nil
	}
	s.entries[np] = &entry{peer: p, relay: relay, expires: now.Add(ttl), forget: now.Add(2 * ttl)}
	return rendezvous.StatusOK, nil
}

func (s *memStore) Claim(_ context.Context, np string, claimer peer.ID, now time.Time, ttl time.Duration) (peer.ID, string, rendezvous.Status, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.getLocked(np, now)
	switch {
	case e == nil:
		return "", "", rendezvous.StatusUnknown, nil
	case !now.Before(e.expires):
		return "", "", rendezvous.StatusExpired, nil
	case e.claimed && e.claimer != claimer:
		return "", "", rendezvous.StatusClaimed, nil
	}
	e.claimed, e.claimer = true, claimer
	e.expires = now.Add(ttl)
	e.forget = now.Add(2 * ttl)
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

func (s *memStore) Ping(context.Context) error { return nil }
func (s *memStore) Close() error               { return nil }
