package transfer

import (
	"bytes"
	"context"
	"testing"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/internal/archive"
)

// testChunk is small so that small histories still make many chunks and
// media files that span several of them.
const testChunk = 64 << 10

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
