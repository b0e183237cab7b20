//go:build windows

package chatstore

// syncDir is a no-op on Windows: directories cannot be opened for fsync there,
// and NTFS journals the rename itself.
func syncDir(dir string) error { return nil }
