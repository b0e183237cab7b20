package archive

import (
	"bytes"
	"errors"
	"testing"
)

// What Seal makes is an archive a Reader opens, and Open opens what a
// Writer of one frame makes: one format, one implementation.
func TestSealIsAnArchive(t *testing.T) {
	key := mustKey(t)
	p := randBytes(t, 100_000)
	sealed, err := Seal([]byte("prefix"), key, p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(sealed, []byte("prefix")) {
		t.Fatal("Seal did not append to dst")
	}
	sealed = sealed[len("prefix"):]
	got, err := readAll(sealed, key, false)
	if err != nil || len(got) != 1 || !bytes.Equal(got[0], p) {
		t.Fatalf("a Reader on Seal's output: %d frames, %v", len(got), err)
	}
	written := buildWithKey(t, key, [][]byte{p})
	if got, err := Open(key, written); err != nil || !bytes.Equal(got, p) {
		t.Fatalf("Open of a Writer's one-frame archive: %v", err)
	}
	if got, err := Open(key, bytes.Clone(sealed)); err != nil || !bytes.Equal(got, p) {
		t.Fatalf("Open of Seal's output: %v", err)
	}
}

// Open refuses every change, a wrong key, a cut and an extension.
func TestOpenRefuses(t *testing.T) {
	key := mustKey(t)
	sealed, err := Seal(nil, key, []byte("a small object"))
	if err != nil {
		t.Fatal(err)
	}
	for off := range sealed {
		b := flip(bytes.Clone(sealed), off, 0x01)
		if _, err := Open(key, b); err == nil {
			t.Fatalf("a flipped bit at %d opened", off)
		}
	}
	if _, err := Open(mustKey(t), bytes.Clone(sealed)); !errors.Is(err, ErrWrongKey) {
		t.Errorf("another key: %v, want ErrWrongKey", err)
	}
	for n := range len(sealed) {
		if _, err := Open(key, bytes.Clone(sealed[:n])); err == nil {
			t.Fatalf("cut to %d bytes: opened", n)
		}
	}
	if _, err := Open(key, append(bytes.Clone(sealed), 0)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("a byte after the frame: %v, want ErrCorrupt", err)
	}
	two := buildWithKey(t, key, [][]byte{[]byte("a"), []byte("b")})
	if _, err := Open(key, two); !errors.Is(err, ErrCorrupt) {
		t.Errorf("two frames: %v, want ErrCorrupt", err)
	}
}

func FuzzOpen(f *testing.F) {
	key := fuzzKey()
	sealed, err := Seal(nil, key, []byte("seed object"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sealed)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Open(key, bytes.Clone(b))
		if err != nil {
			return
		}
		again, err := Open(key, bytes.Clone(b))
		if err != nil || !bytes.Equal(p, again) {
			t.Fatalf("opened once, not twice alike: %v", err)
		}
	})
}
