//go:build windows

package scratch

import (
	"os"

	"golang.org/x/sys/windows"
)

// lock takes an exclusive, non-blocking lock on f, held until f is closed
// or the process exits.
func lock(f *os.File) error {
	return windows.LockFileEx(windows.Handle(f.Fd()),
		windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, new(windows.Overlapped))
}
