//go:build !windows

package vaultstore

import "os"

// syncDir makes the entries of dir (a rename, a new file or directory)
// durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
