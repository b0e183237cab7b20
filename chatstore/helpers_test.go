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

// seeded creates a store seeded with opts.
func seeded(t testing.TB, opts SeedOptions) (*Store, Stats) {
	t.Helper()
	s := newStore(t)
	st, err := Seed(context.Background(), s, opts)
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
