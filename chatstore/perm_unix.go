//go:build unix

package chatstore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// private is the permission mask that must be clear on everything in a home:
// no access at all for the group or others.
const private = 0o077

// secureHome makes sure no other user can read dir's history: the directory
// 0700, its database files (history and search index) 0600. When it finds anything open to others it
// repairs the whole history (directories 0700, files 0600, the media tree
// included) if the caller owns dir, and refuses with ErrHomeExposed
// otherwise. A home Ferry made needs no repair: the check costs a few stats.
// identity.key is p2p's: it refuses an exposed key on its own.
func secureHome(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("chatstore: home %s: %w", dir, err)
	}
	exposed := fi.Mode().Perm()&private != 0
	for _, name := range []string{DBName, DBName + "-wal", DBName + "-shm", DBName + "-journal", IndexName, MediaDir} {
		if f, err := os.Lstat(filepath.Join(dir, name)); err == nil && f.Mode().Perm()&private != 0 {
			exposed = true
		}
	}
	if !exposed {
		return nil
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("chatstore: home %s (mode %04o) belongs to uid %d, not to this user, so Ferry cannot make it private: %w",
			dir, fi.Mode().Perm(), st.Uid, ErrHomeExposed)
	}
	if err := repairModes(dir); err != nil {
		return fmt.Errorf("chatstore: home %s (mode %04o) cannot be made private: %w: %w", dir, fi.Mode().Perm(), ErrHomeExposed, err)
	}
	return nil
}

// repairModes sets dir to 0700 and walks Ferry's names in it: directories
// 0700, regular files 0600. Symbolic links are not followed.
func repairModes(dir string) error {
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !IsHomeName(e.Name()) || e.Name() == identityFile {
			continue
		}
		err := filepath.WalkDir(filepath.Join(dir, e.Name()), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			mode := fs.FileMode(0o600)
			switch {
			case d.IsDir():
				mode = 0o700
			case !d.Type().IsRegular():
				return nil
			}
			fi, err := d.Info()
			if errors.Is(err, fs.ErrNotExist) {
				return nil // gone meanwhile (a temporary file)
			}
			if err != nil {
				return err
			}
			if fi.Mode().Perm()&private == 0 {
				return nil
			}
			return os.Chmod(p, fi.Mode().Perm()&mode)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// canWrite reports whether this process may create files in dir.
func canWrite(dir string) bool { return unix.Access(dir, unix.W_OK) == nil }
