package archive

import "errors"

// Sentinel errors. Each message is one sentence a user can act on; the CLI may
// show it as is. Errors returned by this package wrap these (test with
// errors.Is) and may add the operation that failed.
var (
	// ErrNotArchive means the input does not start with the archive magic.
	ErrNotArchive = errors.New("this file is not a Ferry archive: check that you picked the file written by `ferry export`")
	// ErrNewerVersion means the format version is higher than FormatVersion.
	ErrNewerVersion = errors.New("this archive was made by a newer version of Ferry: upgrade Ferry to import it")
	// ErrWrongKey means the key does not open this archive.
	ErrWrongKey = errors.New("the recovery key does not open this archive: check that it is the key shown when this archive was made")
	// ErrWrongPassword means the password does not open this archive.
	ErrWrongPassword = errors.New("the password does not open this archive: check it and try again")
	// ErrNeedsPassword means a recovery key was given for an archive
	// locked with a password, and it does not open it (it is not the
	// archive's own key either). It also matches ErrWrongKey.
	ErrNeedsPassword = errors.New("this archive is locked with a password, and that recovery key does not open it")
	// ErrNeedsKey means a password was given for an archive that opens with
	// a recovery key. It also matches ErrWrongPassword.
	ErrNeedsKey = errors.New("this archive opens with a recovery key, not a password")
	// ErrCorrupt means authentication failed: bytes were changed, reordered,
	// added or taken from another archive.
	ErrCorrupt = errors.New("the archive is damaged or was tampered with: copy it again from the original, or make a fresh export")
	// ErrTruncated means the input ended before the last declared frame.
	ErrTruncated = errors.New("the archive is incomplete (it ends early): copy the whole file again")
	// ErrBadRecoveryKey means a recovery key string is malformed. The
	// returned error's message says what is wrong with it.
	ErrBadRecoveryKey = errors.New("that is not a valid recovery key: type the 64 digits exactly as they were shown")
)

// detailError is an error with its own user-facing sentence that still
// matches one of the sentinels with errors.Is.
// With also set, it matches that sentinel as well.
type detailError struct {
	msg  string
	kind error
	also error
}

func (e *detailError) Error() string        { return e.msg }
func (e *detailError) Unwrap() error        { return e.kind }
func (e *detailError) Is(target error) bool { return e.also != nil && target == e.also }
