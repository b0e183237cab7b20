package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"lukechampine.com/blake3"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/internal/usererr"
)

// Result reports a finished transfer.
type Result struct {
	// Adopted is true when the target was empty and the snapshot became its
	// database; false when the snapshot was merged into existing history.
	Adopted bool
	// UpToDate is true when the target's last commit took in this very
	// snapshot and its history has not changed since: nothing was fetched
	// or merged, and Target are the stats that commit left.
	UpToDate bool
	// Source are the source's stats as of the snapshot (from the manifest,
	// checked against the received database). Target are the target's
	// stats after the commit.
	Source, Target chatstore.Stats
	// Added counts what the commit added to the target.
	Added chatstore.MergeResult
	// Chunks is the number of chunks in the manifest; Received those put in
	// this session, Resumed those found staged by an earlier session.
	Chunks, Received, Resumed int
	// ReceivedBytes is the stored size of the chunks received in this session.
	ReceivedBytes int64
	// MediaInstalled is the number of media files moved into the store;
	// MediaPresent the number it already held.
	MediaInstalled, MediaPresent int
	// Timings: Transfer from NewReceiver to Commit; Verify the staged
	// database's digest check; Install the media moves; Merge the adopt or
	// the merge with its containment check and the target's final stats;
	// Total from NewReceiver to the end of Commit.
	Transfer, Verify, Install, Merge, Total time.Duration
}

