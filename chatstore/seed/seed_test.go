package seed

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ferryhq/ferry/chatstore"
)

// newStore creates an empty store in a fresh temporary home.
func newStore(t testing.TB) *chatstore.Store {
	t.Helper()
	s, err := chatstore.Open(context.Background(), filepath.Join(t.TempDir(), "home"), chatstore.Options{Create: true})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// seeded creates a store seeded with opts.
func seeded(t testing.TB, opts Options) (*chatstore.Store, chatstore.Stats) {
	t.Helper()
	s := newStore(t)
	st, err := Add(context.Background(), s, opts)
	if err != nil {
		t.Fatalf("Add: %v", err)
	}
	return s, st
}

func TestDeterministic(t *testing.T) {
	opts := Options{Messages: 3000, MediaBytes: 1 << 20}
	tests := []struct {
		seedA, seedB uint64
		equal        bool
	}{
		{1, 1, true},
		{1, 2, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d-%d", tt.seedA, tt.seedB), func(t *testing.T) {
			oa, ob := opts, opts
			oa.Seed, ob.Seed = tt.seedA, tt.seedB
			a, sa := seeded(t, oa)
			_, sb := seeded(t, ob)
			if got := sa == sb; got != tt.equal {
				t.Fatalf("stats equal = %v, want %v:\n%+v\n%+v", got, tt.equal, sa, sb)
			}
			if sa.Messages != int64(opts.Messages) || sa.MediaBytes < opts.MediaBytes-(1<<10) || sa.MediaBytes > opts.MediaBytes {
				t.Fatalf("got %+v, want %d messages and about %d media bytes", sa, opts.Messages, opts.MediaBytes)
			}
			if err := a.Verify(context.Background()); err != nil {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
}

func TestAddsHistory(t *testing.T) {
	ctx := context.Background()
	run := func() (chatstore.Stats, chatstore.Stats) {
		s, first := seeded(t, Options{Messages: 1000, Seed: 7})
		second, err := Add(ctx, s, Options{Messages: 500, MediaBytes: 200 << 10, Seed: 7})
		if err != nil {
			t.Fatalf("Add: %v", err)
		}
		return first, second
	}
	f1, s1 := run()
	_, s2 := run()
	if got, want := s1.Messages, f1.Messages+500; got != want {
		t.Errorf("after second seed got %d messages, want %d", got, want)
	}
	if s1.Digest == f1.Digest {
		t.Errorf("second seed did not change the digest")
	}
	if s1 != s2 {
		t.Errorf("reseeding not deterministic: %+v vs %+v", s1, s2)
	}
}

// TestLeavesNothingBehind: Add leaves only the history and its media in
// the home (its staging goes), and refuses a read-only store without
// writing into its home.
func TestLeavesNothingBehind(t *testing.T) {
	ctx := context.Background()
	s, _ := seeded(t, Options{Messages: 50, MediaBytes: 256 << 10, Seed: 3})
	if _, err := os.Stat(filepath.Join(s.Home(), stagingDir)); !os.IsNotExist(err) {
		t.Errorf("%s left in the home: %v", stagingDir, err)
	}
	home := s.Home()
	s.Close()
	before := listing(t, home)
	r, err := chatstore.Open(ctx, home, chatstore.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := Add(ctx, r, Options{Messages: 1}); err == nil {
		t.Error("Add on a read-only store succeeded")
	}
	if after := listing(t, home); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("Add on a read-only store changed the home:\n%v\n%v", before, after)
	}
}

// listing is the names under dir, the -wal and -shm files SQLite's readers
// may leave aside.
func listing(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ext := filepath.Ext(p); ext == ".db-wal" || ext == ".db-shm" {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		names = append(names, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}
