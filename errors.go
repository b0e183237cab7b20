package ferry

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ferryhq/ferry/backup"
	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/importers"
	"github.com/ferryhq/ferry/internal/archive"
	"github.com/ferryhq/ferry/p2p"
	"github.com/ferryhq/ferry/pairing"
	"github.com/ferryhq/ferry/relay/vaultproto"
	"github.com/ferryhq/ferry/transfer"
)

// Error is what every failure a user can cause, or act on, comes as (or
// wraps): a sentence that says what happened, a hint that says what to do
// (optional), and whether doing the same again resumes where this stopped.
// No text of it names a flag of the ferry command: the CLI renders it with
// its own flag names (by Code), the daemon sends it over its control API
// and the client there turns it back into an *Error.
//
// errors.Is matches two *Error values by Code, so a check such as
// errors.Is(err, &ferry.Error{Code: ferry.CodeLocked}) works also for an
// error that came over the control API, where Err is gone.
type Error struct {
	Code      ErrorCode `json:"code,omitempty"` // stable; empty for an error only a sentence describes
	Sentence  string    `json:"error"`
	Hint      string    `json:"hint,omitempty"`
	Resumable bool      `json:"resumable"` // the same call (the same command) again continues where this one stopped
	Err       error     `json:"-"`         // the cause, when known
}

func (e *Error) Error() string {
	if e.Hint == "" {
		return e.Sentence
	}
	return e.Sentence + ": " + e.Hint
}

func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same (non-empty) Code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code != "" && t.Code == e.Code
}

// CodeOf is the Code of the *Error in err's chain, or "" if there is none.
func CodeOf(err error) ErrorCode {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// AsError is err as an *Error: the one in its chain, or a new one whose
// sentence is err's text (for a failure Ferry has no sentence of its own
// for). It returns nil for nil.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Sentence: err.Error(), Err: err}
}

// ErrorCode names a kind of Error. The CLI keys its own wording (with its
// flag names) on it, and it survives the control API.
type ErrorCode string

