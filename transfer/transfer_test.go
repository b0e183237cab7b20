package transfer

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/chatstore/seed"
	"github.com/ferryhq/ferry/chatstore/storetest"
	"github.com/ferryhq/ferry/internal/treetest"
)

const (
	testMsgs  = 1500
	testMedia = 3 << 20
)

func TestExportImportIntoEmpty(t *testing.T) {
	ctx := context.Background()
	src := storetest.New(t)
	want := storetest.Seed(t, src, testMsgs, testMedia, 1)
	src = storetest.ReadOnly(t, src)
	before := treetest.Tree(t, src.Home())
	key := testKey(t)
	arc, ex := exportBytes(t, src, ExportOptions{Key: key})
	treetest.Same(t, "source after export", treetest.Tree(t, src.Home()), before)
	if ex.Stats != want {
		t.Errorf("export stats = %+v, want %+v", ex.Stats, want)
	}
	if ex.Key != *key {
		t.Error("export result does not carry the key it used")
	}

	dst := storetest.New(t)
	res, err := Import(ctx, bytes.NewReader(arc), dst, ImportOptions{Key: key})
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if !res.Adopted {
		t.Error("import into an empty store did not adopt")
	}
	if got := storetest.Stats(t, dst); got != want {
		t.Errorf("target stats = %+v, want %+v", got, want)
	}
	if res.Source != want || res.Target != want {
		t.Errorf("result source %+v target %+v, want both %+v", res.Source, res.Target, want)
	}
	if got, want := res.Received, res.Chunks; got != want {
		t.Errorf("received %d chunks, want %d", got, want)
	}
	if err := dst.Verify(ctx); err != nil {
		t.Errorf("Verify target: %v", err)
	}
	treetest.Empty(t, filepath.Join(dst.Home(), StagingDir))
}

// TestImportHalfFull imports into a target that already holds part of the
// source's history: only the rest is added, and then both are equal.
func TestImportHalfFull(t *testing.T) {
	ctx := context.Background()
	src := storetest.New(t)
	storetest.Seed(t, src, testMsgs/2, testMedia/2, 1)
	key := testKey(t)
	arc, _ := exportBytes(t, src, ExportOptions{Key: key})
	dst := storetest.New(t)
	if _, err := Import(ctx, bytes.NewReader(arc), dst, ImportOptions{Key: key}); err != nil {
		t.Fatalf("first Import: %v", err)
	}
	half := storetest.Stats(t, dst)
	want := storetest.Seed(t, src, testMsgs/2, testMedia/2, 2)

	arc, _ = exportBytes(t, src, ExportOptions{Key: key})
	res, err := Import(ctx, bytes.NewReader(arc), dst, ImportOptions{Key: key})
	if err != nil {
		t.Fatalf("second Import: %v", err)
	}
	if res.Adopted {
		t.Error("import into a non-empty store adopted")
	}
	if got, want := res.Added.Messages, want.Messages-half.Messages; got != want {
		t.Errorf("added %d messages, want %d", got, want)
	}
	if got := storetest.Stats(t, dst); got != want {
		t.Errorf("target stats = %+v, want %+v", got, want)
	}
	if res.MediaPresent == 0 {
		t.Error("no media counted as already present")
	}
	// Media the target held were not transferred again.
	if res.ReceivedBytes >= manifestOf(t, arc, key).TotalBytes() {
		t.Errorf("received %d bytes, the whole snapshot is %d", res.ReceivedBytes, manifestOf(t, arc, key).TotalBytes())
	}
	if err := dst.Verify(ctx); err != nil {
		t.Errorf("Verify target: %v", err)
	}
	treetest.Empty(t, filepath.Join(dst.Home(), StagingDir))
}

