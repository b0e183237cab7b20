// Package scratch makes a process's private temporary directories (a
// sender's snapshot holds the whole history in plaintext) and removes the
// ones whose process is gone, so that a killed process leaves nothing
// behind for longer than the next start.
//
// A directory is named PREFIX-<pid>-<random>, mode 0700, and holds the file
// "owner", on which its process keeps an exclusive lock (internal/filelock:
// flock, or LockFileEx on Windows; where there is none, New fails) until it
// removes the directory. Sweep removes every
// PREFIX-<pid>-* directory whose owner lock it can take: the process that
// held it has exited, however it ended. The pid in the name is for people;
// the lock is the proof (it also holds across PID namespaces sharing one
// temporary directory, and where a pid was reused). New makes and locks a
// directory under the name .PREFIX-new-<random> and then renames it, so a
// directory of the final name always has its lock; Sweep takes a
// .PREFIX-new-* one only once it is a minute old (its process died inside
// New, before anything was written into it).
package scratch

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ferryhq/ferry/internal/filelock"
)

// ownerFile is the file in a directory whose lock its process holds.
const ownerFile = "owner"

// Dir is a private temporary directory of this process.
type Dir struct {
	path string // constant after New

	mu   sync.Mutex // guards lock
	lock *os.File   // nil after Remove
}

// New makes a directory PREFIX-<pid>-<random> in parent (the system's
// temporary directory when empty), mode 0700, and locks it as this
// process's. The directory is made and locked under a name Sweep does not
// take (.PREFIX-new-*), then renamed: a directory of the final name always
// has its owner file.
func New(parent, prefix string) (*Dir, error) {
	if parent == "" {
		parent = os.TempDir()
	}
	tmp, err := os.MkdirTemp(parent, newPrefix(prefix)+"*")
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(tmp, ownerFile), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		if err = filelock.TryLock(f); err != nil {
			f.Close()
		}
	}
	if err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("lock %s: %w", tmp, err)
	}
	path := filepath.Join(parent, fmt.Sprintf("%s-%d-%s", prefix, os.Getpid(), strings.TrimPrefix(filepath.Base(tmp), newPrefix(prefix))))
	if err := os.Rename(tmp, path); err != nil {
		f.Close()
		os.RemoveAll(tmp)
		return nil, err
	}
	return &Dir{path: path, lock: f}, nil
}

// newPrefix names a directory New has made but not locked and renamed yet.
func newPrefix(prefix string) string { return "." + prefix + "-new-" }

// Path is the directory's path.
func (d *Dir) Path() string { return d.path }

// Remove removes the directory and everything in it, then lets go of it.
// It is idempotent.
func (d *Dir) Remove() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.lock == nil {
		return nil
	}
	// Removed while still locked, so that no sweep works on it at the same
	// time; Windows cannot remove an open file, so there it is released
	// first (a sweep coming in between removes what is left).
	err := os.RemoveAll(d.path)
	cerr := d.lock.Close()
	d.lock = nil
	if err != nil {
		err = os.RemoveAll(d.path)
	}
	return errors.Join(err, cerr)
}

// Sweep removes the PREFIX-<pid>-* directories in parent (the system's
// temporary directory when empty) whose process is gone, and returns their
// paths. Directories of running processes, and anything not named so, are
// left alone.
func Sweep(parent, prefix string) ([]string, error) {
	gone, err := Orphans(parent, prefix)
	var removed []string
	for _, p := range gone {
		if rerr := os.RemoveAll(p); rerr != nil {
			err = errors.Join(err, rerr)
			continue
		}
		removed = append(removed, p)
	}
	return removed, err
}

// Orphans lists, without removing them, the PREFIX-<pid>-* directories in
// parent whose process is gone.
func Orphans(parent, prefix string) ([]string, error) {
	if parent == "" {
		parent = os.TempDir()
	}
	ents, err := os.ReadDir(parent)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		// Also what a process that died inside New left.
		if !e.IsDir() || !named(e.Name(), prefix) && !strings.HasPrefix(e.Name(), newPrefix(prefix)) {
			continue
		}
		p := filepath.Join(parent, e.Name())
		if (named(e.Name(), prefix) || stale(e)) && orphaned(p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// named reports whether name is PREFIX-<pid>-<something>.
func named(name, prefix string) bool {
	rest, ok := strings.CutPrefix(name, prefix+"-")
	if !ok {
		return false
	}
	pid, tail, ok := strings.Cut(rest, "-")
	if _, err := strconv.Atoi(pid); err != nil || !ok || tail == "" {
		return false
	}
	return true
}

// staleAfter is how old a .PREFIX-new-* directory must be before Sweep
// takes it: New holds one for a few system calls, between making it and
// locking it, when no lock can tell whether its process lives.
const staleAfter = time.Minute

// stale reports whether e, a directory New was making, is older than
// staleAfter: its process died inside New (it holds no history yet).
func stale(e os.DirEntry) bool {
	fi, err := e.Info()
	return err == nil && time.Since(fi.ModTime()) > staleAfter
}

// orphaned reports whether no process holds the directory's owner lock. A
// directory without an owner file is one being removed, or half removed by
// a process that died: one that New made is never seen under its final
// name without it.
func orphaned(dir string) bool {
	f, err := os.OpenFile(filepath.Join(dir, ownerFile), os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return true
	}
	if err != nil {
		return false // not ours to judge (another user's, say)
	}
	defer f.Close()
	return filelock.TryLock(f) == nil
}
