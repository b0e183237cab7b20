package chatstore

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
)

// indexMeta reads the index's state of s's home straight from the file.
func indexMeta(t *testing.T, s *Store) (st indexState, pending int64) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(s.Home(), IndexName)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st, err = readIndexState(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM pending`).Scan(&pending); err != nil {
		t.Fatal(err)
	}
	return st, pending
}

// uniqueWords is a fixture of a few messages with words no seeded message has.
func uniqueWords(t testing.TB, words ...string) *fixture {
	f := newFixture(t)
	me := f.contact("Me")
	conv := f.conv(Direct, "Words", me)
	for i, w := range words {
		f.msg(conv, me, i, "the word is "+w)
	}
	return f
}

// TestIndexKeptCurrentByMerge: after the index is built, a merge of a few
// new messages queues just those, and the next search finds them.
func TestIndexKeptCurrentByMerge(t *testing.T) {
	ctx := context.Background()
	s, _ := seeded(t, seedOptions{Messages: 3000, Seed: 1})
	ix := openIndex(t, s)
	if err := ix.Update(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if got := search(t, ix, "zanzibar"); len(got) != 0 {
		t.Fatalf("zanzibar found before the merge: %q", got)
	}
	uniqueWords(t, "zanzibar", "quokka").into(s)
	st, pending := indexMeta(t, s)
	if st.walk || pending != 2 || st.changing != 0 {
		t.Errorf("after merging 2 messages: walk %v, %d pending, %d changes under way; want no rebuild, 2 pending, none", st.walk, pending, st.changing)
	}
	if got := search(t, ix, "zanzibar"); !slices.Equal(got, []string{"the word is zanzibar"}) {
		t.Errorf("after the merge: zanzibar finds %q", got)
	}
	if n, err := ix.Behind(ctx); err != nil || n != 0 {
		t.Errorf("after a search: %d behind, %v", n, err)
	}
	// Seeding more (a large change) schedules a rebuild instead.
	if _, err := addSeed(ctx, s, seedOptions{Messages: 500, Seed: 2}); err != nil {
		t.Fatal(err)
	}
	if st, pending := indexMeta(t, s); st.walk || pending != 500 {
		t.Errorf("after seeding 500: walk %v, %d pending; want 500 pending", st.walk, pending)
	}
	if got := search(t, ix, "quokka"); len(got) != 1 {
		t.Errorf("after seeding: quokka finds %q", got)
	}
}

// TestIndexRebuilt: a missing, damaged, planted or foreign index is
// replaced and rebuilt, and finds the same as before.
func TestIndexRebuilt(t *testing.T) {
	ctx := context.Background()
	s, _ := seeded(t, seedOptions{Messages: 2000, Seed: 1})
	uniqueWords(t, "zanzibar").into(s)
	other, _ := seeded(t, seedOptions{Messages: 500, Seed: 9})
	uniqueWords(t, "wombat").into(other)
	oix := openIndex(t, other)
	if err := oix.Update(ctx, nil); err != nil {
		t.Fatal(err)
	}
	oix.Close()
	path := filepath.Join(s.Home(), IndexName)
	want := func(t *testing.T) []string {
		ix := openIndex(t, s)
		return search(t, ix, "word")
	}(t)
	if len(want) != 1 {
		t.Fatalf("word finds %q", want)
	}
	damage := map[string]func(t *testing.T){
		"deleted": func(t *testing.T) { removeIndex(path) },
		"garbage": func(t *testing.T) {
			removeIndex(path)
			if err := os.WriteFile(path, []byte(strings.Repeat("not a database ", 1000)), 0o600); err != nil {
				t.Fatal(err)
			}
		},
		"truncated": func(t *testing.T) {
			removeIndex(path + "-wal")
			if err := os.Truncate(path, 8192); err != nil {
				t.Fatal(err)
			}
		},
		"planted rows": func(t *testing.T) {
			db, err := sql.Open("sqlite", "file:"+path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			// A valid index with one more object: replaced, not used.
			for _, q := range []string{
				`INSERT INTO docs (n, id) VALUES (999999, x'00112233445566778899aabbccddeeff')`,
				`INSERT INTO fts (rowid, body) VALUES (999999, 'word planted')`,
				`CREATE TABLE evil (x)`,
			} {
				if _, err := db.Exec(q); err != nil {
					t.Fatal(err)
				}
			}
		},
		"from another history": func(t *testing.T) {
			removeIndex(path)
			copyFile(t, filepath.Join(other.Home(), IndexName), path)
		},
	}
	// In a fixed order, for what one case leaves is the next one's start: a
	// truncated file reads short (SQLITE_IOERR_SHORT_READ), which was not
	// taken for damage, and failed the case and every one after it.
	order := []string{"truncated", "deleted", "garbage", "planted rows", "from another history"}
	if len(order) != len(damage) {
		t.Fatalf("order names %d cases of %d", len(order), len(damage))
	}
	for _, name := range order {
		f := damage[name]
		t.Run(name, func(t *testing.T) {
			ix := openIndex(t, s)
			if err := ix.Update(ctx, nil); err != nil {
				t.Fatal(err)
			}
			ix.Close()
			f(t)
			ix = openIndex(t, s)
			if got := search(t, ix, "word"); !slices.Equal(got, want) {
				t.Errorf("word finds %q, want %q", got, want)
			}
			if got := search(t, ix, "wombat"); len(got) != 0 {
				t.Errorf("wombat, only in the other history, finds %q", got)
			}
			db, _ := sql.Open("sqlite", "file:"+path+"?mode=ro")
			defer db.Close()
			var n int
			if err := db.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE name = 'evil'`).Scan(&n); err != nil || n != 0 {
				t.Errorf("the planted table is still there (%d, %v)", n, err)
			}
		})
	}
}

