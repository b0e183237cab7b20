package transfer

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"lukechampine.com/blake3"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/chatstore/storetest"
	"github.com/ferryhq/ferry/internal/treetest"
	"github.com/ferryhq/ferry/internal/wire"
)

// earlyServer serves, on a fresh net.Pipe per stream, version 2 of the
// protocol: early media at once, the snapshot only once ready is closed.
type earlyServer struct {
	snap    ServeSource
	early   *EarlyMedia
	ready   chan struct{}
	version int

	wg      sync.WaitGroup
	chunks  atomic.Int64 // chunk bytes served (the manifest's path)
	pieces  atomic.Int64 // piece bytes served (early media)
	mu      sync.Mutex
	lastErr error
}

func newEarlyServer(snap ServeSource, early *EarlyMedia) *earlyServer {
	return &earlyServer{snap: snap, early: early, ready: make(chan struct{})}
}

func (p *earlyServer) open(ctx context.Context) (io.ReadWriteCloser, error) {
	c, s := net.Pipe()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer s.Close()
		err := ServeWith(context.Background(), s, ServeOptions{Version: p.version, Early: p.early,
			Source: func(ctx context.Context) (ServeSource, error) {
				select {
				case <-p.ready:
					return p.snap, nil
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			},
			Served: func(n int64) {
				select {
				case <-p.ready:
					p.chunks.Add(n)
				default:
					p.pieces.Add(n)
				}
			}})
		if err != nil {
			p.mu.Lock()
			p.lastErr = err
			p.mu.Unlock()
		}
	}()
	return c, nil
}

// manifest makes the snapshot ready and fetches the manifest.
func (p *earlyServer) manifest(t *testing.T) *Manifest {
	t.Helper()
	close(p.ready)
	ms, _ := p.open(context.Background())
	defer ms.Close()
	m, err := FetchManifest(ms)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// putMedia writes n random bytes into store's media as their hash.
func putMedia(t *testing.T, store *chatstore.Store, n int, seed uint64) chatstore.Attachment {
	t.Helper()
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed)}).Read(b)
	h := chatstore.Hash(blake3.Sum256(b))
	path := store.MediaPath(h)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return chatstore.Attachment{Hash: h, Size: int64(n)}
}

