package backup

import (
	"os"
	"testing"

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

func testKey(t testing.TB) *archive.Key {
	t.Helper()
	k, err := archive.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return &k
}
