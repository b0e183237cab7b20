//go:build !unix

package chatstore

// secureHome does nothing where file modes do not say who may read a file
// (Windows: a home under the user's profile inherits its access list).
func secureHome(dir string) error { return nil }
