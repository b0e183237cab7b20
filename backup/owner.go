package backup

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"time"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/internal/archive"
)

// The owner key: HKDF-SHA256(backup key, salt backup ID, "ferry vault v1
// owner key") is the seed of an Ed25519 key whose public half Upload gives
// the relay with the backup (PutOwnerKey). A device that holds the backup
// key signs the relay's challenge with it (vaultproto.OwnerProofMessage)
// to list or delete the backup, whichever device made it. The public half
// tells the relay nothing of the backup key.

// ownerKey is the backup's owner key. Wipe it when done.
func (vk *keys) ownerKey() ed25519.PrivateKey {
	seed := vk.derive(vk.id[:], "ferry vault v1 owner key")
	defer seed.Wipe()
	return ed25519.NewKeyFromSeed(seed[:])
}

// ownerPublic is the public half of the owner key.
func (vk *keys) ownerPublic() [32]byte {
	priv := vk.ownerKey()
	defer clear(priv)
	var pub [32]byte
	copy(pub[:], priv.Public().(ed25519.PublicKey))
	return pub
}

// signer signs a relay's challenge message with the owner key.
func (vk *keys) signer() func(msg []byte) [64]byte {
	return func(msg []byte) [64]byte {
		priv := vk.ownerKey()
		defer clear(priv)
		var sig [64]byte
		copy(sig[:], ed25519.Sign(priv, msg))
		return sig
	}
}

// KeyConn is what Known and Delete need of a relay's vault besides Conn;
// *vaultproto.Client implements it. ListWithKey and DeleteWithKey prove
// the backup key by having sign sign the relay's challenge message; their
// error for a backup the vault does not hold matches fs.ErrNotExist. Delete
// removes a backup of this device's own, without a proof.
type KeyConn interface {
	Conn
	ListWithKey(ctx context.Context, id [16]byte, sign func(msg []byte) [64]byte) (updated, size int64, err error)
	DeleteWithKey(ctx context.Context, id [16]byte, sign func(msg []byte) [64]byte) error
	Delete(ctx context.Context, id [16]byte) error
}

// Listed is a backup this home holds the key of, as the relay lists it.
type Listed struct {
	ID      [16]byte
	Updated time.Time
	Size    int64 // stored bytes on the relay
	// Stats are the counts its sealed manifest holds; nil when it has
	// none readable (a backup cut off before its first manifest).
	Stats *chatstore.Stats
	// Current says it is the backup the home's next backup continues.
	Current bool
	// NoOwnerKey says the relay cannot check this key (the backup, or
	// the relay, is of a Ferry before owner keys): Updated is the time
	// its manifest holds, Size is unknown (0), and only the device that
	// made it can delete it, until that device backs up again.
	NoOwnerKey bool
}

// Known lists the backups on the relay that open with a key this home
// holds (its current backup's, that of backups it made before with
// another key, and that of backups it was restored from), whatever device
// made them, each with its counts. A key with no backup on the relay is
// left out. A backup whose key the relay cannot check (see
// Listed.NoOwnerKey) is listed from its manifest alone.
func Known(ctx context.Context, conn KeyConn, home string) ([]Listed, error) {
	st, err := loadState(home)
	if err != nil {
		return nil, fmt.Errorf("list backups: %w", err)
	}
	var out []Listed
	for _, id := range st.knownIDs() {
		key, _ := st.keyFor(id)
		l, err := listOne(ctx, conn, key, st)
		key.Wipe()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list backups: %w", err)
		}
		l.Current = FormatID(id) == st.ID
		out = append(out, l)
	}
	return out, nil
}

// errNoOwnerKey is what Known skips: a relay that keeps no owner keys, or
// a record without one. vaultproto's errors for both match it.
var errNoOwnerKey = errors.ErrUnsupported

func listOne(ctx context.Context, conn KeyConn, key archive.Key, st *state) (Listed, error) {
	vk, err := deriveKeys(key)
	if err != nil {
		return Listed{}, err
	}
	defer vk.wipe()
	updated, size, err := conn.ListWithKey(ctx, vk.id, vk.signer())
	if errors.Is(err, errNoOwnerKey) {
		// What the key alone reads: the sealed manifest, as a restore
		// would.
		vm, m, err := fetchManifest(ctx, conn, vk, vk.id, st)
		if err != nil {
			return Listed{}, err
		}
		return Listed{ID: vk.id, Updated: time.Unix(0, vm.time).UTC(), Stats: &m.Stats, NoOwnerKey: true}, nil
	}
	if err != nil {
		return Listed{}, err
	}
	l := Listed{ID: vk.id, Updated: time.Unix(updated, 0).UTC(), Size: size}
	if _, m, err := fetchManifest(ctx, conn, vk, vk.id, st); err == nil {
		l.Stats = &m.Stats
	}
	return l, nil
}

// Delete removes backup id from the relay: with a proof of its key when
// this home holds it (whichever device made the backup), else as one of
// this device's own.
func Delete(ctx context.Context, conn KeyConn, home string, id [16]byte) error {
	st, err := loadState(home)
	if err != nil {
		return fmt.Errorf("delete backup: %w", err)
	}
	key, ok := st.keyFor(id)
	if !ok {
		return conn.Delete(ctx, id)
	}
	defer key.Wipe()
	vk, err := deriveKeys(key)
	if err != nil {
		return fmt.Errorf("delete backup: %w", err)
	}
	defer vk.wipe()
	err = conn.DeleteWithKey(ctx, vk.id, vk.signer())
	if errors.Is(err, errNoOwnerKey) {
		// Made by an older Ferry, or on an older relay: its owner may
		// still delete it the old way; to another device, the reason it
		// may not is that the key cannot be checked.
		if derr := conn.Delete(ctx, id); derr != nil {
			return fmt.Errorf("%w (as this device's own: %v)", err, derr)
		}
		return nil
	}
	return err
}

// keyFor returns the key this home holds for backup id.
func (st *state) keyFor(id [16]byte) (archive.Key, bool) {
	if FormatID(id) == st.ID {
		return st.key()
	}
	return parseKey(st.Keys[FormatID(id)])
}

// knownIDs are the backups this home holds the key of: its current one
// first, then the others by ID.
func (st *state) knownIDs() [][16]byte {
	var ids [][16]byte
	if id, err := ParseID(st.ID); err == nil {
		if _, ok := st.key(); ok {
			ids = append(ids, id)
		}
	}
	others := make([]string, 0, len(st.Keys))
	for s := range st.Keys {
		if s != st.ID {
			others = append(others, s)
		}
	}
	slices.Sort(others)
	for _, s := range others {
		if id, err := ParseID(s); err == nil {
			ids = append(ids, id)
		}
	}
	return ids
}

// keepKey remembers key, of backup id, among the keys of backups other
// than the current one.
func (st *state) keepKey(id [16]byte, key archive.Key) {
	if st.Keys == nil {
		st.Keys = map[string]string{}
	}
	st.Keys[FormatID(id)] = formatKey(key)
}
