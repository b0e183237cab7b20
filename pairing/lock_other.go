//go:build !(linux || darwin || freebsd || openbsd || netbsd || dragonfly || windows)

package pairing

import "os"

// lockFile is a no-op where no file lock is available: the in-process mutex
// and atomic renames still keep the file whole.
func lockFile(*os.File) error { return nil }

func unlockFile(*os.File) error { return nil }
