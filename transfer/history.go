package transfer

import (
	"context"

	"github.com/ferryhq/ferry/chatstore"
)

// History is the store a transfer reads from and commits into: the
// engine (Snapshot, Receiver, Export, Import, package backup) works on it,
// not on a particular store. *chatstore.Store implements it; an app with a
// store of its own implements it to plug Ferry in.
//
// What travels is Ferry's history file, a SQLite database of chatstore's
// schema (see package chatstore: its schema, merge rules and digest), and
// media files named by their BLAKE3 hash. chatstore's file functions
// (StatsOf, CheckFile, ListAttachments) read such files wherever they come
// from; an implementation must write and take in that format.
type History interface {
	HistorySource
	HistoryTarget
}

// HistorySource is what a snapshot reads. An implementation guarantees:
//
//   - Snapshot writes to dst (a path that does not exist) a history file of
//     the whole history as of one moment, consistent even while the
//     history is being written to, and changes nothing in the history.
//   - MediaPath is the path of the media file whose content has BLAKE3
//     hash h (every attachment a snapshot lists has one, of the size the
//     snapshot says); the engine only reads it, and checks what it reads
//     against h.
type HistorySource interface {
	Snapshot(ctx context.Context, dst string) error
	MediaPath(h chatstore.Hash) string
}

// HistoryTarget is what a Receiver commits into. An implementation
// guarantees:
//
//   - Home is a directory the engine may write to, on the file system of
//     the history (staging, in Home()/.staging, is moved in by rename; a
//     backup keeps its state in Home()/vault.json).
//   - Stats are the history's counts and digest, as chatstore defines them
//     (equal to chatstore.StatsOf of a Snapshot taken at the same moment):
//     the end-to-end check compares them.
//   - IsEmpty says the history holds nothing; Adopt then makes a verified
//     history file (on Home's file system, consumed) the whole history, in
//     one atomic step.
//   - Merge adds what a history file holds that the history lacks, in one
//     atomic step, by chatstore's merge rules: merging the same file again
//     changes nothing. CheckContains fails unless the history holds every
//     row of the file.
//   - HasMedia says a media file of hash h and size is in place;
//     InstallMedia moves a verified staged file (on Home's file system)
//     into place as h, durably, and is a no-op when h is there already.
//
// Until Adopt or Merge returns, the history must be as it was: that is
// what lets a failed transfer change nothing.
type HistoryTarget interface {
	Home() string
	Stats(ctx context.Context) (chatstore.Stats, error)
	IsEmpty(ctx context.Context) (bool, error)
	Adopt(ctx context.Context, snapshot string) error
	Merge(ctx context.Context, snapshot string) (chatstore.MergeResult, error)
	CheckContains(ctx context.Context, snapshot string) error
	HasMedia(h chatstore.Hash, size int64) bool
	InstallMedia(h chatstore.Hash, stagedPath string) error
}

var _ History = (*chatstore.Store)(nil)
