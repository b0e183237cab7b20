//go:build linux

package transfer

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing a just-written range to
// disk without waiting for it, so that the fsyncs of the commit find little
// left to do: the disk works while the transfer goes on. Errors are
// ignored; the fsync that follows reports any real failure.
func startWriteback(f *os.File, off, n int64) {
	unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
