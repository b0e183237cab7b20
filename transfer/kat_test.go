package transfer

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/chatstore/storetest"
	"github.com/ferryhq/ferry/internal/archive"
)

// Known-answer files: bytes that an earlier Ferry wrote, kept in
// testdata/kat so that a change that can no longer read them fails here.
// They are written once, by `FERRY_WRITE_KAT=1 go test -run TestWriteKAT`,
// and then never again for the same format version: a new version adds new
// files beside the old ones, and the old ones must keep passing.
//
//	archive-v1-key.ferry        archive format 1, manifest format 1, sealed with a key
//	archive-v1-password.ferry   the same history, sealed with a password
//	manifest-v1.bin             the manifest inside both archives
//	staging-v1/                 a receiver's staging directory after the key
//	                            archive was cut off half way (manifest, journal
//	                            format 1, snapshot.db, media/)
//	kat.json                    the key, the password, the history's Stats and
//	                            what the staging holds
const katDir = "testdata/kat"

type katFacts struct {
	Key        string          `json:"key"`      // recovery string of archive-v1-key.ferry
	Password   string          `json:"password"` // of archive-v1-password.ferry
	Stats      chatstore.Stats `json:"stats"`    // the history both hold
	Chunks     int             `json:"chunks"`   // chunks in the manifest
	StagedID   string          `json:"staged_id"`
	Staged     int             `json:"staged"` // chunks the staging journal holds, verified
	ChunkSize  int             `json:"chunk_size"`
	MediaFiles int             `json:"media_files"`
}

func readKATFacts(t *testing.T) katFacts {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(katDir, "kat.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f katFacts
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestWriteKAT writes the known-answer files; it runs only when asked to.
func TestWriteKAT(t *testing.T) {
	if os.Getenv("FERRY_WRITE_KAT") == "" {
		t.Skip("writes testdata/kat only with FERRY_WRITE_KAT=1 (never for a format version already there)")
	}
	src := storetest.New(t)
	st := storetest.Seed(t, src, 60, 200<<10, 42)
	src = storetest.ReadOnly(t, src)
	key := testKey(t)
	arc, res := exportBytes(t, src, ExportOptions{Key: key})
	const password = "correct horse battery staple"
	parc, _ := exportBytes(t, src, ExportOptions{Password: []byte(password), Params: fastParams})
	m := manifestOf(t, arc, key)
	mb, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}

	// A cut-off import leaves the staging directory a resume reads.
	dst := storetest.New(t)
	_, err = Import(context.Background(), bytes.NewReader(arc[:len(arc)/2]), dst, ImportOptions{Key: key})
	if !errors.Is(err, ErrTruncated) {
		t.Fatalf("import of half an archive: %v, want ErrTruncated", err)
	}
	id := hex.EncodeToString(m.SnapshotID[:])
	recv, err := NewReceiver(dst, m)
	if err != nil {
		t.Fatal(err)
	}
	staged := recv.Resumed()
	recv.Close()

	if err := os.RemoveAll(katDir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(katDir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(katDir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("archive-v1-key.ferry", arc)
	write("archive-v1-password.ferry", parc)
	write("manifest-v1.bin", mb)
	if err := os.CopyFS(filepath.Join(katDir, "staging-v1"), os.DirFS(filepath.Join(dst.Home(), StagingDir, id))); err != nil {
		t.Fatal(err)
	}
	facts, _ := json.MarshalIndent(katFacts{
		Key: key.RecoveryString(), Password: password, Stats: st, Chunks: res.Chunks,
		StagedID: id, Staged: staged, ChunkSize: testChunk, MediaFiles: len(m.Media),
	}, "", "  ")
	write("kat.json", append(facts, '\n'))
}

// TestKnownArchives imports the archives an earlier Ferry wrote, with the key
// and with the password, and finds the history they hold.
func TestKnownArchives(t *testing.T) {
	f := readKATFacts(t)
	key, err := archive.ParseRecoveryKey(f.Key)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file string
		opts ImportOptions
	}{
		{"archive-v1-key.ferry", ImportOptions{Key: &key}},
		{"archive-v1-password.ferry", ImportOptions{Password: []byte(f.Password)}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(katDir, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			dst := storetest.New(t)
			res, err := Import(context.Background(), bytes.NewReader(b), dst, tc.opts)
			if err != nil {
				t.Fatalf("Import: %v", err)
			}
			if res.Chunks != f.Chunks {
				t.Errorf("chunks: got %d, want %d", res.Chunks, f.Chunks)
			}
			if got := storetest.Stats(t, dst); got != f.Stats {
				t.Errorf("imported history: got %+v, want %+v", got, f.Stats)
			}
		})
	}
}

// TestKnownManifest parses the manifest an earlier Ferry wrote and writes it
// again byte for byte: today's writer and reader agree with version 1.
func TestKnownManifest(t *testing.T) {
	f := readKATFacts(t)
	b, err := os.ReadFile(filepath.Join(katDir, "manifest-v1.bin"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseManifest(b)
	if err != nil {
		t.Fatalf("ParseManifest: %v", err)
	}
	if m.Stats != f.Stats || m.NumChunks() != f.Chunks || m.ChunkSize != f.ChunkSize || len(m.Media) != f.MediaFiles {
		t.Errorf("manifest: stats %+v, %d chunks of %d, %d media; want %+v, %d of %d, %d",
			m.Stats, m.NumChunks(), m.ChunkSize, len(m.Media), f.Stats, f.Chunks, f.ChunkSize, f.MediaFiles)
	}
	if got := hex.EncodeToString(m.SnapshotID[:]); got != f.StagedID {
		t.Errorf("snapshot ID %s, want %s", got, f.StagedID)
	}
	again, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, b) {
		t.Errorf("the manifest written again differs from version 1's bytes (%d vs %d bytes)", len(again), len(b))
	}
}

// TestKnownStaging resumes from the staging directory (journal format 1) that
// an earlier Ferry left after a cut-off import: every chunk it lists counts as
// received, and the import of the whole archive then fetches only the rest.
func TestKnownStaging(t *testing.T) {
	f := readKATFacts(t)
	key, err := archive.ParseRecoveryKey(f.Key)
	if err != nil {
		t.Fatal(err)
	}
	dst := storetest.New(t)
	into := filepath.Join(dst.Home(), StagingDir, f.StagedID)
	if err := os.MkdirAll(filepath.Dir(into), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(into, os.DirFS(filepath.Join(katDir, "staging-v1"))); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(katDir, "archive-v1-key.ferry"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Import(context.Background(), bytes.NewReader(b), dst, ImportOptions{Key: &key})
	if err != nil {
		t.Fatalf("Import over the known staging: %v", err)
	}
	if f.Staged == 0 || res.Resumed != f.Staged {
		t.Errorf("resumed %d chunks from the known staging, want %d (> 0)", res.Resumed, f.Staged)
	}
	if got := storetest.Stats(t, dst); got != f.Stats {
		t.Errorf("history: got %+v, want %+v", got, f.Stats)
	}
}
