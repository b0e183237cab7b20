package transfer

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"lukechampine.com/blake3"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/internal/strictbin"
	"github.com/ferryhq/ferry/internal/usererr"
	"github.com/ferryhq/ferry/internal/wire"
)

// Early media (/ferry/transfer/2). A sender's snapshot takes seconds on a
// large history (the database copy, its digest, compression, the media's
// chunk hashes) and its manifest exists only after it. Media files are
// named by their content, so they need no snapshot: before the manifest, a
// sender lists the media its history refers to now (EarlyMedia) and serves
// them piece by piece, and a receiver fetches the ones it lacks (Prefetch),
// each checked whole against its hash, into a private directory of its
// staging area. When the manifest comes, the files it lists are installed
// (a Receiver then holds them already and never fetches them) and the rest
// are removed. The receiver starts fetching as soon as the devices are
// connected, whatever the size of the history.

// PieceSize is the size of an early media piece: every piece of a file but
// its last holds exactly this many bytes.
const PieceSize = DefaultChunkSize

// maxEarlyFiles bounds an early media list: one frame of 33-byte entries at
// least.
const maxEarlyFiles = wire.MaxFrame / (32 + 1)

// ErrEarlyCorrupt is a sender's early media list or piece that breaks the
// protocol: the prefetch stops (the manifest's path then decides).
var ErrEarlyCorrupt = errors.New("the sender's early media list or piece is malformed")

// EarlyMedia is what a sender serves before its snapshot is ready: the
// media files its history refers to, read from the history's files as they
// are (they are checked by the receiver, against the names it was given).
// It is read-only once made, and safe to share.
type EarlyMedia struct {
	src  HistorySource
	size map[chatstore.Hash]int64 // the listed files' sizes
	enc  []byte                   // the list, as MediaList sends it
}

// NewEarlyMedia lists atts (the attachments of src's history now, as
// chatstore.ListAttachments gives them: sorted by hash, each once) for
// receivers that ask before the snapshot is ready.
func NewEarlyMedia(src HistorySource, atts []chatstore.Attachment) (*EarlyMedia, error) {
	files := make([]MediaFile, len(atts))
	e := &EarlyMedia{src: src, size: make(map[chatstore.Hash]int64, len(atts))}
	for i, a := range atts {
		files[i] = MediaFile{Hash: a.Hash, Size: a.Size}
		e.size[a.Hash] = a.Size
	}
	e.enc = encodeEarly(files)
	if _, err := parseEarly(e.enc); err != nil { // one validator for both directions
		return nil, fmt.Errorf("early media: %w", err)
	}
	return e, nil
}

// encodeEarly is the MediaList body: uvarint(count), then count × (hash ||
// uvarint(size)), hashes strictly ascending.
func encodeEarly(files []MediaFile) []byte {
	b := binary.AppendUvarint(make([]byte, 0, 8+len(files)*40), uint64(len(files)))
	for _, f := range files {
		b = append(b, f.Hash[:]...)
		b = binary.AppendUvarint(b, uint64(f.Size))
	}
	return b
}

// parseEarly reads a MediaList body strictly: canonical varints, hashes
// strictly ascending, sizes at most maxFileSize, nothing after the list.
func parseEarly(b []byte) ([]MediaFile, error) {
	p := strictbin.NewReader(b, ErrEarlyCorrupt)
	n := p.Uvarint(uint64(min(maxEarlyFiles, len(b)/33)), "early media count")
	files := make([]MediaFile, 0, n)
	for i := uint64(0); i < n && p.Err() == nil; i++ {
		f := MediaFile{Hash: p.Hash()}
		f.Size = int64(p.Uvarint(maxFileSize, "early media size"))
		if k := len(files); k > 0 && string(files[k-1].Hash[:]) >= string(f.Hash[:]) {
			p.Fail("early media not in ascending hash order")
		}
		files = append(files, f)
	}
	if err := p.End(); err != nil {
		return nil, err
	}
	return files, nil
}

// readPiece returns the piece at off of the listed file h.
func (e *EarlyMedia) readPiece(h chatstore.Hash, off uint64, buf []byte) ([]byte, error) {
	size, ok := e.size[h]
	if !ok || off%PieceSize != 0 || off >= uint64(size) {
		return nil, errBadPiece
	}
	n := int(min(PieceSize, uint64(size)-off))
	if cap(buf) >= n {
		buf = buf[:n]
	} else {
		buf = make([]byte, n)
	}
	f, err := os.Open(e.src.MediaPath(h))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.ReadAt(buf, int64(off)); err != nil {
		return nil, err
	}
	return buf, nil
}

