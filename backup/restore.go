package backup

import (
	"context"
	"crypto/cipher"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/internal/archive"
	"github.com/ferryhq/ferry/internal/usererr"
	"github.com/ferryhq/ferry/transfer"
)

// RestoreOptions say which backup to restore and how to open it: Key, or
// Password with BackupID.
type RestoreOptions struct {
	Key      *archive.Key
	Password []byte
	// BackupID is needed with Password; with Key it is checked.
	BackupID string
	// Progress, if set, is called with the bytes fetched and to fetch (the
	// database pieces this home lacks, uncompressed, and the media chunks),
	// one call at a time.
	Progress func(done, total int64)

	floor archive.Params // tests: zero means archive.DefaultParams()
}

// Restore fetches a backup from the vault and commits it into store with
// the engine's atomic merge and digest check. Every chunk is opened and
// checked against the authenticated manifest before the Receiver stages it;
// a damaged, swapped or forged chunk or manifest fails with ErrCorrupt
// and a chunk the vault lacks with ErrIncomplete; both leave the store
// as it was and remove what this backup had staged. A network failure keeps
// what was verified staged, so running Restore again continues where it
// stopped.
func Restore(ctx context.Context, conn Conn, store transfer.HistoryTarget, opts RestoreOptions) (transfer.Result, error) {
	key, id, err := restoreKey(ctx, conn, store.Home(), opts)
	if err != nil {
		return transfer.Result{}, fmt.Errorf("restore: %w", err)
	}
	defer key.Wipe()
	vk, err := deriveKeys(key)
	if err != nil {
		return transfer.Result{}, fmt.Errorf("restore: %w", err)
	}
	defer vk.wipe()
	if vk.id != id {
		return transfer.Result{}, fmt.Errorf("restore: %w", ErrID)
	}
	home := store.Home()
	st, err := loadState(home)
	if err != nil {
		return transfer.Result{}, fmt.Errorf("restore: %w", err)
	}
	vm, m, err := fetchManifest(ctx, conn, vk, id, st)
	if err != nil {
		return transfer.Result{}, fmt.Errorf("restore: %w", err)
	}
	if err := checkPieces(vm.pieces, m); err != nil {
		return transfer.Result{}, fmt.Errorf("restore: %w", err)
	}
	recv, err := transfer.NewReceiver(store, m)
	if err != nil {
		return transfer.Result{}, fmt.Errorf("restore: %w", err)
	}
	var pull transfer.PullOptions
	if opts.Progress != nil {
		pull.Progress = func(p transfer.Progress) { opts.Progress(p.Bytes, p.TotalBytes) }
	}
	res, err := transfer.Pull(ctx, newSource(conn, vk, vm, m), recv, pull)
	if err != nil {
		if errors.Is(err, ErrIncomplete) && replaced(ctx, conn, vk, vm.seq, st) {
			err = usererr.As(ErrChanged, err)
		}
		return res, fmt.Errorf("restore: %w", err)
	}
	save := false
	if vm.seq > st.Seen[FormatID(id)] {
		st.Seen[FormatID(id)] = vm.seq
		save = true
	}
	if held, ok := st.keyFor(id); !ok || held != key {
		// The home keeps the key of the backup it was restored from, so
		// that it can list and delete that backup (see Known).
		st.keepKey(id, key)
		save = true
	}
	if save {
		if err := st.save(home); err != nil {
			return res, fmt.Errorf("restore: %w", err)
		}
	}
	return res, nil
}

// replaced says whether the relay now holds a newer manifest of the backup
// than the one of sequence seq: a restore that found an object missing then
// raced a new backup, whose manifest let the relay delete what only the old
// one used.
func replaced(ctx context.Context, conn Conn, vk *keys, seq uint64, st *state) bool {
	vm, _, err := fetchManifest(ctx, conn, vk, vk.id, st)
	return err == nil && vm.seq > seq
}

// restoreKey finds the backup key and ID from the options.
func restoreKey(ctx context.Context, conn Conn, home string, opts RestoreOptions) (archive.Key, [16]byte, error) {
	var id [16]byte
	var err error
	if opts.BackupID != "" {
		if id, err = ParseID(opts.BackupID); err != nil {
			return archive.Key{}, id, err
		}
	}
	switch {
	case opts.Key != nil && len(opts.Password) > 0:
		return archive.Key{}, id, errors.New("give a key or a password, not both")
	case opts.Key != nil:
		vk, err := deriveKeys(*opts.Key)
		if err != nil {
			return archive.Key{}, id, err
		}
		defer vk.wipe()
		if opts.BackupID != "" && vk.id != id {
			return archive.Key{}, id, ErrID
		}
		return *opts.Key, vk.id, nil
	case len(opts.Password) == 0:
		return archive.Key{}, id, transfer.ErrNoKey
	case opts.BackupID == "":
		return archive.Key{}, id, fmt.Errorf("a password backup needs its backup ID: %w", ErrID)
	}
	st, err := loadState(home)
	if err != nil {
		return archive.Key{}, id, err
	}
	seen, ok := st.Stretch[FormatID(id)]
	floor := stretchFloor(opts.floor, seen, ok)
	var aead cipher.AEAD
	var used archive.Params
	wrapped, err := conn.UnlockKey(ctx, id, func(p archive.Params, salt [32]byte, msg []byte) ([64]byte, error) {
		var sig [64]byte
		// Before anything is computed: a relay that asks for a cheap
		// stretch gets nothing to guess against at that cost.
		if err := checkStretch(p, floor); err != nil {
			return sig, err
		}
		a, priv, err := passwordKeys(opts.Password, id, salt, p)
		if err != nil {
			return sig, err
		}
		defer clear(priv)
		aead, used = a, p
		copy(sig[:], ed25519.Sign(priv, msg))
		return sig, nil
	})
	if err != nil {
		return archive.Key{}, id, err
	}
	if aead == nil {
		return archive.Key{}, id, errors.New("key slot: the vault connection returned a key without asking for the proof")
	}
	kb, err := aead.Open(nil, wrapped[:12], wrapped[12:], id[:])
	if err != nil || len(kb) != archive.KeySize {
		// The relay accepted the proof, so the password is right: the slot
		// was changed.
		return archive.Key{}, id, fmt.Errorf("key slot: %w", ErrCorrupt)
	}
	var key archive.Key
	copy(key[:], kb)
	clear(kb)
	st.Stretch[FormatID(id)] = used
	if err := st.save(home); err != nil {
		key.Wipe()
		return archive.Key{}, id, err
	}
	return key, id, nil
}

// Describe returns what backup id holds (counts and digest), read from
// its sealed manifest with a backup key this home keeps (see Known). The relay knows
// only sizes and times; the counts exist only on the device.
func Describe(ctx context.Context, conn Conn, home string, id [16]byte) (chatstore.Stats, error) {
	st, err := loadState(home)
	if err != nil {
		return chatstore.Stats{}, err
	}
	key, ok := st.keyFor(id)
	if !ok {
		return chatstore.Stats{}, fmt.Errorf("describe backup: this home holds no key of it: %w", transfer.ErrNoKey)
	}
	defer key.Wipe()
	vk, err := deriveKeys(key)
	if err != nil {
		return chatstore.Stats{}, err
	}
	defer vk.wipe()
	_, m, err := fetchManifest(ctx, conn, vk, id, st)
	if err != nil {
		return chatstore.Stats{}, fmt.Errorf("describe backup: %w", err)
	}
	return m.Stats, nil
}
