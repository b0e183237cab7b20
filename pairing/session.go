package pairing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// DefaultMaxFailures is how many failed attempts a send session tolerates.
const DefaultMaxFailures = 3

// DefaultAttemptTimeout bounds each step of a pairing attempt on a send
// session (see SessionConfig.AttemptTimeout). Two devices on one network
// pair in milliseconds, through a relay in a few round trips.
const DefaultAttemptTimeout = 10 * time.Second

// SessionConfig configures a SendSession. The zero value of every optional field
// is usable.
type SessionConfig struct {
	// Local is this device. Required.
	Local Identity
	// Code to accept. Zero means a fresh code of Words words (see NewCode).
	Code Code
	// Words is the number of code words when Code is zero; 0 means
	// DefaultCodeWords (the CLI's --code-words).
	Words int
	// MaxFailures is the number of failed attempts after which the session
	// ends; 0 means DefaultMaxFailures.
	MaxFailures int
	// AttemptTimeout bounds each attempt: the initiator's first message must
	// arrive within it, and the rest of the exchange must then finish within
	// it again. An attempt that does not is cut off and counts as failed.
	// 0 means DefaultAttemptTimeout.
	AttemptTimeout time.Duration
	// Offer is the opaque summary of what will be sent, shown to the receiver.
	Offer []byte
	// Store, if set, records the receiving device on success.
	Store *Store
	// OnEvent, if set, is called for every failed attempt, the pairing, and the
	// end of the session, one call at a time, from the goroutine calling Accept
	// or Close. It must not call back into the session.
	OnEvent func(Event)
	// Now returns the time recorded as PairedAt. Nil means time.Now.
	Now func() time.Time

	rand io.Reader
}

// EventKind says what happened in a send session.
type EventKind int

const (
	// EventAttemptFailed: an attempt failed (a wrong code, a peer that did not
	// finish in time, a protocol error); Attempt is its number, Remaining how
	// many more are allowed, Err why it failed.
	EventAttemptFailed EventKind = iota + 1
	// EventPaired: a device paired; Peer is set. The session is over. It is
	// reported once the device is in the Store and before that device is told
	// it paired, so that nothing it does next can come first.
	EventPaired
	// EventEnded: the session ended without pairing; Err says why
	// (ErrTooManyAttempts, or ErrSessionClosed after Close).
	EventEnded
)

func (k EventKind) String() string {
	switch k {
	case EventAttemptFailed:
		return "attempt-failed"
	case EventPaired:
		return "paired"
	case EventEnded:
		return "ended"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is one thing a send session reports to its user.
type Event struct {
	Kind      EventKind
	Remote    peer.ID // the device that tried (not for EventEnded after Close)
	Attempt   int     // 1-based number of the failed attempt
	Remaining int     // attempts still allowed
	Peer      *Peer   // EventPaired
	Err       error
}

// SendSession is the sender's side of pairing: one code, accepted at most once,
// with at most MaxFailures failed attempts. Attempts are served one at a time
// once their first message has arrived, each within AttemptTimeout.
//
// State machine:
//
//	open --Accept ok--> paired (code used)
//	open --Accept fails, failures < max--> open
//	open --Accept fails, failures == max--> ended (ErrTooManyAttempts)
//	open --Close--> ended (ErrSessionClosed)
//
// In paired and ended, Accept refuses: the other side gets ErrSessionClosed.
type SendSession struct {
	// Constant after construction.
	cfg     SessionConfig
	code    Code
	max     int
	timeout time.Duration
	done    chan struct{}
	turn    chan struct{} // one attempt at a time: holds a token while free

	mu       sync.Mutex // guards the fields below
	failures int
	over     bool
	err      error // why the session is over; nil when paired
}

// NewSendSession starts a send session.
func NewSendSession(cfg SessionConfig) (*SendSession, error) {
	if err := cfg.Local.check(); err != nil {
		return nil, fmt.Errorf("new send session: %w", err)
	}
	code := cfg.Code
	if code.IsZero() {
		var err error
		if code, err = NewCode(cfg.Words); err != nil {
			return nil, fmt.Errorf("new send session: %w", err)
		}
	} else if err := code.validate(); err != nil {
		return nil, fmt.Errorf("new send session: %w", err)
	}
	maxF := cfg.MaxFailures
	if maxF <= 0 {
		maxF = DefaultMaxFailures
	}
	timeout := cfg.AttemptTimeout
	if timeout <= 0 {
		timeout = DefaultAttemptTimeout
	}
	s := &SendSession{cfg: cfg, code: code, max: maxF, timeout: timeout, done: make(chan struct{}), turn: make(chan struct{}, 1)}
	s.turn <- struct{}{}
	return s, nil
}

// Code is the session's code, to show to the user.
func (s *SendSession) Code() Code { return s.code }

// Done is closed when the session is over (paired, too many failures, closed).
func (s *SendSession) Done() <-chan struct{} { return s.done }

// Err is why the session ended: nil while open and after a pairing,
// ErrTooManyAttempts or ErrSessionClosed otherwise.
func (s *SendSession) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Failures is the number of failed attempts so far.
func (s *SendSession) Failures() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failures
}

// Close ends the session; later attempts are refused. Idempotent.
func (s *SendSession) Close() error {
	if s.end(ErrSessionClosed) {
		s.emit(Event{Kind: EventEnded, Err: ErrSessionClosed})
	}
	return nil
}

// end marks the session over; it reports whether this call ended it.
func (s *SendSession) end(err error) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.over {
		return false
	}
	s.over, s.err = true, err
	close(s.done)
	return true
}

