package transfer

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/chatstore/storetest"
	"github.com/ferryhq/ferry/internal/strictjson"
)

// migrate moves snap into dst through Pull and returns the result.
func migrate(t *testing.T, snap *Snap, dst *chatstore.Store) Result {
	t.Helper()
	recv, err := NewReceiver(dst, snap.Manifest())
	if err != nil {
		t.Fatal(err)
	}
	res, err := Pull(context.Background(), ReadSource(snap, 2), recv, PullOptions{})
	if err != nil {
		t.Fatalf("Pull: %v", err)
	}
	return res
}

// cached snapshots src with Cache, as a send does.
func cached(t *testing.T, src HistorySource) *Snap {
	t.Helper()
	snap, err := SnapshotWith(context.Background(), src, SnapshotOptions{WorkDir: t.TempDir(), ChunkSize: testChunk, Cache: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { snap.Close() })
	return snap
}

// TestSecondMigrationMovesNothing: a second send of an unchanged history
// offers the snapshot kept by the first (nothing is made or hashed again),
// and the receiver, unchanged since it took that snapshot in, fetches and
// merges nothing. A change on either side makes the next migration a real
// one again, which carries the change.
func TestSecondMigrationMovesNothing(t *testing.T) {
	ctx := context.Background()
	src := storetest.New(t)
	want := storetest.Seed(t, src, testMsgs, testMedia, 31)
	ro := storetest.ReadOnly(t, src) // a sender opens its history read-only
	dst := storetest.New(t)

	first := cached(t, ro)
	if first.kept != true || first.dir != filepath.Join(src.Home(), SendCacheDir) {
		t.Fatalf("first snapshot not kept in the home (dir %s)", first.dir)
	}
	res := migrate(t, first, dst)
	if res.UpToDate || res.Target != want {
		t.Fatalf("first migration: up to date %v, target %+v, want %+v", res.UpToDate, res.Target, want)
	}
	if _, err := os.Stat(filepath.Join(dst.Home(), ReceivedFile)); err != nil {
		t.Fatalf("no %s after a commit: %v", ReceivedFile, err)
	}
	first.Close()
	if _, err := os.Stat(filepath.Join(src.Home(), SendCacheDir, dbzFile)); err != nil {
		t.Fatalf("Close removed the kept snapshot: %v", err)
	}
	// It is the history in plaintext: its owner's only, like the home.
	filepath.WalkDir(filepath.Join(src.Home(), SendCacheDir), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := d.Info()
		if want := os.FileMode(0o600); d.IsDir() && fi.Mode().Perm() != 0o700 || !d.IsDir() && fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want private", p, fi.Mode())
		}
		return nil
	})

	// The kept snapshot is offered again: the same manifest, and its files
	// were not made anew (their modification time is the first one's).
	fi, _ := os.Stat(filepath.Join(src.Home(), SendCacheDir, dbzFile))
	second := cached(t, ro)
	if second.Manifest().Root() != first.Manifest().Root() || !second.kept {
		t.Fatal("the second snapshot of an unchanged history is not the kept one")
	}
	if fi2, _ := os.Stat(filepath.Join(src.Home(), SendCacheDir, dbzFile)); !fi2.ModTime().Equal(fi.ModTime()) {
		t.Fatal("the kept snapshot was written again")
	}
	if upToDate(dst, second.Manifest()) == nil {
		t.Fatal("not up to date with the manifest the receiver took in")
	}
	src2 := &countingSource{ChunkReader: second}
	recv, err := NewReceiver(dst, second.Manifest())
	if err != nil {
		t.Fatal(err)
	}
	if n := len(recv.Missing()); n != 0 {
		t.Fatalf("%d chunks missing for a history the receiver holds", n)
	}
	res, err = Pull(ctx, ReadSource(src2, 2), recv, PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.UpToDate || res.Target != want || res.ReceivedBytes != 0 || len(src2.fetched) != 0 {
		t.Fatalf("second migration: up to date %v, target %+v, %d bytes, fetched %v", res.UpToDate, res.Target, res.ReceivedBytes, src2.fetched)
	}
	if _, err := os.Stat(filepath.Join(dst.Home(), StagingDir)); !os.IsNotExist(err) {
		t.Fatalf("an up-to-date receive left staging: %v", err)
	}

	// The receiver changes (a merge of other history): the same offer is
	// received for real again.
	other := storetest.New(t)
	storetest.Seed(t, other, 50, 0, 32)
	os.RemoveAll(filepath.Join(other.Home(), SendCacheDir))
	migrate(t, cached(t, other), dst)
	if upToDate(dst, second.Manifest()) != nil {
		t.Fatal("up to date after the receiver's history changed")
	}
	res = migrate(t, second, dst)
	if res.UpToDate {
		t.Fatal("up to date after the receiver's history changed")
	}

	// The sender's history changes: the kept snapshot goes at once, and
	// the next one holds the change.
	w := storetest.Open(t, src.Home(), chatstore.Options{}) // a writer beside the sender's reader
	storetest.Seed(t, w, 10, 0, 33)
	if _, err := os.Stat(filepath.Join(src.Home(), SendCacheDir)); !os.IsNotExist(err) {
		t.Fatalf("a change of the history left the kept snapshot: %v", err)
	}
	third := cached(t, ro)
	if third.Manifest().Root() == first.Manifest().Root() {
		t.Fatal("a changed history offered the old snapshot")
	}
	if third.Manifest().Stats != storetest.Stats(t, w) {
		t.Fatal("the new snapshot does not hold the change")
	}
	res = migrate(t, third, dst)
	if res.UpToDate || res.Added.Messages != 10 {
		t.Fatalf("migration of the change: up to date %v, added %d messages, want 10", res.UpToDate, res.Added.Messages)
	}
}