var errBadPiece = errors.New("no such piece")

// putPiece encodes a GetPiece request.
func putPiece(h chatstore.Hash, off uint64) []byte {
	return binary.AppendUvarint(append(make([]byte, 0, 42), h[:]...), off)
}

// piece decodes a GetPiece request.
func piece(body []byte) (chatstore.Hash, uint64, error) {
	p := strictbin.NewReader(body, wire.ErrMalformed)
	h := p.Hash()
	off := p.Uvarint(maxFileSize, "piece offset")
	return h, off, p.End()
}

// Prefetch fetches a sender's early media (see EarlyMedia) while the
// sender makes its snapshot. Start it with StartPrefetch, then end it
// with Finish once the manifest is known, or with Abort.
type Prefetch struct {
	target   HistoryTarget
	open     StreamOpener
	parallel int
	progress func(done, total int64)

	ctx    context.Context
	cancel context.CancelFunc
	stop   atomic.Bool // Finish asked: start no new file
	wg     sync.WaitGroup

	dir string // the staging area's EarlyDir

	mu      sync.Mutex                // guards the fields below, and progress calls
	got     map[chatstore.Hash]string // verified files, by hash: their path
	done    int64                     // bytes fetched
	resumed int                       // pieces taken from an earlier receive
	total   int64                     // bytes of the files to fetch
	err     error                     // why the prefetch stopped early, if it did
	idle    []*peerStream             // workers' streams, for the manifest's path
	list    io.Closer                 // the stream the list is asked on, until it came
}

// finishWait bounds how long Finish waits for the pieces in flight: a
// sender that stalls one cannot hold the receive (it is cut, and the part
// keeps its whole pieces).
var finishWait = 10 * time.Second

// Prefetched is what a Prefetch brought, or TakeEarly found: hand it to the
// Receiver of the manifest (Receiver.UseEarly), which installs the files
// at its commit instead of fetching them.
type Prefetched struct {
	Files int   // files the manifest lists, fetched early and checked
	Bytes int64 // bytes fetched early (those of unlisted files included)
	// Resumed is how many pieces (PieceSize) of them an earlier,
	// interrupted receive had fetched and checked.
	Resumed int
	// Stopped says why the prefetch ended before it had everything (a
	// sender without early media, a malformed piece, a full disk), or nil.
	Stopped error

	paths map[chatstore.Hash]string // the files, by hash
	parts map[chatstore.Hash]string // files begun, not whole: their .part
}

// StartPrefetch asks the sender (on streams opened with open, of which it
// uses up to parallel at once) for its early media list and fetches the
// files target lacks into target's staging area (EarlyDir), each checked
// against its hash once whole. progress, if set, is called
// after each piece with the bytes fetched and the bytes listed to fetch,
// one call at a time. It returns at once; the fetches run until Finish or
// Abort. A sender that lists nothing, or speaks only /ferry/transfer/1,
// gives a Prefetch that fetches nothing.
func StartPrefetch(ctx context.Context, open StreamOpener, target HistoryTarget, parallel int, progress func(done, total int64)) *Prefetch {
	ctx, cancel := context.WithCancel(ctx)
	p := &Prefetch{target: target, open: open, parallel: max(parallel, 1), progress: progress, ctx: ctx, cancel: cancel,
		dir: filepath.Join(target.Home(), StagingDir, EarlyDir), got: make(map[chatstore.Hash]string)}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.fail(p.run())
	}()
	return p
}

func (p *Prefetch) fail(err error) {
	if err == nil || p.ctx.Err() != nil {
		return
	}
	p.mu.Lock()
	if p.err == nil {
		p.err = err
	}
	p.mu.Unlock()
	p.stop.Store(true)
}

// run fetches the list and starts the workers.
func (p *Prefetch) run() error {
	st, err := p.open(p.ctx)
	if err != nil {
		return err
	}
	stopClose := context.AfterFunc(p.ctx, func() { st.Close() })
	p.mu.Lock()
	p.list = st
	p.mu.Unlock()
	files, err := fetchEarly(st)
	stopClose()
	p.mu.Lock()
	p.list = nil
	p.mu.Unlock()
	st.Close()
	if err != nil {
		if p.stop.Load() {
			return nil // Finish came first
		}
		return err
	}
	var want []MediaFile
	for _, f := range files {
		if f.Size > 0 && !p.target.HasMedia(f.Hash, f.Size) {
			want = append(want, f)
			p.total += f.Size
		}
	}
	if len(want) == 0 || p.stop.Load() {
		return nil
	}
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return err
	}
	queue := make(chan MediaFile, len(want))
	for _, f := range want {
		queue <- f
	}
	close(queue)
	for range min(p.parallel, len(want)) {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.fail(p.worker(queue))
		}()
	}
	return nil
}