// TestIndexAfterWriterCrash: a writer that stops between its commit and
// telling the index leaves a change counted; once no process holds the
// home, the next search rebuilds. While the writer lives, nothing is rebuilt.
func TestIndexAfterWriterCrash(t *testing.T) {
	ctx := context.Background()
	home := filepath.Join(t.TempDir(), "home")
	w, err := Open(ctx, home, Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := addSeed(ctx, w, seedOptions{Messages: 300, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	r, err := Open(ctx, home, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ix := openIndex(t, r)
	if err := ix.Update(ctx, nil); err != nil {
		t.Fatal(err)
	}
	// The writer's change commits, and it never gets to done.
	db, _ := w.handle()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w.trackChanges(ctx, conn)
	if _, err := conn.ExecContext(ctx, `UPDATE messages SET body = 'the word is crash' WHERE id = (SELECT min(id) FROM messages)`); err != nil {
		t.Fatal(err)
	}
	if got := search(t, ix, "crash"); len(got) != 0 {
		t.Errorf("writer alive: crash finds %q before it told the index", got)
	}
	if st, _ := indexMeta(t, r); st.walk || st.changing != 1 {
		t.Errorf("writer alive: walk %v, changing %d; want no rebuild, 1 change under way", st.walk, st.changing)
	}
	conn.Close()
	w.Close() // the lock goes as it would with the process
	if got := search(t, ix, "crash"); !slices.Equal(got, []string{"the word is crash"}) {
		t.Errorf("after the writer is gone: crash finds %q", got)
	}
	if st, _ := indexMeta(t, r); st.walk || st.changing != 0 {
		t.Errorf("after the rebuild: walk %v, changing %d", st.walk, st.changing)
	}
}

// TestIndexAdopt: a migration into an empty home adopts the snapshot file;
// the index starts over and finds its messages.
func TestIndexAdopt(t *testing.T) {
	ctx := context.Background()
	src, _ := seeded(t, seedOptions{Messages: 1000, Seed: 1})
	uniqueWords(t, "zanzibar").into(src)
	dst := newStore(t)
	ix := openIndex(t, dst)
	if got := search(t, ix, "zanzibar"); len(got) != 0 {
		t.Fatalf("empty store finds %q", got)
	}
	staged := filepath.Join(dst.Home(), "staged.db")
	if err := src.Snapshot(ctx, staged); err != nil {
		t.Fatal(err)
	}
	if err := dst.Adopt(ctx, staged); err != nil {
		t.Fatal(err)
	}
	if got := search(t, ix, "zanzibar"); len(got) != 1 {
		t.Errorf("after adopt: zanzibar finds %q", got)
	}
}

// TestIndexNotInDigestNorSnapshot: the index is not history. The digest is
// the same without it, with it and after it is gone, and a snapshot (what
// a migration sends) holds none of its tables.
func TestIndexNotInDigestNorSnapshot(t *testing.T) {
	ctx := context.Background()
	s, before := seeded(t, seedOptions{Messages: 2000, Seed: 1})
	ix := openIndex(t, s)
	if err := ix.Update(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if got := search(t, ix, "lunch"); len(got) == 0 {
		t.Fatal("lunch finds nothing")
	}
	if got := mustStats(t, s); got != before {
		t.Errorf("with the index: stats %+v, want %+v", got, before)
	}
	snap := snapshot(t, s)
	db, err := sql.Open("sqlite", "file:"+snap+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	if want := []string{"attachments", "contacts", "conversations", "messages", "participants", "reactions"}; !slices.Equal(tables, want) {
		t.Errorf("snapshot tables %q, want only the history's %q", tables, want)
	}
	ix.Close()
	removeIndex(filepath.Join(s.Home(), IndexName))
	if got := mustStats(t, s); got != before {
		t.Errorf("after removing the index: stats %+v, want %+v", got, before)
	}
	if st, err := StatsOf(ctx, snap); err != nil || st != before {
		t.Errorf("snapshot stats %+v, %v; want %+v", st, err, before)
	}
}

// TestIndexFileMode: the index holds the text of the history, so it is
// as private as the history.
func TestIndexFileMode(t *testing.T) {
	s, _ := seeded(t, seedOptions{Messages: 100, Seed: 1})
	ix := openIndex(t, s)
	if err := ix.Update(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{IndexName, IndexName + "-wal"} {
		fi, err := os.Stat(filepath.Join(s.Home(), name))
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m&0o077 != 0 {
			t.Errorf("%s has mode %v, want 0600", name, m)
		}
	}
}

// TestHostileSnapshotPlantsNoIndex: a sender's snapshot carrying tables
// named like the index's, full-text tables of its own and rows in them
// gets nothing into search: only messages are indexed, from their rows.
func TestHostileSnapshotPlantsNoIndex(t *testing.T) {
	ctx := context.Background()
	f := uniqueWords(t, "harmless")
	for _, q := range []string{
		`CREATE TABLE docs (n INTEGER PRIMARY KEY, id BLOB)`,
		`CREATE TABLE pending (id BLOB PRIMARY KEY) WITHOUT ROWID`,
		`CREATE VIRTUAL TABLE fts USING fts5(body)`,
		`INSERT INTO fts (rowid, body) VALUES (1, 'planted word')`,
		`INSERT INTO docs (n, id) SELECT 1, id FROM messages`,
		`INSERT INTO pending SELECT x'00112233445566778899aabbccddeeff'`,
	} {
		f.exec(q)
	}
	snap := f.snapshot()
	for _, how := range []string{"merge", "adopt"} {
		t.Run(how, func(t *testing.T) {
			s, _ := seeded(t, seedOptions{Messages: 200, Seed: 3})
			var err error
			if how == "adopt" {
				s = newStore(t)
				staged := filepath.Join(s.Home(), "staged.db")
				copyFile(t, snap, staged)
				err = s.Adopt(ctx, staged)
			} else {
				_, err = s.Merge(ctx, snap)
			}
			if err != nil {
				return // refused outright: nothing planted either
			}
			ix := openIndex(t, s)
			if got := search(t, ix, "planted"); len(got) != 0 {
				t.Errorf("planted finds %q", got)
			}
			if got := search(t, ix, "harmless"); len(got) != 1 {
				t.Errorf("harmless finds %q, want the real message", got)
			}
		})
	}
}

// TestIndexConcurrentUpdates: several updaters at once share the work and
// leave one correct index.
func TestIndexConcurrentUpdates(t *testing.T) {
	ctx := context.Background()
	s, _ := seeded(t, seedOptions{Messages: 6000, Seed: 1})
	uniqueWords(t, "zanzibar").into(s)
	g, gctx := errgroup.WithContext(ctx)
	for range 3 {
		g.Go(func() error {
			ix, err := OpenIndex(gctx, s)
			if err != nil {
				return err
			}
			defer ix.Close()
			return ix.Update(gctx, nil)
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	ix := openIndex(t, s)
	if got := search(t, ix, "zanzibar"); len(got) != 1 {
		t.Errorf("zanzibar finds %q", got)
	}
	var docs, fts int64
	db, _ := sql.Open("sqlite", "file:"+filepath.Join(s.Home(), IndexName)+"?mode=ro")
	defer db.Close()
	var want int64
	sdb, _ := s.handle()
	sdb.QueryRow(`SELECT count(*) FROM messages WHERE deleted = 0 AND body != ''`).Scan(&want)
	db.QueryRow(`SELECT count(*) FROM docs`).Scan(&docs)
	db.QueryRow(`SELECT count(*) FROM fts_docsize`).Scan(&fts)
	if docs != want || fts != want {
		t.Errorf("index holds %d docs and %d FTS rows, want %d each", docs, fts, want)
	}
}

// TestIndexUpdateResumes: a cancelled build keeps what it did.
func TestIndexUpdateResumes(t *testing.T) {
	s, _ := seeded(t, seedOptions{Messages: 5000, Seed: 1})
	ix := openIndex(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	var seen []int64
	err := ix.Update(ctx, func(done, total int64) {
		seen = append(seen, done)
		if done >= indexBatch {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled update: %v", err)
	}
	left, err := ix.Behind(context.Background())
	if err != nil || left <= 0 || left > 5000-indexBatch {
		t.Errorf("after cancelling: %d behind (%v); want the first batch kept", left, err)
	}
	start := time.Now()
	var total int64
	if err := ix.Update(context.Background(), func(done, tot int64) { total = tot }); err != nil {
		t.Fatal(err)
	}
	if total != left {
		t.Errorf("resumed update expected %d messages, want %d (%v)", total, left, time.Since(start))
	}
}