func (s *SendSession) emit(e Event) {
	if s.cfg.OnEvent != nil {
		s.cfg.OnEvent(e)
	}
}

// Accept serves one pairing attempt from remote over rw (the responder side of
// Pair). It returns the paired device, or the attempt's error: ErrCodeMismatch
// for a wrong code, ErrAttemptTimeout for a peer that did not finish within
// AttemptTimeout, or ErrSessionClosed / ErrTooManyAttempts when the session is
// over, in which case the other side is told and gets ErrSessionClosed.
//
// Concurrent calls wait for their turn (or for ctx), but only once their
// initiator's first message has arrived: a peer that opens an attempt and
// sends nothing, or part of a message, keeps nobody waiting. Every attempt
// that fails counts against MaxFailures, stalled ones included, except one
// refused because the session is over or one cut short by ctx.
func (s *SendSession) Accept(ctx context.Context, rw io.ReadWriter, remote peer.ID) (*Peer, error) {
	first, err := s.readFirst(ctx, rw)
	select {
	case <-s.turn:
	case <-ctx.Done():
		return nil, fmt.Errorf("accept: %w", ctx.Err())
	}
	defer func() { s.turn <- struct{}{} }()

	actx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if rerr := s.refusal(); rerr != nil {
		stop := watchContext(actx, rw) // the peer may not even read
		conn{rw}.abort(abortClosed)
		stop()
		return nil, rerr
	}
	if err == nil {
		var p *Peer
		p, err = pair(actx, rw, Config{
			Role:       Responder,
			Code:       s.code,
			Local:      s.cfg.Local,
			RemotePeer: remote,
			Offer:      s.cfg.Offer,
			Store:      s.cfg.Store,
			Now:        s.cfg.Now,
			rand:       s.cfg.rand,
			onAccept: func(p *Peer) {
				// Before the other device learns it paired, and may act on it.
				s.end(nil)
				s.emit(Event{Kind: EventPaired, Remote: remote, Peer: p})
			},
		}, first)
		if err == nil {
			return p, nil
		}
		if pastDeadline(actx) && ctx.Err() == nil {
			err = fmt.Errorf("%w (%v)", ErrAttemptTimeout, err)
		}
	}
	if ctx.Err() != nil {
		// The session is being torn down: not the other device's failure.
		return nil, err
	}
	left, last := s.fail(remote, err)
	if errors.Is(err, ErrCodeMismatch) {
		// After the ABORT(1): how many more tries the other device has.
		stop := watchContext(actx, rw)
		_ = conn{rw}.send(frameTries, []byte{byte(min(left, 255))})
		stop()
		if last {
			// The session's end may take the connection with it: let
			// the other device read that this was its last try first.
			linger(actx, rw)
		}
	}
	if last && s.end(ErrTooManyAttempts) {
		s.emit(Event{Kind: EventEnded, Err: ErrTooManyAttempts})
	}
	return nil, err
}

// lingerWait bounds how long a session about to end waits for the other
// device to read its last frames.
const lingerWait = 2 * time.Second

// linger closes rw's writing side, where it has one, and waits until the
// other device closes its side (it has read everything), for at most
// lingerWait.
func linger(ctx context.Context, rw io.ReadWriter) {
	cw, ok := rw.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	lctx, cancel := context.WithTimeout(ctx, lingerWait)
	defer cancel()
	stop := watchContext(lctx, rw)
	defer stop()
	_, _ = io.Copy(io.Discard, io.LimitReader(rw, maxFrame))
}

// readFirst reads the initiator's first message (CPACE_A), allowing it
// AttemptTimeout to arrive.
func (s *SendSession) readFirst(ctx context.Context, rw io.ReadWriter) ([]byte, error) {
	rctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	stop := watchContext(rctx, rw)
	defer stop()
	body, err := conn{rw}.recv(frameCPaceA)
	if err != nil && pastDeadline(rctx) && ctx.Err() == nil {
		return nil, fmt.Errorf("pair: %w (%v)", ErrAttemptTimeout, err)
	}
	if err != nil {
		return nil, fmt.Errorf("pair: %w", err)
	}
	return body, nil
}

// pastDeadline reports whether ctx's deadline has passed. A read that fails
// then failed because of it: rw's own deadline (set to the same instant by
// watchContext) may fire before ctx's timer does.
func pastDeadline(ctx context.Context) bool {
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}

// refusal is why the session can serve no more attempts, or nil.
func (s *SendSession) refusal() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.over {
		return nil
	}
	if s.err == nil {
		return ErrSessionClosed // paired already: the code is used
	}
	return s.err
}

// fail counts a failed attempt (err) from remote and reports it. The caller
// holds the turn. It returns how many more attempts the session allows,
// and whether this one was the last (MaxFailures): the caller then ends
// the session, once it has told the other device so.
func (s *SendSession) fail(remote peer.ID, err error) (left int, last bool) {
	s.mu.Lock()
	if s.over {
		s.mu.Unlock()
		return 0, false
	}
	s.failures++
	n := s.failures
	s.mu.Unlock()
	left = max(0, s.max-n)
	s.emit(Event{Kind: EventAttemptFailed, Remote: remote, Attempt: n, Remaining: left, Err: err})
	return left, n >= s.max
}