func TestImportTwiceChangesNothing(t *testing.T) {
	ctx := context.Background()
	src := storetest.New(t)
	want := storetest.Seed(t, src, testMsgs/2, testMedia/2, 3)
	arc, ex := exportBytes(t, src, ExportOptions{})
	dst := storetest.New(t)
	for i := range 2 {
		res, err := Import(ctx, bytes.NewReader(arc), dst, ImportOptions{Key: &ex.Key})
		if err != nil {
			t.Fatalf("Import %d: %v", i, err)
		}
		if i == 1 && (res.Adopted || res.Added.Messages != 0 || res.Added.Attachments != 0 || res.MediaInstalled != 0) {
			t.Errorf("second import changed something: %+v", res)
		}
		if got := storetest.Stats(t, dst); got != want {
			t.Errorf("after import %d: stats %+v, want %+v", i, got, want)
		}
	}
}

// countingSource records which chunks were fetched.
type countingSource struct {
	ChunkReader
	mu      sync.Mutex
	fetched []int
}

func (c *countingSource) ReadChunk(ctx context.Context, i int, buf []byte) ([]byte, error) {
	c.mu.Lock()
	c.fetched = append(c.fetched, i)
	c.mu.Unlock()
	return c.ChunkReader.ReadChunk(ctx, i, buf)
}

