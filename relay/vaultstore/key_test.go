package vaultstore

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckKey(t *testing.T) {
	good := []string{"a", "A", "0", "-", "_", "acct/Ab-9_z/chunks/x", "a/b/c/d/e/f", strings.Repeat("y", maxSegmentLen)}
	for _, k := range good {
		if err := checkKey(k); err != nil {
			t.Errorf("checkKey(%q) = %v, want nil", k, err)
		}
	}
	for _, k := range badKeys {
		if err := checkKey(k); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("checkKey(%q) = %v, want ErrInvalidKey", k, err)
		}
	}
}

func TestCheckPrefix(t *testing.T) {
	tests := []struct {
		prefix string
		ok     bool
	}{
		{"", true}, {"a/", true}, {"a/b-_/", true},
		{"a", false}, {"/", false}, {"a//", false}, {"../", false}, {"foo/../", false},
		{"./", false}, {"a/b", false}, {"/a/", false}, {`a\/`, false},
	}
	for _, tt := range tests {
		err := checkPrefix(tt.prefix)
		if got := err == nil; got != tt.ok {
			t.Errorf("checkPrefix(%q) = %v, want ok %v", tt.prefix, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidKey) {
			t.Errorf("checkPrefix(%q) = %v, want ErrInvalidKey", tt.prefix, err)
		}
	}
}

// FuzzValidKey checks that no accepted key names a path outside the root,
// or a path other than its own (no cleaning, no alias).
func FuzzValidKey(f *testing.F) {
	for _, k := range append([]string{"a", "acct/x/chunks/y", "A-_0/z"}, badKeys...) {
		f.Add(k)
	}
	root := filepath.FromSlash("/vault/root")
	f.Fuzz(func(t *testing.T, key string) {
		if checkKey(key) != nil {
			if checkPrefix(key+"/") == nil {
				t.Fatalf("prefix %q accepted but key %q rejected", key+"/", key)
			}
			return
		}
		if checkPrefix(key+"/") != nil {
			t.Fatalf("key %q accepted but prefix %q rejected", key, key+"/")
		}
		d := &dirStore{root: root}
		p := d.path(key)
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
			t.Fatalf("key %q maps to %q, outside %q", key, p, root)
		}
		if got, want := filepath.ToSlash(rel), key+objSuffix; got != want {
			t.Fatalf("key %q maps to %q under root, want %q", key, got, want)
		}
		if filepath.Clean(p) != p {
			t.Fatalf("key %q maps to uncleaned path %q", key, p)
		}
		for _, seg := range strings.Split(key, "/") {
			if seg == "" || seg == "." || seg == ".." || strings.ContainsAny(seg, `.\:`) || strings.HasSuffix(seg, objSuffix) {
				t.Fatalf("key %q accepted with segment %q", key, seg)
			}
		}
	})
}
