package importers

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/internal/scratch"
)

// allFiles is every file and folder under dir with its size and content
// hash, the database's write-ahead log and lock file included: nothing of
// a home may change in a dry run. Left out: SQLite's shared-memory index
// (-shm), which every reader writes its marks into, and an empty -wal,
// which any reader opens (the same as none).
func allFiles(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			out[rel+"/"] = "dir"
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.HasSuffix(rel, "-shm") || (strings.HasSuffix(rel, "-wal") && len(b) == 0) {
			return nil
		}
		out[rel] = fmt.Sprintf("%d %x", len(b), sha256.Sum256(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameFiles(t testing.TB, what string, before, after map[string]string) {
	t.Helper()
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s: %s was %q, now %q", what, k, v, after[k])
		}
	}
	for k, v := range after {
		if _, ok := before[k]; !ok {
			t.Errorf("%s: %s is new (%s)", what, k, v)
		}
	}
}

// TestPreview: for every fixture, into a home that already holds part of
// it, a dry run writes nothing (every file of the home byte for byte the
// same, no staging left) and returns the Result that the import after it
// returns, Added included, with DryRun set; the home's store open for
// writing, or read-only beside it.
func TestPreview(t *testing.T) {
	ctx := context.Background()
	for _, f := range fixtures(t) {
		t.Run(f.name, func(t *testing.T) {
			path := f.path(t)
			st := newHome(t)
			// Part of it first: the media fixture's text without its media,
			// any other export's first lines.
			if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() && filepath.Ext(path) == ".txt" {
				mustImport(t, st, cutLines(t, filepath.Join(f.dir, f.file), 6), f.opts)
			} else {
				mustImport(t, st, filepath.Join("testdata", "whatsapp", "android-iso", "WhatsApp Chat with Dev Team.txt"), Options{Location: time.UTC})
			}
			before := allFiles(t, st.Home())
			ro, err := chatstore.Open(ctx, st.Home(), chatstore.Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer ro.Close()
			var got [2]Result
			for i, s := range []*chatstore.Store{st, ro} {
				if got[i], err = Preview(ctx, s, path, f.opts); err != nil {
					t.Fatalf("Preview: %v", err)
				}
				sameFiles(t, "after the dry run", before, allFiles(t, st.Home()))
			}
			res := mustImport(t, st, path, f.opts)
			for _, p := range got {
				if !p.DryRun {
					t.Error("Preview's Result does not say DryRun")
				}
				if g, w := dumpResult(p), dumpResult(res); g != w {
					t.Errorf("dry run said:\n%s\nthe import then did:\n%s", g, w)
				}
			}
			if res.DryRun {
				t.Error("Import's Result says DryRun")
			}
			if res.Added == (Added{}) {
				t.Error("the import after the dry run added nothing: the test proves little")
			}
			again, err := Preview(ctx, st, path, f.opts)
			if err != nil {
				t.Fatal(err)
			}
			if again.Added != (Added{}) {
				t.Errorf("dry run after the import: would add %+v, want nothing", again.Added)
			}
		})
	}
}

// TestPreviewNoHome: with no home (nil store) everything is new, as an
// import into an empty home adopts it, and the staging directory given is
// left as it was.
func TestPreviewNoHome(t *testing.T) {
	ctx := context.Background()
	f := fixtures(t)[2] // the one with media
	stage := t.TempDir()
	p, err := Preview(ctx, nil, f.path(t), Options{StageDir: stage, Location: f.opts.Location, Owner: f.opts.Owner})
	if err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(stage); len(ents) > 0 {
		t.Errorf("staging left behind: %v", ents)
	}
	res := mustImport(t, newHome(t), f.path(t), f.opts)
	if g, w := dumpResult(p), dumpResult(res); g != w {
		t.Errorf("dry run said:\n%s\nthe import did:\n%s", g, w)
	}
	if res.Added.MediaBytes == 0 {
		t.Error("the fixture has no media: the test proves little")
	}
	if _, err := Preview(ctx, nil, f.path(t), Options{}); err == nil {
		t.Error("Preview with no home and no staging directory: no error")
	}
}

// TestPreviewBadInput: an export Import refuses, Preview refuses with the
// same kind of error, and leaves the home as it was.
func TestPreviewBadInput(t *testing.T) {
	ctx := context.Background()
	st := newHome(t)
	before := allFiles(t, st.Home())
	bad := writeFile(t, "notes.txt", []byte("shopping list\nmilk\n"))
	_, ierr := Import(ctx, st, bad, Options{})
	_, perr := Preview(ctx, st, bad, Options{})
	if ierr == nil || perr == nil || ierr.Error() != perr.Error() {
		t.Errorf("Import: %v; Preview: %v; want the same error", ierr, perr)
	}
	sameFiles(t, "after a bad dry run", before, allFiles(t, st.Home()))
}

// TestStagingOfDeadProcessesSwept: an import or a dry run killed midway
// leaves its staging (a plaintext copy of the export) in the home's
// .staging; the next import or dry run removes it, and leaves alone the
// staging of a dry run still running beside it (a dry run does not hold
// the home's lock).
func TestStagingOfDeadProcessesSwept(t *testing.T) {
	ctx := context.Background()
	f := fixtures(t)[0]
	st := newHome(t)
	base := filepath.Join(st.Home(), stagingDir)
	if err := os.Mkdir(base, 0o700); err != nil {
		t.Fatal(err)
	}
	live, err := scratch.New(base, "preview") // a dry run running beside
	if err != nil {
		t.Fatal(err)
	}
	defer live.Remove()
	for _, run := range []struct {
		name string
		do   func() error
	}{
		{"dry run", func() error { _, err := Preview(ctx, st, f.path(t), f.opts); return err }},
		{"import", func() error { _, err := Import(ctx, st, f.path(t), f.opts); return err }},
	} {
		var dead []string
		for _, name := range []string{"preview-99999999-1", "import-99999999-2"} {
			d := filepath.Join(base, name)
			if err := os.MkdirAll(d, 0o700); err != nil {
				t.Fatal(err)
			}
			for _, file := range []string{"owner", "import.db"} {
				if err := os.WriteFile(filepath.Join(d, file), []byte("left by a killed process"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			dead = append(dead, d)
		}
		if err := run.do(); err != nil {
			t.Fatalf("%s: %v", run.name, err)
		}
		for _, d := range dead {
			if _, err := os.Stat(d); !os.IsNotExist(err) {
				t.Errorf("%s left the staging of a dead process, %s (%v)", run.name, d, err)
			}
		}
		if _, err := os.Stat(live.Path()); err != nil {
			t.Errorf("%s removed the staging of a running dry run: %v", run.name, err)
		}
	}
}
