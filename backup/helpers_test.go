package backup

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/ferryhq/ferry/chatstore"
	chatseed "github.com/ferryhq/ferry/chatstore/seed"
	"github.com/ferryhq/ferry/internal/archive"
	"github.com/ferryhq/ferry/internal/scratch/scratchtest"
)

// A backup snapshots the history in the temporary directory: none may be
// left behind.
func TestMain(m *testing.M) { os.Exit(scratchtest.Main(m, "ferry-snapshot")) }

// testChunk is small so that small histories still make many chunks and
// media files that span several of them.
const testChunk = 64 << 10

// katDir holds the known-answer vaults (see kat_test.go).
const katDir = "testdata/kat"

func newStore(t testing.TB) *chatstore.Store {
	t.Helper()
	return openStore(t, filepath.Join(t.TempDir(), "home"), chatstore.Options{Create: true})
}

func seed(t testing.TB, s *chatstore.Store, msgs int, media int64, seedv uint64) chatstore.Stats {
	t.Helper()
	st, err := chatseed.Add(context.Background(), s, chatseed.Options{Messages: msgs, MediaBytes: media, Seed: seedv})
	if err != nil {
		t.Fatalf("Seed: %v", err)
	}
	return st
}

func stats(t testing.TB, s *chatstore.Store) chatstore.Stats {
	t.Helper()
	st, err := s.Stats(context.Background())
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	return st
}

func openStore(t testing.TB, home string, opts chatstore.Options) *chatstore.Store {
	t.Helper()
	s, err := chatstore.Open(context.Background(), home, opts)
	if err != nil {
		t.Fatalf("Open %s: %v", home, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func testKey(t testing.TB) *archive.Key {
	t.Helper()
	k, err := archive.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return &k
}
