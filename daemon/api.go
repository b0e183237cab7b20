package daemon

import (
	"context"
	"time"
)

// API is what the daemon offers, in-process and over the control socket. The
// CLI's send, receive, devices and status use a running daemon through Client,
// or the same code in-process when there is none.
type API interface {
	// Send offers this home's history and returns when a receiver has committed
	// and verified it. emit gets every event, in order.
	Send(ctx context.Context, req SendRequest, emit func(Event)) (*Report, error)
	// Receive finds the sender by code (or, with an empty code, a paired device
	// that is offering), pairs, shows the offer, and migrates.
	Receive(ctx context.Context, req ReceiveRequest, emit func(Event)) (*Report, error)
	// Confirm answers an "offer" event of a receive session that asked.
	Confirm(ctx context.Context, session string, accept bool) error
	Status(ctx context.Context) (*Status, error)
	Devices(ctx context.Context) ([]Device, error)
	Forget(ctx context.Context, peerID string) error
}

// SendRequest starts a send session.
type SendRequest struct {
	Code      string `json:"code,omitempty"`       // use this code instead of a new one
	CodeWords int    `json:"code_words,omitempty"` // words in a new code (default 2)
	Relay     string `json:"relay,omitempty"`
	// To, if set, is the paired device to send to (its name, or the start of
	// its peer ID): no code is shown or accepted, and only that device is
	// served. Empty means the device that pairs with the code (see "Who a send
	// serves" in the package doc).
	To string `json:"to,omitempty"`
}

// ReceiveRequest starts a receive session.
type ReceiveRequest struct {
	Code  string `json:"code,omitempty"`
	Yes   bool   `json:"yes,omitempty"` // accept the offer without asking
	Relay string `json:"relay,omitempty"`
	// Addrs, when set, are the sender's full multiaddrs (with /p2p/ID): dial
	// them instead of looking for the sender with mDNS.
	Addrs []string `json:"addrs,omitempty"`
}

// Event is one step of a session, as shown to the user: JSON lines with --json,
// progress bars and plain lines otherwise.
type Event struct {
	Session string    `json:"session"`
	Time    time.Time `json:"time"`
	Kind    string    `json:"event"` // see the Event* constants
	Message string    `json:"message,omitempty"`

	Code  string `json:"code,omitempty"`  // EventCode
	Path  string `json:"path,omitempty"`  // EventConnected: "direct LAN", "direct punched", "relayed"
	Offer *Offer `json:"offer,omitempty"` // EventOffer

	// EventProgress
	Phase      string `json:"phase,omitempty"`
	Done       int64  `json:"done,omitempty"`
	Total      int64  `json:"total,omitempty"`
	Items      int64  `json:"items,omitempty"`
	ItemsTotal int64  `json:"items_total,omitempty"`

	Device *Device `json:"device,omitempty"` // EventReceiver, EventRefused: which device
	Report *Report `json:"report,omitempty"` // EventDone
	Error  string  `json:"error,omitempty"`  // EventError
}

// Event kinds.
const (
	EventCode       = "code"        // the code to read to the receiver
	EventWaiting    = "waiting"     // advertising / looking for the other device
	EventFound      = "found"       // the other device answered
	EventConnected  = "connected"   // a connection exists; Path says which
	EventPairFailed = "pair-failed" // someone tried a wrong code (sender side)
	EventPaired     = "paired"      // codes matched; the device is now trusted
	EventReceiver   = "receiver"    // the device this send serves, once chosen (sender side); Device says which
	EventRefused    = "refused"     // a device asked for this send and was refused (sender side); Device says which
	EventOffer      = "offer"       // what the sender offers (receiver side); may need Confirm
	EventProgress   = "progress"    // bytes / items moved
	EventCommitting = "committing"  // all chunks verified; merging
	EventDone       = "done"        // committed and verified on the receiver
	EventError      = "error"       // the session failed; Error says why
)

// Offer summarises what a sender will send.
type Offer struct {
	Device     string `json:"device"`
	PeerID     string `json:"peer_id"`
	Messages   int64  `json:"messages"`
	MediaBytes int64  `json:"media_bytes"`
	Bytes      int64  `json:"bytes"` // to move if nothing is there yet
}

// Status is the daemon's state.
type Status struct {
	PeerID   string        `json:"peer_id"`
	Addrs    []string      `json:"addrs"`
	Home     string        `json:"home"`
	Version  string        `json:"version"`
	Sessions []SessionInfo `json:"sessions"`
}

// SessionInfo describes one running session.
type SessionInfo struct {
	ID      string    `json:"id"`
	Kind    string    `json:"kind"` // "send" or "receive"
	Started time.Time `json:"started"`
	State   string    `json:"state"`
}

// Device is a paired device in the trust store.
type Device struct {
	PeerID   string    `json:"peer_id"`
	Name     string    `json:"name"` // as safe to show: see pairing.DisplayName
	PairedAt time.Time `json:"paired_at"`
	LastSeen time.Time `json:"last_seen,omitempty"`
}
