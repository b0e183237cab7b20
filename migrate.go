package ferry

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/ferryhq/ferry/pairing"
)

// SendOptions say how a send runs.
type SendOptions struct {
	// Code is the code to use instead of a new one.
	Code string `json:"code,omitempty"`
	// CodeWords is the number of words in a new code; 0 means 2.
	CodeWords int `json:"code_words,omitempty"`
	// Relay is the relay to also wait on for the receiver; "" means
	// Device.Relay.
	Relay string `json:"relay,omitempty"`
	// To, if set, is the paired device to send to (its name, or the start
	// of its peer ID): no code is shown or accepted, and only that device
	// is served. Empty means the device that pairs with the code (see "Who
	// a send serves" in the package doc).
	To string `json:"to,omitempty"`
}

// ReceiveOptions say how a receive runs.
type ReceiveOptions struct {
	// Relay is the relay to find the sender through (the local network is
	// still tried); "" means the one the code's ferry: link names, else
	// Device.Relay.
	Relay string `json:"relay,omitempty"`
	// Addrs, when set, are the sender's full multiaddrs (with /p2p/ID): they
	// are dialled instead of looking for the sender.
	Addrs []string `json:"addrs,omitempty"`
	// Confirm, if set, is asked whether to accept the sender's offer before
	// anything is received (after an EventOffer with Ask set); an error or
	// false ends the receive. Nil accepts every offer.
	Confirm func(ctx context.Context, offer Offer) (bool, error) `json:"-"`
	// Events, if set, gets every event of the receive, one at a time, in
	// order.
	Events func(Event) `json:"-"`
}

// Sending is a send in progress (Device.Send): its code, its events and,
// once its receiver committed and verified the history, the result.
type Sending struct {
	code, link string

	q    *eventQueue
	done chan struct{} // closed when the send ends
	res  Result        // valid after done
	err  error         // valid after done
}

// NewSending returns a Sending for a send that runs elsewhere, for an
// implementation of the API over another transport (package daemon's
// client): push hands it each event, finish ends it (once). Device.Send
// makes its own.
func NewSending(code, link string) (s *Sending, push func(Event), finish func(Result, error)) {
	s = &Sending{code: code, link: link, q: newEventQueue(), done: make(chan struct{})}
	var once sync.Once
	return s, s.q.push, func(res Result, err error) {
		once.Do(func() {
			s.res, s.err = res, err
			s.q.close()
			close(s.done)
		})
	}
}

// Code is the code to give the receiver; "" for a send to a named device
// (SendOptions.To).
func (s *Sending) Code() string { return s.code }

// Link is the ferry: link of the send, which a QR code shows: its code,
// the addresses at which this device can be dialled and its relay; "" for a
// send to a named device. A receiver given the link needs no discovery.
func (s *Sending) Link() string { return s.link }

// Events delivers every event of the send, in order, and is closed once
// the send ended. Events not read yet wait (progress events replace the one
// before them), so a caller that does not read them slows nothing down.
func (s *Sending) Events() <-chan Event { return s.q.reader() }

// Done is closed when the send ends.
func (s *Sending) Done() <-chan struct{} { return s.done }

