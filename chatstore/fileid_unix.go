//go:build unix

package chatstore

import (
	"fmt"
	"os"
	"syscall"
)

// fileIdentity names the file at path (not its content): its device and
// inode, which a rename over it or a copy in its place changes.
func fileIdentity(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "", nil
	}
	return fmt.Sprintf("u:%d:%d", uint64(st.Dev), uint64(st.Ino)), nil
}
