package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/internal/archive"
	"github.com/ferryhq/ferry/internal/usererr"
)

// ExportOptions control Export. The zero value seals with a new random key.
type ExportOptions struct {
	// Key seals the archive with this key. When nil and Password is empty,
	// a new random key is made and returned in ExportResult.Key.
	Key *archive.Key
	// Password, when not empty, seals the archive with a key wrapped by
	// this password (Argon2id); Key must then be nil.
	Password []byte
	// Params are the Argon2id costs for Password; zero means
	// archive.DefaultParams().
	Params archive.Params
	// Progress, if set, is called after each chunk written with the stored
	// bytes done and in all.
	Progress func(done, total int64)
	// WorkDir holds the temporary snapshot; empty means the system's
	// temporary directory. It must have room for the compressed database.
	WorkDir string

	chunkSize int // tests: 0 means DefaultChunkSize
}

// ExportResult reports an export.
type ExportResult struct {
	// Key opens the archive (also a password archive). Show it with
	// Key.RecoveryString() when no password was used.
	Key        archive.Key
	SnapshotID [16]byte
	Root       chatstore.Hash  // manifest root hash
	Stats      chatstore.Stats // what the archive holds
	Chunks     int
	Bytes      int64 // stored chunk bytes written (before sealing)
	// Snapshot is the time taken to snapshot, compress and hash; Write
	// the time to read, seal and write the chunks.
	Snapshot, Write time.Duration
}

