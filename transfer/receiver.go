package transfer

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
	"lukechampine.com/blake3"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/internal/atomicfile"
	"github.com/ferryhq/ferry/internal/usererr"
)

// StagingDir is the directory under a home where receivers stage data.
const StagingDir = ".staging"

// Files inside one staging directory (home/.staging/<snapshot ID hex>/).
const (
	stagedManifest = "manifest"    // the manifest being received
	stagedJournal  = "journal"     // one record per verified, written chunk
	stagedDB       = "snapshot.db" // the decompressed database snapshot
	stagedMedia    = "media"       // media files, named by hex hash
)

// journal records: chunk index (uint32 LE), BLAKE3 of the raw bytes written
// (for a full chunk of a multi-chunk media file: its BLAKE3 chaining value,
// see treehash.go), CRC-32C of the preceding 36 bytes.
const journalRecord = 4 + 32 + 4

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Receiver is the target side of a transfer: it verifies chunks, stages
// them under the target home, and commits them into the store. Put may be
// called from several goroutines at once (for different or equal chunks);
// Missing, Put, Commit, Abort and Close are safe to call concurrently.
type Receiver struct {
	// constant after construction
	store   HistoryTarget
	m       *Manifest
	dir     string
	present []bool   // media file f already in the target store, or early
	early   []string // media file f's early file (UseEarly), or ""
	resumed int      // chunks found verified in staging at construction
	started time.Time
	dec     *zstd.Decoder
	rawPool sync.Pool
	// had is what ReceivedFile says when the target took in this very
	// manifest at its last commit and has not changed since: nothing is
	// fetched, and Commit changes nothing.
	had *received

	// life is held for reading by Put and for writing by Commit, Abort and
	// Close, so that no Put runs while files are moved or removed.
	life    sync.RWMutex
	closed  bool     // guarded by life
	db      *os.File // guarded by life
	journal *os.File // guarded by life

	mu   sync.Mutex // guards done, cover and cv, after life
	done []bool
	// cover holds, for each database chunk not staged yet, the ranges
	// (chunk-relative, sorted, disjoint) that PutDB has written of it.
	cover [][]span
	// cv holds, when tree is set, the BLAKE3 chaining value of every staged
	// full chunk of a multi-chunk media file (see treehash.go).
	cv   []chatstore.Hash
	tree bool // constant after construction: chunk size is a BLAKE3 subtree

	putChunks atomic.Int64
	putBytes  atomic.Int64

	// The staged database's digest check starts as soon as its last chunk
	// is staged, so that it runs while the media still stream in.
	dbLeft   atomic.Int64  // database chunks not staged yet
	vStarted atomic.Bool   // verifyDB is running or ran
	vDone    chan struct{} // closed when verifyDB returns
	vCtx     context.Context
	vCancel  context.CancelFunc
	vStats   chatstore.Stats // set by verifyDB before vDone closes
	vErr     error
	vChecked chatstore.Checked // Adopt's and Merge's checks, after the digest
	vCheck   error
	vTook    time.Duration
}

// startVerify runs the staged database's digest check, then the checks of
// Adopt and Merge, in the background, once. Its owner (Commit, Close or
// Abort) waits for it.
func (r *Receiver) startVerify() {
	if r.vStarted.Swap(true) {
		return
	}
	go func() {
		defer close(r.vDone)
		t := time.Now()
		path := filepath.Join(r.dir, stagedDB)
		r.vStats, r.vErr = chatstore.StatsOf(r.vCtx, path)
		if r.vErr == nil {
			r.vErr = r.mediaListed(r.vCtx, path)
		}
		// Then the checks that Adopt and Merge would make (at a million
		// messages they take longer than the digest), ahead of time too;
		// one after the other, not side by side: each holds its own
		// SQLite page cache, and the receiver's memory bound holds them
		// one at a time beside the media streaming in.
		if _, ok := r.store.(checkedTarget); ok && r.vErr == nil {
			r.vChecked, r.vCheck = chatstore.CheckSnapshot(r.vCtx, path)
		}
		r.vTook = time.Since(t)
	}()
}

