package archive

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

const testPassword = "correct horse battery staple"

// testParams are cheap Argon2id parameters for tests.
func testParams() Params { return Params{Time: 1, MemoryKiB: 64, Threads: 1} }

type mode int

const (
	recoveryMode mode = iota
	passwordMode
)

func (m mode) String() string { return [...]string{"recovery", "password"}[m] }

// build writes an archive of frames and returns its bytes and key.
func build(t testing.TB, m mode, frames [][]byte) ([]byte, Key) {
	t.Helper()
	var buf bytes.Buffer
	var w *Writer
	var key Key
	var err error
	switch m {
	case recoveryMode:
		key = mustKey(t)
		w, err = NewWriter(&buf, key, uint64(len(frames)))
	case passwordMode:
		w, key, err = NewPasswordWriter(&buf, []byte(testPassword), testParams(), uint64(len(frames)))
	}
	if err != nil {
		t.Fatalf("new writer: %v", err)
	}
	for i, f := range frames {
		if err := w.WriteFrame(f); err != nil {
			t.Fatalf("WriteFrame(%d): %v", i, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return buf.Bytes(), key
}

func mustKey(t testing.TB) Key {
	t.Helper()
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// open parses and unlocks data with key, or with the test password if
// password is set.
func open(data []byte, key Key, password bool) (*Reader, error) {
	r, err := NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	if password {
		err = r.UnlockPassword([]byte(testPassword))
	} else {
		err = r.Unlock(key)
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

// readAll opens data and reads every frame up to io.EOF.
func readAll(data []byte, key Key, password bool) ([][]byte, error) {
	r, err := open(data, key, password)
	if err != nil {
		return nil, err
	}
	var got [][]byte
	for {
		p, err := r.Next()
		if err == io.EOF {
			return got, nil
		}
		if err != nil {
			return got, err
		}
		got = append(got, p)
	}
}

func randBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// frameSpans returns the [start, end) byte range of every frame (length
// prefix included) of a well-formed archive.
func frameSpans(t testing.TB, data []byte) [][2]int {
	t.Helper()
	off := headerSize(data[9])
	var spans [][2]int
	for off < len(data) {
		n := int(binary.BigEndian.Uint32(data[off:]))
		spans = append(spans, [2]int{off, off + lenSize + n})
		off += lenSize + n
	}
	return spans
}

func TestRoundTrip(t *testing.T) {
	many := make([][]byte, 200)
	for i := range many {
		many[i] = randBytes(t, i*37%1500)
	}
	tests := []struct {
		name   string
		frames [][]byte
	}{
		{"no frames", nil},
		{"one frame", [][]byte{[]byte("manifest")}},
		{"one empty frame", [][]byte{{}}},
		{"empty frames around data", [][]byte{{}, []byte("x"), {}}},
		{"many frames", many},
		{"frame above scratch size", [][]byte{randBytes(t, scratchCap+1), randBytes(t, scratchCap-tagSize)}},
		{"frame of MaxFrame", [][]byte{[]byte("manifest"), randBytes(t, MaxFrame)}},
	}
	for _, m := range []mode{recoveryMode, passwordMode} {
		for _, tt := range tests {
			t.Run(m.String()+"/"+tt.name, func(t *testing.T) {
				data, key := build(t, m, tt.frames)
				for _, withPassword := range []bool{false, m == passwordMode} {
					r, err := open(data, key, withPassword)
					if err != nil {
						t.Fatalf("open (password %v): %v", withPassword, err)
					}
					// NextInto with a reused buffer that fits some frames.
					buf := make([]byte, 0, 1024)
					for i, want := range tt.frames {
						got, err := r.NextInto(buf)
						if err != nil || !bytes.Equal(got, want) {
							t.Fatalf("NextInto() frame %d: %v (equal %v)", i, err, bytes.Equal(got, want))
						}
					}
					if _, err := r.NextInto(buf); err != io.EOF {
						t.Fatalf("NextInto() after the final frame = %v, want io.EOF", err)
					}

					r, err = open(data, key, withPassword)
					if err != nil {
						t.Fatalf("open (password %v): %v", withPassword, err)
					}
					if got, want := r.Frames(), uint64(len(tt.frames)); got != want {
						t.Errorf("Frames() = %d, want %d", got, want)
					}
					if got, want := r.NeedsPassword(), m == passwordMode; got != want {
						t.Errorf("NeedsPassword() = %v, want %v", got, want)
					}
					for i, want := range tt.frames {
						got, err := r.Next()
						if err != nil {
							t.Fatalf("Next() frame %d: %v", i, err)
						}
						if !bytes.Equal(got, want) {
							t.Fatalf("frame %d: got %d bytes, want %d bytes (equal %v)", i, len(got), len(want), bytes.Equal(got, want))
						}
					}
					for range 2 {
						if _, err := r.Next(); err != io.EOF {
							t.Fatalf("Next() after the final frame = %v, want io.EOF", err)
						}
					}
				}
			})
		}
	}
}

func TestHeaderSize(t *testing.T) {
	for _, tt := range []struct {
		m    mode
		want int
	}{{recoveryMode, 98}, {passwordMode, 171}} {
		data, _ := build(t, tt.m, nil)
		if got := len(data); got != tt.want {
			t.Errorf("%v header: got %d bytes, want %d (doc.go)", tt.m, got, tt.want)
		}
	}
}

func TestWrongKey(t *testing.T) {
	for _, m := range []mode{recoveryMode, passwordMode} {
		t.Run(m.String(), func(t *testing.T) {
			data, key := build(t, m, [][]byte{[]byte("a")})
			wrong := key
			wrong[31] ^= 1
			_, err := readAll(data, wrong, false)
			if !errors.Is(err, ErrWrongKey) {
				t.Errorf("wrong key: got %v, want ErrWrongKey", err)
			}
		})
	}
}

func TestWrongPassword(t *testing.T) {
	data, _ := build(t, passwordMode, [][]byte{[]byte("a")})
	for _, pw := range []string{"", "correct horse battery stapl", testPassword + " ", "CORRECT HORSE BATTERY STAPLE"} {
		r, err := NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if err := r.UnlockPassword([]byte(pw)); !errors.Is(err, ErrWrongPassword) {
			t.Errorf("UnlockPassword(%q) = %v, want ErrWrongPassword", pw, err)
		}
		if _, err := r.Next(); err == nil {
			t.Errorf("Next() after a failed unlock succeeded")
		}
	}
}

func TestPasswordOnRecoveryArchive(t *testing.T) {
	data, _ := build(t, recoveryMode, nil)
	r, err := NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	err = r.UnlockPassword([]byte(testPassword))
	if !errors.Is(err, ErrWrongPassword) || !strings.Contains(err.Error(), "recovery key") {
		t.Errorf("UnlockPassword on a recovery archive = %v, want ErrWrongPassword saying to use the recovery key", err)
	}
}

func TestNextBeforeUnlock(t *testing.T) {
	data, _ := build(t, recoveryMode, [][]byte{[]byte("a")})
	r, err := NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err == nil {
		t.Error("Next() before Unlock succeeded")
	}
	if err := r.Skip(); err == nil {
		t.Error("Skip() before Unlock succeeded")
	}
}

func TestNotArchive(t *testing.T) {
	for _, in := range []string{"PK\x03\x04 a zip file", "FERRYARX and more", "hello, world", "ferryarc"} {
		if _, err := NewReader(strings.NewReader(in)); !errors.Is(err, ErrNotArchive) {
			t.Errorf("NewReader(%q) = %v, want ErrNotArchive", in, err)
		}
	}
}

func TestVersion(t *testing.T) {
	data, key := build(t, recoveryMode, [][]byte{[]byte("a")})
	tests := []struct {
		version byte
		want    error
	}{
		{0, ErrCorrupt},
		{2, ErrNewerVersion},
		{255, ErrNewerVersion},
	}
	for _, tt := range tests {
		d := bytes.Clone(data)
		d[len(magic)] = tt.version
		_, err := readAll(d, key, false)
		if !errors.Is(err, tt.want) {
			t.Errorf("version %d: got %v, want %v", tt.version, err, tt.want)
		}
	}
	_, err := readAll(func() []byte { d := bytes.Clone(data); d[8] = 2; return d }(), key, false)
	if got, want := err.Error(), "newer version of Ferry"; !strings.Contains(got, want) {
		t.Errorf("newer version message %q does not contain %q", got, want)
	}
}

func TestSkip(t *testing.T) {
	frames := [][]byte{[]byte("manifest"), []byte("chunk 1"), randBytes(t, scratchCap+5), []byte("chunk 3")}
	data, key := build(t, recoveryMode, frames)
	for skip := 0; skip <= len(frames); skip++ {
		r, err := open(data, key, false)
		if err != nil {
			t.Fatal(err)
		}
		for i := range skip {
			if err := r.Skip(); err != nil {
				t.Fatalf("skip %d: Skip() frame %d: %v", skip, i, err)
			}
		}
		for i := skip; i < len(frames); i++ {
			got, err := r.Next()
			if err != nil || !bytes.Equal(got, frames[i]) {
				t.Fatalf("skip %d: Next() frame %d = %q, %v; want %q", skip, i, got, err, frames[i])
			}
		}
		if _, err := r.Next(); err != io.EOF {
			t.Fatalf("skip %d: Next() at the end = %v, want io.EOF", skip, err)
		}
		if err := r.Skip(); err != io.EOF {
			t.Fatalf("skip %d: Skip() at the end = %v, want io.EOF", skip, err)
		}
	}
}

// TestSkipFinalFrameVerified checks that Skip still catches damage to, or
// after, the final frame, while damage inside a skipped frame goes unnoticed
// (documented: resume skips frames it already verified).
func TestSkipFinalFrameVerified(t *testing.T) {
	frames := [][]byte{[]byte("manifest"), []byte("chunk 1"), []byte("chunk 2")}
	data, key := build(t, recoveryMode, frames)
	spans := frameSpans(t, data)
	last := spans[len(spans)-1]
	tests := []struct {
		name string
		data []byte
		want error // nil: skipping every frame succeeds
	}{
		{"intact", data, nil},
		{"bit flipped in the final frame", flip(data, last[1]-1, 1), ErrCorrupt},
		{"final frame cut short", data[:last[1]-1], ErrTruncated},
		{"final frame missing", data[:last[0]], ErrTruncated},
		{"trailing byte", append(bytes.Clone(data), 0), ErrCorrupt},
		{"bit flipped in a skipped frame", flip(data, spans[1][1]-1, 1), nil},
	}
	for _, tt := range tests {
		r, err := open(tt.data, key, false)
		if err != nil {
			t.Fatal(err)
		}
		for range frames {
			if err = r.Skip(); err != nil {
				break
			}
		}
		if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("%s: skipping every frame: got %v, want %v", tt.name, err, tt.want)
		}
	}
}

func flip(data []byte, off int, mask byte) []byte {
	d := bytes.Clone(data)
	d[off] ^= mask
	return d
}

func TestWriterErrors(t *testing.T) {
	key := mustKey(t)
	t.Run("too many frames", func(t *testing.T) {
		w, err := NewWriter(io.Discard, key, 1)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteFrame([]byte("a")); err != nil {
			t.Fatal(err)
		}
		if err := w.WriteFrame([]byte("b")); err == nil {
			t.Error("WriteFrame beyond the declared count succeeded")
		}
		if err := w.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	t.Run("too few frames", func(t *testing.T) {
		w, err := NewWriter(io.Discard, key, 2)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteFrame([]byte("a")); err != nil {
			t.Fatal(err)
		}
		err1, err2 := w.Close(), w.Close()
		if err1 == nil || err2 != err1 {
			t.Errorf("Close() twice after 1 of 2 frames = %v, %v; want the same error twice", err1, err2)
		}
		if err := w.WriteFrame([]byte("b")); err == nil {
			t.Error("WriteFrame after Close succeeded")
		}
	})
	t.Run("frame too large", func(t *testing.T) {
		w, err := NewWriter(io.Discard, key, 1)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteFrame(make([]byte, MaxFrame+1)); err == nil {
			t.Error("WriteFrame of MaxFrame+1 bytes succeeded")
		}
	})
	t.Run("write error is sticky", func(t *testing.T) {
		fw := &failWriter{after: 1}
		w, err := NewWriter(fw, key, 2)
		if err != nil {
			t.Fatal(err)
		}
		err1 := w.WriteFrame([]byte("a"))
		err2 := w.WriteFrame([]byte("a"))
		if !errors.Is(err1, errDiskFull) || err2 != err1 || w.Close() != err1 {
			t.Errorf("after a write error: WriteFrame = %v, then %v; want %v each time and from Close", err1, err2, errDiskFull)
		}
	})
	t.Run("header write error", func(t *testing.T) {
		if _, err := NewWriter(&failWriter{}, key, 1); !errors.Is(err, errDiskFull) {
			t.Errorf("NewWriter on a full disk = %v, want %v", err, errDiskFull)
		}
	})
	t.Run("bad password params", func(t *testing.T) {
		for _, p := range []Params{
			{Time: 0, MemoryKiB: 64, Threads: 1},
			{Time: 1, MemoryKiB: 7, Threads: 1},
			{Time: 1, MemoryKiB: 64, Threads: 0},
			{Time: 1, MemoryKiB: 64, Threads: 9},
			{Time: 1, MemoryKiB: maxMemoryKiB + 1, Threads: 1},
			{Time: maxTime + 1, MemoryKiB: 64, Threads: 1},
		} {
			if _, _, err := NewPasswordWriter(io.Discard, []byte("pw"), p, 0); err == nil {
				t.Errorf("NewPasswordWriter(%+v) succeeded", p)
			}
		}
		if _, _, err := NewPasswordWriter(io.Discard, nil, testParams(), 0); err == nil {
			t.Error("NewPasswordWriter with an empty password succeeded")
		}
	})
}

var errDiskFull = errors.New("no space left on device")

// failWriter accepts after writes, then fails like a full disk.
type failWriter struct{ after int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.after == 0 {
		return 0, errDiskFull
	}
	w.after--
	return len(p), nil
}

func TestDefaultParams(t *testing.T) {
	p := DefaultParams()
	if err := p.Validate(); err != nil {
		t.Errorf("DefaultParams() = %+v: %v", p, err)
	}
	if got, want := p.MemoryKiB*1024, uint32(64<<20); got < want {
		t.Errorf("DefaultParams memory = %d bytes, want at least %d", got, want)
	}
}

func TestErrorMessages(t *testing.T) {
	for _, err := range []error{ErrNotArchive, ErrNewerVersion, ErrWrongKey, ErrWrongPassword, ErrCorrupt, ErrTruncated, ErrBadRecoveryKey} {
		msg := err.Error()
		if strings.Count(msg, ". ") > 0 || strings.HasPrefix(msg, "archive:") || len(msg) < 30 {
			t.Errorf("%q: want one user-facing sentence", msg)
		}
	}
}

func TestKeyRedacted(t *testing.T) {
	key := mustKey(t)
	hx := fmt.Sprintf("%x", key[:])
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q"} {
		if got := fmt.Sprintf(verb, key); strings.Contains(strings.ToLower(got), hx[:8]) {
			t.Errorf("Sprintf(%q, key) = %q reveals the key", verb, got)
		}
	}
}
