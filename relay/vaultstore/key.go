package vaultstore

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidKey is returned for a key or list prefix that is not a
// slash-separated path of [A-Za-z0-9_-] segments.
var ErrInvalidKey = errors.New("vaultstore: invalid object key")

// ErrKeyConflict is returned by the directory store for a Put of key "a"
// while objects "a/..." exist, or of "a/b" while object "a" exists. Use
// keys that are never a prefix of one another: S3 servers accept both but
// some (MinIO) then leave "a/..." out of listings.
var ErrKeyConflict = errors.New("vaultstore: key is both an object and a prefix of another key")

const (
	// maxKeyLen bounds a whole key; S3 allows 1024 bytes per object name.
	maxKeyLen = 512
	// maxSegmentLen keeps every on-disk name well under the usual 255-byte
	// file-name limit, suffix included.
	maxSegmentLen = 128
)

// checkKey reports whether key is a valid object key: one or more segments
// separated by single slashes, each 1..maxSegmentLen characters of
// [A-Za-z0-9_-]. So no "." or "..", no leading or trailing slash, no empty
// segment, no backslash, no drive letter: a valid key can never name a path
// outside the store's root.
func checkKey(key string) error {
	if len(key) == 0 || len(key) > maxKeyLen {
		return fmt.Errorf("%w: %q: length must be 1..%d", ErrInvalidKey, key, maxKeyLen)
	}
	for _, seg := range strings.Split(key, "/") {
		if err := checkSegment(seg); err != nil {
			return fmt.Errorf("%w: %q: %v", ErrInvalidKey, key, err)
		}
	}
	return nil
}

// checkPrefix reports whether prefix is a valid List prefix: "" (every key)
// or a valid key followed by "/".
func checkPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	k, ok := strings.CutSuffix(prefix, "/")
	if !ok {
		return fmt.Errorf("%w: prefix %q must end in \"/\"", ErrInvalidKey, prefix)
	}
	if err := checkKey(k); err != nil {
		return fmt.Errorf("prefix: %w", err)
	}
	return nil
}

func checkSegment(seg string) error {
	if seg == "" {
		return errors.New("empty segment")
	}
	if len(seg) > maxSegmentLen {
		return fmt.Errorf("segment longer than %d", maxSegmentLen)
	}
	for i := 0; i < len(seg); i++ {
		if !segmentByte(seg[i]) {
			return fmt.Errorf("byte %q not in [A-Za-z0-9_-]", seg[i])
		}
	}
	return nil
}

func segmentByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
}