// EarlyDir is the directory of the staging area (home/.staging/early) that
// holds early media: <hex> a file checked against its hash, <hex>.part
// one being fetched. What an interrupted receive fetched stays there for
// the next one (which checks each file again before it counts); the next
// manifest decides: what it lists is installed, the rest removed.
const EarlyDir = "early"

// fetchEarly asks for the early media list on rw.
func fetchEarly(rw io.ReadWriter) ([]MediaFile, error) {
	if err := wire.Write(rw, msgGetMedia); err != nil {
		return nil, fmt.Errorf("ask for early media: %w", err)
	}
	body, err := answer(wire.NewReader(rw), msgMedia)
	if err != nil {
		return nil, fmt.Errorf("early media: %w", err)
	}
	return parseEarly(body)
}

// worker fetches files from queue on one stream until the queue is empty,
// Finish is asked for, or something fails.
func (p *Prefetch) worker(queue <-chan MediaFile) (err error) {
	s, err := p.open(p.ctx)
	if err != nil {
		return err
	}
	st := &peerStream{ReadWriteCloser: s, r: wire.NewReader(s)}
	stop := context.AfterFunc(p.ctx, func() { s.Close() })
	defer func() {
		// A stream in good order goes to the manifest's path (Finish).
		if !stop() || err != nil {
			s.Close()
			return
		}
		p.mu.Lock()
		p.idle = append(p.idle, st)
		p.mu.Unlock()
	}()
	for f := range queue {
		if p.stop.Load() {
			return nil
		}
		if err := p.fetchFile(st, st.r, f); err != nil {
			return err
		}
	}
	return nil
}

