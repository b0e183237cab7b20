//go:build unix

package scratch

import (
	"os"
	"syscall"
)

// lock takes an exclusive, non-blocking lock on f, held until f is closed
// or the process exits.
func lock(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}
