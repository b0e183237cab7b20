package chatstore

// This file is the contract other packages build against. Signatures here are
// agreed; bodies are filled in by the chatstore work.

import "errors"

// Layout of a home directory.
const (
	DBName   = "history.db" // SQLite database, WAL mode
	MediaDir = "media"      // content-addressed attachment bytes: media/<hh>/<64 hex of BLAKE3>
	// ApplicationID is written to PRAGMA application_id ("FRRY").
	ApplicationID = 0x46525259
)

var (
	// ErrNoHome means the home directory does not exist.
	ErrNoHome = errors.New("chatstore: home does not exist")
	// ErrLocked means another process holds the store.
	ErrLocked = errors.New("chatstore: store is in use by another process")
	// ErrNotAStore means a file is not a Ferry history database (wrong application_id or schema).
	ErrNotAStore = errors.New("chatstore: not a Ferry history database")
	// ErrTooNew means the database was written by a newer Ferry (schema version above ours).
	ErrTooNew = errors.New("chatstore: database is from a newer version of Ferry")
)

// Hash is a BLAKE3-256 content hash.
type Hash [32]byte

// Stats summarises a store. Digest is an order-independent hash over every
// message and attachment; two stores have equal digests exactly when they hold
// the same history.
type Stats struct {
	Conversations int64  `json:"conversations"`
	Messages      int64  `json:"messages"`
	Attachments   int64  `json:"attachments"`
	MediaBytes    int64  `json:"media_bytes"` // sum of the sizes of the distinct media files referenced
	Digest        string `json:"digest"`      // lowercase hex
}

// Options for Open.
type Options struct {
	// Create makes the home directory (not its parents) and an empty store when missing.
	Create bool
	// ReadOnly opens for reading only (the source side: "the source is only ever read").
	ReadOnly bool
}

// Attachment is one media file listed by a database.
type Attachment struct {
	Hash Hash
	Size int64
}

// MergeResult counts what a merge added.
type MergeResult struct {
	Conversations int64
	Messages      int64
	Attachments   int64
}

// More sentinel errors.
var (
	// ErrMissing means a store lacks history that a snapshot holds (CheckContains).
	ErrMissing = errors.New("chatstore: store is missing history from the snapshot")
	// ErrCorrupt means a database file is damaged.
	ErrCorrupt = errors.New("chatstore: database is damaged")
	// ErrNotEmpty means Adopt was called on a store that already holds history.
	ErrNotEmpty = errors.New("chatstore: store is not empty")
	// ErrMediaDamaged means a media file is missing, has the wrong size, or
	// does not hash to its name (Verify).
	ErrMediaDamaged = errors.New("chatstore: media file missing or damaged")
	// ErrForeignSchema means a database's schema is not exactly the one
	// Ferry's migrations make for its version: a trigger, view, index,
	// virtual table or changed table that someone else put there. Its text is
	// a sentence; the error carrying it names the object.
	ErrForeignSchema = errors.New("the history database was refused and nothing was changed: " +
		"its schema is not exactly Ferry's (someone added or changed a trigger, view, index or table)")
	// ErrNotAHome means a directory holds files and none of a Ferry home's:
	// Ferry does not write into it (see the package doc, "What a home is").
	ErrNotAHome = errors.New("chatstore: folder is not a Ferry home")
	// ErrHomeExposed means other users may read the home and Ferry cannot
	// make it private, because it belongs to another user or the change
	// failed.
	ErrHomeExposed = errors.New("chatstore: home can be read by other users")
	// ErrReadOnlyHome means a writable open failed because the home cannot
	// be written (a read-only file system, or no write permission).
	ErrReadOnlyHome = errors.New("chatstore: home is read-only")
)
