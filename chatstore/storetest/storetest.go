// Package storetest opens, seeds and reads history stores for the tests of
// the packages above chatstore; each helper fails the test on error and
// closes what it opens when the test ends.
package storetest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/chatstore/seed"
)

// Open opens the store of home with opts.
func Open(t testing.TB, home string, opts chatstore.Options) *chatstore.Store {
	t.Helper()
	s, err := chatstore.Open(context.Background(), home, opts)
	if err != nil {
		t.Fatalf("Open %s: %v", home, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// New creates an empty store in a fresh temporary home.
func New(t testing.TB) *chatstore.Store {
	t.Helper()
	return Open(t, filepath.Join(t.TempDir(), "home"), chatstore.Options{Create: true})
}

// Seed adds a seeded history of msgs messages and about media bytes of
// attachments to s and returns s's Stats after.
func Seed(t testing.TB, s *chatstore.Store, msgs int, media int64, n uint64) chatstore.Stats {
	t.Helper()
	st, err := seed.Add(context.Background(), s, seed.Options{Messages: msgs, MediaBytes: media, Seed: n})
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
	return st
}

// Stats is s's Stats.
func Stats(t testing.TB, s *chatstore.Store) chatstore.Stats {
	t.Helper()
	st, err := s.Stats(context.Background())
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	return st
}

// ReadOnly closes s and reopens its home read-only, as a sender does.
func ReadOnly(t testing.TB, s *chatstore.Store) *chatstore.Store {
	t.Helper()
	home := s.Home()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return Open(t, home, chatstore.Options{ReadOnly: true})
}
