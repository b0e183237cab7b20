package importers

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// container is where an export's files are: a zip (read entry by entry,
// never extracted as a whole) or a folder (read through an os.Root, so that
// neither ".." nor a symbolic link leads out of it). Names are clean slash
// paths relative to the container's root (cleanName).
type container interface {
	// open opens a file; a missing one is an error wrapping fs.ErrNotExist.
	open(name string) (io.ReadCloser, error)
	// list returns the names of the regular files directly in dir ("" the
	// root), sorted.
	list(dir string) []string
	// has reports whether name is a regular file.
	has(name string) bool
	// dirs lists the folders at the top of the container, sorted.
	dirs() []string
	// what names the container in a sentence: "the zip X", "the folder X".
	what() string
	close() error
}

// zipContainer is an open zip file. Entries whose names are not clean are
// left out of its index: nothing ever opens them.
type zipContainer struct {
	file  string
	r     *zip.ReadCloser
	index map[string]*zip.File
	byDir map[string][]string // dir → names of the files in it
}

func openZip(file string) (*zipContainer, error) {
	r, err := zip.OpenReader(file)
	if err != nil {
		if errors.Is(err, zip.ErrFormat) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, zip.ErrAlgorithm) {
			return nil, badInput(ErrDamaged, err, "%s is not a readable zip file (it may be cut off or damaged): copy or download the export again", filepath.Base(file))
		}
		return nil, fmt.Errorf("open %s: %w", file, err)
	}
	z := &zipContainer{file: file, r: r, index: map[string]*zip.File{}, byDir: map[string][]string{}}
	for _, f := range r.File {
		if f.FileInfo().IsDir() || !f.Mode().IsRegular() {
			continue
		}
		name, ok := cleanName(f.Name, true)
		if !ok {
			continue
		}
		if _, dup := z.index[name]; dup {
			r.Close()
			return nil, badInput(ErrDamaged, nil, "%s holds two files named %q: it is not an export as WhatsApp or Telegram writes them", filepath.Base(file), name)
		}
		z.index[name] = f
		dir := path.Dir(name)
		if dir == "." {
			dir = ""
		}
		z.byDir[dir] = append(z.byDir[dir], name)
	}
	for _, names := range z.byDir {
		sort.Strings(names)
	}
	return z, nil
}

func (z *zipContainer) open(name string) (io.ReadCloser, error) {
	f, ok := z.index[name]
	if !ok {
		return nil, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, badInput(ErrDamaged, err, "%s: the entry %s does not read (%v): copy or download the export again", filepath.Base(z.file), name, err)
	}
	return &zipEntry{rc, z, name}, nil
}

// zipEntry turns the errors of a damaged entry (bad checksum, cut-off
// data) into a sentence.
type zipEntry struct {
	io.ReadCloser
	z    *zipContainer
	name string
}

func (e *zipEntry) Read(p []byte) (int, error) {
	n, err := e.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		return n, badInput(ErrDamaged, err, "%s: the entry %s is damaged (%v): copy or download the export again", filepath.Base(e.z.file), e.name, err)
	}
	return n, err
}

func (z *zipContainer) list(dir string) []string { return z.byDir[dir] }

func (z *zipContainer) dirs() []string {
	var out []string
	for d := range z.byDir {
		if d != "" && !strings.Contains(d, "/") {
			out = append(out, d)
		}
	}
	sort.Strings(out)
	return out
}
func (z *zipContainer) has(name string) bool { _, ok := z.index[name]; return ok }
func (z *zipContainer) what() string         { return "the zip " + filepath.Base(z.file) }
func (z *zipContainer) close() error         { return z.r.Close() }

// dirContainer is a folder.
type dirContainer struct {
	dir  string
	root *os.Root
}

func openDir(dir string) (*dirContainer, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	return &dirContainer{dir: dir, root: root}, nil
}

func (d *dirContainer) open(name string) (io.ReadCloser, error) {
	p := filepath.FromSlash(name)
	if fi, err := d.root.Lstat(p); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		// os.Root refuses a link that leads out of the folder; say so.
		if _, err := d.root.Stat(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, badInput(ErrUnsafeName, err, "%s in %s is a link to a place outside the export: Ferry does not follow it", name, d.what())
		}
	}
	f, err := d.root.Open(p)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: not a regular file: %w", name, fs.ErrNotExist)
	}
	return f, nil
}

func (d *dirContainer) list(dir string) []string {
	if dir == "" {
		dir = "."
	}
	ents, err := fs.ReadDir(d.root.FS(), dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		name := e.Name()
		if dir != "." {
			name = dir + "/" + name
		}
		if n, ok := cleanName(name, true); ok {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

func (d *dirContainer) has(name string) bool {
	fi, err := d.root.Stat(filepath.FromSlash(name))
	return err == nil && fi.Mode().IsRegular()
}

func (d *dirContainer) dirs() []string {
	ents, err := fs.ReadDir(d.root.FS(), ".")
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if n, ok := cleanName(e.Name(), false); ok && e.IsDir() {
			out = append(out, n)
		}
	}
	return out
}

func (d *dirContainer) what() string { return "the folder " + d.dir }
func (d *dirContainer) close() error { return d.root.Close() }

// baseNoExt is a file's base name without its extension.
func baseNoExt(name string) string {
	b := path.Base(filepath.ToSlash(name))
	return strings.TrimSuffix(b, path.Ext(b))
}