// earlyList is the store's attachments plus extra, sorted.
func earlyList(t *testing.T, store *chatstore.Store, extra ...chatstore.Attachment) *EarlyMedia {
	t.Helper()
	atts, err := chatstore.ListAttachments(context.Background(), store.DBPath())
	if err != nil {
		t.Fatal(err)
	}
	atts = append(atts, extra...)
	slices.SortFunc(atts, func(a, b chatstore.Attachment) int { return bytes.Compare(a.Hash[:], b.Hash[:]) })
	e, err := NewEarlyMedia(store, atts)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// The receiver fetches every media file while the sender's manifest is not
// there yet; the manifest's path then moves only the database, the commit
// installs the early files, and a file the manifest does not list (here
// one of three pieces) is removed, never installed.
func TestEarlyMediaBeforeManifest(t *testing.T) {
	ctx := context.Background()
	src := storetest.New(t)
	want := storetest.Seed(t, src, 2000, 6<<20, 1)
	extra := putMedia(t, src, 2*PieceSize+12345, 7) // in the media dir, not in the history
	snap, err := Snapshot(ctx, src, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	early := earlyList(t, src, extra)
	srv := newEarlyServer(snap, early)
	srv.version = 2

	dst := storetest.New(t)
	var mu sync.Mutex
	var done, total int64
	pf := StartPrefetch(ctx, srv.open, dst, 2, func(d, tot int64) {
		mu.Lock()
		done, total = d, tot
		mu.Unlock()
	})
	defer pf.Abort()
	// Everything arrives before the manifest can be had.
	var listed int64
	files, _ := parseEarly(early.enc)
	for _, f := range files {
		listed += f.Size
	}
	pf.wg.Wait()
	mu.Lock()
	if done != listed || total != listed {
		t.Fatalf("before the manifest: %d of %d bytes fetched, want all %d listed", done, total, listed)
	}
	mu.Unlock()
	m := srv.manifest(t)
	peers := NewPeerSource(srv.open, 2)
	got := pf.Finish(m, peers)
	if len(peers.idle) != 2 {
		t.Errorf("%d of the prefetch's 2 streams handed on", len(peers.idle))
	}
	if got.Stopped != nil || got.Files != len(m.Media) || got.Bytes != listed {
		t.Fatalf("prefetched %+v, want all %d files of the manifest and %d bytes, not stopped", got, len(m.Media), listed)
	}
	earlyDir := filepath.Join(dst.Home(), StagingDir, EarlyDir)
	if _, err := os.Stat(filepath.Join(earlyDir, extra.Hash.String())); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the unlisted early file is still there (%v)", err)
	}
	recv, err := NewReceiver(dst, m)
	if err != nil {
		t.Fatal(err)
	}
	recv.UseEarly(got)
	for _, i := range recv.Missing() {
		if m.Chunk(i).Kind != KindDB {
			t.Fatalf("chunk %d (media) still missing after the early media", i)
		}
	}
	res, err := Pull(ctx, peers, recv, PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	peers.Close()
	srv.wg.Wait() // every Served counted
	if res.Target != want || res.MediaInstalled != len(m.Media) {
		t.Errorf("target %+v with %d media installed, want %+v and %d", res.Target, res.MediaInstalled, want, len(m.Media))
	}
	var dbBytes int64
	for _, c := range m.DBChunks {
		dbBytes += int64(c.Size)
	}
	if n := srv.chunks.Load(); n != dbBytes {
		t.Errorf("%d chunk bytes served after the early media, want the database's %d", n, dbBytes)
	}
	if dst.HasMedia(extra.Hash, extra.Size) {
		t.Error("the early file the manifest does not list was installed")
	}
	if err := dst.Verify(ctx); err != nil {
		t.Error(err)
	}
	treetest.Empty(t, filepath.Join(dst.Home(), StagingDir))
}

// badMedia is a history whose media file bad has other bytes (same size):
// a sender that lies in its early media, or a damaged file.
type badMedia struct {
	*chatstore.Store
	bad  chatstore.Hash
	path string
}

func (b badMedia) MediaPath(h chatstore.Hash) string {
	if h == b.bad {
		return b.path
	}
	return b.Store.MediaPath(h)
}

// Early media that are not what they are named stop the prefetch and are
// kept nowhere; the migration still completes by the manifest's path
// (whose chunks the sender checks and the receiver checks again).
func TestEarlyMediaHostile(t *testing.T) {
	ctx := context.Background()
	src := storetest.New(t)
	want := storetest.Seed(t, src, 500, 3<<20, 2)
	atts, err := chatstore.ListAttachments(ctx, src.DBPath())
	if err != nil || len(atts) == 0 {
		t.Fatalf("seeded %d attachments, %v", len(atts), err)
	}
	for _, tc := range []struct {
		name  string
		early func(t *testing.T) *EarlyMedia
	}{
		{"other bytes", func(t *testing.T) *EarlyMedia {
			other := filepath.Join(t.TempDir(), "other")
			b, _ := os.ReadFile(src.MediaPath(atts[0].Hash))
			b[len(b)/2] ^= 1
			os.WriteFile(other, b, 0o600)
			e, err := NewEarlyMedia(badMedia{src, atts[0].Hash, other}, atts)
			if err != nil {
				t.Fatal(err)
			}
			return e
		}},
		{"listed longer than it is", func(t *testing.T) *EarlyMedia {
			long := append([]chatstore.Attachment(nil), atts...)
			long[0].Size += PieceSize
			e, err := NewEarlyMedia(src, long)
			if err != nil {
				t.Fatal(err)
			}
			return e
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			snap, err := Snapshot(ctx, src, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer snap.Close()
			srv := newEarlyServer(snap, tc.early(t))
			dst := storetest.New(t)
			pf := StartPrefetch(ctx, srv.open, dst, 1, nil)
			defer pf.Abort()
			pf.wg.Wait()
			m := srv.manifest(t)
			got := pf.Finish(m, nil)
			if !errors.Is(got.Stopped, ErrEarlyCorrupt) && !isRefusal(got.Stopped) {
				t.Errorf("prefetch stopped by %v, want ErrEarlyCorrupt or the sender's refusal", got.Stopped)
			}
			if _, ok := got.paths[atts[0].Hash]; ok {
				t.Fatal("a file that is not what it is named was kept")
			}
			recv, err := NewReceiver(dst, m)
			if err != nil {
				t.Fatal(err)
			}
			recv.UseEarly(got)
			res, err := Pull(ctx, NewPeerSource(srv.open, 2), recv, PullOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Target != want {
				t.Errorf("target %+v, want %+v", res.Target, want)
			}
			if err := dst.Verify(ctx); err != nil {
				t.Error(err)
			}
			treetest.Empty(t, filepath.Join(dst.Home(), StagingDir))
		})
	}
}

func isRefusal(err error) bool { _, ok := Refusal(err); return ok }

// bigEarly is a store with one media file of four pieces (not in its
// history), and a server that lists it early.
func bigEarly(t *testing.T, seed uint64) (*chatstore.Store, chatstore.Attachment, *earlyServer) {
	src := storetest.New(t)
	big := putMedia(t, src, 3*PieceSize+777, seed)
	e, err := NewEarlyMedia(src, []chatstore.Attachment{big})
	if err != nil {
		t.Fatal(err)
	}
	return src, big, newEarlyServer(nil, e)
}

// A receive cut off in the middle of a file keeps its whole pieces; the
// next one reads them back instead of fetching them, and the file still
// has to have its hash.
func TestEarlyMediaResumes(t *testing.T) {
	ctx := context.Background()
	_, big, srv := bigEarly(t, 3)
	dst := storetest.New(t)
	cut, cancel := context.WithCancel(ctx)
	pf := StartPrefetch(cut, srv.open, dst, 1, func(done, _ int64) {
		if done >= 2*PieceSize {
			cancel()
		}
	})
	pf.wg.Wait()
	pf.Abort()
	if !HasStaged(dst.Home()) {
		t.Fatal("HasStaged is false after early pieces arrived")
	}
	srv.wg.Wait() // the cut stream's last piece may still be counted
	fetched := srv.pieces.Load()

	pf = StartPrefetch(ctx, srv.open, dst, 1, nil)
	pf.wg.Wait()
	m := &Manifest{Media: []MediaFile{{Hash: big.Hash, Size: big.Size}}}
	got := pf.Finish(m, nil)
	srv.wg.Wait()
	// The cut comes after the second piece, and maybe after the third
	// (asked for before the stream closed): never the last, re-fetched.
	if got.Stopped != nil || got.Files != 1 || got.Resumed < 2 || got.Resumed > 3 {
		t.Fatalf("second prefetch %+v, want the file, 2 or 3 pieces resumed", got)
	}
	if again, left := srv.pieces.Load()-fetched, big.Size-int64(got.Resumed)*PieceSize; again != left {
		t.Errorf("second prefetch fetched %d bytes, want the %d after the %d kept pieces", again, left, got.Resumed)
	}
	if ok, err := fileHashIs(got.paths[big.Hash], big.Hash, big.Size); !ok || err != nil {
		t.Errorf("resumed file does not have its hash (%v)", err)
	}

	// A kept part whose bytes were damaged fails the whole-file check and
	// is not kept.
	dir := filepath.Join(dst.Home(), StagingDir, EarlyDir)
	os.Remove(got.paths[big.Hash])
	part := filepath.Join(dir, big.Hash.String()+".part")
	os.WriteFile(part, make([]byte, 2*PieceSize), 0o600)
	pf = StartPrefetch(ctx, srv.open, dst, 1, nil)
	pf.wg.Wait()
	got = pf.Finish(m, nil)
	if !errors.Is(got.Stopped, ErrEarlyCorrupt) || got.Files != 0 {
		t.Errorf("prefetch over a damaged part: %+v, want ErrEarlyCorrupt and no file", got)
	}
	if _, err := os.Stat(part); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the damaged part is still there (%v)", err)
	}
}

// A version 1 stream answers no early media (an unknown request there):
// the prefetch stops at once and fetches nothing.
func TestEarlyMediaNotOnV1(t *testing.T) {
	src := storetest.New(t)
	storetest.Seed(t, src, 100, 1<<20, 3)
	srv := newEarlyServer(nil, earlyList(t, src))
	srv.version = 1
	dst := storetest.New(t)
	pf := StartPrefetch(context.Background(), srv.open, dst, 2, nil)
	pf.wg.Wait()
	got := pf.Finish(&Manifest{}, nil)
	if code, ok := Refusal(got.Stopped); !ok || code != CodeBadRequest || got.Bytes != 0 {
		t.Errorf("prefetch from a version 1 stream: %+v, want a bad-request refusal and nothing", got)
	}
}

// Requests for pieces that are not listed, not at a piece's start or past
// the end are refused and end the stream.
func TestEarlyPieceRequests(t *testing.T) {
	src := storetest.New(t)
	a := putMedia(t, src, PieceSize+10, 4)
	e, err := NewEarlyMedia(src, []chatstore.Attachment{a})
	if err != nil {
		t.Fatal(err)
	}
	srv := newEarlyServer(nil, e)
	ask := func(body []byte) ([]byte, error) {
		s, _ := srv.open(context.Background())
		defer s.Close()
		if err := wire.Write(s, msgGetPiece, body); err != nil {
			return nil, err
		}
		return answer(wire.NewReader(s), msgPiece)
	}
	if b, err := ask(putPiece(a.Hash, PieceSize)); err != nil || len(b) != 10 {
		t.Fatalf("last piece: %d bytes, %v; want 10", len(b), err)
	}
	var other chatstore.Hash
	other[0] = 1
	for name, body := range map[string][]byte{
		"unlisted":     putPiece(other, 0),
		"not aligned":  putPiece(a.Hash, 1),
		"past the end": putPiece(a.Hash, 2*PieceSize),
		"short":        a.Hash[:31],
		"trailing":     append(putPiece(a.Hash, 0), 0),
	} {
		if _, err := ask(body); !isRefusal(err) {
			t.Errorf("%s: %v, want a refusal", name, err)
		}
	}
}

// FuzzEarlyList: the early media list is a parser of bytes from the
// network; what it accepts encodes back to the same bytes.
func FuzzEarlyList(f *testing.F) {
	f.Add(encodeEarly(nil))
	f.Add(encodeEarly([]MediaFile{{Hash: chatstore.Hash{1}, Size: 5}, {Hash: chatstore.Hash{2}, Size: 1 << 40}}))
	f.Add([]byte{0x02, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		files, err := parseEarly(b)
		if err != nil {
			if !errors.Is(err, ErrEarlyCorrupt) {
				t.Fatalf("error %v is not ErrEarlyCorrupt", err)
			}
			return
		}
		if enc := encodeEarly(files); !bytes.Equal(enc, b) {
			t.Fatalf("accepted %x, encodes back as %x", b, enc)
		}
	})
}

// A file the prefetch had begun when the manifest came (or an earlier
// receive left begun) is not fetched again whole: its Receiver stages the
// whole pieces of its part as chunks, each checked against the manifest.
func TestEarlyPartStaged(t *testing.T) {
	ctx := context.Background()
	src, big, srv := bigEarly(t, 5)
	b, _ := os.ReadFile(src.MediaPath(big.Hash))
	mf := MediaFile{Hash: big.Hash, Size: big.Size}
	for off := 0; off < len(b); off += PieceSize {
		mf.Chunks = append(mf.Chunks, blake3.Sum256(b[off:min(off+PieceSize, len(b))]))
	}
	m, err := NewManifest([16]byte{1}, chatstore.Stats{Attachments: 1, MediaBytes: big.Size}, PieceSize, 0, nil, []MediaFile{mf})
	if err != nil {
		t.Fatal(err)
	}
	dst := storetest.New(t)
	cut, cancel := context.WithCancel(ctx)
	pf := StartPrefetch(cut, srv.open, dst, 1, func(done, _ int64) {
		if done >= PieceSize {
			cancel()
		}
	})
	pf.wg.Wait()
	got := pf.Finish(m, nil)
	if got.Files != 0 || len(got.parts) != 1 {
		t.Fatalf("after a cut: %+v, want no whole file and one part", got)
	}
	recv, err := NewReceiver(dst, m)
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Abort()
	recv.UseEarly(got)
	missing := recv.Missing()
	if len(missing) == 0 || len(missing) > 3 {
		t.Fatalf("missing %v after the part's pieces, want 1 to 3 of the 4 chunks", missing)
	}

	// A part with other bytes stages nothing.
	os.WriteFile(got.parts[big.Hash], make([]byte, 2*PieceSize), 0o600)
	recv2, err := NewReceiver(storetest.New(t), m)
	if err != nil {
		t.Fatal(err)
	}
	defer recv2.Abort()
	recv2.UseEarly(got)
	if n := len(recv2.Missing()); n != 4 {
		t.Errorf("a damaged part staged %d chunks", 4-n)
	}
}

// A sender that never answers, for the list or for a piece, cannot hold
// the receive once the manifest is there: Finish closes the list's stream
// at once, and waits finishWait for the pieces in flight.
func TestEarlyStalledSender(t *testing.T) {
	defer func(w time.Duration) { finishWait = w }(finishWait)
	finishWait = time.Second
	list := encodeEarly([]MediaFile{{Hash: chatstore.Hash{1}, Size: 10}})
	for _, tc := range []struct {
		name   string
		answer func(typ wire.Type, w io.Writer) // nil: no answer
	}{
		{"list", nil},
		{"piece", func(typ wire.Type, w io.Writer) {
			if typ == msgGetMedia {
				wire.Write(w, msgMedia, list)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var wg sync.WaitGroup
			asked := make(chan wire.Type, 4)
			open := func(ctx context.Context) (io.ReadWriteCloser, error) {
				c, s := net.Pipe()
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer s.Close()
					r := wire.NewReader(s)
					for {
						typ, _, err := r.Next()
						if err != nil {
							return
						}
						asked <- typ
						if tc.answer != nil {
							tc.answer(typ, s)
						}
					}
				}()
				return c, nil
			}
			dst := storetest.New(t)
			pf := StartPrefetch(context.Background(), open, dst, 1, nil)
			want := msgGetMedia
			if tc.answer != nil {
				<-asked // the list
				want = msgGetPiece
			}
			if typ := <-asked; typ != want {
				t.Fatalf("asked %#x, want %#x", typ, want)
			}
			start := time.Now()
			got := pf.Finish(&Manifest{}, nil)
			// No list yet: none is waited for. A piece in flight: finishWait.
			took := time.Since(start)
			if tc.answer == nil && took >= finishWait/2 || took > 5*time.Second {
				t.Errorf("Finish took %v with a sender stalled on the %s", took, tc.name)
			}
			if got.Files != 0 || got.Bytes != 0 {
				t.Errorf("from a stalled sender: %+v", got)
			}
			wg.Wait() // every stream was closed
		})
	}
}
