package chatstore

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// State names the state of a home's history file without reading it:
// which file it is (device and inode), its size and modification time, and
// the size and header of its WAL. Two equal States taken at different times
// mean that the history did not change in between, so that what was
// computed from it at the first (a sender's snapshot, a receiver's
// "already holds this") still holds at the second. Every change of a
// history in WAL mode appends frames to the WAL (its size grows) or resets
// it (its header's salts change); a checkpoint, which folds the WAL into
// the file, changes the file's modification time; Adopt puts another file
// in its place. The empty State means "cannot tell": it equals no other.
type State string

// stateMargin is how far the clock must be past the history file's
// modification time before a State of it is given out: any write after
// that gets a later time, even on file systems whose clock ticks every few
// milliseconds, so a change followed by a checkpoint cannot come back to
// the same State.
const stateMargin = 25 * time.Millisecond

// coarseFor is how long a file system whose times have whole seconds only
// (FAT, HFS+) leaves a State untold after a write.
const coarseFor = 2 * time.Second

// State returns the State of the store's history, reading only the
// file system. Right after a write it waits a few milliseconds
// (stateMargin); on a file system with coarse times it returns "" instead.
func (s *Store) State(ctx context.Context) (State, error) {
	if _, err := s.handle(); err != nil {
		return "", err
	}
	return s.state(ctx)
}

// SettledState is State after a writable store folded its WAL into the
// file, so that it is the State the file keeps when the last connection
// closes (that checkpoint then writes nothing): what to record after a
// change, to compare with a later State. A reader of an older snapshot
// can hold the checkpoint back (up to the busy timeout); the State then
// names a WAL that a later checkpoint changes — still true, only sooner
// out of date.
func (s *Store) SettledState(ctx context.Context) (State, error) {
	db, err := s.handle()
	if err != nil {
		return "", err
	}
	if !s.readOnly {
		var busy, logged, moved int
		if err := db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logged, &moved); err != nil {
			return "", dbErr("state: checkpoint", err)
		}
	}
	return s.state(ctx)
}

func (s *Store) state(ctx context.Context) (State, error) {
	for {
		st, wait, err := historyFileState(s.DBPath(), time.Now())
		if err != nil || wait == 0 {
			return st, err
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// historyFileState is the State of the history file at path as of now, or how
// long to wait before asking again.
func historyFileState(path string, now time.Time) (State, time.Duration, error) {
	if _, err := os.Lstat(path + "-journal"); !errors.Is(err, os.ErrNotExist) {
		// A rollback journal: a writer outside WAL mode is at work.
		return "", 0, nil
	}
	id, err := fileIdentity(path)
	if err != nil {
		return "", 0, fmt.Errorf("chatstore: state: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", 0, fmt.Errorf("chatstore: state: %w", err)
	}
	if id == "" {
		return "", 0, nil
	}
	mt := fi.ModTime()
	if mt.Nanosecond() == 0 {
		if now.Sub(mt) < coarseFor {
			return "", 0, nil
		}
	} else if d := mt.Add(stateMargin).Sub(now); d > 0 {
		return "", d, nil
	}
	wal := "-"
	if f, err := os.Open(path + "-wal"); err == nil {
		var hdr [32]byte
		wfi, serr := f.Stat()
		n, rerr := io.ReadFull(f, hdr[:])
		f.Close()
		switch {
		case serr != nil:
			return "", 0, fmt.Errorf("chatstore: state: %w", serr)
		case wfi.Size() == 0:
		case rerr != nil:
			// A WAL being written: no State until it has its header.
			return "", 0, nil
		default:
			wal = fmt.Sprintf("%d:%s", wfi.Size(), hex.EncodeToString(hdr[:n]))
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", 0, fmt.Errorf("chatstore: state: %w", err)
	}
	return State(fmt.Sprintf("1 %s %d %d %s", id, fi.Size(), mt.UnixNano(), wal)), 0, nil
}
