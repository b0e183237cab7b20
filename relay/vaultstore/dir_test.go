package vaultstore

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDirConformance(t *testing.T) {
	testConformance(t, func(t *testing.T) Store {
		s, err := NewDir(filepath.Join(t.TempDir(), "vault"))
		if err != nil {
			t.Fatalf("NewDir: %v", err)
		}
		return s
	})
}

// TestDirSwapShared: two stores on one directory (two relay processes)
// count with Swap as one.
func TestDirSwapShared(t *testing.T) {
	root := filepath.Join(t.TempDir(), "vault")
	a, err := NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	testSwapCounter(t, a, b)
}

// files lists every file and directory under root, relative, slash-separated.
func files(t *testing.T, root string) []string {
	t.Helper()
	var got []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			rel += "/"
		}
		got = append(got, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestDirLayout(t *testing.T) {
	root := t.TempDir()
	s, err := NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, k := range []string{"acct/id1/chunks/c1", "acct/id1/m", "acct/id2/m"} {
		if err := s.Put(ctx, k, strings.NewReader(k), int64(len(k))); err != nil {
			t.Fatal(err)
		}
	}
	want := "./ acct/ acct/id1/ acct/id1/chunks/ acct/id1/chunks/c1.obj acct/id1/m.obj acct/id2/ acct/id2/m.obj"
	if got := strings.Join(files(t, root), " "); got != want {
		t.Errorf("layout = %s\nwant     %s", got, want)
	}
	// Failed puts leave no temporary files; deletes prune empty directories.
	s.Put(ctx, "acct/id2/m", &failingReader{data: []byte("abcdef"), n: 3}, 6)
	s.Put(ctx, "acct/id3/new", &failingReader{data: []byte("abcdef"), n: 3}, 6)
	for _, k := range []string{"acct/id1/chunks/c1", "acct/id2/m"} {
		if err := s.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	want = "./ acct/ acct/id1/ acct/id1/m.obj"
	if got := strings.Join(files(t, root), " "); got != want {
		t.Errorf("after deletes layout = %s\nwant     %s", got, want)
	}
}

func TestDirIgnoresForeignFiles(t *testing.T) {
	root := t.TempDir()
	s, err := NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Put(ctx, "a/b", bytes.NewReader([]byte("x")), 1); err != nil {
		t.Fatal(err)
	}
	// Leftovers of a crash, an operator's notes, a symlink out of root.
	for name, data := range map[string]string{
		"a/.tmp-123": "partial", "a/notes.txt": "hi", "a/c.d.obj": "x", "a/.hidden/x.obj": "x",
	} {
		p := filepath.Join(root, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o700)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret.obj"), []byte("s"), 0o600)
	os.Symlink(filepath.Join(outside, "secret.obj"), filepath.Join(root, "a", "link.obj"))
	os.Symlink(outside, filepath.Join(root, "a", "linkdir"))
	got, err := s.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if want := []Object{{"a/b", 1}}; !slices.Equal(got, want) {
		t.Errorf("List = %v, want %v", got, want)
	}
}

func TestNewDirErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	for _, root := range []string{"", file, filepath.Join(file, "sub")} {
		if _, err := NewDir(root); err == nil {
			t.Errorf("NewDir(%q) succeeded, want an error", root)
		}
	}
}

func TestDirKeyConflict(t *testing.T) {
	s, err := NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	put := func(k string) error { return s.Put(ctx, k, strings.NewReader(k), int64(len(k))) }
	for _, k := range []string{"a/b", "c/d/e"} {
		if err := put(k); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"a", "a/b/c", "a/b/c/d", "c", "c/d", "c/d/e/f"} {
		if err := put(k); !errors.Is(err, ErrKeyConflict) {
			t.Errorf("Put(%q) error = %v, want ErrKeyConflict", k, err)
		}
	}
	assertList(t, s, "", []string{"a/b", "c/d/e"})
	// Once the conflicting object is gone, the key is free.
	if err := s.Delete(ctx, "c/d/e"); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"c/d", "a/c"} {
		if err := put(k); err != nil {
			t.Errorf("Put(%q): %v", k, err)
		}
	}
}

// TestDirStaleTemps: temporary files of Puts cut off by a crash go when
// their directory's last object is deleted; those of a Put in progress
// (young) stay.
func TestDirStaleTemps(t *testing.T) {
	root := t.TempDir()
	s, err := NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	old := time.Now().Add(-2 * staleTemp)
	for _, tc := range []struct {
		dir   string
		temps map[string]time.Time
		gone  bool
	}{
		{"a", map[string]time.Time{".tmp-1": old, ".tmp-2": old}, true},
		{"b", map[string]time.Time{".tmp-1": old, ".tmp-2": time.Now()}, false},
	} {
		if err := s.Put(ctx, tc.dir+"/x", strings.NewReader("x"), 1); err != nil {
			t.Fatal(err)
		}
		for name, mtime := range tc.temps {
			p := filepath.Join(root, tc.dir, name)
			if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(p, mtime, mtime); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Delete(ctx, tc.dir+"/x"); err != nil {
			t.Fatal(err)
		}
		_, err := os.Stat(filepath.Join(root, tc.dir))
		if gone := errors.Is(err, fs.ErrNotExist); gone != tc.gone {
			t.Errorf("%s: directory gone %v, want %v (%v)", tc.dir, gone, tc.gone, err)
		}
	}
	if got := strings.Join(files(t, root), " "); got != "./ b/ b/.tmp-2" {
		t.Errorf("files left: %q, want the young temporary file only", got)
	}
}
