package chatstore

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
)

// listing is every path under dir with its mode, for "nothing changed".
func listing(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, _ := d.Info()
		rel, _ := filepath.Rel(dir, p)
		out = append(out, rel+" "+fi.Mode().String())
		return nil
	})
	return out
}

// TestOpenWritesOnlyIntoAHome: a folder that holds other things is not
// taken as a home, whether it is to be created, written or read; nothing
// is written into it. An empty folder, a folder holding only what an
// interrupted first run leaves, and a folder with Ferry's identity are
// homes.
func TestOpenWritesOnlyIntoAHome(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	mk := func(name string, files ...string) string {
		h := filepath.Join(dir, name)
		if err := os.Mkdir(h, 0o700); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			p := filepath.Join(h, f)
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return h
	}
	other := filepath.Join(dir, "otherapp")
	os.Mkdir(other, 0o700)
	hostileSQL(t, filepath.Join(other, DBName), "PRAGMA application_id = 7", "CREATE TABLE t (x)")
	refused := []struct {
		name, home string
		want       error
	}{
		{"a folder of documents", mk("docs", "notes.txt", "photos/a.jpg"), ErrNotAHome},
		{"a media folder that is not ours", mk("pictures", "media/cat.jpg", "album.txt"), ErrNotAHome},
		{"another program's history.db", other, ErrNotAStore},
	}
	for _, tt := range refused {
		for _, opts := range []Options{{Create: true}, {}, {ReadOnly: true}} {
			before := listing(t, tt.home)
			s, err := Open(ctx, tt.home, opts)
			if err == nil {
				s.Close()
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("%s, %+v: got %v, want %v", tt.name, opts, err, tt.want)
			}
			if got := listing(t, tt.home); !slices.Equal(got, before) {
				t.Errorf("%s, %+v: the folder changed:\n%v\nwant\n%v", tt.name, opts, got, before)
			}
		}
	}
	for _, tt := range []struct{ name, home string }{
		{"an empty folder", mk("empty")},
		{"what an interrupted first run leaves", mk("partial", ".lock", "media/.keep", ".identity-123.tmp")},
		{"a home with an identity but no history yet", mk("device", "identity.key", "devices.json", "some-future-file")},
	} {
		s, err := Open(ctx, tt.home, Options{Create: true})
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		s.Close()
	}
}

// TestHomeIsPrivate: everything Ferry writes into a home is for its owner
// only: the home and media folders 0700, the database, its -wal and -shm,
// the lock, media files and snapshots 0600.
func TestHomeIsPrivate(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file modes do not control access on Windows")
	}
	ctx := context.Background()
	s, _ := seeded(t, seedOptions{Messages: 300, MediaBytes: 256 << 10, Seed: 1})
	snap := snapshot(t, s)
	checkPrivate(t, s.Home())
	if fi, err := os.Stat(snap); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("snapshot: %v, %v; want mode 0600", fi.Mode(), err)
	}
	if _, err := os.Stat(s.DBPath() + "-wal"); err != nil {
		t.Errorf("no -wal while the store is open (%v): the test checks nothing", err)
	}
	// Adopted and merged files too.
	dst := newStore(t)
	if err := dst.Adopt(ctx, copied(t, snap)); err != nil {
		t.Fatal(err)
	}
	checkPrivate(t, dst.Home())
}

func checkPrivate(t *testing.T, home string) {
	t.Helper()
	filepath.WalkDir(home, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := d.Info()
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %04o, want %04o", p, fi.Mode().Perm(), want)
		}
		return nil
	})
}

// TestExposedHomeRepaired: a home that others can read (made by an older
// Ferry, or opened up by hand) is made private when its owner opens it.
func TestExposedHomeRepaired(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file modes do not control access on Windows")
	}
	ctx := context.Background()
	s, _ := seeded(t, seedOptions{Messages: 300, MediaBytes: 256 << 10, Seed: 1})
	home := s.Home()
	s.Close()
	filepath.WalkDir(home, func(p string, d fs.DirEntry, err error) error {
		mode := fs.FileMode(0o644)
		if d.IsDir() {
			mode = 0o755
		}
		return os.Chmod(p, mode)
	})
	for _, opts := range []Options{{ReadOnly: true}, {}} {
		s, err := Open(ctx, home, opts)
		if err != nil {
			t.Fatalf("Open(%+v) of an exposed home: %v", opts, err)
		}
		s.Close()
		checkPrivate(t, home)
		os.Chmod(home, 0o755)
	}
}

// TestExposedHomeOfAnotherUserRefused: a home others can read that belongs
// to someone else is not used (Ferry cannot make it private).
func TestExposedHomeOfAnotherUserRefused(t *testing.T) {
	if runtime.GOOS == "windows" || os.Geteuid() != 0 {
		t.Skip("needs root to give a home to another user")
	}
	ctx := context.Background()
	s, _ := seeded(t, seedOptions{Messages: 100, Seed: 1})
	home := s.Home()
	s.Close()
	if err := os.Chown(home, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(home, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, opts := range []Options{{ReadOnly: true}, {}} {
		s, err := Open(ctx, home, opts)
		if err == nil {
			s.Close()
		}
		if !errors.Is(err, ErrHomeExposed) {
			t.Errorf("Open(%+v): got %v, want ErrHomeExposed", opts, err)
		}
	}
	if fi, _ := os.Stat(home); fi.Mode().Perm() != 0o755 {
		t.Errorf("mode of another user's home changed to %04o", fi.Mode().Perm())
	}
}
