package chatstore

import (
	"errors"
	"fmt"
	"os"

	"github.com/ferryhq/ferry/internal/filelock"
)

// lockFile takes an exclusive lock on f without waiting: ErrLocked when
// another process (or open) holds it. Where the system has no file lock it
// takes none.
func lockFile(f *os.File) error {
	switch err := filelock.TryLock(f); {
	case err == nil, errors.Is(err, filelock.ErrUnsupported):
		return nil
	case errors.Is(err, filelock.ErrLocked):
		return ErrLocked
	default:
		return fmt.Errorf("lock: %w", err)
	}
}
