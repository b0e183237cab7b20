//go:build !(linux || android || darwin || ios || freebsd || openbsd || netbsd || dragonfly || windows)

package filelock

import "os"

// Lock fails: there is no file lock here.
func Lock(*os.File) error { return ErrUnsupported }

// Unlock fails: there is no file lock here.
func Unlock(*os.File) error { return ErrUnsupported }

// TryLock fails: there is no file lock here.
func TryLock(*os.File) error { return ErrUnsupported }