// Error codes.
const (
	// The home and its history.
	CodeNoHome        ErrorCode = "no-home"
	CodeNotAHome      ErrorCode = "not-a-home"
	CodeHomeIsFile    ErrorCode = "home-is-file"
	CodeNoHomeParent  ErrorCode = "no-home-parent"
	CodeLocked        ErrorCode = "locked"
	CodeNotAStore     ErrorCode = "not-a-store"
	CodeTooNew        ErrorCode = "too-new"
	CodeHomeExposed   ErrorCode = "home-exposed"
	CodeReadOnlyHome  ErrorCode = "read-only-home"
	CodeHistoryDamage ErrorCode = "history-damaged"
	CodeInterrupted   ErrorCode = "interrupted"
	CodeClosed        ErrorCode = "closed"

	// Archives and what any migration checks.
	CodeBadRecoveryKey ErrorCode = "bad-recovery-key"
	CodeWrongKey       ErrorCode = "wrong-key"
	CodeWrongPassword  ErrorCode = "wrong-password"
	CodeNeedsPassword  ErrorCode = "needs-password" // a recovery key for a password archive
	CodeNeedsKey       ErrorCode = "needs-key"      // a password for a recovery-key archive
	CodeNotArchive     ErrorCode = "not-archive"
	CodeNewerVersion   ErrorCode = "newer-version"
	CodeArchiveDamaged ErrorCode = "archive-damaged"
	CodeTruncated      ErrorCode = "truncated"
	CodeChunkCorrupt   ErrorCode = "chunk-corrupt"
	CodeIncomplete     ErrorCode = "incomplete"
	CodeDigestMismatch ErrorCode = "digest-mismatch"
	CodeSourceChanged  ErrorCode = "source-changed"
	CodeTooLarge       ErrorCode = "too-large"
	CodeNoSpace        ErrorCode = "no-space"
	CodeNoKey          ErrorCode = "no-key"
	CodeKeyAndPassword ErrorCode = "key-and-password"
	CodeForeignSchema  ErrorCode = "foreign-schema"
	CodeFileExists     ErrorCode = "file-exists"

	// Backups on a relay's vaultproto.
	CodeRelayLost         ErrorCode = "relay-lost"
	CodeNoVault           ErrorCode = "no-vault"
	CodeTryLater          ErrorCode = "try-later"
	CodeNoBackupForKey    ErrorCode = "no-backup-for-key"
	CodeBackupNotFound    ErrorCode = "backup-not-found"
	CodeBackupForbidden   ErrorCode = "backup-forbidden"
	CodeNoOwnerKey        ErrorCode = "backup-no-owner-key"
	CodeQuota             ErrorCode = "quota"
	CodeBackupTooLarge    ErrorCode = "backup-too-large"
	CodeBackupPassword    ErrorCode = "backup-wrong-password"
	CodeBackupLocked      ErrorCode = "backup-locked"
	CodeMissingChunks     ErrorCode = "missing-chunks"
	CodeOldKeySlot        ErrorCode = "old-key-slot"
	CodeVaultFull         ErrorCode = "vault-full"
	CodeVaultNoAccess     ErrorCode = "vault-no-access"
	CodeVaultBusy         ErrorCode = "vault-busy"
	CodeVaultProtocol     ErrorCode = "vault-protocol"
	CodeVaultFailed       ErrorCode = "vault-failed"
	CodeWeakStretch       ErrorCode = "weak-stretch"
	CodeVaultChanged      ErrorCode = "vault-changed"
	CodeVaultDamaged      ErrorCode = "vault-damaged"
	CodeVaultIncomplete   ErrorCode = "vault-incomplete"
	CodeVaultRollback     ErrorCode = "vault-rollback"
	CodeBadBackupID       ErrorCode = "bad-backup-id"
	CodeNoRelay           ErrorCode = "no-relay"
	CodePasswordNeedsID   ErrorCode = "password-needs-backup-id"
	CodeRelayAddr         ErrorCode = "relay-addr"
	CodeRelayUnreachable  ErrorCode = "relay-unreachable"
	CodeRelayFull         ErrorCode = "relay-full"
	CodeNameplateUnknown  ErrorCode = "nameplate-unknown"
	CodeNameplateExpired  ErrorCode = "nameplate-expired"
	CodeNameplateClaimed  ErrorCode = "nameplate-claimed"
	CodeNameplateTaken    ErrorCode = "nameplate-taken"
	CodeRateLimited       ErrorCode = "rate-limited"
	CodeNoReservation     ErrorCode = "no-reservation"
	CodeRendezvousLimit   ErrorCode = "rendezvous-limit"
	CodeRelayRefused      ErrorCode = "relay-refused"
	CodeRelayProtocol     ErrorCode = "relay-protocol"
	CodeRelayUnavailable  ErrorCode = "relay-unavailable"
	CodeNotFoundOnLAN     ErrorCode = "not-found-on-lan"
	CodeNoInterface       ErrorCode = "no-interface"
	CodeNoDiscovery       ErrorCode = "no-discovery"
	CodeBadLink           ErrorCode = "bad-link"
	CodeBadAddress        ErrorCode = "bad-address"
	CodeBadCode           ErrorCode = "bad-code"
	CodeCodeMismatch      ErrorCode = "code-mismatch"
	CodeCodeUsed          ErrorCode = "code-used"
	CodeTooManyAttempts   ErrorCode = "too-many-attempts"
	CodeLastTry           ErrorCode = "last-try" // the receiver's wrong code was the sender's last allowed
	CodePairTimeout       ErrorCode = "pair-timeout"
	CodePeerMismatch      ErrorCode = "peer-mismatch"
	CodeNotPaired         ErrorCode = "not-paired"
	CodeUnknownDevice     ErrorCode = "unknown-device"
	CodeAmbiguousDevice   ErrorCode = "ambiguous-device"
	CodeNoCode            ErrorCode = "no-code"
	CodeNotReceiver       ErrorCode = "not-receiver"
	CodeSenderForgot      ErrorCode = "sender-forgot"
	CodeDeclined          ErrorCode = "declined"
	CodeForgotten         ErrorCode = "forgotten"
	CodeAlreadySending    ErrorCode = "already-sending"
	CodeCodeWithTo        ErrorCode = "code-with-to"
	CodeSenderGone        ErrorCode = "sender-gone"
	CodeNotExport         ErrorCode = "not-export"
	CodeExportDamaged     ErrorCode = "export-damaged"
	CodeDateFormat        ErrorCode = "date-format"
	CodeMissingMedia      ErrorCode = "missing-media"
	CodeUnsafeName        ErrorCode = "unsafe-name"
	CodeUnknownOwner      ErrorCode = "unknown-owner"
	CodeBadTimeZone       ErrorCode = "bad-time-zone"
	CodeBadFormat         ErrorCode = "bad-format"
	CodeDaemonShutsDown   ErrorCode = "daemon-shutting-down"
	CodeDaemonUnreachable ErrorCode = "daemon-unreachable"
)

