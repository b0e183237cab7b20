//go:build !unix && !windows

package chatstore

import "os"

// lockFile is a no-op where the platform has no file locks.
func lockFile(f *os.File) error { return nil }
