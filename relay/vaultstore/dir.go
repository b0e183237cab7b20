package vaultstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ferryhq/ferry/internal/atomicfile"
	"github.com/ferryhq/ferry/internal/filelock"
)

// objSuffix ends the file name of every object, so that a key ("a/b") and a
// longer key under it ("a/b/c") can both exist: the first is the file
// "a/b.obj", the second lives in the directory "a/b". Key segments never
// contain ".", so no directory or temporary file ever ends in objSuffix.
const objSuffix = ".obj"

// tmpPrefix starts the names of files being written; they are never listed.
const tmpPrefix = ".tmp-"

// dirStore keeps each object as one file under root.
type dirStore struct {
	root string // absolute, symlinks resolved; constant after construction
}

var _ Store = (*dirStore)(nil)

// NewDir returns a Store that keeps objects as files under root, creating
// root if needed. Key "a/b/c" is the file root/a/b/c.obj. Put writes a
// temporary file in the object's directory, fsyncs it, renames it over the
// object and fsyncs the directory, so a crash at any point leaves either the
// old object or the new one, never part of one. Temporary files of writes
// interrupted by a crash stay behind as root/.../.tmp-*, never listed, until
// the last object of their directory is deleted (then those older than an
// hour go with the directory).
//
// Keys differing only in case are different objects, so root must be on a
// case-sensitive file system; NewDir checks and refuses one that is not
// (the default on macOS and Windows): use S3 storage there.
func NewDir(root string) (Store, error) {
	if root == "" {
		return nil, errors.New("vaultstore: open directory: empty path")
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("vaultstore: open directory: %w", err)
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("vaultstore: open directory: %w", err)
	}
	if abs, err = filepath.EvalSymlinks(abs); err != nil {
		return nil, fmt.Errorf("vaultstore: open directory: %w", err)
	}
	if err := checkCaseSensitive(abs); err != nil {
		return nil, err
	}
	return &dirStore{root: abs}, nil
}

// checkCaseSensitive creates a probe file with a lower-case name and looks
// for it under its upper-case name.
func checkCaseSensitive(root string) error {
	f, err := os.CreateTemp(root, tmpPrefix+"caseprobe-*")
	if err != nil {
		return fmt.Errorf("vaultstore: open directory: %w", err)
	}
	name := f.Name()
	f.Close()
	defer os.Remove(name)
	upper := filepath.Join(root, strings.ToUpper(filepath.Base(name)))
	if _, err := os.Lstat(upper); err == nil {
		return fmt.Errorf("vaultstore: open directory %s: the file system ignores case, so keys differing only in case would collide; use a case-sensitive file system or S3 storage", root)
	}
	return nil
}

// path returns the file of a valid key.
func (d *dirStore) path(key string) string {
	return filepath.Join(d.root, filepath.FromSlash(key)+objSuffix)
}

