package vaultproto

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"time"

	"github.com/ferryhq/ferry/internal/wire"
)

// Errors a Client returns for the relay's answers; each is a sentence a user
// can act on. Test with errors.Is.
var (
	// ErrNotFound: no such backup, chunk or key slot (or the backup expired).
	ErrNotFound = errors.New("the relay's vault has no such backup (it may have expired or been deleted): check the backup ID and the relay")
	// ErrForbidden: the backup belongs to another device, and this one
	// proved no key of it.
	ErrForbidden = errors.New("this backup belongs to another device: only that device, or one that holds the backup's key, can list or delete it")
	// ErrNoOwnerKey: the backup was made by a Ferry that gave the relay
	// no owner key, so that no key can be proved for it.
	// It matches errors.ErrUnsupported.
	ErrNoOwnerKey error = unsupportedError("this backup was made by an older Ferry, which gave the relay no way to check its key: only the device that made it can list or delete it until that device backs up again")
	// ErrOwnerKeysUnsupported: the relay is of a version that keeps no
	// owner keys. It matches errors.ErrUnsupported.
	ErrOwnerKeysUnsupported error = unsupportedError("the relay is of an older version that keeps no owner keys: only the device that made a backup there can list or delete it")
	// ErrQuota: the account's storage quota is used up.
	ErrQuota = errors.New("this device's storage quota on the relay is used up: delete old backups with `ferry backups rm ID`")
	// ErrTooLarge: the backup exceeds the relay's maximum backup size.
	ErrTooLarge = errors.New("the backup is larger than this relay accepts")
	// ErrWrongPassword: the password proof did not match.
	ErrWrongPassword = errors.New("the password does not open this backup: check it and try again (the relay locks the backup after 10 wrong passwords)")
	// ErrLocked: too many wrong passwords.
	ErrLocked = errors.New("this backup is locked after 10 wrong passwords: it can no longer be restored with a password (its device unlocks it with its next password backup)")
	// ErrTryLater: a wrong password was tried a moment ago; the relay
	// takes the next try after a wait that doubles with each wrong one.
	// Errors carrying it are a *TryLaterError, which says how long.
	ErrTryLater = errors.New("a wrong password was tried on this backup a moment ago: the relay takes the next try only after a wait")
	// ErrOldKeySlot: the backup's password slot is of the first format,
	// whose proof the relay could replay and whose salt the relay alone
	// chose; a device no longer sends that proof.
	ErrOldKeySlot = errors.New("this password backup was made by an older Ferry, whose password proof this version no longer sends: the device that made it renews it with its next password backup")
	// ErrFull: the relay's vault holds as much as its operator allows.
	ErrFull = errors.New("the relay's vault is full: it takes no new backup data for now")
	// ErrNoAccess: the relay serves its vault only to devices that hold a
	// slot (a reservation) on it, and this one holds none.
	ErrNoAccess = errors.New("the relay keeps backups only for devices that hold a slot on it, and it has none free for this device: try again later")
	// ErrBusy: too many requests of this device or its network address are
	// under way on the relay; retrying later may help.
	ErrBusy = errors.New("the relay is busy with too many requests from this device or its network: try again later")
	// ErrNoVault: the relay serves no vault at all.
	ErrNoVault = errors.New("this relay keeps no backups (it serves no vault)")
	// ErrMissingChunks: a manifest names chunks the vault does not hold.
	ErrMissingChunks = errors.New("the relay lacks chunks this backup needs: run the backup again")
	// ErrChunkMissing: GetChunk found no such chunk. It also matches
	// fs.ErrNotExist, so that callers that only know the standard library
	// (package backup) can tell it from a failure worth retrying.
	ErrChunkMissing error = missingError{}
	// ErrProtocol: the relay answered outside the protocol.
	ErrProtocol = errors.New("the relay answered something that is not the vault protocol: is it a Ferry relay with a vault?")
	// ErrRelay: the relay failed internally; retrying may help.
	ErrRelay = errors.New("the relay's vault failed to store or read data: try again later")
	// ErrConnLost: the connection to the relay failed (reset, cut, timed
	// out, or no new one could be made) and the call gave up; what the
	// relay acknowledged before is kept. Errors carrying it read as their
	// cause.
	ErrConnLost = errors.New("lost the connection to the relay")
)

