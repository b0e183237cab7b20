package chatstore

import (
	"context"
	"path/filepath"
	"testing"
)

// newStore creates an empty store in a fresh temporary home.
func newStore(t testing.TB) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "home"), Options{Create: true})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// seedOptions are chatstore/seed's Options, as far as these tests use them.
type seedOptions struct {
	Messages   int
	MediaBytes int64
	Seed       uint64
}

// SeedForTest is chatstore/seed's Add, which seedhook_test.go (package
// chatstore_test) sets before any test runs: this package's own tests cannot
// import seed, which imports chatstore, yet most of them need a realistic
// history and the internals they check (the index's state, the schema,
// SQLite connections).
var SeedForTest func(ctx context.Context, s *Store, messages int, mediaBytes int64, seed uint64) (Stats, error)

// addSeed adds a seeded history to s.
func addSeed(ctx context.Context, s *Store, o seedOptions) (Stats, error) {
	return SeedForTest(ctx, s, o.Messages, o.MediaBytes, o.Seed)
}

// seeded creates a store seeded with opts.
func seeded(t testing.TB, opts seedOptions) (*Store, Stats) {
	t.Helper()
	s := newStore(t)
	st, err := addSeed(context.Background(), s, opts)
	if err != nil {
		t.Fatalf("Seed: %v", err)
	}
	return s, st
}

// snapshot writes a snapshot of s into a fresh temporary file.
func snapshot(t testing.TB, s *Store) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "snap.db")
	if err := s.Snapshot(context.Background(), p); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	return p
}

func mustStats(t testing.TB, s *Store) Stats {
	t.Helper()
	st, err := s.Stats(context.Background())
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	return st
}