func (d *dirStore) Put(ctx context.Context, key string, r io.Reader, size int64) (err error) {
	if err := checkKey(key); err != nil {
		return fmt.Errorf("vaultstore: put: %w", err)
	}
	if size < 0 {
		return fmt.Errorf("vaultstore: put %s: negative size %d", key, size)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("vaultstore: put %s: %w", key, err)
	}
	if err := d.checkConflict(key); err != nil {
		return fmt.Errorf("vaultstore: put %s: %w", key, err)
	}
	final := d.path(key)
	dir := filepath.Dir(final)
	f, err := d.createTemp(key)
	if err != nil {
		return fmt.Errorf("vaultstore: put %s: %w", key, err)
	}
	tmp := f.Name()
	defer func() {
		if f != nil {
			f.Close()
		}
		if err != nil {
			os.Remove(tmp)
			d.prune(dir)
		}
	}()
	n, err := io.Copy(f, ctxReader{ctx, io.LimitReader(r, size)})
	if err != nil {
		return fmt.Errorf("vaultstore: put %s: %w", key, err)
	}
	if n != size {
		return fmt.Errorf("vaultstore: put %s: read %d of %d bytes: %w", key, n, size, io.ErrUnexpectedEOF)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("vaultstore: put %s: sync: %w", key, err)
	}
	err = f.Close()
	f = nil
	if err != nil {
		return fmt.Errorf("vaultstore: put %s: close: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("vaultstore: put %s: %w", key, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("vaultstore: put %s: %w", key, err)
	}
	// The directory is gone only if a concurrent Delete removed the object
	// and pruned it: then there is nothing left to make durable.
	if err := atomicfile.SyncDir(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("vaultstore: put %s: sync directory: %w", key, err)
	}
	return nil
}

// createTemp creates the directories of key and a temporary file in the
// last one. A concurrent Delete or failed Put may prune a directory that
// has just been created but is still empty; then it tries again.
func (d *dirStore) createTemp(key string) (*os.File, error) {
	segs := strings.Split(key, "/")
	segs = segs[:len(segs)-1]
	var err error
	for range 8 {
		var f *os.File
		f, err = d.tryCreateTemp(segs)
		if err == nil || !errors.Is(err, fs.ErrNotExist) {
			return f, err
		}
	}
	return nil, err
}

func (d *dirStore) tryCreateTemp(segs []string) (*os.File, error) {
	dir := d.root
	for _, seg := range segs {
		next := filepath.Join(dir, seg)
		switch err := os.Mkdir(next, 0o700); {
		case err == nil:
			if err := atomicfile.SyncDir(dir); err != nil {
				return nil, fmt.Errorf("sync directory: %w", err)
			}
		case !errors.Is(err, fs.ErrExist):
			return nil, err
		}
		dir = next
	}
	return os.CreateTemp(dir, tmpPrefix+"*")
}

// prune removes dir and its parents up to root as long as they are empty,
// so deleted accounts and failed Puts leave no directories behind. A
// directory that holds only temporary files left by Puts cut off by a
// crash counts as empty.
func (d *dirStore) prune(dir string) {
	for dir != d.root && strings.HasPrefix(dir, d.root) {
		if os.Remove(dir) != nil && (!removeStaleTemps(dir) || os.Remove(dir) != nil) {
			return
		}
		dir = filepath.Dir(dir)
	}
}

// staleTemp is the age from which a temporary file is the leftover of a
// Put cut off by a crash, not one in progress.
const staleTemp = time.Hour

// removeStaleTemps removes the stale temporary files in dir and reports
// whether it removed any.
func removeStaleTemps(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	removed := false
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), tmpPrefix) || !e.Type().IsRegular() {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > staleTemp && os.Remove(filepath.Join(dir, e.Name())) == nil {
			removed = true
		}
	}
	return removed
}

// checkConflict returns ErrKeyConflict if an object is stored under a
// prefix of key, or objects are stored under key + "/". Concurrent Puts of
// conflicting keys may both succeed: the check is a guard against a
// mistake in key design, not a lock.
func (d *dirStore) checkConflict(key string) error {
	for i := range len(key) {
		if key[i] != '/' {
			continue
		}
		if _, err := os.Lstat(d.path(key[:i])); err == nil {
			return fmt.Errorf("%w: object %s exists", ErrKeyConflict, key[:i])
		}
	}
	objs, err := d.list(context.Background(), key+"/", 1)
	if err != nil {
		return err
	}
	if len(objs) > 0 {
		return fmt.Errorf("%w: object %s exists", ErrKeyConflict, objs[0].Key)
	}
	return nil
}