// Export writes a sealed archive of store to w: frame 0 is the manifest,
// frames 1..N the chunks in manifest order. Memory stays bounded by a few
// chunks whatever the history's size. The store is only read.
func Export(ctx context.Context, store HistorySource, w io.Writer, opts ExportOptions) (ExportResult, error) {
	var res ExportResult
	if opts.Key != nil && len(opts.Password) > 0 {
		return res, errors.New("export: give a key or a password, not both")
	}
	cs := opts.chunkSize
	if cs == 0 {
		cs = DefaultChunkSize
	}
	t := time.Now()
	snap, err := snapshot(ctx, store, opts.WorkDir, cs)
	if err != nil {
		return res, fmt.Errorf("export: %w", err)
	}
	defer snap.Close()
	res.Snapshot = time.Since(t)
	m := snap.Manifest()
	res.SnapshotID, res.Root, res.Stats, res.Chunks, res.Bytes = m.SnapshotID, m.Root(), m.Stats, m.NumChunks(), m.TotalBytes()
	menc, err := m.Marshal()
	if err != nil {
		return res, fmt.Errorf("export: %w", err)
	}

	t = time.Now()
	frames := 1 + uint64(m.NumChunks())
	var aw *archive.Writer
	switch {
	case len(opts.Password) > 0:
		p := opts.Params
		if p == (archive.Params{}) {
			p = archive.DefaultParams()
		}
		aw, res.Key, err = archive.NewPasswordWriter(w, opts.Password, p, frames)
	default:
		if opts.Key != nil {
			res.Key = *opts.Key
		} else if res.Key, err = archive.NewKey(); err != nil {
			return res, fmt.Errorf("export: %w", err)
		}
		aw, err = archive.NewWriter(w, res.Key, frames)
	}
	if err != nil {
		return res, fmt.Errorf("export: %w", outErr(w, err))
	}
	defer aw.Close()
	if err := aw.WriteFrame(menc); err != nil {
		return res, fmt.Errorf("export: %w", outErr(w, err))
	}

	// Read (and re-verify) chunks one step ahead of sealing and writing.
	type item struct {
		data []byte
		err  error
	}
	ctx, cancel := context.WithCancel(ctx)
	ch := make(chan item, 1)
	free := make(chan []byte, 3)
	for range 3 {
		free <- nil
	}
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(ch)
		for i := 0; i < m.NumChunks(); i++ {
			var buf []byte
			select {
			case buf = <-free:
			case <-ctx.Done():
				return
			}
			data, err := snap.ReadChunk(ctx, i, buf)
			select {
			case ch <- item{data, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	var done int64
	for it := range ch {
		if it.err != nil {
			return res, fmt.Errorf("export: %w", it.err)
		}
		if err := aw.WriteFrame(it.data); err != nil {
			return res, fmt.Errorf("export: %w", outErr(w, err))
		}
		done += int64(len(it.data))
		if opts.Progress != nil {
			opts.Progress(done, m.TotalBytes())
		}
		free <- it.data
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("export: %w", err)
	}
	if err := aw.Close(); err != nil {
		return res, fmt.Errorf("export: %w", err)
	}
	res.Write = time.Since(t)
	return res, nil
}

// outErr names the output file's directory when a write ran out of space.
func outErr(w io.Writer, err error) error {
	dir := "the output's location"
	if f, ok := w.(*os.File); ok {
		dir = filepath.Dir(f.Name())
	}
	return usererr.Disk(dir, err)
}

// ImportOptions say how to open an archive: with Key, or with Password.
type ImportOptions struct {
	Key      *archive.Key
	Password []byte
	// Progress, if set, is called after each chunk read from the archive
	// with the stored bytes done and in all (from one goroutine).
	Progress func(done, total int64)
}

// Import reads a sealed archive from r into store: the archive is a
// ChunkSource, and Pull fetches, stages and commits (see Receiver.Commit).
// Chunks staged by an interrupted earlier import of the same archive are
// skipped, not decrypted again.
//
// On any error the store's history is as it was; the only change a failed
// commit can leave is verified media files no message refers to (see
// Receiver.Commit). Staging is kept or removed by Pull's rule (Discard):
//   - kept (home/.staging/<id>), so that the next Import of the same archive
//     continues: a truncated archive (ErrTruncated), a cancelled context,
//     a read error of the input, or a store error during the commit;
//   - removed: a damaged archive (ErrCorrupt, ErrChunkCorrupt), a digest
//     mismatch (ErrDigestMismatch) and a full disk (ErrNoSpace, so that the
//     space is given back at once).
//
// Errors before the manifest is read (ErrWrongKey, ErrWrongPassword,
// ErrNotArchive, ErrNewerVersion, ...) touch nothing at all.
func Import(ctx context.Context, r io.Reader, store HistoryTarget, opts ImportOptions) (Result, error) {
	ar, err := archive.NewReader(r)
	if err != nil {
		return Result{}, fmt.Errorf("import: %w", err)
	}
	switch {
	case opts.Key != nil:
		err = ar.Unlock(*opts.Key)
	case len(opts.Password) > 0:
		err = ar.UnlockPassword(opts.Password)
	default:
		err = ErrNoKey
	}
	if err != nil {
		return Result{}, fmt.Errorf("import: %w", err)
	}
	mb, err := ar.Next()
	if err == io.EOF {
		err = fmt.Errorf("archive has no manifest: %w", ErrCorrupt)
	}
	if err != nil {
		return Result{}, fmt.Errorf("import: %w", err)
	}
	m, err := ParseManifest(mb)
	if err != nil {
		return Result{}, fmt.Errorf("import: %w", err)
	}
	if got, want := ar.Frames(), 1+uint64(m.NumChunks()); got != want {
		return Result{}, fmt.Errorf("import: archive has %d frames, manifest lists %d chunks: %w", got, want-1, ErrCorrupt)
	}
	recv, err := NewReceiver(store, m)
	if err != nil {
		return Result{}, fmt.Errorf("import: %w", err)
	}
	var pull PullOptions
	if opts.Progress != nil {
		pull.Progress = func(p Progress) { opts.Progress(p.Bytes, p.TotalBytes) }
	}
	res, err := Pull(ctx, &archiveSource{ar: ar, m: m}, recv, pull)
	if err != nil {
		return res, fmt.Errorf("import: %w", err)
	}
	return res, nil
}

// archiveSource is an archive's frames 1..N: chunks in manifest order,
// read in one pass.
type archiveSource struct {
	ar *archive.Reader
	m  *Manifest
}

// Plan is one fetch: the archive is read in order, and the frames of
// chunks already staged are skipped unread (see archive.Reader.Skip).
func (a *archiveSource) Plan(want []int) Plan {
	return Plan{Fetches: []Fetch{func(ctx context.Context, sink Sink) error { return a.read(ctx, want, sink) }}}
}

// read reads frames 1..N in order and hands the wanted ones to a few
// goroutines that verify and stage them while the next are decrypted;
// then it checks that nothing follows the last frame.
func (a *archiveSource) read(ctx context.Context, want []int, sink Sink) error {
	n := a.m.NumChunks()
	need := make([]bool, n)
	for _, i := range want {
		need[i] = true
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(importWorkers)
	var readErr error
	for i := 0; i < n && gctx.Err() == nil; i++ {
		if !need[i] {
			if err := a.ar.Skip(); err != nil && !(err == io.EOF && i == n-1) {
				readErr = err
				break
			}
			continue
		}
		data, err := a.ar.Next()
		if err == io.EOF {
			err = fmt.Errorf("archive ended at chunk %d of %d: %w", i, n, ErrCorrupt)
		}
		if err != nil {
			readErr = err
			break
		}
		g.Go(func() error { return sink.Put(i, data) })
	}
	putErr := g.Wait()
	switch {
	case readErr != nil:
		return readErr
	case putErr != nil:
		return putErr
	case ctx.Err() != nil:
		return ctx.Err()
	}
	// The final frame was read and nothing follows it; Next confirms.
	if _, err := a.ar.Next(); err != io.EOF {
		if err == nil {
			err = fmt.Errorf("frame after the last chunk: %w", ErrCorrupt)
		}
		return err
	}
	return nil
}

// importWorkers verify and stage chunks while the reader decrypts the next
// ones. More than the CPUs: much of a Put is waiting for the disk.
const importWorkers = 4
