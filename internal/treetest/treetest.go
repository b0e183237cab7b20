// Package treetest is what tests use to show that a directory did not
// change (the source's home, a refused import's target) or holds nothing
// (a staging area after a commit or a discard).
package treetest

import (
	"crypto/sha256"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Tree maps every file under dir (but the SQLite shared-memory index,
// which readers may touch) to a hash of its bytes.
func Tree(t testing.TB, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || strings.HasSuffix(p, "-shm") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[rel] = sha256.Sum256(b)
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", dir, err)
	}
	return out
}

// Same fails the test for every file of want that got lacks or holds
// changed, and every file of got that want lacks.
func Same(t testing.TB, what string, got, want map[string][32]byte) {
	t.Helper()
	for p, h := range want {
		if g, ok := got[p]; !ok {
			t.Errorf("%s: %s disappeared", what, p)
		} else if g != h {
			t.Errorf("%s: %s changed", what, p)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: %s appeared", what, p)
		}
	}
}

// Empty fails the test if dir holds anything (a missing dir is empty).
func Empty(t testing.TB, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		t.Errorf("not cleaned up: %d entries in %s", len(ents), dir)
	}
}
