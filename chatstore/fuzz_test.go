package chatstore

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// smallDB builds a small valid history database (1 KiB pages, rollback
// journal) from a seeded store and returns its bytes and stats.
func smallDB(t testing.TB) ([]byte, Stats) {
	ctx := context.Background()
	src, want := seeded(t, SeedOptions{Messages: 40, MediaBytes: 64 << 10, Seed: 1})
	snap := snapshot(t, src)
	p := filepath.Join(t.TempDir(), "small.db")
	db, err := openSQL(p, false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "PRAGMA page_size=1024"); err != nil {
		t.Fatal(err)
	}
	if err := migrate(ctx, conn, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "ATTACH DATABASE ? AS snap", snap); err != nil {
		t.Fatal(err)
	}
	for _, q := range digestQueries {
		if _, err := conn.ExecContext(ctx, "INSERT INTO main."+q.table+" SELECT * FROM snap."+q.table); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.ExecContext(ctx, "DETACH DATABASE snap"); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	db.Close()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b, want
}

// FuzzStatsOf feeds mutated database files to every function that reads a
// database file from disk: each must return cleanly, never panic, and a
// valid file must give back the stats of the store it came from.
func FuzzStatsOf(f *testing.F) {
	valid, want := smallDB(f)
	f.Add(valid)
	f.Add(valid[:len(valid)/2])
	f.Add(valid[:100])
	f.Add([]byte("SQLite format 3\x00"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		home := t.TempDir()
		p := filepath.Join(home, DBName)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		st, err := StatsOf(ctx, p)
		if string(data) == string(valid) && (err != nil || st != want) {
			t.Fatalf("valid file: got %+v, %v; want %+v", st, err, want)
		}
		ListAttachments(ctx, p)
		validateSnapshot(ctx, p)
		if err != nil {
			// Opening it as a home would fail the same way, only after
			// waiting out its longer lock timeout.
			return
		}
		if s, err := Open(ctx, home, Options{ReadOnly: true}); err == nil {
			s.Stats(ctx)
			s.Close()
		}
	})
}
