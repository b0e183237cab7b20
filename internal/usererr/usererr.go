// Package usererr holds the error shapes that the engine's packages
// (transfer, backup) share: a sentinel whose sentence the user reads while
// the cause stays reachable for errors.Is and errors.As, and "not enough
// free disk space in DIR".
package usererr

import (
	"errors"
	"os"
)

// ErrNoSpace: a disk filled up. Errors carrying it name the directory:
// "not enough free disk space in DIR".
var ErrNoSpace = errors.New("not enough free disk space")

// sentence presents a sentinel's sentence while keeping the underlying
// cause reachable.
type sentence struct {
	sentinel error
	cause    error
}

func (e *sentence) Error() string { return e.sentinel.Error() }
func (e *sentence) Is(target error) bool {
	return target == e.sentinel || errors.Is(e.sentinel, target)
}
func (e *sentence) Unwrap() error { return e.cause }

// As returns an error that reads as sentinel, matches it (and what it
// matches), and unwraps to cause.
func As(sentinel, cause error) error { return &sentence{sentinel, cause} }

// noSpace is ErrNoSpace naming the directory that is full.
type noSpace struct {
	dir   string
	cause error
}

func (e *noSpace) Error() string        { return ErrNoSpace.Error() + " in " + e.dir }
func (e *noSpace) Is(target error) bool { return target == ErrNoSpace }
func (e *noSpace) Unwrap() error        { return e.cause }

// Disk turns an out-of-space error from a write under dir into "not enough
// free disk space in dir"; other errors pass through.
func Disk(dir string, err error) error {
	if err == nil || errors.Is(err, ErrNoSpace) {
		return err
	}
	if IsNoSpace(err) {
		return &noSpace{dir: dir, cause: err}
	}
	return err
}

// IsNoSpace says whether err is the system's "no space left" (or "quota
// exceeded").
func IsNoSpace(err error) bool {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return isNoSpaceErrno(err)
}
