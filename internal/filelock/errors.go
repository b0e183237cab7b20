package filelock

import "errors"

// ErrLocked is what TryLock returns when another process or open holds the
// lock.
var ErrLocked = errors.New("filelock: the file is locked by another process")

// ErrUnsupported is what every call returns where the system has no file
// lock; a caller that can do without one treats it as taken.
var ErrUnsupported = errors.New("filelock: no file lock on this system")
