package backup

import (
	"errors"
	"fmt"

	"github.com/ferryhq/ferry/transfer"
)

// Vault errors a user can act on. ErrCorrupt and ErrIncomplete are
// transfer.SourceErrors: what a restore staged before either is removed
// (see transfer.Discard).
var (
	// ErrCorrupt: a chunk or the manifest from the vault failed its
	// check (changed, swapped or forged); nothing was written.
	ErrCorrupt = transfer.SourceError("the backup on the relay is damaged or was tampered with: nothing was restored")
	// ErrIncomplete: the vault lacks a chunk the manifest refers to.
	ErrIncomplete = transfer.SourceError("the backup on the relay is missing part of its data (lost or deleted there): nothing was restored; make a new backup from a device that has the history")
	// ErrChanged: a newer backup replaced the one being restored (its
	// device backed up meanwhile), and the objects only the old one used
	// are gone.
	ErrChanged = errors.New("the backup changed on the relay while it was being restored (its device made a newer one): nothing was restored; run the same command again to restore the newer one")
	// ErrRollback: the relay served an older manifest than this device
	// already wrote or restored.
	ErrRollback = errors.New("the relay served an older version of this backup than this device has already seen: nothing was restored")
	// ErrID: a backup ID is malformed, or does not belong to the key.
	ErrID = errors.New("that is not the ID of a backup made with this key: check the ID printed by `ferry backup` (32 hex digits)")
	// ErrWeakStretch: the relay asked for a password stretch cheaper than
	// Ferry's own (or than this backup had before); nothing derived from
	// the password was computed or sent.
	ErrWeakStretch = errors.New("the relay asked for a weaker password stretch than Ferry uses (it may be hostile, guessing passwords): refused, nothing derived from the password was sent")
)

// errOldManifest: the manifest is of a version before this Ferry's: made by an
// early Ferry, and not restorable with this one. Upload starts afresh over
// it.
var errOldManifest = fmt.Errorf("made by an early Ferry that this one cannot read (make a new backup): %w", ErrCorrupt)