// mediaListed fails unless the media files the staged database at path
// refers to are exactly those the manifest lists. The commit installs the
// manifest's files (Commit's installMedia: each is in place or verified and
// moved in, or the commit fails), so this is what proves that every
// attachment row it adopts or merges has its bytes.
func (r *Receiver) mediaListed(ctx context.Context, path string) error {
	atts, err := chatstore.ListAttachments(ctx, path)
	if err != nil {
		return err
	}
	// Both are sorted by hash, distinct.
	if len(atts) != len(r.m.Media) {
		return fmt.Errorf("the database refers to %d media files, the manifest lists %d", len(atts), len(r.m.Media))
	}
	for i, a := range atts {
		if mf := r.m.Media[i]; a.Hash != mf.Hash || a.Size != mf.Size {
			return fmt.Errorf("the database refers to media %s (%d bytes), which the manifest does not list", a.Hash, a.Size)
		}
	}
	return nil
}

// stopVerify cancels a background digest check and waits for it.
func (r *Receiver) stopVerify() {
	r.vCancel()
	if r.vStarted.Load() {
		<-r.vDone
	}
}

// ready returns with what is in flight settled: dbLeft counts the database
// chunks still to stage, and the digest check starts if none are.
func (r *Receiver) ready() *Receiver {
	n := 0
	for i := range r.m.DBChunks {
		if !r.done[i] {
			n++
		}
	}
	r.dbLeft.Store(int64(n))
	if n == 0 {
		r.startVerify()
	}
	return r
}

// NewReceiver prepares to receive the snapshot m into store. Staging lives
// in store.Home()/.staging/<snapshot ID>; when a staging directory for the
// same manifest is there (an interrupted earlier transfer), every chunk its
// journal lists is re-verified from disk and counts as received, so it is
// not fetched again. Media the store already holds also count as received.
func NewReceiver(store HistoryTarget, m *Manifest) (*Receiver, error) {
	home := store.Home()
	dir := filepath.Join(home, StagingDir, hex.EncodeToString(m.SnapshotID[:]))
	enc, err := m.Marshal()
	if err != nil {
		return nil, fmt.Errorf("new receiver: %w", err)
	}
	r := &Receiver{
		store:   store,
		m:       m,
		dir:     dir,
		present: make([]bool, len(m.Media)),
		early:   make([]string, len(m.Media)),
		done:    make([]bool, m.NumChunks()),
		cover:   make([][]span, len(m.DBChunks)),
		started: time.Now(),
		vDone:   make(chan struct{}),
	}
	r.vCtx, r.vCancel = context.WithCancel(context.Background())
	r.rawPool.New = func() any { b := make([]byte, m.ChunkSize); return &b }
	if r.tree = treeable(m.ChunkSize); r.tree {
		r.cv = make([]chatstore.Hash, m.NumChunks())
	}
	all := true
	for f, mf := range m.Media {
		r.present[f] = store.HasMedia(mf.Hash, mf.Size)
		all = all && r.present[f]
	}
	if all {
		if r.had = upToDate(store, m); r.had != nil {
			for i := range r.done {
				r.done[i] = true
			}
			return r, nil
		}
	}
	r.dec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxMemory(uint64(m.ChunkSize)))
	if err != nil {
		return nil, fmt.Errorf("new receiver: %w", err)
	}
	if old, err := os.ReadFile(filepath.Join(dir, stagedManifest)); err == nil && bytes.Equal(old, enc) {
		err = r.resume()
		if err == nil {
			return r.ready(), nil
		}
		r.closeFiles()
		// Unusable staging: start over below.
	}
	if err := r.fresh(enc); err != nil {
		r.closeFiles()
		os.RemoveAll(dir)
		r.dec.Close()
		return nil, fmt.Errorf("new receiver: %w", usererr.Disk(home, err))
	}
	return r.ready(), nil
}

