package archive

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// fuzzKey is the key FuzzReader unlocks with; its seeds are made with it.
func fuzzKey() Key {
	var k Key
	for i := range k {
		k[i] = byte(i * 7)
	}
	return k
}

// FuzzReader feeds arbitrary bytes to NewReader, Unlock (or UnlockPassword
// when the Argon2id cost is small) and Next. It must never panic and
// never allocate beyond one bounded frame; anything that opens must be a
// well-formed archive that re-encodes to frames read back equal.
func FuzzReader(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte(magic))
	f.Add([]byte("not an archive at all"))
	for _, frames := range [][][]byte{
		nil,
		{[]byte("manifest")},
		{[]byte("manifest"), {}, []byte("chunk"), bytes.Repeat([]byte("x"), 300)},
	} {
		f.Add(buildWithKey(f, fuzzKey(), frames))
		var buf bytes.Buffer
		w, _, err := NewPasswordWriter(&buf, []byte(testPassword), testParams(), uint64(len(frames)))
		if err != nil {
			f.Fatal(err)
		}
		for _, p := range frames {
			if err := w.WriteFrame(p); err != nil {
				f.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(bytes.NewReader(data))
		if err != nil {
			if !isRejected(err) {
				t.Fatalf("NewReader: unexpected error %v", err)
			}
			return
		}
		if r.NeedsPassword() {
			p := r.hdr.params
			if p.MemoryKiB > 1024 || p.Time > 2 {
				return // valid but too slow to fuzz
			}
			err = r.UnlockPassword([]byte(testPassword))
		} else {
			err = r.Unlock(fuzzKey())
		}
		if err != nil {
			if !isRejected(err) {
				t.Fatalf("unlock: unexpected error %v", err)
			}
			return
		}
		var frames [][]byte
		for {
			p, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				if !isRejected(err) {
					t.Fatalf("Next: unexpected error %v", err)
				}
				return
			}
			frames = append(frames, p)
		}
		if got, want := uint64(len(frames)), r.Frames(); got != want {
			t.Fatalf("read %d frames to io.EOF, header declares %d", got, want)
		}
		// It opened, so it is an archive: re-encoding its frames and
		// reading them back must give the same frames.
		again, err := readAll(buildWithKey(t, fuzzKey(), frames), fuzzKey(), false)
		if err != nil || len(again) != len(frames) {
			t.Fatalf("round trip: %d frames, %v; want %d", len(again), err, len(frames))
		}
		for i := range frames {
			if !bytes.Equal(again[i], frames[i]) {
				t.Fatalf("round trip: frame %d differs", i)
			}
		}
	})
}

// FuzzParseRecoveryKey checks that ParseRecoveryKey never panics, that
// what it accepts prints back canonically and parses to the same key, and
// that its errors are ErrBadRecoveryKey.
func FuzzParseRecoveryKey(f *testing.F) {
	k := fuzzKey()
	canon := k.RecoveryString()
	for _, s := range []string{
		canon,
		strings.ToUpper(canon),
		strings.ReplaceAll(canon, " ", ""),
		strings.ReplaceAll(canon, " ", "-"),
		"recovery key: " + canon,
		"",
		canon[:70],
		canon + "0",
		"zzzz",
		"ö",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		key, err := ParseRecoveryKey(s)
		if err != nil {
			if !errors.Is(err, ErrBadRecoveryKey) {
				t.Fatalf("ParseRecoveryKey(%q) = %v, want ErrBadRecoveryKey", s, err)
			}
			return
		}
		rs := key.RecoveryString()
		again, err := ParseRecoveryKey(rs)
		if err != nil || again != key {
			t.Fatalf("ParseRecoveryKey(%q) round trip through %q failed: %v", s, rs, err)
		}
		// What was accepted must hold the same 64 digits, any case, with
		// separators and an optional label removed.
		norm := strings.ToLower(s)
		norm = strings.TrimSpace(norm)
		norm = strings.TrimPrefix(norm, "recovery key:")
		norm = strings.Map(func(c rune) rune {
			if strings.ContainsRune("0123456789abcdef", c) {
				return c
			}
			return -1
		}, norm)
		if got := strings.ReplaceAll(rs, " ", ""); got != norm {
			t.Fatalf("ParseRecoveryKey(%q) gave %q, want the digits %q", s, got, norm)
		}
	})
}