// Errors of sessions a caller may want to tell apart; errors.Is finds them
// also in an error that came over the control API.
var (
	// ErrNoCode: a receive without a code found no paired device sending.
	ErrNoCode = &Error{Code: CodeNoCode, Sentence: "no paired device is sending nearby",
		Hint: "give the code shown by the sender"}
	// ErrNotReceiver: the paired sender is sending to another device.
	ErrNotReceiver = &Error{Code: CodeNotReceiver, Sentence: "the sender is not sending to this device",
		Hint: "give the code it shows, or have it send to this device by name"}
	// ErrSenderForgot: the sender no longer counts this device as paired.
	ErrSenderForgot = &Error{Code: CodeSenderForgot, Sentence: "the sender does not count this device as paired (it was never paired there, or was removed)",
		Hint: "give the code the sender shows to pair again"}
	// ErrDeclined: ReceiveOptions.Confirm declined the offer.
	ErrDeclined = &Error{Code: CodeDeclined, Sentence: "the offer was declined: nothing was received"}
	// ErrForgotten: the device a session was with was removed from the
	// paired devices (Forget), so the session stopped.
	ErrForgotten = &Error{Code: CodeForgotten, Sentence: "the other device was removed from the paired devices, so the transfer with it has stopped"}
)

// The errors this package makes itself.
var (
	errAmbiguous      = &Error{Code: CodeAmbiguousDevice, Sentence: "that name matches several paired devices"}
	errUnknownName    = &Error{Code: CodeUnknownDevice, Sentence: "no paired device has that name"}
	errAlreadySending = &Error{Code: CodeAlreadySending, Sentence: "this device is already sending",
		Hint: "finish or cancel that first"}
	errCodeWithTo = &Error{Code: CodeCodeWithTo, Sentence: "a send to a paired device takes no code",
		Hint: "give the device or a code, not both"}
	errNoDiscovery = &Error{Code: CodeNoDiscovery, Sentence: "local-network discovery is off",
		Hint: "give the sender's address"}
	errSenderGone = &Error{Code: CodeSenderGone, Sentence: "the sender did not come back",
		Hint: "what was received is kept: once it sends again, receiving again here continues where this stopped", Resumable: true}
	errClosed    = &Error{Code: CodeClosed, Sentence: "this device was closed"}
	errNoRelay   = &Error{Code: CodeNoRelay, Sentence: "no relay was given", Hint: "give the relay that keeps the backups"}
	errKeyAndPw  = &Error{Code: CodeKeyAndPassword, Sentence: "give a recovery key or a password, not both"}
	errPwNeedsID = &Error{Code: CodePasswordNeedsID, Sentence: "a restore with a password needs the backup's ID",
		Hint: "give the ID the backup printed"}
)

