package scratch

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sync/errgroup"
)

func TestDirLifecycle(t *testing.T) {
	parent := t.TempDir()
	d, err := New(parent, "ferry-snapshot")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(filepath.Base(d.Path()), fmt.Sprintf("ferry-snapshot-%d-", os.Getpid())) {
		t.Errorf("directory %s is not ferry-snapshot-<our pid>-*", d.Path())
	}
	if fi, err := os.Stat(d.Path()); err != nil || (runtime.GOOS != "windows" && fi.Mode().Perm() != 0o700) {
		t.Errorf("directory: %v, %v; want mode 0700", fi.Mode(), err)
	}
	// Ours while we hold it, also to a second look from this process.
	if gone, err := Orphans(parent, "ferry-snapshot"); err != nil || len(gone) != 0 {
		t.Errorf("Orphans with our directory alive: %v, %v", gone, err)
	}
	// A directory whose process died before it could lock it, one of
	// another name, and a file: only the first is swept.
	dead := filepath.Join(parent, "ferry-snapshot-99999999-1")
	other := filepath.Join(parent, "ferry-snapshot-keep")
	for _, p := range []string{dead, other} {
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := Sweep(parent, "ferry-snapshot")
	if err != nil || !slices.Equal(removed, []string{dead}) {
		t.Errorf("Sweep: %v, %v; want only %s", removed, err, dead)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("Sweep removed %s, which is not named as ours", other)
	}
	if err := d.Remove(); err != nil {
		t.Fatal(err)
	}
	if err := d.Remove(); err != nil {
		t.Errorf("second Remove: %v", err)
	}
	if _, err := os.Stat(d.Path()); !os.IsNotExist(err) {
		t.Errorf("Remove left %s (%v)", d.Path(), err)
	}
}

// TestConcurrentSweeps: processes that snapshot side by side in one place
// (here goroutines: a lock of this process's is as foreign to another of
// its opens) never sweep each other's directories.
func TestConcurrentSweeps(t *testing.T) {
	parent := t.TempDir()
	var g errgroup.Group
	for range 16 {
		g.Go(func() error {
			for range 20 {
				if _, err := Sweep(parent, "ferry-snapshot"); err != nil {
					return err
				}
				d, err := New(parent, "ferry-snapshot")
				if err != nil {
					return err
				}
				if _, err := os.Stat(filepath.Join(d.Path(), ownerFile)); err != nil {
					return fmt.Errorf("a live directory was swept: %w", err)
				}
				if err := d.Remove(); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}