// Commit checks that every chunk is staged, verifies the staged database
// against the manifest's stats (counts and digest), installs the new media
// files, and then either adopts the database (empty target) or merges it
// (one SQLite transaction) and checks the target now contains it. On success
// the staging directory is removed and the receiver is closed.
//
// Atomicity: until the adopt rename or the merge transaction commits, the
// target's history is unchanged; only media files no database row refers to
// yet may appear in media/ (content-addressed, so harmless, and used by the
// next attempt). After it, the target holds the whole snapshot.
//
// On success the whole staging area (home/.staging) goes, including what
// interrupted transfers of other snapshots left (it would linger forever
// otherwise; such a transfer starts over).
//
// On ErrIncomplete nothing changes: receive the rest and call Commit again.
// After any other error the receiver is closed, and staging is kept or
// removed by the one rule, Discard's: kept after an error of the store (or
// a cancelled ctx), so that a new Receiver for the same manifest resumes
// from it; removed after ErrDigestMismatch, ErrForeignSchema, a staged
// database that fails integrity_check, or a full disk.
func (r *Receiver) Commit(ctx context.Context) (_ Result, err error) {
	r.life.Lock()
	defer r.life.Unlock()
	if r.closed {
		return Result{}, fmt.Errorf("commit: %w", ErrClosed)
	}
	res := Result{
		Source:        r.m.Stats,
		Chunks:        r.m.NumChunks(),
		Received:      int(r.putChunks.Load()),
		ReceivedBytes: r.putBytes.Load(),
		Resumed:       r.resumed,
		Transfer:      time.Since(r.started),
	}
	for i, d := range r.done {
		if !d && !r.skippable(i) {
			return res, fmt.Errorf("commit: chunk %d: %w", i, ErrIncomplete)
		}
	}
	if r.had != nil {
		r.closed = true
		r.closeFiles()
		res.UpToDate, res.Target, res.MediaPresent = true, r.had.Target, len(r.m.Media)
		res.Total = time.Since(r.started)
		return res, nil
	}
	home := r.store.Home()
	// From here on the receiver is finished either way: on success, or on
	// an error, after which staging is kept for a new receiver to resume
	// from or, if Discard says it is useless, removed.
	defer func() {
		r.closed = true
		r.stopVerify()
		r.closeFiles()
		if err != nil && Discard(err) {
			r.removeEarly()
			os.RemoveAll(r.dir)
			removeIfEmpty(filepath.Dir(r.dir))
		}
	}()
	bad := func(err error) (Result, error) { return res, err }

	err = r.db.Close()
	r.db = nil
	if err != nil {
		return res, fmt.Errorf("commit: %w", usererr.Disk(home, err))
	}
	dbPath := filepath.Join(r.dir, stagedDB)
	// The schema first (a few milliseconds): a history refused for it
	// changes nothing at all, not even media/.
	if err := chatstore.CheckFile(ctx, dbPath); refused(err) {
		return bad(fmt.Errorf("commit: staged database: %w", err))
	}
	// The digest check (CPU) and the media installs (fsync latency) run
	// side by side. Installed media are verified files no row refers to
	// yet, so a failing digest check leaves nothing wrong behind.
	// The check usually started when the last database chunk arrived.
	stop := context.AfterFunc(ctx, r.vCancel)
	r.startVerify()
	t := time.Now()
	installed, present, installErr := r.installMedia(ctx)
	res.Install = time.Since(t)
	res.MediaInstalled, res.MediaPresent = installed, present
	<-r.vDone
	stop()
	st, verifyErr := r.vStats, r.vErr
	res.Verify = r.vTook
	if verifyErr != nil && ctx.Err() != nil {
		verifyErr = ctx.Err()
	}

	switch {
	case verifyErr != nil && ctx.Err() != nil:
		return res, fmt.Errorf("commit: %w", verifyErr)
	case errors.Is(verifyErr, chatstore.ErrTooNew), errors.Is(verifyErr, chatstore.ErrForeignSchema):
		// A sender running a newer Ferry, or one whose schema is not
		// Ferry's: say so, not "damaged".
		return bad(fmt.Errorf("commit: staged database: %w", verifyErr))
	case verifyErr != nil:
		return bad(fmt.Errorf("commit: staged database: %w", usererr.As(ErrDigestMismatch, verifyErr)))
	case st != r.m.Stats:
		return bad(fmt.Errorf("commit: staged database has %d messages, digest %.16s; manifest says %d, %.16s: %w",
			st.Messages, st.Digest, r.m.Stats.Messages, r.m.Stats.Digest, ErrDigestMismatch))
	case r.vCheck != nil && ctx.Err() != nil:
		return res, fmt.Errorf("commit: %w (%v)", ctx.Err(), r.vCheck)
	case r.vCheck != nil:
		return bad(fmt.Errorf("commit: staged database: %w", r.vCheck))
	case errors.Is(installErr, ErrDigestMismatch):
		return bad(fmt.Errorf("commit: %w", installErr))
	case installErr != nil:
		return res, fmt.Errorf("commit: %w", usererr.Disk(home, installErr))
	}

	t = time.Now()
	empty, err := r.store.IsEmpty(ctx)
	if err != nil {
		return res, fmt.Errorf("commit: %w", err)
	}
	if empty {
		if err := r.adopt(ctx, dbPath); refused(err) {
			return bad(fmt.Errorf("commit: %w", err))
		} else if err != nil {
			return res, fmt.Errorf("commit: %w", usererr.Disk(home, err))
		}
		res.Adopted = true
		res.Added = chatstore.MergeResult{Messages: st.Messages, Attachments: st.Attachments}
	} else {
		mr, err := r.merge(ctx, dbPath)
		if refused(err) {
			return bad(fmt.Errorf("commit: %w", err))
		} else if err != nil {
			return res, fmt.Errorf("commit: %w", usererr.Disk(home, err))
		}
		res.Added = mr
		if res.Target, err = r.store.Stats(ctx); err != nil {
			return res, fmt.Errorf("commit: target stats: %w", err)
		}
		// The containment check proves that the target now holds every
		// row of the snapshot. When the target's digest is the snapshot's
		// (a home that held part of this history, or all of it), it holds
		// exactly the snapshot's rows — the digest is a sum of a
		// collision-resistant hash of every row — and the check would
		// only read both again (at a million messages, 1.5 s of a 7 s
		// commit). Its media need no check of their own: the verifier
		// proved that the manifest lists every file the database refers
		// to (mediaListed), and installMedia put each in place.
		if res.Target.Digest != st.Digest {
			if err := r.store.CheckContains(ctx, dbPath); err != nil {
				return res, fmt.Errorf("commit: %w", usererr.As(ErrDigestMismatch, err))
			}
		}
	}
	if res.Adopted {
		// The target's database is now the verified file itself.
		res.Target = st
	}
	res.Merge = time.Since(t)
	r.closeFiles()
	// Also drop what interrupted transfers of other snapshots left.
	if err := os.RemoveAll(filepath.Dir(r.dir)); err != nil {
		return res, fmt.Errorf("commit: remove staging: %w", err)
	}
	recordReceived(ctx, r.store, r.m, res.Target)
	res.Total = time.Since(r.started)
	return res, nil
}

