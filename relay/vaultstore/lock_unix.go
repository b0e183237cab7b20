//go:build !windows

package vaultstore

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive lock on f, released when f is closed (also
// when the process dies).
func lockFile(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			return err
		}
	}
}
