package pairing

import (
	"errors"
	"fmt"
)

// Errors users can map to a sentence. Pair and Authenticate return them as is
// (ErrCodeMismatch) or wrapped with the operation (the others).
var (
	// ErrCodeMismatch: the two devices did not use the same code. Both sides of a
	// failed pairing get exactly this error; it reveals nothing else.
	ErrCodeMismatch = errors.New("the code did not match")
	// ErrSessionClosed: the code was used already, or the sender's session ended.
	ErrSessionClosed = errors.New("this code was already used or the sender's session has ended; ask for a new code")
	// ErrTooManyAttempts: a send session ended after too many wrong codes.
	ErrTooManyAttempts = errors.New("too many wrong codes were tried; the send session has ended")
	// ErrAttemptTimeout: a send session cut off a pairing attempt whose other
	// side did not send its part in time (SessionConfig.AttemptTimeout).
	ErrAttemptTimeout = errors.New("the other device did not finish pairing in time")
	// ErrPeerMismatch: the other device proved an identity other than the peer ID
	// of the connection (someone in the middle, or a misconfigured device).
	ErrPeerMismatch = errors.New("the other device's identity does not match the device connected to")
	// ErrNotPaired: Authenticate was asked to talk to a device that is not in the
	// trust store (or whose keys differ from the stored ones).
	ErrNotPaired = errors.New("the other device is not paired with this one; pair with a code first")
	// ErrProtocol: a malformed or unexpected message.
	ErrProtocol = errors.New("pairing protocol error")
	// ErrUnknownDevice: the trust store has no device with that peer ID.
	ErrUnknownDevice = errors.New("no paired device with that ID")
)

// errToldMismatch is ErrCodeMismatch as the other device reported it (an
// ABORT(1) received), as against one this side found itself.
var errToldMismatch = fmt.Errorf("the other device said: %w", ErrCodeMismatch)

// MismatchError is the initiator's ErrCodeMismatch when the send session
// said how many more wrong codes it allows (the TRIES frame). Its text is
// ErrCodeMismatch's; errors.Is(err, ErrCodeMismatch) holds.
type MismatchError struct {
	// TriesLeft is how many more attempts the sender's session allows; 0
	// means this was the last: the session has ended.
	TriesLeft int
}

func (e *MismatchError) Error() string        { return ErrCodeMismatch.Error() }
func (e *MismatchError) Is(target error) bool { return target == ErrCodeMismatch }

// abortError maps an abort reason received from the peer to the error the local
// side reports.
func abortError(reason byte) error {
	switch reason {
	case abortCodeMismatch:
		return errToldMismatch
	case abortClosed:
		return ErrSessionClosed
	case abortIdentity:
		return fmt.Errorf("peer refused our identity: %w", ErrPeerMismatch)
	case abortNotPaired:
		return fmt.Errorf("peer does not know this device: %w", ErrNotPaired)
	default:
		return fmt.Errorf("peer reported an error: %w", ErrProtocol)
	}
}
