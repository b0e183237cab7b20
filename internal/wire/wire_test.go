package wire

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		typ  Type
		body []byte
	}{
		{GetManifest, nil},
		{GetChunk, PutIndex(12345)},
		{Chunk, append(PutIndex(7), bytes.Repeat([]byte{0xab}, 1<<20)...)},
		{Error, []byte("\x02not paired")},
	}
	var buf bytes.Buffer
	for _, tt := range tests {
		if err := Write(&buf, tt.typ, tt.body); err != nil {
			t.Fatal(err)
		}
	}
	r := NewReader(&buf)
	for _, tt := range tests {
		typ, body, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if typ != tt.typ || !bytes.Equal(body, tt.body) {
			t.Errorf("got type %#x len %d, want %#x len %d", typ, len(body), tt.typ, len(tt.body))
		}
	}
	if _, _, err := r.Next(); err != io.EOF {
		t.Errorf("after last frame: got %v, want io.EOF", err)
	}
}

func TestNextInto(t *testing.T) {
	var stream bytes.Buffer
	small, large := []byte("hello"), bytes.Repeat([]byte{7}, 100)
	for _, b := range [][]byte{small, large} {
		if err := Write(&stream, Chunk, b); err != nil {
			t.Fatal(err)
		}
	}
	r := NewReader(&stream)
	buf := make([]byte, 64)
	// A frame that fits is read into buf.
	typ, body, err := r.NextInto(buf)
	if err != nil || typ != Chunk || !bytes.Equal(body, small) {
		t.Fatalf("first frame: %#x %q %v, want %#x %q", typ, body, err, Chunk, small)
	}
	if &body[0] != &buf[1] {
		t.Error("a frame that fits buf was not read into it")
	}
	// One that does not fit gets its own buffer; buf is left alone.
	typ, body, err = r.NextInto(buf)
	if err != nil || typ != Chunk || !bytes.Equal(body, large) {
		t.Fatalf("second frame: %#x len %d %v, want %#x len %d", typ, len(body), err, Chunk, len(large))
	}
	if !bytes.Equal(buf[1:6], small) {
		t.Error("a frame too large for buf overwrote it")
	}
	if _, _, err := r.NextInto(buf); err != io.EOF {
		t.Errorf("after the last frame: %v, want io.EOF", err)
	}
}

// writes records each Write it gets.
type writes struct{ calls [][]byte }

func (w *writes) Write(b []byte) (int, error) {
	w.calls = append(w.calls, bytes.Clone(b))
	return len(b), nil
}

func TestWriteJoinsSmallParts(t *testing.T) {
	big := bytes.Repeat([]byte{9}, 4096)
	tests := []struct {
		name  string
		body  [][]byte
		calls int
	}{
		{"empty", nil, 1},
		{"small parts", [][]byte{[]byte("id"), []byte("name")}, 1},
		{"small then large", [][]byte{[]byte("id+name"), big}, 2},
		{"large then small", [][]byte{big, []byte("x")}, 3},
	}
	for _, tt := range tests {
		var w writes
		if err := Write(&w, Chunk, tt.body...); err != nil {
			t.Fatal(err)
		}
		if len(w.calls) != tt.calls {
			t.Errorf("%s: %d writes, want %d", tt.name, len(w.calls), tt.calls)
		}
		typ, body, err := NewReader(bytes.NewReader(bytes.Join(w.calls, nil))).Next()
		if err != nil || typ != Chunk || !bytes.Equal(body, bytes.Join(tt.body, nil)) {
			t.Errorf("%s: read back %#x, %d bytes, %v", tt.name, typ, len(body), err)
		}
	}
}

func TestTruncatedAndOversized(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, Chunk, PutIndex(1), []byte("hello")); err != nil {
		t.Fatal(err)
	}
	full := buf.Bytes()
	for cut := 1; cut < len(full); cut++ {
		_, _, err := NewReader(bytes.NewReader(full[:cut])).Next()
		if err != io.ErrUnexpectedEOF {
			t.Errorf("cut at %d: got %v, want io.ErrUnexpectedEOF", cut, err)
		}
	}
	huge := []byte{0xff, 0xff, 0xff, 0xff, 0x0f, byte(Chunk)}
	if _, _, err := NewReader(bytes.NewReader(huge)).Next(); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("oversized: got %v, want ErrFrameTooLarge", err)
	}
	if err := Write(io.Discard, Manifest, make([]byte, MaxFrame+1)); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("writing oversized: got %v, want ErrFrameTooLarge", err)
	}
}

// errAfter reads its bytes, then fails with err, as a reset stream does.
type errAfter struct {
	b   []byte
	err error
}

func (r *errAfter) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, r.err
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// A stream that fails (reset, deadline) is the stream's error, not a
// malformed frame: the vault client retries the one and not the other.
func TestStreamErrorIsNotMalformed(t *testing.T) {
	reset := errors.New("stream reset")
	var buf bytes.Buffer
	if err := Write(&buf, Chunk, make([]byte, 300)); err != nil {
		t.Fatal(err)
	}
	full := buf.Bytes()
	for _, cut := range []int{0, 1, 2, 10} { // before, inside and after the length
		_, _, err := NewReader(&errAfter{b: full[:cut], err: reset}).Next()
		if !errors.Is(err, reset) {
			t.Errorf("cut at %d: got %v, want the stream's error", cut, err)
		}
	}
	overflow := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}
	if _, _, err := NewReader(bytes.NewReader(overflow)).Next(); !errors.Is(err, ErrMalformed) {
		t.Errorf("a length over 64 bits: got %v, want ErrMalformed", err)
	}
	if _, _, err := NewReader(bytes.NewReader(append(overflow[:9:9], 0x80, 1))).Next(); !errors.Is(err, ErrMalformed) {
		t.Errorf("a length of 11 bytes: got %v, want ErrMalformed", err)
	}
}

func FuzzReader(f *testing.F) {
	var buf bytes.Buffer
	_ = Write(&buf, GetChunk, PutIndex(3))
	_ = Write(&buf, Error, []byte{CodeNotTrusted}, []byte("no"))
	f.Add(buf.Bytes())
	f.Add([]byte{0})
	f.Add([]byte{0x80, 0x80, 0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data))
		for {
			typ, body, err := r.Next()
			if err != nil {
				return
			}
			// Whatever parses re-encodes to the same bytes.
			var out bytes.Buffer
			if err := Write(&out, typ, body); err != nil {
				t.Fatalf("re-encode: %v", err)
			}
			typ2, body2, err := NewReader(&out).Next()
			if err != nil || typ2 != typ || !bytes.Equal(body2, body) {
				t.Fatalf("round trip changed the frame: %v", err)
			}
			if typ == GetChunk || typ == Chunk {
				_, _, _ = Index(body)
			}
			if typ == Error {
				_ = ParseError(body)
			}
		}
	})
}