// TestKeptSnapshotDamaged: a kept snapshot whose bytes changed on the disk
// is not served (the chunk fails as a changed source, and the kept
// snapshot goes), and one whose state file names another state of the
// history is not offered.
func TestKeptSnapshotDamaged(t *testing.T) {
	ctx := context.Background()
	src := storetest.New(t)
	storetest.Seed(t, src, testMsgs, 0, 34)
	ro := storetest.ReadOnly(t, src)
	first := cached(t, ro)
	root := first.Manifest().Root()
	first.Close()

	dbz := filepath.Join(src.Home(), SendCacheDir, dbzFile)
	b, err := os.ReadFile(dbz)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(dbz, b, 0o600); err != nil {
		t.Fatal(err)
	}
	s := cached(t, ro)
	if !s.kept || s.Manifest().Root() != root {
		t.Fatal("the kept snapshot was not offered")
	}
	var bad bool
	for i := range s.Manifest().DBChunks {
		if _, err := s.ReadChunk(ctx, i, nil); err != nil {
			if !errors.Is(err, ErrSourceChanged) {
				t.Fatalf("chunk %d: %v, want ErrSourceChanged", i, err)
			}
			bad = true
		}
	}
	if !bad {
		t.Fatal("a damaged kept chunk was served")
	}
	if _, err := os.Stat(filepath.Join(src.Home(), SendCacheDir)); !os.IsNotExist(err) {
		t.Fatal("a damaged kept snapshot stayed")
	}
	s.Close()

	// Another state: the kept snapshot is not offered, a new one is made.
	cached(t, ro).Close()
	state := filepath.Join(src.Home(), SendCacheDir, cacheState)
	var ks keptState
	if err := readJSON(state, &ks); err != nil {
		t.Fatal(err)
	}
	ks.State += "0"
	b, _ = json.Marshal(ks)
	if err := os.WriteFile(state, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := openKept(ro, src.Home(), mustState(t, ro)); err == nil {
		t.Fatal("a kept snapshot of another state opened")
	}
}

func mustState(t *testing.T, s *chatstore.Store) chatstore.State {
	t.Helper()
	st, err := s.State(context.Background())
	if err != nil || st == "" {
		t.Fatalf("State: %q, %v", st, err)
	}
	return st
}

// TestAgainFormats freezes the kept snapshot's state file and the receive
// record (testdata/send-cache-state-v1.json, received-v1.json): this
// version reads what the first wrote, and writes the same bytes.
func TestAgainFormats(t *testing.T) {
	for _, tt := range []struct {
		file string
		v    any
		want any
	}{
		{"testdata/send-cache-state-v1.json", &keptState{}, &keptState{Version: 1,
			State: "1 u:2049:1234567 1048576 1765100000123456789 -",
			Root:  "9f1c0e7d2b6a5c4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e"}},
		{"testdata/received-v1.json", &received{}, &received{Version: 1,
			Root:  "9f1c0e7d2b6a5c4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e",
			State: "1 u:2049:7654321 2097152 1765100000987654321 4152:377f0682002de218000000010000000112345678abcdef0011223344",
			Target: chatstore.Stats{Conversations: 3, Messages: 1500, Attachments: 40, MediaBytes: 1234567,
				Digest: "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"}}},
	} {
		if err := readJSON(tt.file, tt.v); err != nil {
			t.Fatalf("%s: %v", tt.file, err)
		}
		got, _ := json.Marshal(tt.v)
		want, _ := json.Marshal(tt.want)
		if string(got) != string(want) {
			t.Errorf("%s read as %s, want %s", tt.file, got, want)
		}
		b, _ := os.ReadFile(tt.file)
		if string(b) != string(want) {
			t.Errorf("%s: this version writes %s", tt.file, want)
		}
	}
}

// TestHoldsNeedsTheSameManifest: a (hostile) sender that offers another
// history under the snapshot ID of the one the receiver took in last is
// received for real: the receiver skips only the manifest whose root hash
// its own commit verified.
func TestHoldsNeedsTheSameManifest(t *testing.T) {
	src := storetest.New(t)
	storetest.Seed(t, src, testMsgs, 0, 35)
	dst := storetest.New(t)
	first := cached(t, src)
	migrate(t, first, dst)
	m := first.Manifest()
	if upToDate(dst, m) == nil {
		t.Fatal("not up to date with the manifest just taken in")
	}
	other := storetest.New(t)
	storetest.Seed(t, other, 20, 0, 36)
	o := cached(t, other).Manifest()
	fake, err := NewManifest(m.SnapshotID, o.Stats, o.ChunkSize, o.DBSize, o.DBChunks, o.Media)
	if err != nil {
		t.Fatal(err)
	}
	if upToDate(dst, fake) != nil {
		t.Fatal("up to date with another history under the same snapshot ID")
	}
	recv, err := NewReceiver(dst, fake)
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Abort()
	if len(recv.Missing()) == 0 {
		t.Fatal("nothing to fetch of another history under the same snapshot ID")
	}
}

// TestMergeIntoSubsetOfSnapshot: a merge into a home that held part of the
// snapshot's history ends with the snapshot's digest; the containment
// check, which the commit then skips (equal digests are equal rows), would
// have passed.
func TestMergeIntoSubsetOfSnapshot(t *testing.T) {
	src := storetest.New(t)
	half := storetest.Seed(t, src, testMsgs/2, testMedia/2, 37)
	dst := storetest.New(t)
	migrate(t, cached(t, src), dst)
	want := storetest.Seed(t, src, testMsgs/2, testMedia/2, 38)
	if want == half {
		t.Fatal("the second seed changed nothing")
	}
	res := migrate(t, cached(t, src), dst)
	if res.Target != want || res.Added.Messages != int64(testMsgs/2) {
		t.Fatalf("target %+v, added %d; want %+v, %d", res.Target, res.Added.Messages, want, testMsgs/2)
	}
	file := filepath.Join(t.TempDir(), "snap.db")
	if err := src.Snapshot(context.Background(), file); err != nil {
		t.Fatal(err)
	}
	if err := dst.CheckContains(context.Background(), file); err != nil {
		t.Fatalf("the skipped containment check fails: %v", err)
	}
}

// TestMediaListed: a staged database is accepted only when the media files
// it refers to are exactly the manifest's (a hostile manifest that lists
// another file in place of one, or leaves one out, would have the commit
// install the wrong files, and the containment check is skipped when the
// digests match).
func TestMediaListed(t *testing.T) {
	src := storetest.New(t)
	storetest.Seed(t, src, testMsgs, testMedia, 39)
	m := cached(t, src).Manifest()
	if len(m.Media) < 2 {
		t.Fatal("too few media files in the test history")
	}
	file := filepath.Join(t.TempDir(), "snap.db")
	if err := src.Snapshot(context.Background(), file); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := (&Receiver{m: m}).mediaListed(ctx, file); err != nil {
		t.Fatalf("the manifest of the same history: %v", err)
	}
	swapped := append([]MediaFile(nil), m.Media...)
	swapped[0].Hash[0] ^= 1
	for name, media := range map[string][]MediaFile{"swapped": swapped, "one left out": m.Media[1:]} {
		fake := *m
		fake.Media = media
		if err := (&Receiver{m: &fake}).mediaListed(ctx, file); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// FuzzAgainRecords: the kept snapshot's state file and the receive record
// are read from the home; any bytes decode to a record or an error, and a
// record that decodes encodes back to bytes that decode to it again.
func FuzzAgainRecords(f *testing.F) {
	for _, p := range []string{"testdata/send-cache-state-v1.json", "testdata/received-v1.json"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"version":1}{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		roundTrip[keptState](t, b)
		roundTrip[received](t, b)
	})
}

// roundTrip checks that a record of type T that b decodes to encodes back
// to bytes that decode to it again.
func roundTrip[T comparable](t *testing.T, b []byte) {
	var v T
	if strictjson.Unmarshal(b, &v) != nil {
		return
	}
	again, _ := json.Marshal(v)
	var w T
	if err := strictjson.Unmarshal(again, &w); err != nil || w != v {
		t.Fatalf("%q decoded to %+v; re-encoded %s: %v, %+v", b, v, again, err, w)
	}
}
