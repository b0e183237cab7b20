// Package atomicfile writes and moves files durably: a crash leaves the old
// content or the new one, never a torn file, and what a call reported done
// survives a power loss. It is the one place where Ferry fsyncs a file and
// its directory; every package that replaces or installs a file calls it.
//
// "Durably" means, for every function here: the file's bytes are fsynced
// before it is renamed (or linked) into place, and the directory that holds
// the new name is fsynced after, so that the name survives too (SyncDir;
// a no-op on Windows, which cannot open a directory for fsync).
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Write replaces path with data, mode perm, durably: it writes a temporary
// file in the same directory, fsyncs it, renames it over path and fsyncs
// the directory. The temporary file is removed on any error.
func Write(path string, data []byte, perm os.FileMode) error {
	tmp, err := writeTemp(path, data, perm)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// WriteNew creates path with data, mode perm, durably, unless a file is
// there already: then it returns an error matching fs.ErrExist and leaves
// that file alone. The file appears whole or not at all (a temporary file
// is linked into place), so of two processes racing to create it exactly
// one wins.
func WriteNew(path string, data []byte, perm os.FileMode) error {
	tmp, err := writeTemp(path, data, perm)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create %s: %w", path, fs.ErrExist)
		}
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// Rename moves the complete file src to dst durably: src is fsynced before
// the rename and dst's directory after it. Both must be on one file system.
func Rename(src, dst string) error {
	if err := SyncFile(src); err != nil {
		return err
	}
	if err := os.Rename(src, dst); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(dst))
}

// SyncFile fsyncs the file at path.
func SyncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeTemp writes data to a new temporary file beside path, mode perm,
// fsynced and closed, and returns its name.
func writeTemp(path string, data []byte, perm os.FileMode) (_ string, err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return "", err
	}
	if _, err := f.Write(data); err != nil {
		return "", err
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	return tmp, f.Close()
}