// Wait waits for the send to end, or for ctx, and returns the result: what
// the receiver reported once it committed and verified the history. ctx
// bounds the wait only: the send runs until the context given to Send ends
// (and a send that has ended returns its result whatever ctx).
func (s *Sending) Wait(ctx context.Context) (Result, error) {
	select {
	case <-s.done:
		return s.res, s.err
	default:
	}
	select {
	case <-s.done:
		return s.res, s.err
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
}

// Send offers this home's history to one new device and returns once it
// waits for it: it snapshots the home, makes a code (Sending.Code; unless
// opt.To names the paired device to send to), advertises on the local
// network and, with a relay, registers the code there. The send runs
// until its receiver committed and verified the history, or ctx ends; see
// "Who a send serves" in the package doc for which device it serves.
func (d *Device) Send(ctx context.Context, opt SendOptions) (*Sending, error) {
	if err := d.needHome(); err != nil {
		return nil, err
	}
	n, err := d.start(ctx)
	if err != nil {
		return nil, userError(err)
	}
	if opt.Relay == "" {
		opt.Relay = d.Relay
	}
	s, push, finish := NewSending("", "")
	ready := make(chan struct{})
	var rec sendRecorder
	go func() {
		rep, err := n.send(ctx, opt, rec.watch(push), func(code pairing.Code) {
			if opt.To == "" {
				var st Status
				n.status(&st)
				s.code = code.String()
				s.link = URI{Code: code, Peers: LinkAddrs(st.Addrs, linkAddrs), Relay: opt.Relay}.String()
			}
			close(ready)
		})
		if err != nil {
			finish(Result{}, rec.sendError(ctx, err))
			return
		}
		finish(resultOfReport(rep), nil)
	}()
	select {
	case <-ready:
		return s, nil
	case <-s.done:
		return nil, s.err
	}
}

// linkAddrs is how many addresses a ferry: link carries (a QR code stays
// small).
const linkAddrs = 4

// sendRecorder watches a send's events for what its error needs to say:
// whether a receiver was chosen, so that the same send again lets it
// continue.
type sendRecorder struct {
	mu       sync.Mutex
	receiver string // the chosen receiver's name, once chosen
}

func (r *sendRecorder) watch(emit func(Event)) func(Event) {
	return func(e Event) {
		if e.Kind == EventReceiver && e.Device != nil {
			r.mu.Lock()
			r.receiver = e.Device.Name
			r.mu.Unlock()
		}
		emit(e)
	}
}

// sendError is the Error of a send that failed: one stopped before its
// chosen receiver finished can be sent again, and that receiver continues
// without a code (sending.json; see "Who a send serves").
func (r *sendRecorder) sendError(ctx context.Context, err error) error {
	if !interrupted(err) || (ctx.Err() == nil && !errors.Is(err, errClosed)) {
		return userError(err)
	}
	r.mu.Lock()
	who := r.receiver
	r.mu.Unlock()
	if who == "" {
		return interruptedError(err, "the send stopped before any device received it", "", false)
	}
	return interruptedError(err, "the send stopped before "+who+" finished",
		"the same send again (within a day) lets "+who+" continue where it stopped, without a code", true)
}

// Receive receives the history a sender offers, into this home (created if
// missing): code is what the sender shows, or the ferry: link its QR code
// holds; "" finds a paired device that is sending (an interrupted
// migration, or what is new). It pairs unless the devices are paired and
// the send is for this one, asks opt.Confirm, pulls what is missing,
// commits, verifies and tells the sender. A dropped connection is retried
// for Device.RetryFor and continues where it stopped.
func (d *Device) Receive(ctx context.Context, code string, opt ReceiveOptions) (Result, error) {
	if _, err := d.makeHome(); err != nil {
		return Result{}, err
	}
	pc, err := receiveTarget(code, &opt)
	if err != nil {
		return Result{}, userError(err)
	}
	if opt.Relay == "" {
		opt.Relay = d.Relay
	}
	n, err := d.start(ctx)
	if err != nil {
		return Result{}, userError(err)
	}
	res, err := n.receive(ctx, pc, opt, opt.Events)
	if err != nil {
		return res, receiveError(ctx, d.Home, err)
	}
	return res, nil
}

// receiveTarget reads what a person typed or scanned to find the sender: a
// code, or a ferry: link (its code, its peer addresses, added to opt's, and
// its relay unless opt names one already).
func receiveTarget(target string, opt *ReceiveOptions) (pairing.Code, error) {
	target = strings.TrimSpace(target)
	switch {
	case target == "":
		return pairing.Code{}, nil
	case !IsURI(target):
		return pairing.ParseCode(target)
	}
	u, err := ParseURI(target)
	if err != nil {
		return pairing.Code{}, err
	}
	opt.Addrs = append(append([]string(nil), opt.Addrs...), u.Peers...)
	if opt.Relay == "" {
		opt.Relay = u.Relay
	}
	return u.Code, nil
}

// receiveError is the Error of a receive that failed. What it verified
// stays staged unless the failure made it useless, and a receive again
// continues from it while the sender sends.
func receiveError(ctx context.Context, home string, err error) error {
	kept := staged(home)
	if interrupted(err) && (ctx.Err() != nil || errors.Is(err, errClosed)) {
		if !kept {
			return interruptedError(err, "nothing was received", "", false)
		}
		return interruptedError(err, "nothing half-done was kept in the history",
			"what arrived is kept: "+resumeHint+" (while the sender still sends, or once it sends again)", true)
	}
	return userError(err)
}

// eventQueue hands events from a session to a reader that may be slow or
// absent, in order: a progress event replaces a progress event of the same
// phase still waiting, so the queue stays short. The goroutine that feeds
// the reader starts with the first call of reader; it ends after the last
// event once the queue is closed.
type eventQueue struct {
	out   chan Event
	start sync.Once

	mu      sync.Mutex // guards the fields below
	pending []Event
	closed  bool
	wake    chan struct{} // has a value when pending changed
}

func newEventQueue() *eventQueue {
	return &eventQueue{out: make(chan Event), wake: make(chan struct{}, 1)}
}

// reader is the channel the events come out of.
func (q *eventQueue) reader() <-chan Event {
	q.start.Do(func() { go q.run() })
	return q.out
}

func (q *eventQueue) push(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	if n := len(q.pending); n > 0 && e.Kind == EventProgress && q.pending[n-1].Kind == EventProgress && q.pending[n-1].Phase == e.Phase {
		q.pending[n-1] = e
	} else {
		q.pending = append(q.pending, e)
	}
	q.mu.Unlock()
	q.signal()
}

func (q *eventQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.signal()
}

func (q *eventQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// run delivers the pending events; it closes out after the last one once
// the queue is closed.
func (q *eventQueue) run() {
	defer close(q.out)
	for {
		q.mu.Lock()
		if len(q.pending) == 0 {
			closed := q.closed
			q.mu.Unlock()
			if closed {
				return
			}
			<-q.wake
			continue
		}
		e := q.pending[0]
		q.pending = q.pending[1:]
		q.mu.Unlock()
		q.out <- e
	}
}

// CheckTarget reports whether Receive takes target: a code, a ferry: link,
// or "" (a paired device that is sending). It is the check Receive makes
// first, for a caller that wants to refuse a typo before it starts.
func CheckTarget(target string) error {
	_, err := receiveTarget(target, &ReceiveOptions{})
	return userError(err)
}
