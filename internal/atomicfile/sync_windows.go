//go:build windows

package atomicfile

// SyncDir is a no-op on Windows: a directory cannot be opened for fsync
// there, and NTFS journals its metadata.
func SyncDir(dir string) error { return nil }
