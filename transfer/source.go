package transfer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sync/errgroup"
	"lukechampine.com/blake3"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/internal/scratch"
	"github.com/ferryhq/ferry/internal/usererr"
)

// snapshotPrefix names a Snap's temporary directory:
// ferry-snapshot-<pid>-<random>.
const snapshotPrefix = "ferry-snapshot"

// Snap is the source side of a transfer: a consistent snapshot of a store
// and the chunks its manifest lists. The store is only read. ReadChunk is
// safe for concurrent use.
type Snap struct {
	// constant after construction
	store   HistorySource
	dir     string       // temporary work directory, removed by Close
	scratch *scratch.Dir // dir, locked as this process's while it lives
	m       *Manifest
	dbz     *os.File // compressed database chunks, back to back
	dbOff   []int64  // offset of each compressed chunk in dbz
	kept    bool     // dir is the home's SendCacheDir: Close leaves it
	// hashed holds, for each media file hashMedia read whole, what the file
	// was when it did (nil for a kept snapshot, which hashed nothing).
	hashed []os.FileInfo

	mu     sync.RWMutex // held for reading by ReadChunk, for writing by Close
	closed bool         // guarded by mu
}

// Snapshot takes a consistent snapshot of store (which may be written to at
// the same time) into a temporary directory under workDir (the system's
// temporary directory when empty), compresses the database part, hashes the
// media the snapshot references, and builds the manifest. The store's home
// is never written to, so it may be opened read-only. Close the Snap to
// remove the temporary files.
//
// The temporary directory (ferry-snapshot-<pid>-*, 0700, its files 0600:
// they hold the history in plaintext) is locked as this process's while
// the Snap lives (see internal/scratch). Snapshot first removes the ones in
// workDir whose process is gone: a sender killed mid-send leaves its copy
// only until the next snapshot in the same place.
func Snapshot(ctx context.Context, store HistorySource, workDir string) (*Snap, error) {
	return SnapshotWith(ctx, store, SnapshotOptions{WorkDir: workDir})
}

// SnapshotOptions control SnapshotWith. The zero value is Snapshot's.
type SnapshotOptions struct {
	// WorkDir holds the temporary directory; empty means the system's
	// temporary directory.
	WorkDir string
	// ChunkSize is the manifest's chunk size, MinChunkSize..MaxChunkSize;
	// zero means DefaultChunkSize (what Ferry writes: other sizes are for
	// tests, which want many chunks of a small history).
	ChunkSize int
	// Cache keeps the snapshot in the store's home (SendCacheDir, when the
	// store can name its chatstore.State and the home can be written) and
	// offers it again, without making it anew, while the history is in the
	// state it was made from. The snapshot is then made in the home, not
	// in WorkDir.
	Cache bool
}

// SnapshotWith is Snapshot with options.
func SnapshotWith(ctx context.Context, store HistorySource, opts SnapshotOptions) (*Snap, error) {
	chunkSize := cmp.Or(opts.ChunkSize, DefaultChunkSize)
	if h, ok := store.(stateful); ok && opts.Cache {
		if before, err := h.State(ctx); err == nil && before != "" {
			if s, err := openKept(store, h.Home(), before); err == nil && s.m.ChunkSize == chunkSize {
				return s, nil
			} else if err == nil {
				s.Close()
			}
			s, err := snapshotIn(ctx, store, h.Home(), SendCacheDir, chunkSize)
			if err == nil {
				s.keep(ctx, h, before)
				return s, nil
			}
			if ctx.Err() != nil {
				return nil, err
			}
			// A home that cannot hold it (read-only, full): as without
			// Cache.
		}
	}
	return snapshot(ctx, store, opts.WorkDir, chunkSize)
}

func snapshot(ctx context.Context, store HistorySource, workDir string, chunkSize int) (*Snap, error) {
	return snapshotIn(ctx, store, workDir, snapshotPrefix, chunkSize)
}

