package transfer

import (
	"errors"
	"os"
)

// Errors a user can act on. Each is a sentence a CLI can print as is; test
// for them with errors.Is. Errors from chatstore (ErrLocked, ErrNoHome, ...)
// and from the archive package pass through wrapped, so errors.Is works for
// them too.
var (
	// ErrNewerVersion: the manifest or archive was made by a newer Ferry.
	ErrNewerVersion = errors.New("this archive was made by a newer version of Ferry: update Ferry and try again")
	// ErrNotArchive: the input is not a Ferry archive at all.
	ErrNotArchive = errors.New("this file is not a Ferry archive")
	// ErrCorrupt: an integrity check failed on the manifest or the archive.
	ErrCorrupt = errors.New("the archive is damaged (an integrity check failed): make a new export and try again; nothing was changed")
	// ErrTruncated: the archive ends before its last chunk.
	ErrTruncated = errors.New("the archive is incomplete (it ends early): copy it again and rerun the import, which continues where it stopped")
	// ErrWrongKey: the recovery key does not open the archive.
	ErrWrongKey = errors.New("wrong recovery key: check the 64 digits and try again")
	// ErrWrongPassword: the password does not open the archive.
	ErrWrongPassword = errors.New("wrong password: try again")
	// ErrNeedPassword: the archive is sealed with a password but a key was given, or the reverse.
	ErrNeedPassword = errors.New("this archive is protected by a password, not a recovery key: use --password")
	// ErrNeedKey: the archive is sealed with a recovery key but a password was given.
	ErrNeedKey = errors.New("this archive is protected by a recovery key, not a password: use --key")
	// ErrChunkCorrupt: a received chunk does not match its hash; it was not stored.
	ErrChunkCorrupt = errors.New("received data failed its integrity check and was not stored: the transfer can be retried")
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
	ErrNoSpace = errors.New("not enough free disk space")
	// ErrNoKey: Export or Import was given neither a key nor a password.
	ErrNoKey = errors.New("a recovery key or a password is needed")
)

// userError presents a sentinel's sentence while keeping the underlying
// cause reachable for errors.Is/As.
type userError struct {
	sentinel error
	cause    error
}

func (e *userError) Error() string        { return e.sentinel.Error() }
func (e *userError) Is(target error) bool { return target == e.sentinel }
func (e *userError) Unwrap() error        { return e.cause }

func asUser(sentinel, cause error) error { return &userError{sentinel, cause} }

// noSpaceError is ErrNoSpace naming the directory that is full.
type noSpaceError struct {
	dir   string
	cause error
}

func (e *noSpaceError) Error() string        { return ErrNoSpace.Error() + " in " + e.dir }
func (e *noSpaceError) Is(target error) bool { return target == ErrNoSpace }
func (e *noSpaceError) Unwrap() error        { return e.cause }

// diskErr turns an out-of-space error from a write under dir into
// "not enough free disk space in dir"; other errors pass through.
func diskErr(dir string, err error) error {
	if err == nil || errors.Is(err, ErrNoSpace) {
		return err
	}
	if isNoSpace(err) {
		return &noSpaceError{dir: dir, cause: err}
	}
	return err
}

func isNoSpace(err error) bool {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return isNoSpaceErrno(err)
}