// fresh creates an empty staging directory for the manifest.
func (r *Receiver) fresh(enc []byte) error {
	if err := os.RemoveAll(r.dir); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(r.dir, stagedMedia), 0o700); err != nil {
		return err
	}
	db, err := os.OpenFile(filepath.Join(r.dir, stagedDB), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	r.db = db
	if err := db.Truncate(r.m.DBSize); err != nil {
		return err
	}
	j, err := os.OpenFile(filepath.Join(r.dir, stagedJournal), os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	r.journal = j
	// The manifest goes last: its presence marks a usable staging directory.
	return atomicfile.Write(filepath.Join(r.dir, stagedManifest), enc, 0o600)
}

// resume opens an existing staging directory and re-verifies what its
// journal lists.
func (r *Receiver) resume() error {
	db, err := os.OpenFile(filepath.Join(r.dir, stagedDB), os.O_RDWR, 0)
	if err != nil {
		return err
	}
	r.db = db
	if fi, err := db.Stat(); err != nil || fi.Size() != r.m.DBSize {
		return fmt.Errorf("staged database has the wrong size")
	}
	j, err := os.OpenFile(filepath.Join(r.dir, stagedJournal), os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	r.journal = j
	recs, err := io.ReadAll(j)
	if err != nil {
		return err
	}
	// A torn last record (crash mid-append) is dropped so that appends
	// stay aligned.
	if whole := len(recs) / journalRecord * journalRecord; whole != len(recs) {
		if err := j.Truncate(int64(whole)); err != nil {
			return err
		}
		recs = recs[:whole]
	}
	buf := make([]byte, r.m.ChunkSize)
	for ; len(recs) > 0; recs = recs[journalRecord:] {
		rec := recs[:journalRecord]
		if crc32.Checksum(rec[:36], castagnoli) != binary.LittleEndian.Uint32(rec[36:]) {
			continue
		}
		i := int(binary.LittleEndian.Uint32(rec))
		if i >= len(r.done) || r.done[i] {
			continue
		}
		// The journal is not fsynced per record: after a power loss it may
		// list a chunk whose bytes never reached the disk. Re-hash.
		c := r.m.Chunk(i)
		raw := buf[:c.RawSize]
		if err := r.readStaged(c, raw); err != nil {
			continue
		}
		if r.journalHash(c, raw) == chatstore.Hash(rec[4:36]) {
			if r.treePiece(c) {
				r.cv[i] = chatstore.Hash(rec[4:36])
			}
			r.done[i] = true
			r.resumed++
		}
	}
	return nil
}

// treePiece reports whether c is a full chunk of a multi-chunk media file
// whose chaining value Commit needs.
func (r *Receiver) treePiece(c Chunk) bool {
	if !r.tree || c.Kind != KindMedia {
		return false
	}
	_, n := r.m.MediaChunks(c.File)
	return n > 1 && c.Offset+int64(r.m.ChunkSize) < r.m.Media[c.File].Size
}

// journalHash is what a journal record holds for chunk c with raw bytes
// raw: the chaining value for a tree piece, else BLAKE3 of the bytes (for
// media, the chunk hash itself).
func (r *Receiver) journalHash(c Chunk, raw []byte) chatstore.Hash {
	switch {
	case r.treePiece(c):
		return pieceCV(raw, int(c.Offset/int64(r.m.ChunkSize)))
	case c.Kind == KindMedia:
		if len(raw) == c.Size && blake3.Sum256(raw) == c.Hash {
			return c.Hash
		}
		return chatstore.Hash{}
	default:
		return blake3.Sum256(raw)
	}
}

func (r *Receiver) readStaged(c Chunk, raw []byte) error {
	if c.Kind == KindDB {
		_, err := r.db.ReadAt(raw, c.Offset)
		return err
	}
	f, err := os.Open(r.mediaPath(c.File))
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.ReadAt(raw, c.Offset)
	return err
}

func (r *Receiver) mediaPath(f int) string {
	return filepath.Join(r.dir, stagedMedia, r.m.Media[f].Hash.String())
}

// Manifest is the manifest being received.
func (r *Receiver) Manifest() *Manifest { return r.m }

// UseEarly takes the early media files of p (fetched before the manifest:
// see Prefetch): they count as held, are not fetched, and are installed by
// Commit; Abort removes them. Of a file begun but not whole, the whole
// pieces are staged as its chunks (each checked against the manifest like
// a fetched chunk; one that fails is fetched). Call it once, before
// Missing: what it sets is read without a lock after it.
func (r *Receiver) UseEarly(p Prefetched) {
	for f, mf := range r.m.Media {
		if path, ok := p.paths[mf.Hash]; ok && !r.present[f] {
			r.present[f], r.early[f] = true, path
		}
	}
	if len(p.parts) == 0 || r.m.ChunkSize != PieceSize {
		return
	}
	buf := make([]byte, PieceSize)
	for f, mf := range r.m.Media {
		if path, ok := p.parts[mf.Hash]; ok && !r.present[f] {
			r.stagePart(f, path, buf)
		}
	}
}

// stagePart stages the whole pieces of media file f's early part.
func (r *Receiver) stagePart(f int, path string, buf []byte) {
	part, err := os.Open(path)
	if err != nil {
		return
	}
	defer part.Close()
	first, n := r.m.MediaChunks(f)
	for k := range n - 1 { // the last piece is never whole in a part
		if _, err := part.ReadAt(buf, int64(k)*PieceSize); err != nil {
			return
		}
		if r.Put(first+k, buf) != nil {
			return
		}
	}
}

// removeEarly removes the early files UseEarly gave (not installed: the
// receiver is done without a commit).
func (r *Receiver) removeEarly() {
	for _, path := range r.early {
		if path != "" {
			os.Remove(path)
		}
	}
	removeIfEmpty(filepath.Join(filepath.Dir(r.dir), EarlyDir))
}

// Resumed is the number of chunks found verified in staging when the
// receiver was created.
func (r *Receiver) Resumed() int { return r.resumed }

// Missing lists, in ascending order, the chunks still to be fetched: not yet
// verified and staged, and not part of a media file the store already holds.
func (r *Receiver) Missing() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int
	for i, d := range r.done {
		if !d && !r.skippable(i) {
			out = append(out, i)
		}
	}
	return out
}

func (r *Receiver) skippable(i int) bool {
	c := r.m.chunks[i]
	return c.file >= 0 && r.present[c.file]
}

// Put verifies chunk i against the manifest and stages it: ErrChunkCorrupt
// when data is not exactly the chunk's bytes (nothing is written then).
// Putting a chunk that is already staged, or that belongs to a media file
// the store already holds, is a no-op. data is not retained.
func (r *Receiver) Put(i int, data []byte) error {
	if i < 0 || i >= len(r.done) {
		return fmt.Errorf("put chunk %d: %w", i, ErrChunkRange)
	}
	c := r.m.Chunk(i)
	if len(data) != c.Size || blake3.Sum256(data) != c.Hash {
		return fmt.Errorf("put chunk %d: %w", i, ErrChunkCorrupt)
	}
	r.life.RLock()
	closed := r.closed
	r.life.RUnlock()
	if closed {
		return fmt.Errorf("put chunk %d: %w", i, ErrClosed)
	}
	r.mu.Lock()
	done := r.done[i]
	r.mu.Unlock()
	if done || r.skippable(i) {
		return nil
	}
	if c.Kind == KindDB {
		bp := r.rawPool.Get().(*[]byte)
		defer r.rawPool.Put(bp)
		r.life.RLock() // the decoder lives until Close
		if r.closed {
			r.life.RUnlock()
			return fmt.Errorf("put chunk %d: %w", i, ErrClosed)
		}
		raw, err := r.dec.DecodeAll(data, (*bp)[:0])
		r.life.RUnlock()
		if err != nil || len(raw) != c.RawSize {
			// The compressed bytes matched their hash, so the source made them.
			return fmt.Errorf("put chunk %d: decompress: %w", i, usererr.As(ErrChunkCorrupt, err))
		}
		return r.stageDB(i, c, raw)
	}
	r.life.RLock()
	defer r.life.RUnlock()
	if r.closed {
		return fmt.Errorf("put chunk %d: %w", i, ErrClosed)
	}
	f, err := os.OpenFile(r.mediaPath(c.File), os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("put chunk %d: %w", i, usererr.Disk(r.store.Home(), err))
	}
	_, err = f.WriteAt(data, c.Offset)
	if err == nil {
		startWriteback(f, c.Offset, int64(len(data)))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("put chunk %d: %w", i, usererr.Disk(r.store.Home(), err))
	}
	h := c.Hash // verified above
	if r.treePiece(c) {
		h = pieceCV(data, int(c.Offset/int64(r.m.ChunkSize)))
	}
	return r.recordLocked(i, c, h)
}

// stageDB writes the raw (verified) bytes of database chunk i into the
// staged database and records it: the common end of Put and of the vault's
// putRaw.
func (r *Receiver) stageDB(i int, c Chunk, raw []byte) error {
	r.life.RLock()
	defer r.life.RUnlock()
	if r.closed {
		return fmt.Errorf("put chunk %d: %w", i, ErrClosed)
	}
	if _, err := r.db.WriteAt(raw, c.Offset); err != nil {
		return fmt.Errorf("put chunk %d: %w", i, usererr.Disk(r.store.Home(), err))
	}
	startWriteback(r.db, c.Offset, int64(len(raw)))
	return r.recordLocked(i, c, r.journalHash(c, raw))
}

// PutDB writes raw database bytes at offset off of the staged database:
// for a source that holds the database in pieces of its own rather than
// the manifest's chunks (the vault's pieces cut by content). The caller
// has verified raw (the vault checks each piece against the hash its
// authenticated manifest lists); the manifest cannot, since its hashes
// are of the compressed chunks, and the digest check in Commit covers
// every byte again. Ranges may overlap each other and chunks already
// staged (the same bytes are written again). A database chunk counts as
// staged once the ranges written cover all of it: then its bytes are read
// back and journalled as Put journals a chunk. raw is not retained.
func (r *Receiver) PutDB(off int64, raw []byte) error {
	end := off + int64(len(raw))
	if off < 0 || end > r.m.DBSize {
		return fmt.Errorf("stage database bytes %d..%d of %d: %w", off, end, r.m.DBSize, ErrChunkRange)
	}
	r.life.RLock()
	defer r.life.RUnlock()
	if r.closed {
		return fmt.Errorf("stage database: %w", ErrClosed)
	}
	if _, err := r.db.WriteAt(raw, off); err != nil {
		return fmt.Errorf("stage database: %w", usererr.Disk(r.store.Home(), err))
	}
	startWriteback(r.db, off, int64(len(raw)))
	cs := int64(r.m.ChunkSize)
	for i := int(off / cs); i < len(r.m.DBChunks) && int64(i)*cs < end; i++ {
		c := r.m.Chunk(i)
		lo, hi := max(off, c.Offset)-c.Offset, min(end, c.Offset+int64(c.RawSize))-c.Offset
		whole := span{0, int64(c.RawSize)}
		r.mu.Lock()
		full := false
		if !r.done[i] && !(len(r.cover[i]) == 1 && r.cover[i][0] == whole) {
			// The call that completes the chunk journals it; later ones
			// find it whole and leave it.
			r.cover[i] = addSpan(r.cover[i], span{lo, hi})
			full = len(r.cover[i]) == 1 && r.cover[i][0] == whole
		}
		r.mu.Unlock()
		if !full {
			continue
		}
		// Every byte of the chunk is written: read it back and journal it.
		bp := r.rawPool.Get().(*[]byte)
		b := (*bp)[:c.RawSize]
		_, err := r.db.ReadAt(b, c.Offset)
		if err == nil {
			err = r.recordLocked(i, c, r.journalHash(c, b))
		}
		r.rawPool.Put(bp)
		if err != nil {
			return fmt.Errorf("stage database chunk %d: %w", i, err)
		}
	}
	return nil
}

// span is a range [lo, hi) of bytes.
type span struct{ lo, hi int64 }

// addSpan adds s to the sorted, disjoint spans ss, merging those it
// overlaps or touches.
func addSpan(ss []span, s span) []span {
	if s.lo >= s.hi {
		return ss
	}
	out := make([]span, 0, len(ss)+1)
	i := 0
	for ; i < len(ss) && ss[i].hi < s.lo; i++ {
		out = append(out, ss[i])
	}
	for ; i < len(ss) && ss[i].lo <= s.hi; i++ {
		s = span{min(s.lo, ss[i].lo), max(s.hi, ss[i].hi)}
	}
	return append(append(out, s), ss[i:]...)
}

// recordLocked journals chunk i as staged (h: what resume re-checks it
// against) and marks it done. The caller holds r.life for reading.
func (r *Receiver) recordLocked(i int, c Chunk, h chatstore.Hash) error {
	var rec [journalRecord]byte
	binary.LittleEndian.PutUint32(rec[:], uint32(i))
	copy(rec[4:], h[:])
	binary.LittleEndian.PutUint32(rec[36:], crc32.Checksum(rec[:36], castagnoli))
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done[i] {
		return nil
	}
	// One write of a whole record with O_APPEND: a crash leaves at most a
	// torn last record, which resume drops.
	if _, err := r.journal.Write(rec[:]); err != nil {
		return fmt.Errorf("put chunk %d: journal: %w", i, usererr.Disk(r.store.Home(), err))
	}
	if r.treePiece(c) {
		r.cv[i] = h
	}
	r.done[i] = true
	r.putChunks.Add(1)
	r.putBytes.Add(int64(c.Size))
	if c.Kind == KindDB && r.dbLeft.Add(-1) == 0 {
		r.startVerify()
	}
	return nil
}

// Close releases the receiver's files and keeps the staging directory, so
// that a later NewReceiver for the same manifest resumes. Idempotent.
func (r *Receiver) Close() error {
	r.life.Lock()
	defer r.life.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	r.stopVerify()
	return r.closeFiles()
}

// Abort releases the receiver and removes its staging directory. The store
// is not touched. Idempotent.
func (r *Receiver) Abort() error {
	r.life.Lock()
	defer r.life.Unlock()
	r.closed = true
	r.stopVerify()
	r.closeFiles()
	r.removeEarly()
	if err := os.RemoveAll(r.dir); err != nil {
		return fmt.Errorf("abort: %w", err)
	}
	removeIfEmpty(filepath.Dir(r.dir))
	return nil
}

// closeFiles closes open handles; caller holds life (or has sole access).
func (r *Receiver) closeFiles() error {
	var errs []error
	if r.db != nil {
		errs = append(errs, r.db.Close())
		r.db = nil
	}
	if r.journal != nil {
		errs = append(errs, r.journal.Close())
		r.journal = nil
	}
	if r.dec != nil && r.closed {
		r.dec.Close()
		r.dec = nil
	}
	return errors.Join(errs...)
}

func removeIfEmpty(dir string) { os.Remove(dir) } // fails harmlessly when not empty
