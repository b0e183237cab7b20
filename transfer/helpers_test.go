package transfer

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/ferryhq/ferry/chatstore"
	chatseed "github.com/ferryhq/ferry/chatstore/seed"
	"github.com/ferryhq/ferry/internal/archive"
)

// testChunk is small so that small histories still make many chunks and
// media files that span several of them.
const testChunk = 64 << 10

func openStore(t testing.TB, home string, opts chatstore.Options) *chatstore.Store {
	t.Helper()
	s, err := chatstore.Open(context.Background(), home, opts)
	if err != nil {
		t.Fatalf("Open %s: %v", home, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

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

// readOnly reopens a store's home read-only (closing s), as a sender does.
func readOnly(t testing.TB, s *chatstore.Store) *chatstore.Store {
	t.Helper()
	home := s.Home()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return openStore(t, home, chatstore.Options{ReadOnly: true})
}

// exportBytes exports s into memory with key.
func exportBytes(t testing.TB, s *chatstore.Store, opts ExportOptions) ([]byte, ExportResult) {
	t.Helper()
	if opts.chunkSize == 0 {
		opts.chunkSize = testChunk
	}
	if opts.WorkDir == "" {
		opts.WorkDir = t.TempDir()
	}
	var buf bytes.Buffer
	res, err := Export(context.Background(), s, &buf, opts)
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	return buf.Bytes(), res
}

func testKey(t testing.TB) *archive.Key {
	t.Helper()
	k, err := archive.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return &k
}

// fastParams keep password tests quick.
var fastParams = archive.Params{Time: 1, MemoryKiB: 64, Threads: 1}

// manifestOf reads the manifest of an archive.
func manifestOf(t testing.TB, arc []byte, key *archive.Key) *Manifest {
	t.Helper()
	ar, err := archive.NewReader(bytes.NewReader(arc))
	if err != nil {
		t.Fatal(err)
	}
	if err := ar.Unlock(*key); err != nil {
		t.Fatal(err)
	}
	b, err := ar.Next()
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseManifest(b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
