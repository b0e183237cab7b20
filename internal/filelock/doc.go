// Package filelock takes an exclusive advisory lock on an open file, held
// until the file is closed or unlocked (and released by the system when
// the process dies): flock on Unix, LockFileEx on Windows. It excludes
// other processes and other opens of the same file in this process.
package filelock