// fetchFile fetches f piece by piece into the directory, hashing as it
// goes, and keeps it only when it is whole and has f's hash. What an
// earlier, interrupted receive fetched of it is read again and hashed
// instead of fetched: a whole file, or the whole pieces of a part.
func (p *Prefetch) fetchFile(w io.Writer, r *wire.Reader, f MediaFile) error {
	name := filepath.Join(p.dir, f.Hash.String())
	if ok, err := fileHashIs(name, f.Hash, f.Size); err == nil && ok {
		p.keep(f, name, int64(chunkCount(f.Size, PieceSize)))
		return nil
	}
	out, err := os.OpenFile(name+".part", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	h := blake3.New(32, nil)
	off, err := resumePart(out, h, f.Size)
	if err == nil {
		var whole bool
		whole, err = p.fetchInto(out, w, r, f, h, off)
		if err == nil && !whole {
			err = errLeft
		}
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	switch {
	case errors.Is(err, errLeft):
		return nil // kept: its Receiver stages the whole pieces (UseEarly)
	case errors.Is(err, ErrEarlyCorrupt) || usererr.IsNoSpace(err):
		// Useless, or the space is wanted back at once (the manifest's
		// path then says the disk is full).
		os.Remove(name + ".part")
		return err
	case err != nil:
		return err // the part stays for the next receive
	}
	if err := os.Rename(name+".part", name); err != nil {
		return err
	}
	p.keep(f, name, off/PieceSize)
	return nil
}

var errLeft = errors.New("left to the manifest")

// resumePart reads the whole pieces an earlier receive left in part into
// h, cuts off the rest, and returns the offset to go on from.
func resumePart(part *os.File, h io.Writer, size int64) (int64, error) {
	fi, err := part.Stat()
	if err != nil {
		return 0, err
	}
	// At least one piece is fetched again: the last.
	off := min(fi.Size()/PieceSize, max(size-1, 0)/PieceSize) * PieceSize
	if _, err := io.Copy(h, io.NewSectionReader(part, 0, off)); err != nil {
		return 0, err
	}
	if err := part.Truncate(off); err != nil {
		return 0, err
	}
	_, err = part.Seek(off, io.SeekStart)
	return off, err
}

// keep records f as fetched and checked, resumed of its pieces from an
// earlier receive.
func (p *Prefetch) keep(f MediaFile, name string, resumed int64) {
	p.mu.Lock()
	p.got[f.Hash] = name
	p.resumed += int(resumed)
	p.mu.Unlock()
}

// fetchInto writes f's pieces to out; whole is false when Finish was asked
// for before the last (the part is then left to the manifest's path, which
// takes its whole pieces: Receiver.UseEarly).
func (p *Prefetch) fetchInto(out, w io.Writer, r *wire.Reader, f MediaFile, h hash.Hash, from int64) (whole bool, err error) {
	for off := from; off < f.Size; off += PieceSize {
		if p.stop.Load() {
			return false, nil // the Receiver stages the whole pieces (UseEarly)
		}
		if err := wire.Write(w, msgGetPiece, putPiece(f.Hash, uint64(off))); err != nil {
			return false, err
		}
		data, err := answer(r, msgPiece)
		if err != nil {
			return false, err
		}
		if int64(len(data)) != min(PieceSize, f.Size-off) {
			return false, fmt.Errorf("media %s: a piece at %d of %d bytes: %w", f.Hash, off, len(data), ErrEarlyCorrupt)
		}
		h.Write(data)
		if _, err := out.Write(data); err != nil {
			return false, err
		}
		p.mu.Lock()
		p.done += int64(len(data))
		if p.progress != nil {
			p.progress(p.done, p.total)
		}
		p.mu.Unlock()
	}
	if chatstore.Hash(h.Sum(nil)) != f.Hash {
		return false, fmt.Errorf("media %s: its bytes do not have its hash: %w", f.Hash, ErrEarlyCorrupt)
	}
	return true, nil
}

// Finish ends the prefetch once the manifest m is known: the pieces being
// fetched are finished, the streams go to next (the PeerSource of the
// manifest's path, which then opens none anew; nil closes them), and the
// early files that m does not list are removed. The rest go to m's
// Receiver (UseEarly), which installs them when it commits; until then
// they stay in EarlyDir, for a receive again if this one fails.
func (p *Prefetch) Finish(m *Manifest, next *PeerSource) Prefetched {
	p.stop.Store(true)
	p.mu.Lock()
	if p.list != nil {
		p.list.Close() // no list yet: none is wanted now
	}
	p.mu.Unlock()
	done := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(finishWait):
		p.cancel()
		<-done
	}
	p.cancel()
	p.mu.Lock()
	defer p.mu.Unlock()
	// What an earlier receive left and this one did not get to.
	res := takeEarly(p.dir, m, p.got)
	res.Bytes, res.Resumed, res.Stopped = p.done, res.Resumed+p.resumed, p.err
	for _, st := range p.idle {
		next.keep(st)
	}
	p.idle = nil
	return res
}

// takeEarly finds m's media in dir: those in got (checked already), and
// the others that are there and have their hash (each a resumed piece).
// It removes the rest of dir.
func takeEarly(dir string, m *Manifest, got map[chatstore.Hash]string) Prefetched {
	res := Prefetched{paths: make(map[chatstore.Hash]string), parts: make(map[chatstore.Hash]string)}
	if _, err := os.Stat(dir); err != nil {
		return res
	}
	for _, f := range m.Media {
		if path, ok := got[f.Hash]; ok {
			res.paths[f.Hash] = path
			continue
		}
		path := filepath.Join(dir, f.Hash.String())
		if ok, err := fileHashIs(path, f.Hash, f.Size); err == nil && ok {
			res.paths[f.Hash] = path
			res.Resumed += chunkCount(f.Size, PieceSize)
		} else if fi, err := os.Stat(path + ".part"); err == nil && fi.Size() >= PieceSize {
			res.parts[f.Hash] = path + ".part"
		}
	}
	res.Files = len(res.paths)
	removeUnlisted(dir, res.paths, res.parts)
	return res
}

// removeUnlisted removes every file of dir that is not one of keep.
func removeUnlisted(dir string, keep ...map[chatstore.Hash]string) {
	kept := make(map[string]bool)
	for _, k := range keep {
		for _, path := range k {
			kept[path] = true
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if path := filepath.Join(dir, e.Name()); !kept[path] {
			os.RemoveAll(path)
		}
	}
}

// Abort stops the prefetch; the files checked so far stay for the next
// receive (see EarlyDir). It is idempotent, and does nothing after Finish.
func (p *Prefetch) Abort() {
	p.stop.Store(true)
	p.cancel()
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, st := range p.idle {
		st.Close()
	}
	p.idle = nil
}

// TakeEarly finds the early media an earlier, interrupted receive left in
// target's EarlyDir that m lists (each checked against its hash again) and
// removes the rest: for a receive that did not prefetch (it asked its user
// first). Hand the result to m's Receiver (UseEarly).
func TakeEarly(target HistoryTarget, m *Manifest) Prefetched {
	return takeEarly(filepath.Join(target.Home(), StagingDir, EarlyDir), m, nil)
}