// known maps the sentinels of the packages below to an Error: its code and
// words. A row with detail takes its sentence from the most specific error
// of the chain that still starts with the sentinel's text (it may add, say,
// which directory is full); the sentinel's own text otherwise, unless
// sentence is set. Rows are tried in order.
var known = []struct {
	err            error
	code           ErrorCode
	sentence, hint string
	detail         bool
}{
	{err: chatstore.ErrNoHome, code: CodeNoHome, sentence: "that home does not exist", hint: "check its path, or create the history first"},
	{err: chatstore.ErrLocked, code: CodeLocked, sentence: "the history is in use by another ferry process", hint: "wait for it to finish or stop it, then try again"},
	{err: chatstore.ErrNotAStore, code: CodeNotAStore, sentence: "the home does not hold a Ferry history (its database is not one of ours)", hint: "check the home's path"},
	{err: chatstore.ErrTooNew, code: CodeTooNew, sentence: "the history was written by a newer version of Ferry", hint: "upgrade ferry to use it"},
	{err: chatstore.ErrHomeExposed, code: CodeHomeExposed, sentence: "other users can read this home and Ferry cannot make it private (it belongs to another user, or its modes cannot be changed)", hint: "its owner should run chmod -R go= on it"},
	{err: chatstore.ErrReadOnlyHome, code: CodeReadOnlyHome, sentence: "this home cannot be written (a read-only file system, or no permission to write there), and this command changes it", hint: "use a home you can write to"},
	{err: chatstore.ErrCorrupt, code: CodeHistoryDamage, sentence: "the history database is damaged: it fails SQLite's integrity check"},
	{err: chatstore.ErrNotAHome, code: CodeNotAHome, sentence: "the folder is not a Ferry home: it holds other files, and Ferry writes only into a new or empty folder or an existing home", hint: "pick another home"},

	{err: archive.ErrBadRecoveryKey, code: CodeBadRecoveryKey, detail: true},
	{err: transfer.ErrNeedsPassword, code: CodeNeedsPassword, sentence: "this archive is locked with a password, and that recovery key does not open it", hint: "open it with its password"},
	{err: transfer.ErrNeedsKey, code: CodeNeedsKey, sentence: "this archive opens with a recovery key, not a password", hint: "open it with the recovery key shown when it was made"},
	{err: transfer.ErrWrongKey, code: CodeWrongKey, sentence: "the recovery key does not open this archive", hint: "check that it is the key shown when this archive was made"},
	{err: transfer.ErrWrongPassword, code: CodeWrongPassword, sentence: "the password does not open this archive", hint: "check it and try again"},
	{err: transfer.ErrNotArchive, code: CodeNotArchive, sentence: "this file is not a Ferry archive", hint: "check that you picked the file an export wrote"},
	{err: transfer.ErrNewerVersion, code: CodeNewerVersion, detail: true},
	{err: transfer.ErrCorrupt, code: CodeArchiveDamaged, sentence: "the archive is damaged or was tampered with", hint: "copy it again from the original, or make a fresh export"},
	{err: transfer.ErrTruncated, code: CodeTruncated, sentence: "the archive is incomplete (it ends early)", hint: "copy the whole file again"},
	{err: transfer.ErrChunkCorrupt, code: CodeChunkCorrupt, detail: true},
	{err: transfer.ErrIncomplete, code: CodeIncomplete, detail: true},
	{err: transfer.ErrDigestMismatch, code: CodeDigestMismatch, detail: true},
	{err: transfer.ErrSourceChanged, code: CodeSourceChanged, detail: true},
	{err: transfer.ErrTooLarge, code: CodeTooLarge, detail: true},
	{err: transfer.ErrNoSpace, code: CodeNoSpace, detail: true},
	{err: transfer.ErrNoKey, code: CodeNoKey, detail: true},
	{err: transfer.ErrForeignSchema, code: CodeForeignSchema, detail: true},

	{err: vaultproto.ErrConnLost, code: CodeRelayLost, sentence: "lost the connection to the relay (it stopped answering or restarted, or the network dropped)", hint: "try again once the relay answers"},
	{err: vaultproto.ErrNoVault, code: CodeNoVault, sentence: "this relay keeps no backups", hint: "its operator can start it with a vault"},
	{err: vaultproto.ErrNotFound, code: CodeBackupNotFound, detail: true},
	{err: vaultproto.ErrNoOwnerKey, code: CodeNoOwnerKey, sentence: "the relay cannot check this home's key of that backup: it was made by an older Ferry", hint: "the device that made it can delete it, or back up again so that its key works from any device"},
	{err: vaultproto.ErrOwnerKeysUnsupported, code: CodeNoOwnerKey, sentence: "this relay is of an older version that cannot check a backup's key", hint: "the device that made the backup can delete it, or the relay's operator can upgrade it"},
	{err: vaultproto.ErrForbidden, code: CodeBackupForbidden, detail: true},
	{err: vaultproto.ErrQuota, code: CodeQuota, sentence: "this device's storage quota on the relay is used up", hint: "delete old backups"},
	{err: vaultproto.ErrTooLarge, code: CodeBackupTooLarge, detail: true},
	{err: vaultproto.ErrWrongPassword, code: CodeBackupPassword, detail: true},
	{err: vaultproto.ErrLocked, code: CodeBackupLocked, detail: true},
	{err: vaultproto.ErrMissingChunks, code: CodeMissingChunks, detail: true},
	{err: vaultproto.ErrOldKeySlot, code: CodeOldKeySlot, detail: true},
	{err: vaultproto.ErrFull, code: CodeVaultFull, detail: true},
	{err: vaultproto.ErrNoAccess, code: CodeVaultNoAccess, detail: true},
	{err: vaultproto.ErrBusy, code: CodeVaultBusy, detail: true},
	{err: vaultproto.ErrProtocol, code: CodeVaultProtocol, detail: true},
	{err: vaultproto.ErrRelay, code: CodeVaultFailed, detail: true},
	{err: backup.ErrWeakStretch, code: CodeWeakStretch, detail: true},
	{err: backup.ErrChanged, code: CodeVaultChanged, sentence: "the backup changed on the relay while it was being restored (its device made a newer one): nothing was restored", hint: "run it again to restore the newer one"},
	{err: backup.ErrCorrupt, code: CodeVaultDamaged, detail: true},
	{err: backup.ErrIncomplete, code: CodeVaultIncomplete, detail: true},
	{err: backup.ErrRollback, code: CodeVaultRollback, detail: true},
	{err: backup.ErrID, code: CodeBadBackupID, sentence: "that is not the ID of a backup made with this key", hint: "check the ID the backup printed (32 hex digits)"},

	{err: p2p.ErrRelayAddr, code: CodeRelayAddr, sentence: "the relay address must be a multiaddr ending in /p2p/<relay peer ID>, as the relay prints it"},
	{err: p2p.ErrRelayUnreachable, code: CodeRelayUnreachable, sentence: "cannot reach the relay", hint: "check the relay's address and this device's network"},
	{err: p2p.ErrRelayFull, code: CodeRelayFull, detail: true},
	{err: p2p.ErrNameplateUnknown, code: CodeNameplateUnknown, sentence: "no sender is waiting with that code on this relay", hint: "check the code, and that both sides use the same relay; if the sender's send has ended (it was stopped, or too many wrong codes were tried), start it again and use its new code"},
	{err: p2p.ErrNameplateExpired, code: CodeNameplateExpired, sentence: "the sender's code expired on the relay", hint: "start the send again and use the new code"},
	{err: p2p.ErrNameplateClaimed, code: CodeNameplateClaimed, sentence: "other receivers already used that code on this relay", hint: "start the send again and use the new code"},
	{err: p2p.ErrNameplateTaken, code: CodeNameplateTaken, sentence: "another sender is using that nameplate on this relay", hint: "start the send again to get another code"},
	{err: p2p.ErrRateLimited, code: CodeRateLimited, detail: true},
	{err: p2p.ErrNoReservation, code: CodeNoReservation, detail: true},
	{err: p2p.ErrRendezvousLimit, code: CodeRendezvousLimit, detail: true},
	{err: p2p.ErrRelayRefused, code: CodeRelayRefused, detail: true},
	{err: p2p.ErrRelayProtocol, code: CodeRelayProtocol, detail: true},
	{err: p2p.ErrRelayUnavailable, code: CodeRelayUnavailable, detail: true},
	{err: p2p.ErrNotFound, code: CodeNotFoundOnLAN, sentence: "no device with this code answered on the local network. " +
		"The two devices may be on different networks, the Wi-Fi may isolate clients from each other, " +
		"a firewall may block mDNS (UDP port 5353), or multicast may be off",
		hint: "check that both are on the same network, or use a relay on both devices"},
	{err: p2p.ErrNoInterface, code: CodeNoInterface, sentence: "no network interface that can do multicast is up",
		hint: "connect to a network, or use a relay on both devices"},

	{err: pairing.ErrInvalidCode, code: CodeBadCode, detail: true},
	{err: pairing.ErrCodeMismatch, code: CodeCodeMismatch, detail: true},
	{err: pairing.ErrSessionClosed, code: CodeCodeUsed, detail: true},
	{err: pairing.ErrTooManyAttempts, code: CodeTooManyAttempts, detail: true},
	{err: pairing.ErrAttemptTimeout, code: CodePairTimeout, detail: true},
	{err: pairing.ErrPeerMismatch, code: CodePeerMismatch, detail: true},
	{err: pairing.ErrNotPaired, code: CodeNotPaired, detail: true},
	{err: pairing.ErrUnknownDevice, code: CodeUnknownDevice, detail: true},

	{err: importers.ErrNotExport, code: CodeNotExport, detail: true},
	{err: importers.ErrDamaged, code: CodeExportDamaged, detail: true},
	{err: importers.ErrDateFormat, code: CodeDateFormat, detail: true},
	{err: importers.ErrMissingMedia, code: CodeMissingMedia, detail: true},
	{err: importers.ErrUnsafeName, code: CodeUnsafeName, detail: true},
	{err: importers.ErrUnknownOwner, code: CodeUnknownOwner, detail: true},
}

