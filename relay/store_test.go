package relay

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ferryhq/ferry/internal/redistest"
	"github.com/ferryhq/ferry/relay/rendezvous"
)

func testPeers(t *testing.T, n int) []peer.ID {
	t.Helper()
	ids := make([]peer.ID, n)
	for i := range ids {
		_, pk, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if ids[i], err = peer.IDFromPublicKey(pk); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// TestStoreRules runs one story against both stores, which must agree step
// by step: holding, claims and their limits, renewal, expiry and the
// circuit rule. (Forgetting is by Redis' own clock there, so the story
// stops before entries are forgotten; TestRendezvous covers it in memory.)
func TestStoreRules(t *testing.T) {
	const ttl = time.Minute
	lim := storeLimits{ttl: ttl, claims: 3, claimsPerIP: 2, peerNameplates: 2, ipNameplates: 3, peerClaims: 2, ipClaims: 3}
	stores := map[string]func(t *testing.T) store{
		"memory": func(*testing.T) store { return newMemStore(lim, 100) },
		"redis": func(t *testing.T) store {
			s, err := newRedisStore(context.Background(), redistest.Start(t), lim)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			storeStory(t, open(t), ttl)
		})
	}
}

func storeStory(t *testing.T, s store, ttl time.Duration) {
	ctx := context.Background()
	ids := testPeers(t, 10)
	s1, s2, s3, friend := ids[0], ids[1], ids[2], ids[3]
	r1, r2, r3, r4, r5, r6 := ids[4], ids[5], ids[6], ids[7], ids[8], ids[9]
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	step := 0
	reg := func(np string, p peer.ID, ip string, want rendezvous.Status, allow ...peer.ID) {
		t.Helper()
		step++
		got, err := s.Register(ctx, registration{nameplate: np, peer: p, ip: ip, relay: "r-" + np, allow: allow}, now)
		if err != nil || got != want {
			t.Fatalf("step %d: register %s from %s: got %s, %v; want %s", step, np, ip, got, err, want)
		}
	}
	clm := func(np string, p peer.ID, ip string, want rendezvous.Status, sender peer.ID) {
		t.Helper()
		step++
		got, relay, st, err := s.Claim(ctx, claim{nameplate: np, peer: p, ip: ip}, now)
		if err != nil || st != want || got != sender || (st == rendezvous.StatusOK) != (relay == "r-"+np) {
			t.Fatalf("step %d: claim %s from %s: got %s %s %q, %v; want %s %s", step, np, ip, st, got, relay, err, want, sender)
		}
	}
	circuit := func(src, dest peer.ID, want bool) {
		t.Helper()
		step++
		got, err := s.AllowCircuit(ctx, src, dest, now)
		if err != nil || got != want {
			t.Fatalf("step %d: circuit %s → %s: got %v, %v; want %v", step, src, dest, got, err, want)
		}
	}
	unreg := func(np string, p peer.ID, want rendezvous.Status) {
		t.Helper()
		step++
		got, err := s.Unregister(ctx, np, p, now)
		if err != nil || got != want {
			t.Fatalf("step %d: unregister %s: got %s, %v; want %s", step, np, got, err, want)
		}
	}
	const (
		ok, inUse, claimed, limit = rendezvous.StatusOK, rendezvous.StatusInUse, rendezvous.StatusClaimed, rendezvous.StatusLimit
		expired, unknown          = rendezvous.StatusExpired, rendezvous.StatusUnknown
	)

	// One sender, its friend, and the claims on its nameplate.
	reg("a", s1, "ip1", ok, friend)
	reg("a", s2, "ip2", inUse)
	circuit(r1, s1, false)
	circuit(friend, s1, true)
	circuit(r1, s2, true) // s2 registered nothing
	clm("a", r1, "ip3", ok, s1)
	circuit(r1, s1, true)
	clm("a", r2, "ip3", ok, s1)
	clm("a", r3, "ip3", claimed, "") // two from ip3 already
	clm("a", r3, "ip4", ok, s1)
	clm("a", r4, "ip5", claimed, "") // three claims
	clm("a", r1, "ip6", ok, s1)      // a claimer again, from elsewhere

	// Its sender registers it again: claims kept, allow-list replaced.
	reg("a", s1, "ip1", ok)
	circuit(friend, s1, false)
	circuit(r2, s1, true)

	// Caps: nameplates per peer and per address, claims likewise.
	reg("b", s1, "ip1", ok)
	reg("c", s1, "ip1", limit) // s1 holds a and b
	reg("c", s2, "ip1", ok)
	reg("d", s3, "ip1", limit) // ip1 holds a, b, c
	clm("b", r1, "ip6", ok, s1)
	clm("c", r1, "ip6", limit, "") // r1 holds a and b
	clm("b", r2, "ip3", ok, s1)    // ip3: r2 on a and b
	clm("c", r5, "ip3", ok, s2)    // ip3: three claims
	clm("c", r6, "ip3", limit, "")

	// A claimer claiming again extends nothing; the sender may come back.
	now = now.Add(ttl / 2)
	clm("a", r1, "ip6", ok, s1)
	now = now.Add(ttl/2 + time.Second)
	clm("a", r1, "ip6", expired, "")
	clm("c", r5, "ip3", expired, "")
	circuit(r6, s1, false) // expired but remembered: still only claimers
	circuit(r1, s1, true)
	reg("a", s2, "ip2", ok) // an expired nameplate is free
	unreg("a", s1, unknown)
	unreg("a", s2, ok)
	reg("e", s1, "ip1", ok) // s1 holds no live nameplate now
	reg("f", s1, "ip1", ok)
	unreg("b", s1, ok)
	unreg("e", s1, ok)
	unreg("f", s1, ok)
	circuit(r6, s1, true) // s1 gave every nameplate up
	circuit(r6, s2, false)
	unreg("c", s2, ok)
	circuit(r6, s2, true)
	clm("c", r6, "ip3", unknown, "")
}