// connLost marks a transport failure of a call as ErrConnLost.
type connLost struct{ err error }

func (e connLost) Error() string        { return e.err.Error() }
func (e connLost) Is(target error) bool { return target == ErrConnLost }
func (e connLost) Unwrap() error        { return e.err }

// CodeOf maps an error of the server to a wire code. A TryLater answer's
// message is its wait (see TryLaterMessage).
func CodeOf(err error) byte {
	switch {
	case errors.Is(err, ErrNotFound):
		return CodeNotFound
	case errors.Is(err, ErrForbidden):
		return CodeForbidden
	case errors.Is(err, ErrQuota):
		return CodeQuota
	case errors.Is(err, ErrTooLarge):
		return CodeTooLarge
	case errors.Is(err, ErrWrongPassword):
		return CodeWrongPassword
	case errors.Is(err, ErrLocked):
		return CodeLocked
	case errors.Is(err, ErrMissingChunks):
		return CodeMissingChunks
	case errors.Is(err, ErrOldKeySlot):
		return CodeOldKeySlot
	case errors.Is(err, ErrTryLater):
		return CodeTryLater
	case errors.Is(err, ErrFull):
		return CodeFull
	case errors.Is(err, ErrNoAccess):
		return CodeNoAccess
	case errors.Is(err, ErrBusy):
		return CodeBusy
	case errors.Is(err, ErrNoOwnerKey):
		return CodeNoOwnerKey
	case errors.Is(err, ErrBadRequest):
		return CodeBadRequest
	}
	return CodeInternal
}

// ErrorOf maps an Error answer to a sentinel.
func ErrorOf(e *wire.RemoteError) error {
	switch e.Code {
	case CodeNotFound:
		return ErrNotFound
	case CodeForbidden:
		return ErrForbidden
	case CodeQuota:
		return ErrQuota
	case CodeTooLarge:
		return ErrTooLarge
	case CodeWrongPassword:
		return ErrWrongPassword
	case CodeLocked:
		return ErrLocked
	case CodeMissingChunks:
		return ErrMissingChunks
	case CodeOldKeySlot:
		return ErrOldKeySlot
	case CodeTryLater:
		return parseTryLater(e.Message)
	case CodeFull:
		return ErrFull
	case CodeNoAccess:
		return ErrNoAccess
	case CodeBusy:
		return ErrBusy
	case CodeNoOwnerKey:
		return ErrNoOwnerKey
	case CodeBadRequest:
		return ErrProtocol
	}
	return ErrRelay
}

// TryLaterError is ErrTryLater with the wait the relay asked for.
type TryLaterError struct{ After time.Duration }

func (e *TryLaterError) Error() string {
	return fmt.Sprintf("%v: try again in %s", ErrTryLater, e.After)
}
func (e *TryLaterError) Is(target error) bool { return target == ErrTryLater }

// maxTryLater bounds the wait a relay may ask for.
const maxTryLater = time.Hour

// TryLaterMessage is the message of a TryLater answer: the wait in whole
// seconds (rounded up), in decimal.
func TryLaterMessage(d time.Duration) string {
	return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)
}

// parseTryLater reads a TryLater answer's message; a wait the relay gives
// outside 1 s .. maxTryLater reads as maxTryLater.
func parseTryLater(msg string) error {
	n, err := strconv.ParseUint(msg, 10, 32)
	d := time.Duration(n) * time.Second
	if err != nil || d < time.Second || d > maxTryLater {
		d = maxTryLater
	}
	return &TryLaterError{After: d}
}

type missingError struct{}

func (missingError) Error() string {
	return "the relay lacks a piece of this backup (it was lost or deleted there)"
}
func (missingError) Is(target error) bool { return target == fs.ErrNotExist }

// unsupportedError is an error that matches errors.ErrUnsupported, so
// that callers that know only the standard library (package backup) can
// tell a backup or relay without owner keys.
type unsupportedError string

func (e unsupportedError) Error() string        { return string(e) }
func (e unsupportedError) Is(target error) bool { return target == errors.ErrUnsupported }
