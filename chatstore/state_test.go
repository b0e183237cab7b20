package chatstore

import (
	"context"
	"os"
	"testing"
)

// TestStateNamesChanges: the State of a history stays the same while
// nothing changes it (across closes, which checkpoint, and read-only
// opens), and every change gives another — also a change that a checkpoint
// at close folds into the file right after the State was taken, within
// the same tick of the file system's clock (the State waits it out).
func TestStateNamesChanges(t *testing.T) {
	ctx := context.Background()
	s, _ := seeded(t, seedOptions{Messages: 200, Seed: 1})
	home := s.Home()
	state := func(s *Store) State {
		t.Helper()
		st, err := s.SettledState(ctx)
		if err != nil || st == "" {
			t.Fatalf("State: %q, %v", st, err)
		}
		return st
	}
	reopen := func(s *Store, opts Options) *Store {
		t.Helper()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s, err := Open(ctx, home, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	st := state(s)
	if again := state(s); again != st {
		t.Fatalf("State changed with nothing written: %q, then %q", st, again)
	}
	s = reopen(s, Options{})
	if again, err := s.State(ctx); again != st || err != nil {
		t.Fatalf("State changed by a close and an open: %q, then %q (%v)", st, again, err)
	}
	if again := state(s); again != st {
		t.Fatalf("SettledState changed by a close and an open: %q, then %q", st, again)
	}
	s = reopen(s, Options{ReadOnly: true})
	if again := state(s); again != st {
		t.Fatalf("State of a read-only open differs: %q, then %q", st, again)
	}
	s = reopen(s, Options{})
	seen := map[State]bool{st: true}
	for i := range 20 {
		before := state(s)
		// One message, then the close's checkpoint: the WAL is folded in
		// and removed, the file keeps its size.
		if _, err := addSeed(ctx, s, seedOptions{Messages: 1, Seed: uint64(100 + i)}); err != nil {
			t.Fatal(err)
		}
		s = reopen(s, Options{})
		after := state(s)
		if after == before || seen[after] {
			t.Fatalf("change %d: State %q came back after a write", i, after)
		}
		seen[after] = true
	}
	// Another file in its place (as Adopt puts one).
	before := state(s)
	s.Close()
	b, err := os.ReadFile(s.DBPath())
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(s.DBPath())
	if err := os.WriteFile(s.DBPath(), b, 0o600); err != nil {
		t.Fatal(err)
	}
	s = reopen(s, Options{ReadOnly: true})
	if state(s) == before {
		t.Fatal("State is the same for another file of the same bytes")
	}
}