func (d *dirStore) Get(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	if err := checkKey(key); err != nil {
		return nil, 0, fmt.Errorf("vaultstore: get: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, fmt.Errorf("vaultstore: get %s: %w", key, err)
	}
	f, err := os.Open(d.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, fmt.Errorf("vaultstore: get %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("vaultstore: get %s: %w", key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("vaultstore: get %s: %w", key, err)
	}
	return f, fi.Size(), nil
}

func (d *dirStore) Stat(ctx context.Context, key string) (int64, error) {
	if err := checkKey(key); err != nil {
		return 0, fmt.Errorf("vaultstore: stat: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("vaultstore: stat %s: %w", key, err)
	}
	fi, err := os.Stat(d.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("vaultstore: stat %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("vaultstore: stat %s: %w", key, err)
	}
	return fi.Size(), nil
}

func (d *dirStore) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return fmt.Errorf("vaultstore: delete: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("vaultstore: delete %s: %w", key, err)
	}
	p := d.path(key)
	err := os.Remove(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("vaultstore: delete %s: %w", key, err)
	}
	dir := filepath.Dir(p)
	// A concurrent Delete may have pruned the now empty directory.
	if err := atomicfile.SyncDir(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("vaultstore: delete %s: sync directory: %w", key, err)
	}
	d.prune(dir)
	return nil
}

func (d *dirStore) List(ctx context.Context, prefix string) ([]Object, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, fmt.Errorf("vaultstore: list: %w", err)
	}
	objs, err := d.list(ctx, prefix, -1)
	if err != nil {
		return nil, fmt.Errorf("vaultstore: list %s: %w", prefix, err)
	}
	slices.SortFunc(objs, func(a, b Object) int { return strings.Compare(a.Key, b.Key) })
	return objs, nil
}

// list returns the objects under a valid prefix, unsorted, stopping after
// limit of them if limit >= 0.
func (d *dirStore) list(ctx context.Context, prefix string, limit int) ([]Object, error) {
	start := filepath.Join(d.root, filepath.FromSlash(prefix))
	var objs []Object
	err := filepath.WalkDir(start, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if p == start && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return err
		}
		if p == start {
			if !e.IsDir() {
				return fs.SkipAll
			}
			return nil
		}
		name := e.Name()
		if e.IsDir() {
			if checkSegment(name) != nil {
				return fs.SkipDir
			}
			return ctx.Err()
		}
		stem, ok := strings.CutSuffix(name, objSuffix)
		if !ok || !e.Type().IsRegular() || checkSegment(stem) != nil {
			return nil // temporary or foreign file
		}
		rel, err := filepath.Rel(d.root, p)
		if err != nil {
			return err
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // deleted since the directory was read
		}
		if err != nil {
			return err
		}
		objs = append(objs, Object{Key: strings.TrimSuffix(filepath.ToSlash(rel), objSuffix), Size: fi.Size()})
		if len(objs) == limit {
			return fs.SkipAll
		}
		return nil
	})
	return objs, err
}

// ctxReader fails reads once ctx is done, so a long Put can be cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// swapLock is the file whose lock serialises every Swap on the store, of
// this process and of others sharing the directory. Its name starts with
// a dot, so it is never an object.
const swapLock = ".swap.lock"

func (d *dirStore) Swap(ctx context.Context, key string, old, new []byte) error {
	if err := checkKey(key); err != nil {
		return fmt.Errorf("vaultstore: swap: %w", err)
	}
	if len(new) > MaxSwap {
		return fmt.Errorf("vaultstore: swap %s: %d bytes, at most %d", key, len(new), MaxSwap)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("vaultstore: swap %s: %w", key, err)
	}
	lf, err := os.OpenFile(filepath.Join(d.root, swapLock), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("vaultstore: swap %s: lock: %w", key, err)
	}
	defer lf.Close() // releases the lock
	if err := filelock.Lock(lf); err != nil {
		return fmt.Errorf("vaultstore: swap %s: lock: %w", key, err)
	}
	cur, err := d.readSmall(key)
	switch {
	case errors.Is(err, ErrNotFound):
		if old != nil {
			return fmt.Errorf("vaultstore: swap %s: %w", key, ErrConflict)
		}
	case err != nil:
		return fmt.Errorf("vaultstore: swap %s: %w", key, err)
	case old == nil || !bytes.Equal(cur, old):
		return fmt.Errorf("vaultstore: swap %s: %w", key, ErrConflict)
	}
	return d.Put(ctx, key, bytes.NewReader(new), int64(len(new)))
}

// readSmall reads an object of at most MaxSwap bytes.
func (d *dirStore) readSmall(key string) ([]byte, error) {
	f, err := os.Open(d.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxSwap+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxSwap {
		return nil, fmt.Errorf("object of more than %d bytes", MaxSwap)
	}
	return b, nil
}