// userError turns err into an *Error when it is one a user can cause or act
// on (leaving one that already is as it is), and returns any other error
// unchanged. It does not decide about interruptions: see interrupted.
func userError(err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	var mismatch *pairing.MismatchError
	if errors.As(err, &mismatch) {
		return codeMismatch(mismatch.TriesLeft, err)
	}
	var later *vaultproto.TryLaterError
	if errors.As(err, &later) {
		return &Error{Code: CodeTryLater, Sentence: "a wrong password was tried on this backup a moment ago",
			Hint: fmt.Sprintf("try again in %s", later.After), Err: err}
	}
	for _, k := range known {
		if !errors.Is(err, k.err) {
			continue
		}
		e := &Error{Code: k.code, Sentence: k.sentence, Hint: k.hint, Err: err}
		var ie *importers.Error
		switch {
		case e.Sentence != "":
		case errors.As(err, &ie):
			e.Sentence = ie.Text // the importer's own sentence, with what it found
		case k.detail:
			e.Sentence = specific(err, k.err)
		default:
			e.Sentence = k.err.Error()
		}
		return e
	}
	return err
}

// codeMismatch is the receiver's error for a wrong code when the sender
// said how many more tries it allows: left of them, none once its send has
// ended.
func codeMismatch(left int, err error) *Error {
	if left == 0 {
		return &Error{Code: CodeLastTry, Err: err,
			Sentence: "the code did not match, and that was the last try the sender allows: its send has ended",
			Hint:     "start the send there again and use its new code"}
	}
	tries := "1 more try"
	if left > 1 {
		tries = fmt.Sprintf("%d more tries", left)
	}
	return &Error{Code: CodeCodeMismatch, Err: err,
		Sentence: "the code did not match; the sender allows " + tries + " before its send ends",
		Hint:     "check the code it shows (the words and the number before them) and try again"}
}

// specific is the most specific error of err's chain whose text still
// starts with the sentinel's, without the operation prefixes around it.
func specific(err, sentinel error) string {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if strings.HasPrefix(e.Error(), sentinel.Error()) {
			return e.Error()
		}
	}
	return sentinel.Error()
}

// with returns a copy of e with the hint and resumability given (an empty
// hint keeps e's).
func (e *Error) with(hint string, resumable bool) *Error {
	c := *e
	if hint != "" {
		c.Hint = hint
	}
	c.Resumable = resumable
	return &c
}

// detail returns a copy of e with its own sentence, hint and cause.
func (e *Error) detail(sentence, hint string, cause error) *Error {
	c := *e
	c.Sentence, c.Hint, c.Err = sentence, hint, cause
	return &c
}

// interrupted reports whether err is the end of its context (a cancel, a
// signal, a deadline).
func interrupted(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// interruptedError is the Error of an operation cut off by its context.
func interruptedError(err error, sentence, hint string, resumable bool) *Error {
	return &Error{Code: CodeInterrupted, Sentence: "interrupted: " + sentence, Hint: hint, Resumable: resumable, Err: err}
}
