package chatstore

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// Known-answer files: history databases that an earlier Ferry wrote, one per
// schema version, kept in testdata/kat with the Stats (digest included) they
// hold. Today's code must open each (migrating it forward) and find the same
// history: a migration or a digest change that breaks what an older version
// wrote fails here. A new schema version adds a file; the old ones stay.
// Written by `FERRY_WRITE_KAT=1 go test -run TestWriteKAT ./chatstore`.
const katDir = "testdata/kat"

func TestWriteKAT(t *testing.T) {
	if os.Getenv("FERRY_WRITE_KAT") == "" {
		t.Skip("writes testdata/kat only with FERRY_WRITE_KAT=1 (never for a schema version already there)")
	}
	s, st := seeded(t, seedOptions{Messages: 200, MediaBytes: 64 << 10, Seed: 7})
	name := filepath.Join(katDir, "history-v"+strconv.Itoa(schemaVersion())+".db")
	if err := os.MkdirAll(katDir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Remove(name)
	if err := s.Snapshot(context.Background(), name); err != nil {
		t.Fatal(err)
	}
	b, _ := json.MarshalIndent(st, "", "  ")
	if err := os.WriteFile(name+".json", append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestKnownHistories opens every known history database in a home of its own
// (migrated to today's schema version), merges it and adopts it as a
// snapshot, and checks the Stats and digest of each.
func TestKnownHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(katDir, "history-v*.db"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no known-answer histories in %s (%v)", katDir, err)
	}
	ctx := context.Background()
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			var want Stats
			b, err := os.ReadFile(f + ".json")
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatal(err)
			}
			db, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			home := filepath.Join(t.TempDir(), "home")
			if err := os.MkdirAll(home, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(home, DBName), db, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Open(ctx, home, Options{})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			if got := mustStats(t, s); got != want {
				t.Errorf("history: got %+v, want %+v", got, want)
			}
			db2, err := s.handle()
			if err != nil {
				t.Fatal(err)
			}
			if v, err := schemaVersionOf(ctx, db2, "main"); err != nil || v != schemaVersion() {
				t.Errorf("the home's database after Open: schema version %d (%v), want %d", v, err, schemaVersion())
			}

			// The same file as a snapshot an older sender, archive or
			// backup delivers: merged, and adopted, it is the same history.
			snap := filepath.Join(t.TempDir(), "snap.db")
			if err := os.WriteFile(snap, db, 0o600); err != nil {
				t.Fatal(err)
			}
			merged := newStore(t)
			if _, err := merged.Merge(ctx, snap); err != nil {
				t.Fatalf("Merge: %v", err)
			}
			if got := mustStats(t, merged); got != want {
				t.Errorf("merged: got %+v, want %+v", got, want)
			}
			adopted := newStore(t)
			if err := adopted.Adopt(ctx, snap); err != nil {
				t.Fatalf("Adopt: %v", err)
			}
			if got := mustStats(t, adopted); got != want {
				t.Errorf("adopted: got %+v, want %+v", got, want)
			}
		})
	}
}
