// Package vaultstore is where a relay keeps vault objects (encrypted backup
// chunks and manifests): a local directory by default, or S3-compatible
// object storage. Objects are immutable blobs named by opaque keys; a write
// becomes visible only when complete, so a crash never leaves a partial object.
package vaultstore

import (
	"context"
	"errors"
	"io"
)

// ErrNotFound is returned for a key that does not exist.
var ErrNotFound = errors.New("vaultstore: no such object")

// ErrConflict is returned by Swap when the object does not hold what the
// caller last read: another writer changed it meanwhile. Read it again and
// decide anew.
var ErrConflict = errors.New("vaultstore: the object changed meanwhile")

// MaxSwap bounds the objects Swap compares and writes: small records such
// as counters.
const MaxSwap = 64 << 10

// Store keeps vault objects. Keys are slash-separated paths of [A-Za-z0-9_-]
// segments (e.g. "acct/<id>/chunks/<name>"); implementations reject others.
type Store interface {
	// Put stores size bytes read from r under key, replacing any object
	// there. The object is visible only after Put returns nil; an
	// interrupted Put leaves no object (or the previous one) visible.
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// Get opens the object at key; ErrNotFound if there is none.
	Get(ctx context.Context, key string) (io.ReadCloser, int64, error)
	// Stat returns the object's size; ErrNotFound if there is none.
	Stat(ctx context.Context, key string) (int64, error)
	// Delete removes the object; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// List returns the objects under prefix (a path ending in "/"),
	// sorted by key. Listing sizes costs one request per 1000 objects on
	// S3, where a Stat of each would cost one per object.
	List(ctx context.Context, prefix string) ([]Object, error)
	// Swap replaces the object at key with new if it holds old, byte for
	// byte (old nil: if there is no object), and returns ErrConflict
	// otherwise. It is a compare-and-swap among the Swaps of every process
	// that shares the store (the directory store locks a file; S3 writes
	// with If-Match on the ETag it read, If-None-Match for a new object),
	// so a counter kept with it counts every increment once however many
	// relays run on one store. Objects of more than MaxSwap bytes are
	// refused.
	Swap(ctx context.Context, key string, old, new []byte) error
}

// Object is one entry of a listing.
type Object struct {
	Key  string
	Size int64
}
