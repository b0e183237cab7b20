package vault

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ferryhq/ferry/relay/vaultproto"
	"github.com/ferryhq/ferry/relay/vaultstore"
)

// MaxFails is the number of wrong password proofs in a row that lock a
// backup.
const MaxFails = 10

// Password proofs and their lockout.
//
// A device proves a password by signing a fresh challenge (see
// ProofMessage) with the Ed25519 key its password derives; the key slot
// holds the public key. The challenge is handed out with the key
// parameters (GetKeyParams) and is good for one GetKeySlot on the same
// stream.
//
// Every attempt is counted before its proof is checked, in the backup's
// guard object, with the store's compare-and-swap (vaultstore.Swap): so
// the count is one for every relay process that shares the store, and
// attempts sent at once are counted one by one. A right proof takes its
// own count back; a wrong one leaves it. An attempt is refused unseen
// (not counted, not checked) while the backup is locked (MaxFails
// counted) or within the wait after the last counted one, which doubles
// with each: none after the first, then 1 s, 2 s, ... up to maxWait. Only
// the owner's next key slot resets the count (the guard names the slot it
// counts for; a new slot starts a new count). So at most MaxFails wrong
// proofs are ever checked for one slot, however many relays, connections
// or accounts send them, and a right proof does not buy more.

// guard is a backup's count of password attempts, kept as JSON at
// backupKey(id, "guard").
type guard struct {
	Slot  string `json:"slot"`  // hex of the first 8 bytes of SHA-256 of the key slot it counts for
	Fails int    `json:"fails"` // attempts counted and not taken back
	Next  int64  `json:"next"`  // Unix milliseconds before which no attempt is taken
}

// maxWait bounds the wait between two attempts.
const maxWait = time.Hour

// wait is the wait after an attempt that brought the count to fails.
func wait(fails int) time.Duration {
	if fails <= 1 {
		return 0
	}
	return min(time.Second<<min(fails-2, 20), maxWait)
}

func slotTag(raw []byte) string {
	h := sha256.Sum256(raw)
	return hex.EncodeToString(h[:8])
}

func parseGuard(b []byte) (guard, error) {
	var g guard
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&g); err != nil {
		return guard{}, fmt.Errorf("vault: password guard: %w", err)
	}
	if d.More() || len(g.Slot) != 16 || g.Fails < 0 || g.Fails > MaxFails || g.Next < 0 {
		return guard{}, errors.New("vault: password guard: out of range")
	}
	return g, nil
}

// loadGuard reads backup id's guard for the slot tagged tag: its stored
// bytes (nil if there is none) and the count, fresh when the guard is of
// another slot.
func (s *Server) loadGuard(ctx context.Context, id [vaultproto.IDSize]byte, tag string) ([]byte, guard, error) {
	raw, err := s.readAll(ctx, backupKey(id, "guard"), vaultstore.MaxSwap)
	if errors.Is(err, vaultproto.ErrNotFound) {
		return nil, guard{Slot: tag}, nil
	}
	if err != nil {
		return nil, guard{}, err
	}
	g, err := parseGuard(raw)
	if err != nil {
		return nil, guard{}, fmt.Errorf("backup %x: %w", id, err)
	}
	if g.Slot != tag {
		g = guard{Slot: tag}
	}
	return raw, g, nil
}

// maxSwaps bounds the tries of one compare-and-swap loop: each failure
// means another attempt was counted meanwhile.
const maxSwaps = 64

// updateGuard applies fn to backup id's guard for the slot tagged tag
// with compare-and-swap until it holds; fn's error ends it unchanged.
func (s *Server) updateGuard(ctx context.Context, id [vaultproto.IDSize]byte, tag string, fn func(*guard) error) error {
	for range maxSwaps {
		old, g, err := s.loadGuard(ctx, id, tag)
		if err != nil {
			return err
		}
		if err := fn(&g); err != nil {
			return err
		}
		b, err := json.Marshal(g)
		if err != nil {
			return err
		}
		err = s.store.Swap(ctx, backupKey(id, "guard"), old, b)
		if !errors.Is(err, vaultstore.ErrConflict) {
			return err
		}
	}
	return fmt.Errorf("password guard of %x: %d writers in a row came first", id[:4], maxSwaps)
}

