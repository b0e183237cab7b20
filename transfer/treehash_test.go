package transfer

import (
	"errors"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"lukechampine.com/blake3"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/chatstore/storetest"
	"github.com/ferryhq/ferry/internal/treetest"
)

// TestTreeRoot: the whole-file hash assembled from per-chunk chaining
// values equals BLAKE3 of the file, for sizes around every boundary.
func TestTreeRoot(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 20<<10*8+3000)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	for _, cs := range []int{4 << 10, 8 << 10, 64 << 10} {
		if !treeable(cs) {
			t.Fatalf("treeable(%d) = false", cs)
		}
		for _, size := range []int{cs + 1, cs + 1023, cs + 1024, cs + 1025, 2 * cs, 2*cs + 1, 3*cs - 1, 5*cs + 77, 7 * cs, len(data)} {
			if size > len(data) {
				continue
			}
			file := data[:size]
			n := chunkCount(int64(size), cs)
			var cvs []chatstore.Hash
			for j := 0; j < n-1; j++ {
				cvs = append(cvs, pieceCV(file[j*cs:(j+1)*cs], j))
			}
			got := treeRoot(cvs, cs, file[(n-1)*cs:])
			if want := chatstore.Hash(blake3.Sum256(file)); got != want {
				t.Errorf("chunk %d, size %d: tree root %x, want %x", cs, size, got[:8], want[:8])
			}
		}
	}
	// The chunk size Ferry writes, on a file of two and a bit chunks.
	big := make([]byte, 2*DefaultChunkSize+5000)
	for i := range big {
		big[i] = byte(rng.Uint32())
	}
	cvs := []chatstore.Hash{pieceCV(big[:DefaultChunkSize], 0), pieceCV(big[DefaultChunkSize:2*DefaultChunkSize], 1)}
	if got, want := treeRoot(cvs, DefaultChunkSize, big[2*DefaultChunkSize:]), chatstore.Hash(blake3.Sum256(big)); got != want {
		t.Errorf("4 MiB chunks: tree root %x, want %x", got[:8], want[:8])
	}
	for _, cs := range []int{5000, 3 << 10, 12 << 10} {
		if treeable(cs) {
			t.Errorf("treeable(%d) = true", cs)
		}
	}
}

// TestLyingManifest: a manifest whose chunk hashes do not add up to the
// file hash it claims (a buggy or hostile sender) is caught at commit, and
// nothing is installed.
func TestLyingManifest(t *testing.T) {
	for _, cs := range []int{testChunk, testChunk + 4096} { // tree path and re-hash path
		ctx := t.Context()
		src := storetest.New(t)
		storetest.Seed(t, src, 200, 2<<20, 17)
		snap, err := snapshot(ctx, src, t.TempDir(), cs)
		if err != nil {
			t.Fatal(err)
		}
		defer snap.Close()
		m := snap.Manifest()
		media := slices.Clone(m.Media)
		f := slices.IndexFunc(media, func(mf MediaFile) bool { return len(mf.Chunks) > 1 })
		if f < 0 {
			t.Fatal("no multi-chunk media file")
		}
		media[f].Hash[31] ^= 1
		liar, err := NewManifest(m.SnapshotID, m.Stats, m.ChunkSize, m.DBSize, m.DBChunks, media)
		if err != nil {
			t.Fatalf("NewManifest: %v", err)
		}
		dst := storetest.New(t)
		before := treetest.Tree(t, dst.Home())
		r, err := NewReceiver(dst, liar)
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range r.Missing() {
			data, err := snap.ReadChunk(ctx, i, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Put(i, data); err != nil {
				t.Fatalf("Put %d: %v", i, err)
			}
		}
		if _, err := r.Commit(ctx); !errors.Is(err, ErrDigestMismatch) {
			t.Fatalf("chunk size %d: Commit = %v, want ErrDigestMismatch", cs, err)
		}
		after := treetest.Tree(t, dst.Home())
		for p := range after {
			if _, ok := before[p]; !ok && !strings.HasPrefix(p, chatstore.MediaDir) {
				t.Errorf("chunk size %d: %s appeared", cs, p)
			}
		}
		if dst.HasMedia(media[f].Hash, media[f].Size) {
			t.Errorf("chunk size %d: the lying file was installed", cs)
		}
		treetest.Empty(t, filepath.Join(dst.Home(), StagingDir))
	}
}
