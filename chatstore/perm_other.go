//go:build !unix

package chatstore

// secureHome does nothing where file modes do not say who may read a file
// (Windows: a home under the user's profile inherits its access list).
func secureHome(dir string) error { return nil }

// canWrite is true where it cannot be told cheaply: the read-only fallback
// of Open is for Unix file systems mounted read-only.
func canWrite(dir string) bool { return true }