// snapshotIn makes the snapshot in a directory prefix-<pid>-* of workDir.
func snapshotIn(ctx context.Context, store HistorySource, workDir, prefix string, chunkSize int) (_ *Snap, err error) {
	if workDir == "" {
		workDir = os.TempDir()
	}
	// What a sender killed before it could clean up left behind goes now.
	scratch.Sweep(workDir, prefix)
	sd, err := scratch.New(workDir, prefix)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", usererr.Disk(workDir, err))
	}
	dir := sd.Path()
	s := &Snap{store: store, dir: dir, scratch: sd}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	dbPath := filepath.Join(dir, "snapshot.db")
	if err := store.Snapshot(ctx, dbPath); err != nil {
		return nil, fmt.Errorf("snapshot: %w", usererr.Disk(workDir, err))
	}
	atts, err := chatstore.ListAttachments(ctx, dbPath)
	if err != nil {
		return nil, fmt.Errorf("snapshot: list attachments: %w", err)
	}
	media := make([]MediaFile, len(atts))
	for i, a := range atts {
		media[i] = MediaFile{Hash: a.Hash, Size: a.Size}
	}
	sortMedia(media)
	for i := 1; i < len(media); i++ {
		if media[i].Hash == media[i-1].Hash {
			return nil, fmt.Errorf("snapshot: attachment %s listed with two sizes", media[i].Hash)
		}
	}

	// Three independent reads of the snapshot, run side by side: the
	// digest (SQLite), the compression, and the media hashing.
	var (
		st       chatstore.Stats
		dbChunks []DBChunk
		dbSize   int64
	)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		var err error
		if st, err = chatstore.StatsOf(gctx, dbPath); err != nil {
			return fmt.Errorf("snapshot: stats: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		var err error
		dbChunks, dbSize, err = s.compressDB(gctx, dbPath, chunkSize)
		return err
	})
	g.Go(func() error { return s.hashMedia(gctx, media, chunkSize) })
	if err := g.Wait(); err != nil {
		return nil, err
	}
	// The compressed chunks are all we serve; drop the raw copy now.
	os.Remove(dbPath)

	m, err := NewManifest(contentID(st, chunkSize, dbSize, dbChunks, media), st, chunkSize, dbSize, dbChunks, media)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	s.m = m
	return s, nil
}

// compressDB splits the snapshot file into raw chunks, compresses them in
// parallel (a bounded window keeps memory flat) and appends them, in order,
// to the dbz file.
func (s *Snap) compressDB(ctx context.Context, dbPath string, chunkSize int) ([]DBChunk, int64, error) {
	in, err := os.Open(dbPath)
	if err != nil {
		return nil, 0, fmt.Errorf("snapshot: %w", err)
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return nil, 0, fmt.Errorf("snapshot: %w", err)
	}
	size := fi.Size()
	zpath := filepath.Join(s.dir, dbzFile)
	out, err := os.OpenFile(zpath, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, 0, fmt.Errorf("snapshot: %w", usererr.Disk(s.dir, err))
	}
	s.dbz = out
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true))
	if err != nil {
		return nil, 0, fmt.Errorf("snapshot: %w", err)
	}
	defer enc.Close()

	n := chunkCount(size, chunkSize)
	window := min(runtime.GOMAXPROCS(0), 4)
	type job struct {
		raw, z []byte
	}
	jobs := make([]job, window)
	for i := range jobs {
		jobs[i].raw = make([]byte, chunkSize)
	}
	chunks := make([]DBChunk, n)
	var off int64
	for base := 0; base < n; base += window {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		k := min(window, n-base)
		var g errgroup.Group
		for j := 0; j < k; j++ {
			i := base + j
			raw := jobs[j].raw[:min(int64(chunkSize), size-int64(i)*int64(chunkSize))]
			if _, err := in.ReadAt(raw, int64(i)*int64(chunkSize)); err != nil {
				return nil, 0, fmt.Errorf("snapshot: read database: %w", err)
			}
			g.Go(func() error {
				jobs[j].z = enc.EncodeAll(raw, jobs[j].z[:0])
				chunks[i] = DBChunk{Hash: blake3.Sum256(jobs[j].z), Size: len(jobs[j].z)}
				return nil
			})
		}
		g.Wait()
		for j := 0; j < k; j++ {
			s.dbOff = append(s.dbOff, off)
			if _, err := out.Write(jobs[j].z); err != nil {
				return nil, 0, fmt.Errorf("snapshot: %w", usererr.Disk(s.dir, err))
			}
			off += int64(len(jobs[j].z))
		}
	}
	return chunks, size, nil
}

// hashMedia checks every media file's size, and hashes the files that span
// several chunks (their chunk hashes go into the manifest; the whole-file
// hash is checked on the way). A single-chunk file's chunk hash is its
// content hash, checked when the chunk is read.
func (s *Snap) hashMedia(ctx context.Context, media []MediaFile, chunkSize int) error {
	buf := make([]byte, chunkSize)
	s.hashed = make([]os.FileInfo, len(media))
	for i := range media {
		if err := ctx.Err(); err != nil {
			return err
		}
		f := &media[i]
		path := s.store.MediaPath(f.Hash)
		fi, err := os.Stat(path)
		if err != nil || fi.Size() != f.Size {
			return fmt.Errorf("snapshot: media %s: %w", f.Hash, usererr.As(ErrSourceChanged, sizeErr(err, fi, f.Size)))
		}
		n := chunkCount(f.Size, chunkSize)
		if n <= 1 {
			continue
		}
		r, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("snapshot: media %s: %w", f.Hash, usererr.As(ErrSourceChanged, err))
		}
		whole := blake3.New(32, nil)
		f.Chunks = make([]chatstore.Hash, n)
		for j := range f.Chunks {
			b := buf[:min(int64(chunkSize), f.Size-int64(j)*int64(chunkSize))]
			if _, err := io.ReadFull(r, b); err != nil {
				r.Close()
				return fmt.Errorf("snapshot: media %s: %w", f.Hash, usererr.As(ErrSourceChanged, err))
			}
			f.Chunks[j] = blake3.Sum256(b)
			whole.Write(b)
		}
		r.Close()
		if chatstore.Hash(whole.Sum(nil)) != f.Hash {
			return fmt.Errorf("snapshot: media %s: content does not match its hash: %w", f.Hash, ErrSourceChanged)
		}
		s.hashed[i] = fi
	}
	return nil
}

