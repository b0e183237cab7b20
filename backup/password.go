package backup

import (
	"context"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"fmt"

	"golang.org/x/crypto/argon2"

	"github.com/ferryhq/ferry/internal/archive"
)

// passwordKeys derives, from a password and the key slot's salt and
// parameters, the AEAD that wraps the backup key and the Ed25519 key whose
// signature proves the password (see the format comment above).
func passwordKeys(pw []byte, id [16]byte, salt [32]byte, p archive.Params) (cipher.AEAD, ed25519.PrivateKey, error) {
	h := sha256.New()
	h.Write([]byte("ferry vault v2 salt"))
	h.Write(id[:])
	h.Write(salt[:])
	master := argon2.IDKey(pw, h.Sum(nil), p.Time, p.MemoryKiB, p.Threads, 32)
	defer clear(master)
	kek, err := hkdf.Key(sha256.New, master, nil, "ferry vault v2 key wrap", 32)
	if err != nil {
		return nil, nil, err
	}
	defer clear(kek)
	seed, err := hkdf.Key(sha256.New, master, nil, "ferry vault v2 auth key", ed25519.SeedSize)
	if err != nil {
		return nil, nil, err
	}
	defer clear(seed)
	aead, err := newAEAD(kek)
	if err != nil {
		return nil, nil, err
	}
	return aead, ed25519.NewKeyFromSeed(seed), nil
}

// stretchFloor is the least Argon2id cost a password slot may have:
// floor (archive.DefaultParams() when zero) and what the home saw for
// the backup before, whichever is more in each of time and memory.
func stretchFloor(floor archive.Params, seen archive.Params, ok bool) archive.Params {
	if floor == (archive.Params{}) {
		floor = archive.DefaultParams()
	}
	if ok {
		floor.Time, floor.MemoryKiB = max(floor.Time, seen.Time), max(floor.MemoryKiB, seen.MemoryKiB)
	}
	return floor
}

// checkStretch refuses Argon2id parameters below floor in time or memory.
// The lanes do not change an attacker's cost (memory × passes), so any
// number archive.Params.Validate allows will do.
func checkStretch(p, floor archive.Params) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("%w (%v)", ErrWeakStretch, err)
	}
	if p.Time < floor.Time || p.MemoryKiB < floor.MemoryKiB {
		return fmt.Errorf("%w (Argon2id %d passes over %d KiB, at least %d over %d KiB wanted)",
			ErrWeakStretch, p.Time, p.MemoryKiB, floor.Time, floor.MemoryKiB)
	}
	return nil
}

// putKeySlot wraps key with the password and stores the key slot; it
// returns the parameters used.
func putKeySlot(ctx context.Context, conn Conn, id [16]byte, key archive.Key, pw []byte, p, floor archive.Params) (archive.Params, error) {
	if p == (archive.Params{}) {
		p = archive.DefaultParams()
	}
	if err := checkStretch(p, stretchFloor(floor, archive.Params{}, false)); err != nil {
		return p, fmt.Errorf("password parameters: %w", err)
	}
	var salt [32]byte
	if _, err := rand.Read(salt[:]); err != nil {
		return p, err
	}
	aead, priv, err := passwordKeys(pw, id, salt, p)
	if err != nil {
		return p, err
	}
	defer clear(priv)
	var wrapped [60]byte
	if _, err := rand.Read(wrapped[:12]); err != nil {
		return p, err
	}
	aead.Seal(wrapped[12:12], wrapped[:12], key[:], id[:])
	var public [32]byte
	copy(public[:], priv.Public().(ed25519.PublicKey))
	return p, conn.PutKeySlot(ctx, id, p, salt, public, wrapped)
}
