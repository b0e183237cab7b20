package filelock

import "errors"

// ErrLocked is what TryLock returns when another process or open holds the
// lock.
var ErrLocked = errors.New("filelock: the file is locked by another process")