// unchanged says whether the open media file f is still the one hashMedia
// read whole and found to have its hash: the same file (device and inode),
// size and modification time. Media files are named by their content and
// never written in place, so a changed one is another file or a damaged
// one; a change that keeps all three (a write within one tick of a coarse
// clock) still fails the receiver's check of every chunk, which then says
// the sender's data is damaged instead of changed.
func (s *Snap) unchanged(f int, file *os.File) bool {
	if s.hashed == nil || s.hashed[f] == nil {
		return false
	}
	fi, err := file.Stat()
	was := s.hashed[f]
	return err == nil && os.SameFile(fi, was) && fi.Size() == was.Size() && fi.ModTime().Equal(was.ModTime())
}

func sizeErr(err error, fi os.FileInfo, want int64) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("size %d, want %d", fi.Size(), want)
}

// Manifest describes the snapshot.
func (s *Snap) Manifest() *Manifest { return s.m }

// ReadChunk returns the stored bytes of chunk i, in buf when it is large
// enough. Media chunks are re-hashed, unless the file is the one the
// snapshot hashed whole (see unchanged): a file changed since the
// snapshot gives ErrSourceChanged instead of wrong bytes.
func (s *Snap) ReadChunk(ctx context.Context, i int, buf []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if i < 0 || i >= s.m.NumChunks() {
		return nil, fmt.Errorf("read chunk %d: %w", i, ErrChunkRange)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, fmt.Errorf("read chunk %d: %w", i, ErrClosed)
	}
	c := s.m.Chunk(i)
	if cap(buf) >= c.Size {
		buf = buf[:c.Size]
	} else {
		buf = make([]byte, c.Size)
	}
	if c.Kind == KindDB {
		if _, err := s.dbz.ReadAt(buf, s.dbOff[i]); err != nil {
			return nil, fmt.Errorf("read chunk %d: %w", i, err)
		}
		// A kept snapshot has been on the disk since an earlier send.
		if s.kept && blake3.Sum256(buf) != c.Hash {
			chatstore.RemoveSendCache(filepath.Dir(s.dir))
			return nil, fmt.Errorf("read chunk %d: the snapshot kept from the last send is damaged (removed: send again): %w", i, ErrSourceChanged)
		}
		return buf, nil
	}
	h := s.m.Media[c.File].Hash
	f, err := os.Open(s.store.MediaPath(h))
	if err != nil {
		return nil, fmt.Errorf("read chunk %d of media %s: %w", i, h, usererr.As(ErrSourceChanged, err))
	}
	_, err = f.ReadAt(buf, c.Offset)
	same := err == nil && s.unchanged(c.File, f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("read chunk %d of media %s: %w", i, h, usererr.As(ErrSourceChanged, err))
	}
	if !same && blake3.Sum256(buf) != c.Hash {
		return nil, fmt.Errorf("read chunk %d of media %s: %w", i, h, ErrSourceChanged)
	}
	return buf, nil
}

// Close removes the snapshot's temporary files, after waiting for ReadChunk
// calls in flight. It is idempotent; later ReadChunk calls fail with ErrClosed.
func (s *Snap) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	if s.dbz != nil {
		errs = append(errs, s.dbz.Close())
	}
	if s.scratch != nil {
		errs = append(errs, s.scratch.Remove())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close snapshot: %w", err)
	}
	return nil
}

// contentID names a snapshot by what it holds: the same history snapshots to
// the same bytes (VACUUM INTO and zstd are deterministic), so a sender that
// restarts offers the same snapshot ID again and a receiver's staged chunks
// of it stay usable — resume survives a crash of either side.
func contentID(st chatstore.Stats, chunkSize int, dbSize int64, db []DBChunk, media []MediaFile) (id [16]byte) {
	h := blake3.New(32, nil)
	fmt.Fprintf(h, "ferry snapshot id v1\x00%s\x00%d\x00%d\x00", st.Digest, chunkSize, dbSize)
	for _, c := range db {
		h.Write(c.Hash[:])
	}
	for _, f := range media {
		h.Write(f.Hash[:])
		fmt.Fprintf(h, "%d\x00", f.Size)
	}
	copy(id[:], h.Sum(nil))
	return id
}
