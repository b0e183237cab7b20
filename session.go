package ferry

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// SessionState is where a send or receive session stands. Status lists each
// running session with its state.
//
// A send moves like this:
//
//	starting ──→ waiting ──→ sending ──→ done
//	    │                       ↑
//	    └───────────────────────┘ (SendOptions.To: the receiver is named at the start)
//
//	starting: taking the snapshot, registering the code, advertising
//	waiting:  the code is shown (or, with SendOptions.To, the device is named);
//	          no receiver is chosen yet
//	sending:  the receiver is chosen (it paired with the code, was named, or is
//	          the unfinished send's receiver, which needs no code) and is served
//
// A receive moves like this:
//
//	starting ──→ looking ──→ pairing ──→ confirm ──→ receiving ──→ committing ──→ done
//	                │            ↑          ↑  │           │    ↑
//	                ├────────────┼──────────┘  └───────────┼────┘ (asked already, or nothing to ask)
//	                └─→ (paired before) ──→ confirm        ↓
//	                             │               reconnecting ──→ receiving
//	                             └── refused at the first ask: pair with the code
//
//	looking:      finding and connecting to the sender (mDNS, address, relay)
//	pairing:      pairing by code
//	confirm:      the offer is shown and ReceiveOptions.Confirm is asked
//	receiving:    pulling the chunks this home lacks
//	reconnecting: the connection dropped, or the paired sender's device answers
//	              but sends nothing yet; waiting for it (from looking, pairing and
//	              confirm too: a receive started before the send)
//	committing:   every chunk is verified; merging into the history
//
// Any state may end in failed. setState refuses (and logs) a transition this
// table does not list; the tests fail a device that logged one.
type SessionState string

// Session states; see SessionState for the transitions.
const (
	StateStarting     SessionState = "starting"
	StateWaiting      SessionState = "waiting"
	StateSending      SessionState = "sending"
	StateLooking      SessionState = "looking"
	StatePairing      SessionState = "pairing"
	StateConfirm      SessionState = "confirm"
	StateReceiving    SessionState = "receiving"
	StateReconnecting SessionState = "reconnecting"
	StateCommitting   SessionState = "committing"
	StateDone         SessionState = "done"
	StateFailed       SessionState = "failed"
)

// transitions are the moves SessionState draws (failed is allowed from
// everywhere, and is left out).
var transitions = map[SessionState][]SessionState{
	StateStarting:     {StateWaiting, StateSending, StateLooking},
	StateWaiting:      {StateSending},
	StateSending:      {StateDone},
	StateLooking:      {StatePairing, StateConfirm, StateReceiving, StateReconnecting},
	StatePairing:      {StateConfirm, StateReceiving, StateReconnecting},
	StateConfirm:      {StateReceiving, StateReconnecting},
	StateReceiving:    {StateCommitting, StateReconnecting, StatePairing},
	StateReconnecting: {StateConfirm, StateReceiving, StatePairing},
	StateCommitting:   {StateDone},
}

// validTransition reports whether a session may move from one state to
// another. Staying put is allowed (a reconnected receive shows the offer
// again in receiving).
func validTransition(from, to SessionState) bool {
	return from == to || to == StateFailed || slices.Contains(transitions[from], to)
}

// SessionInfo describes one running session.
type SessionInfo struct {
	ID      string       `json:"id"`
	Kind    string       `json:"kind"` // "send" or "receive"
	Started time.Time    `json:"started"`
	State   SessionState `json:"state"`
}

// session is a running send or receive: its entry in Status, and what ends
// it when its device is forgotten.
type session struct {
	// Constant after startSession.
	id      string
	kind    string
	started time.Time
	log     *slog.Logger
	cancel  context.CancelCauseFunc // ends the session's context
	done    chan struct{}           // closed by endSession

	peer peer.ID // guarded by node.mu: the paired device it talks to, once known

	mu    sync.Mutex // guards state
	state SessionState
}

func (s *session) info() SessionInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return SessionInfo{ID: s.id, Kind: s.kind, Started: s.started, State: s.state}
}

// setState moves the session to state, if SessionState's table allows it.
func (s *session) setState(state SessionState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !validTransition(s.state, state) {
		s.log.Warn("refused a session state change the state table does not allow", "session", s.id, "from", s.state, "to", state)
		return
	}
	s.state = state
}

// setStateFrom moves the session from one state to another, and does
// nothing if it is no longer in from.
func (s *session) setStateFrom(from, to SessionState) {
	s.mu.Lock()
	at := s.state
	s.mu.Unlock()
	if at == from {
		s.setState(to)
	}
}

// emitter stamps events with the session and time, and calls emit (if not
// nil) with one event at a time.
func emitter(s *session, emit func(Event)) func(Event) {
	var mu sync.Mutex
	return func(e Event) {
		e.Session = s.id
		e.Time = time.Now()
		if emit != nil {
			mu.Lock()
			defer mu.Unlock()
			emit(e)
		}
	}
}
