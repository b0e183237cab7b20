package ferry

import (
	"time"

	"github.com/ferryhq/ferry/chatstore"
)

// Event is one step of an operation, as shown to the user: the CLI renders
// them (JSON lines with --json, progress bars and plain lines otherwise),
// the daemon streams them over its control API. Which fields are set
// depends on Kind.
type Event struct {
	Session string    `json:"session"` // the send or receive session it belongs to
	Time    time.Time `json:"time"`
	Kind    EventKind `json:"event"`
	Message string    `json:"message,omitempty"` // a sentence for the user, when there is one

	Code  string `json:"code,omitempty"`  // EventCode
	Link  string `json:"link,omitempty"`  // EventCode: the ferry: link a QR code shows (see Sending.Link)
	Path  string `json:"path,omitempty"`  // EventConnected: "direct LAN", "direct (loopback)", "relayed"
	Offer *Offer `json:"offer,omitempty"` // EventOffer, and the EventWaiting of a send's snapshot
	Ask   bool   `json:"ask,omitempty"`   // EventOffer: ReceiveOptions.Confirm is asked now

	// EventProgress
	Phase      string `json:"phase,omitempty"`
	Done       int64  `json:"done,omitempty"`
	Total      int64  `json:"total,omitempty"`
	Items      int64  `json:"items,omitempty"`
	ItemsTotal int64  `json:"items_total,omitempty"`

	Device *PairedDevice `json:"device,omitempty"` // EventReceiver, EventRefused: which device
	Report *Report       `json:"report,omitempty"` // EventDone
	Error  string        `json:"error,omitempty"`  // EventError

	RetrySeconds float64  `json:"retry_seconds,omitempty"` // EventRelayLost: how long it keeps trying
	Names        []string `json:"names,omitempty"`         // EventAskOwner: the people of the export
}

// EventKind says what an Event reports.
type EventKind string

// Event kinds.
const (
	EventCode       EventKind = "code"        // the code to read to the receiver
	EventWaiting    EventKind = "waiting"     // advertising / looking for the other device
	EventFound      EventKind = "found"       // the other device answered
	EventConnected  EventKind = "connected"   // a connection exists; Path says which
	EventPairFailed EventKind = "pair-failed" // someone tried a wrong code (sender side)
	EventPaired     EventKind = "paired"      // codes matched; the device is now trusted
	EventReceiver   EventKind = "receiver"    // the device this send serves, once chosen (sender side); Device says which
	EventRefused    EventKind = "refused"     // a device asked for this send and was refused (sender side); Device says which
	EventOffer      EventKind = "offer"       // what the sender offers (receiver side); Ask says whether Confirm is asked
	EventProgress   EventKind = "progress"    // bytes / items moved; Phase names the work
	EventCommitting EventKind = "committing"  // all chunks verified; merging
	EventDone       EventKind = "done"        // committed and verified on the receiver
	EventError      EventKind = "error"       // a step failed; Error says why
	EventRelayLost  EventKind = "relay_lost"  // the connection to the relay dropped; trying again for RetrySeconds
	EventAskOwner   EventKind = "ask-owner"   // a history import asks which of Names is the user (HistoryImportOptions.AskOwner)
)

// Progress phases of the operations other than send and receive.
const (
	PhaseExporting = "exporting"
	PhaseImporting = "importing"
	PhaseBackingUp = "backing up"
	PhaseRestoring = "restoring"
	PhaseIndexing  = "indexing for search"
)

// Offer summarises what a sender will send.
type Offer struct {
	Device     string `json:"device"`
	PeerID     string `json:"peer_id"`
	Messages   int64  `json:"messages"`
	MediaBytes int64  `json:"media_bytes"`
	Bytes      int64  `json:"bytes"`                  // to move if nothing is there yet: the most a receiver fetches
	Needed     int64  `json:"needed_bytes,omitempty"` // on the receiver: what its home lacks of it (at most Bytes); 0 on the sender, which cannot know
}

// Status is a device's state.
type Status struct {
	PeerID   string        `json:"peer_id"` // empty before the device's first start made its identity
	Addrs    []string      `json:"addrs"`   // full multiaddrs, while it runs
	Home     string        `json:"home"`
	Version  string        `json:"version"`
	Sessions []SessionInfo `json:"sessions"`
}

// PairedDevice is a device in the trust store.
type PairedDevice struct {
	PeerID   string    `json:"peer_id"`
	Name     string    `json:"name"` // as safe to show: see pairing.DisplayName
	PairedAt time.Time `json:"paired_at"`
	LastSeen time.Time `json:"last_seen,omitzero"` // the last pairing or migration with it; zero (left out) when unknown
}

// Stats are what a history holds: counts and the digest.
type Stats = chatstore.Stats

// Result reports a migration into a home (Receive, Import, Restore), or, on
// a sender (Sending.Wait), what its receiver reported.
type Result struct {
	// Source is what was migrated (the sender's history as of its
	// snapshot, the archive's, the backup's); Target is this home after the
	// commit. On a sender only what the receiver reports is known: Source's
	// messages, attachments and digest, and Target's digest.
	Source Stats `json:"source"`
	Target Stats `json:"target"`
	// Adopted is true when the home was empty and took the history as it
	// is; false when it was merged into the history there. Added counts
	// what the merge added.
	Adopted bool  `json:"adopted"`
	Added   Added `json:"added"`
	// UpToDate is true when this home already held what was offered: its
	// last migration took in that very snapshot and it has not changed
	// since, so nothing was moved or merged.
	UpToDate bool `json:"up_to_date,omitempty"`
	// Chunks is the number of pieces the history travels in; Resumed of
	// them were already here from an interrupted earlier run.
	Chunks  int `json:"chunks"`
	Resumed int `json:"resumed"`
	// Bytes is what was moved in this run.
	Bytes int64 `json:"bytes"`
	// Receiver and ReceiverID name the receiving device (sessions only).
	Receiver   string `json:"receiver,omitempty"`
	ReceiverID string `json:"receiver_id,omitempty"`
	// Took is how long it ran; Phases splits the commit's part of it.
	Took   time.Duration `json:"took"`
	Phases Phases        `json:"phases"`
}

// Added counts what a merge added to a home.
type Added struct {
	Conversations int64 `json:"conversations"`
	Messages      int64 `json:"messages"`
	Attachments   int64 `json:"attachments"`
}

// Phases are the parts of a migration: Transfer from the first piece to
// the commit, Verify the received database's digest check, Install the
// media moves, Merge the adopt or merge with its final check.
type Phases struct {
	Transfer time.Duration `json:"transfer"`
	Verify   time.Duration `json:"verify"`
	Install  time.Duration `json:"install"`
	Merge    time.Duration `json:"merge"`
}

// Report is r as the receiver reports it to the sender.
func (r Result) Report() Report {
	return Report{Messages: r.Source.Messages, Attachments: r.Source.Attachments, Bytes: r.Bytes,
		SourceDigest: r.Source.Digest, TargetDigest: r.Target.Digest, Receiver: r.Receiver, ReceiverID: r.ReceiverID}
}

// resultOfReport is what a sender knows of a migration: its receiver's report.
func resultOfReport(rep Report) Result {
	return Result{
		Source:   Stats{Messages: rep.Messages, Attachments: rep.Attachments, Digest: rep.SourceDigest},
		Target:   Stats{Digest: rep.TargetDigest},
		Bytes:    rep.Bytes,
		Receiver: rep.Receiver, ReceiverID: rep.ReceiverID,
	}
}