// countAttempt counts one password attempt on the slot tagged tag, or
// refuses it (ErrLocked, or a *TryLaterError) without counting.
func (s *Server) countAttempt(ctx context.Context, id [vaultproto.IDSize]byte, tag string) error {
	now := s.cfg.Now()
	return s.updateGuard(ctx, id, tag, func(g *guard) error {
		if g.Fails >= MaxFails {
			return vaultproto.ErrLocked
		}
		if next := time.UnixMilli(g.Next); now.Before(next) {
			return &vaultproto.TryLaterError{After: next.Sub(now)}
		}
		g.Fails++
		g.Next = now.Add(wait(g.Fails)).UnixMilli()
		return nil
	})
}

// takeBack undoes the count of an attempt whose proof was right.
func (s *Server) takeBack(ctx context.Context, id [vaultproto.IDSize]byte, tag string) error {
	return s.updateGuard(ctx, id, tag, func(g *guard) error {
		g.Fails = max(g.Fails-1, 0)
		return nil
	})
}

// session is what a stream keeps between its requests.
type session struct {
	from, relay  peer.ID // the device, and this relay
	ip           *ipState
	challenge    [vaultproto.ChallengeSize]byte // handed out with the key parameters of challengeID
	challengeID  [vaultproto.IDSize]byte
	hasChallenge bool
	// The challenge of a proof of a backup key (see owner.go), handed
	// out by OwnerChallenge for ownerChallengeID.
	ownerChallenge    [vaultproto.ChallengeSize]byte
	ownerChallengeID  [vaultproto.IDSize]byte
	hasOwnerChallenge bool
}

// keyParams answers GetKeyParams: the slot's parameters and salt, and a
// new challenge for this stream's next GetKeySlot.
func (s *Server) keyParams(ctx context.Context, sess *session, id [vaultproto.IDSize]byte) ([]byte, error) {
	k, raw, err := s.keySlot(ctx, id)
	if err != nil {
		return nil, err
	}
	if k.Version != vaultproto.KeySlotV2 {
		return nil, vaultproto.ErrOldKeySlot
	}
	if _, g, err := s.loadGuard(ctx, id, slotTag(raw)); err != nil {
		return nil, err
	} else if g.Fails >= MaxFails {
		return nil, vaultproto.ErrLocked
	}
	if _, err := io.ReadFull(rand.Reader, sess.challenge[:]); err != nil {
		return nil, fmt.Errorf("challenge: %w", err)
	}
	sess.challengeID, sess.hasChallenge = id, true
	return vaultproto.AppendKeyParams(nil, k, sess.challenge), nil
}

// unwrap hands out the wrapped key for a right proof of this stream's
// challenge. The attempt is counted before the proof is checked (see the
// comment at the top of this file).
func (s *Server) unwrap(ctx context.Context, sess *session, id [vaultproto.IDSize]byte, sig [vaultproto.SignatureSize]byte) ([]byte, error) {
	challenge, ok := sess.challenge, sess.hasChallenge && sess.challengeID == id
	sess.hasChallenge = false // one proof per challenge
	if !ok {
		return nil, fmt.Errorf("%w: a proof without a challenge (ask for the key parameters first, on the same stream)", vaultproto.ErrBadRequest)
	}
	k, raw, err := s.keySlot(ctx, id)
	if err != nil {
		return nil, err
	}
	if k.Version != vaultproto.KeySlotV2 {
		return nil, vaultproto.ErrOldKeySlot
	}
	tag := slotTag(raw)
	if err := s.countAttempt(ctx, id, tag); err != nil {
		return nil, err
	}
	msg := vaultproto.ProofMessage(id, challenge, sess.relay, sess.from)
	if !ed25519.Verify(ed25519.PublicKey(k.Verifier[:]), msg, sig[:]) {
		s.log.Warn("vault: wrong password proof", "backup", hex.EncodeToString(id[:4]))
		return nil, vaultproto.ErrWrongPassword
	}
	if err := s.takeBack(ctx, id, tag); err != nil {
		// The right proof stays counted; the key is still the device's.
		s.log.Warn("vault: password guard", "backup", hex.EncodeToString(id[:4]), "err", err)
	}
	return k.Wrapped[:], nil
}