// checkedTarget is a HistoryTarget (a *chatstore.Store) that can take a
// database file its checks ran on ahead of time (chatstore.CheckSnapshot,
// which startVerify runs after the digest); another target's Adopt and
// Merge check the file themselves, in turn.
type checkedTarget interface {
	AdoptChecked(ctx context.Context, c chatstore.Checked) error
	MergeChecked(ctx context.Context, c chatstore.Checked) (chatstore.MergeResult, error)
}

func (r *Receiver) adopt(ctx context.Context, dbPath string) error {
	if t, ok := r.store.(checkedTarget); ok {
		return t.AdoptChecked(ctx, r.vChecked)
	}
	return r.store.Adopt(ctx, dbPath)
}

func (r *Receiver) merge(ctx context.Context, dbPath string) (chatstore.MergeResult, error) {
	if t, ok := r.store.(checkedTarget); ok {
		return t.MergeChecked(ctx, r.vChecked)
	}
	return r.store.Merge(ctx, dbPath)
}

// refused says whether Adopt or Merge refused the staged database itself
// (its schema, its integrity): fetching it again would give the same file.
func refused(err error) bool {
	return errors.Is(err, chatstore.ErrForeignSchema) || errors.Is(err, chatstore.ErrCorrupt) || errors.Is(err, chatstore.ErrNotAStore)
}

// installMedia moves the staged media files the store lacks into it, with a
// few workers: each install is two fsyncs, and their latency, not the
// bandwidth, dominates when done one after the other.
func (r *Receiver) installMedia(ctx context.Context) (installed, present int, err error) {
	var mu sync.Mutex // guards installed and present
	install := func(f int) error {
		path, err := r.verifiedMedia(f)
		if err != nil {
			return err
		}
		if path == "" {
			mu.Lock()
			present++
			mu.Unlock()
			return nil
		}
		if err := r.store.InstallMedia(r.m.Media[f].Hash, path); err != nil {
			return err
		}
		mu.Lock()
		installed++
		mu.Unlock()
		return nil
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(installWorkers)
	for f := range r.m.Media {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error { return install(f) })
	}
	if err := g.Wait(); err != nil {
		return installed, present, err
	}
	return installed, present, ctx.Err()
}

// verifiedMedia is the file to install as media file f, checked against
// its hash: its early file (checked whole when it arrived, or found
// again), or its staged one. It is "" when the store holds f already.
func (r *Receiver) verifiedMedia(f int) (string, error) {
	mf := r.m.Media[f]
	if r.early[f] != "" {
		return r.early[f], nil
	}
	if r.present[f] || r.store.HasMedia(mf.Hash, mf.Size) {
		return "", nil
	}
	path := r.mediaPath(f)
	if mf.Size == 0 {
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			return "", err
		}
	}
	// Single-chunk files were verified whole by Put; longer ones are
	// checked here, since their chunks were verified one by one.
	if first, n := r.m.MediaChunks(f); n > 1 {
		var (
			ok  bool
			err error
		)
		if r.tree {
			ok, err = r.treeHashIs(path, f, first, n)
		} else {
			ok, err = fileHashIs(path, mf.Hash, mf.Size)
		}
		if err != nil {
			return "", fmt.Errorf("media %s: %w", mf.Hash, err)
		}
		if !ok {
			return "", fmt.Errorf("media %s: %w", mf.Hash, ErrDigestMismatch)
		}
	}
	return path, nil
}

// installWorkers bounds concurrent media installs (mostly waiting on fsync).
const installWorkers = 8

// treeHashIs checks staged media file f (n chunks from index first) against
// its hash from the chunks' chaining values and its last chunk's bytes.
func (r *Receiver) treeHashIs(path string, f, first, n int) (bool, error) {
	mf := r.m.Media[f]
	file, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer file.Close()
	if fi, err := file.Stat(); err != nil || fi.Size() != mf.Size {
		return false, err
	}
	lastOff := int64(n-1) * int64(r.m.ChunkSize)
	last := make([]byte, mf.Size-lastOff)
	if _, err := file.ReadAt(last, lastOff); err != nil {
		return false, err
	}
	r.mu.Lock()
	cvs := slices.Clone(r.cv[first : first+n-1])
	r.mu.Unlock()
	return treeRoot(cvs, r.m.ChunkSize, last) == mf.Hash, nil
}

func fileHashIs(path string, want chatstore.Hash, size int64) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	buf := make([]byte, 256<<10)
	h := blake3.New(32, nil)
	n, err := io.CopyBuffer(h, f, buf)
	if err != nil {
		return false, err
	}
	return n == size && chatstore.Hash(h.Sum(nil)) == want, nil
}