// TestResumeAfterCrash stops a transfer after k chunks (the receiver is
// abandoned without Close, as if the process died; the journal gets a torn
// record; one staged chunk's bytes are lost as after a power cut), then a
// new receiver on the same staging fetches exactly what is missing.
func TestResumeAfterCrash(t *testing.T) {
	ctx := context.Background()
	src := storetest.New(t)
	want := storetest.Seed(t, src, testMsgs, testMedia, 4)
	snap, err := snapshot(ctx, src, t.TempDir(), testChunk)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	m := snap.Manifest()
	dst := storetest.New(t)
	r1, err := NewReceiver(dst, m)
	if err != nil {
		t.Fatal(err)
	}
	n := m.NumChunks()
	k := n / 2
	if k < 3 {
		t.Fatalf("only %d chunks; the test needs more", n)
	}
	for i := 0; i < k; i++ {
		data, err := snap.ReadChunk(ctx, i, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := r1.Put(i, data); err != nil {
			t.Fatalf("Put %d: %v", i, err)
		}
	}
	staging := filepath.Join(dst.Home(), StagingDir)
	ents, _ := os.ReadDir(staging)
	if len(ents) != 1 {
		t.Fatalf("%d staging dirs, want 1", len(ents))
	}
	dir := filepath.Join(staging, ents[0].Name())
	// A torn journal record, and chunk 1's staged bytes lost.
	j, err := os.OpenFile(filepath.Join(dir, stagedJournal), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	j.Write([]byte{1, 2, 3, 4, 5, 6, 7})
	j.Close()
	lost := 1
	c := m.Chunk(lost)
	if c.Kind != KindDB {
		t.Fatalf("chunk %d is not a database chunk", lost)
	}
	db, err := os.OpenFile(filepath.Join(dir, stagedDB), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	db.WriteAt(make([]byte, c.RawSize), c.Offset)
	db.Close()

	r2, err := NewReceiver(dst, m)
	if err != nil {
		t.Fatalf("NewReceiver on old staging: %v", err)
	}
	t.Cleanup(func() { r1.Close() })
	if got, want := r2.Resumed(), k-1; got != want {
		t.Errorf("resumed %d chunks, want %d", got, want)
	}
	wantFetched := []int{lost}
	for i := k; i < n; i++ {
		wantFetched = append(wantFetched, i)
	}
	if got := r2.Missing(); !slices.Equal(got, wantFetched) {
		t.Errorf("missing = %v, want %v", got, wantFetched)
	}
	cs := &countingSource{ChunkReader: snap}
	var last Progress
	if err := fetch(ctx, ReadSource(cs, 3), r2, func(p Progress) { last = p }); err != nil {
		t.Fatalf("fetch: %v", err)
	}
	slices.Sort(cs.fetched)
	if !slices.Equal(cs.fetched, wantFetched) {
		t.Errorf("fetched %v, want %v", cs.fetched, wantFetched)
	}
	if last.Items != last.TotalItems || last.Bytes != last.TotalBytes || last.TotalItems != len(wantFetched) {
		t.Errorf("last progress %+v, want all %d items", last, len(wantFetched))
	}
	// Left over by an interrupted transfer of another snapshot: a
	// successful commit removes it too.
	if err := os.MkdirAll(filepath.Join(staging, "0123456789abcdef0123456789abcdef", stagedMedia), 0o700); err != nil {
		t.Fatal(err)
	}
	res, err := r2.Commit(ctx)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if got := storetest.Stats(t, dst); got != want || res.Target != want {
		t.Errorf("target stats %+v (result %+v), want %+v", got, res.Target, want)
	}
	treetest.Empty(t, filepath.Join(dst.Home(), StagingDir))
}

func TestReceiverRejects(t *testing.T) {
	ctx := context.Background()
	src := storetest.New(t)
	storetest.Seed(t, src, 200, 1<<20, 5)
	snap, err := snapshot(ctx, src, t.TempDir(), testChunk)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	dst := storetest.New(t)
	before := treetest.Tree(t, dst.Home())
	r, err := NewReceiver(dst, snap.Manifest())
	if err != nil {
		t.Fatal(err)
	}
	data, err := snap.ReadChunk(ctx, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(data)
	bad[len(bad)/2] ^= 1
	tests := []struct {
		name string
		i    int
		data []byte
		want error
	}{
		{"flipped bit", 0, bad, ErrChunkCorrupt},
		{"short", 0, data[:len(data)-1], ErrChunkCorrupt},
		{"other chunk", 1, data, ErrChunkCorrupt},
		{"negative", -1, data, ErrChunkRange},
		{"past end", snap.Manifest().NumChunks(), data, ErrChunkRange},
	}
	for _, tc := range tests {
		if err := r.Put(tc.i, tc.data); !errors.Is(err, tc.want) {
			t.Errorf("%s: Put = %v, want %v", tc.name, err, tc.want)
		}
	}
	if got, want := len(r.Missing()), snap.Manifest().NumChunks(); got != want {
		t.Errorf("after bad puts %d missing, want %d", got, want)
	}
	if _, err := r.Commit(ctx); !errors.Is(err, ErrIncomplete) {
		t.Errorf("Commit with nothing received = %v, want ErrIncomplete", err)
	}
	if err := r.Abort(); err != nil {
		t.Fatal(err)
	}
	if err := r.Put(0, data); !errors.Is(err, ErrClosed) {
		t.Errorf("Put after Abort = %v, want ErrClosed", err)
	}
	treetest.Same(t, "target after abort", treetest.Tree(t, dst.Home()), before)
}

// changedSnap snapshots a small history, then flips, in place, the first
// byte of the first media file that pick chooses. It returns the file's
// first chunk, its path, and what it was before the change.
func changedSnap(t *testing.T, pick func(MediaFile) bool) (*chatstore.Store, *Snap, int, string, os.FileInfo) {
	t.Helper()
	src := storetest.New(t)
	storetest.Seed(t, src, 200, 1<<20, 6)
	snap, err := snapshot(context.Background(), src, t.TempDir(), testChunk)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { snap.Close() })
	m := snap.Manifest()
	f := slices.IndexFunc(m.Media, pick)
	if f < 0 {
		t.Fatal("no media file to change")
	}
	first, _ := m.MediaChunks(f)
	path := src.MediaPath(m.Media[f].Hash)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[0] ^= 1
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return src, snap, first, path, fi
}

// TestSourceChanged: a media file altered after the snapshot is reported,
// not sent.
func TestSourceChanged(t *testing.T) {
	ctx := context.Background()
	src, snap, first, path, _ := changedSnap(t, func(MediaFile) bool { return true })
	if _, err := snap.ReadChunk(ctx, first, nil); !errors.Is(err, ErrSourceChanged) {
		t.Errorf("ReadChunk of changed file = %v, want ErrSourceChanged", err)
	}
	os.Remove(path)
	if _, err := snap.ReadChunk(ctx, first, nil); !errors.Is(err, ErrSourceChanged) {
		t.Errorf("ReadChunk of removed file = %v, want ErrSourceChanged", err)
	}
	if _, err := Snapshot(ctx, src, t.TempDir()); !errors.Is(err, ErrSourceChanged) {
		t.Errorf("Snapshot with a missing media file = %v, want ErrSourceChanged", err)
	}
}

// TestSnapshotWhileWriting takes a snapshot while the store grows: what
// arrives is exactly the snapshot's state, digest-checked.
func TestSnapshotWhileWriting(t *testing.T) {
	ctx := context.Background()
	src := storetest.New(t)
	storetest.Seed(t, src, 500, 512<<10, 7)
	done := make(chan chatstore.Stats)
	go func() {
		st, err := seed.Add(ctx, src, seed.Options{Messages: 3000, MediaBytes: 1 << 20, Seed: 8})
		if err != nil {
			t.Errorf("concurrent Seed: %v", err)
		}
		done <- st
	}()
	snap, err := snapshot(ctx, src, t.TempDir(), testChunk)
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	defer snap.Close()
	final := <-done
	dst := storetest.New(t)
	r, err := NewReceiver(dst, snap.Manifest())
	if err != nil {
		t.Fatal(err)
	}
	if err := fetch(ctx, ReadSource(snap, 2), r, nil); err != nil {
		t.Fatalf("fetch: %v", err)
	}
	res, err := r.Commit(ctx)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if got, want := storetest.Stats(t, dst), snap.Manifest().Stats; got != want {
		t.Errorf("target %+v, want snapshot's %+v", got, want)
	}
	if res.Source.Messages > final.Messages {
		t.Errorf("snapshot has %d messages, more than the final %d", res.Source.Messages, final.Messages)
	}
}

// cancellingSource cancels the transfer on its n-th read.
type cancellingSource struct {
	ChunkReader
	n      atomic.Int64
	at     int64
	cancel context.CancelFunc
}

func (c *cancellingSource) ReadChunk(ctx context.Context, i int, buf []byte) ([]byte, error) {
	if c.n.Add(1) == c.at {
		c.cancel()
	}
	return c.ChunkReader.ReadChunk(ctx, i, buf)
}

// TestMigrateCancel: a cancelled transfer stops with the context's error,
// keeps what it verified, and the next receiver continues from there.
func TestMigrateCancel(t *testing.T) {
	src := storetest.New(t)
	want := storetest.Seed(t, src, 500, 1<<20, 9)
	snap, err := snapshot(context.Background(), src, t.TempDir(), testChunk)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	dst := storetest.New(t)
	r1, err := NewReceiver(dst, snap.Manifest())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err = fetch(ctx, ReadSource(&cancellingSource{ChunkReader: snap, at: 3, cancel: cancel}, 2), r1, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("fetch = %v, want context.Canceled", err)
	}
	if err := r1.Close(); err != nil {
		t.Fatal(err)
	}
	if got := storetest.Stats(t, dst); got.Messages != 0 {
		t.Errorf("cancelled transfer changed the target: %+v", got)
	}
	r2, err := NewReceiver(dst, snap.Manifest())
	if err != nil {
		t.Fatal(err)
	}
	if r2.Resumed() < 2 {
		t.Errorf("resumed %d chunks, want at least the 2 read before the cancel", r2.Resumed())
	}
	if err := fetch(context.Background(), ReadSource(snap, 2), r2, nil); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if _, err := r2.Commit(context.Background()); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if got := storetest.Stats(t, dst); got != want {
		t.Errorf("target %+v, want %+v", got, want)
	}
	// Abort of a fresh receiver leaves the home as it is.
	before := treetest.Tree(t, dst.Home())
	r3, err := NewReceiver(dst, snap.Manifest())
	if err != nil {
		t.Fatal(err)
	}
	if err := r3.Abort(); err != nil {
		t.Fatal(err)
	}
	treetest.Same(t, "after abort", treetest.Tree(t, dst.Home()), before)
}

// TestPasswordArchive: a password archive opens with the password, and
// with the key Export returned.
func TestPasswordArchive(t *testing.T) {
	ctx := context.Background()
	src := storetest.New(t)
	want := storetest.Seed(t, src, 300, 256<<10, 10)
	arc, ex := exportBytes(t, src, ExportOptions{Password: []byte("correct horse"), Params: fastParams})
	for _, opts := range []ImportOptions{{Password: []byte("correct horse")}, {Key: &ex.Key}} {
		dst := storetest.New(t)
		if _, err := Import(ctx, bytes.NewReader(arc), dst, opts); err != nil {
			t.Fatalf("Import(password %t): %v", opts.Key == nil, err)
		}
		if got := storetest.Stats(t, dst); got != want {
			t.Errorf("target %+v, want %+v", got, want)
		}
	}
}

// TestCommitInterrupted: a commit stopped by its context keeps what was
// staged; a new receiver resumes with nothing left to fetch.
func TestCommitInterrupted(t *testing.T) {
	ctx := context.Background()
	src := storetest.New(t)
	want := storetest.Seed(t, src, 300, 512<<10, 16)
	snap, err := snapshot(ctx, src, t.TempDir(), testChunk)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	dst := storetest.New(t)
	r1, err := NewReceiver(dst, snap.Manifest())
	if err != nil {
		t.Fatal(err)
	}
	if err := fetch(ctx, ReadSource(snap, 2), r1, nil); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := r1.Commit(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Commit with a cancelled context = %v, want context.Canceled", err)
	}
	data, err := snap.ReadChunk(ctx, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r1.Put(0, data); !errors.Is(err, ErrClosed) {
		t.Errorf("Put after failed Commit = %v, want ErrClosed", err)
	}
	if got := storetest.Stats(t, dst); got.Messages != 0 {
		t.Errorf("interrupted commit changed the target: %+v", got)
	}
	r2, err := NewReceiver(dst, snap.Manifest())
	if err != nil {
		t.Fatal(err)
	}
	if got := r2.Missing(); len(got) != 0 {
		t.Errorf("after resume %d chunks missing, want 0", len(got))
	}
	if _, err := r2.Commit(ctx); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if got := storetest.Stats(t, dst); got != want {
		t.Errorf("target %+v, want %+v", got, want)
	}
}

// TestSourceChangedInPlace: the sender does not hash again the chunks of a
// file it hashed whole for the snapshot while the file is the same one
// (inode, size, modification time); a change that keeps all three is still
// caught, by the receiver, which refuses the chunk.
func TestSourceChangedInPlace(t *testing.T) {
	ctx := context.Background()
	_, snap, first, path, fi := changedSnap(t, func(mf MediaFile) bool { return len(mf.Chunks) > 1 })
	m := snap.Manifest()
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	data, err := snap.ReadChunk(ctx, first, nil)
	if err != nil {
		t.Fatalf("ReadChunk of a file changed in place, times kept: %v (the stat check was meant to pass it)", err)
	}
	r, err := NewReceiver(storetest.New(t), m)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Abort()
	if err := r.Put(first, data); !errors.Is(err, ErrChunkCorrupt) {
		t.Errorf("receiver's Put of the changed chunk = %v, want ErrChunkCorrupt", err)
	}
	// Another modification time: the sender hashes again and says so.
	if err := os.Chtimes(path, fi.ModTime().Add(time.Second), fi.ModTime().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := snap.ReadChunk(ctx, first, nil); !errors.Is(err, ErrSourceChanged) {
		t.Errorf("ReadChunk of a changed file = %v, want ErrSourceChanged", err)
	}
}
