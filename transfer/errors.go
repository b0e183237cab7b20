package transfer

import (
	"errors"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/internal/archive"
	"github.com/ferryhq/ferry/internal/usererr"
)

// Errors a user can act on. Each is a sentence a CLI can print as is; test
// for them with errors.Is. The archive-related ones are the archive
// package's own sentinels, so one errors.Is check covers both layers.
// Errors from chatstore (ErrLocked, ErrNoHome, ...) pass through wrapped.
var (
	// ErrNewerVersion: the manifest or archive was made by a newer Ferry.
	ErrNewerVersion = archive.ErrNewerVersion
	// ErrNotArchive: the input is not a Ferry archive at all.
	ErrNotArchive = archive.ErrNotArchive
	// ErrCorrupt: an integrity check failed on the manifest or the archive.
	ErrCorrupt = archive.ErrCorrupt
	// ErrTruncated: the archive ends before its last chunk. Import keeps
	// what it verified, so rerunning it with a complete copy continues.
	ErrTruncated = archive.ErrTruncated
	// ErrWrongKey: the recovery key does not open the archive.
	ErrWrongKey = archive.ErrWrongKey
	// ErrWrongPassword: the password does not open the archive.
	ErrWrongPassword = archive.ErrWrongPassword
	// ErrNeedsPassword: a recovery key was given for a password archive
	// (it also matches ErrWrongKey).
	ErrNeedsPassword = archive.ErrNeedsPassword
	// ErrNeedsKey: a password was given for a recovery-key archive (it also
	// matches ErrWrongPassword).
	ErrNeedsKey = archive.ErrNeedsKey
	// ErrChunkCorrupt: a received chunk does not match its hash; it was not stored.
	ErrChunkCorrupt = errors.New("received data failed its integrity check and was not stored: the transfer can be retried")
	// ErrSourceDamaged is what the errors of a source (the vault) match
	// when its data is damaged, forged or lost, so that Discard removes
	// what was staged from it: see SourceError.
	ErrSourceDamaged = errors.New("the data being received is damaged or incomplete at its source")
	// ErrChunkRange: a chunk index outside the manifest.
	ErrChunkRange = errors.New("chunk number out of range")
	// ErrIncomplete: Commit was called before every chunk arrived.
	ErrIncomplete = errors.New("not all data has been received yet: continue the transfer before committing")
	// ErrDigestMismatch: the received history does not match what the source announced.
	ErrDigestMismatch = errors.New("the received history does not match the sender's (digest differs): nothing was changed, start the transfer again")
	// ErrSourceChanged: a source file changed or vanished while it was being sent.
	ErrSourceChanged = errors.New("a media file changed or disappeared on the sending device during the transfer: start the transfer again")
	// ErrTooLarge: the manifest would exceed MaxManifestSize.
	ErrTooLarge = errors.New("this history has too many media files for one manifest")
	// ErrClosed: the receiver or snapshot was already committed, aborted or closed.
	ErrClosed = errors.New("transfer already finished or closed")
	// ErrNoSpace: a disk filled up. Errors carrying it name the directory:
	// "not enough free disk space in DIR".
	ErrNoSpace = usererr.ErrNoSpace
	// ErrNoKey: Export or Import was given neither a key nor a password.
	ErrNoKey = errors.New("a recovery key or a password is needed")
	// ErrForeignSchema: the received database's schema is not exactly
	// Ferry's (a sender's own trigger, view, index or table): refused,
	// staging removed. It is chatstore's sentinel; the error names the object.
	ErrForeignSchema = chatstore.ErrForeignSchema
)

// sourceError is a source's sentinel that also matches ErrSourceDamaged.
type sourceError struct{ msg string }

func (e *sourceError) Error() string        { return e.msg }
func (e *sourceError) Is(target error) bool { return target == ErrSourceDamaged }

// SourceError returns a new sentinel with the sentence msg that also
// matches ErrSourceDamaged: a source defines with it the errors after
// which its staged data is useless.
func SourceError(msg string) error { return &sourceError{msg} }
