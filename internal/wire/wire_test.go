package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"slices"
	"testing"
)

// Message types and an error code for the tests: those of a protocol
// like /ferry/transfer/1.
const (
	GetManifest    Type = 0x01
	GetChunk       Type = 0x02
	Manifest       Type = 0x81
	Chunk          Type = 0x82
	CodeNotTrusted byte = 2
)

// PutIndex and Index encode and decode a chunk index (a uvarint).
func PutIndex(i uint64) []byte { return binary.AppendUvarint(nil, i) }

func Index(body []byte) (uint64, []byte, error) {
	i, k := binary.Uvarint(body)
	if k <= 0 {
		return 0, nil, ErrMalformed
	}
	return i, body[k:], nil
}

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
	f.Add(announce(Chunk, MaxFrame, []byte{1, 2, 3, 4}))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Small read-ahead buffers, one reader and one buffer for the
		// whole input, and at most maxFrames frames of it: each run must
		// stay cheap, also when the fuzzer minimizes an input of tens of
		// thousands of frames (which it runs thousands of times).
		const maxFrames = 64
		type frame struct {
			typ  Type
			body []byte
		}
		var frames []frame
		var out bytes.Buffer
		r := NewReaderSize(bytes.NewReader(data), 64)
		for len(frames) < maxFrames {
			typ, body, err := r.Next()
			if err != nil {
				break
			}
			if typ == GetChunk || typ == Chunk {
				_, _, _ = Index(body)
			}
			if typ == Error {
				_ = ParseError(body)
			}
			// Whatever parses re-encodes to the same frames.
			if err := Write(&out, typ, body); err != nil {
				t.Fatalf("re-encode: %v", err)
			}
			frames = append(frames, frame{typ, bytes.Clone(body)})
		}
		again := NewReaderSize(&out, 64)
		for i, f := range frames {
			typ, body, err := again.Next()
			if err != nil || typ != f.typ || !bytes.Equal(body, f.body) {
				t.Fatalf("frame %d: the round trip changed it: %v", i, err)
			}
		}
		if _, _, err := again.Next(); err != io.EOF {
			t.Fatalf("after the re-encoded frames: %v, want io.EOF", err)
		}
	})
}

// announce is a frame header announcing a body of n bytes of type t,
// followed by only the given bytes of it.
func announce(t Type, n int, body []byte) []byte {
	b := binary.AppendUvarint(nil, uint64(n)+1)
	return append(append(b, byte(t)), body...)
}

// A frame that announces MaxFrame bytes and sends four costs a small
// buffer, not MaxFrame: the buffer grows as the bytes arrive. (Before, each
// such frame allocated 34 MiB, and the fuzzer stalled on them.)
func TestAnnouncedLengthIsNotAllocated(t *testing.T) {
	const frames = 64
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range frames {
		r := NewReaderSize(bytes.NewReader(announce(Chunk, MaxFrame, []byte{1, 2, 3, 4})), 16)
		if _, _, err := r.Next(); err != io.ErrUnexpectedEOF {
			t.Fatalf("a cut frame: %v, want io.ErrUnexpectedEOF", err)
		}
	}
	runtime.ReadMemStats(&after)
	// The old reader allocated frames × MaxFrame (2.1 GiB); this one
	// frames × firstGrow (1 MiB) and the readers.
	if got, bound := after.TotalAlloc-before.TotalAlloc, uint64(4<<20); got > bound {
		t.Errorf("%d frames announcing %d bytes and sending 4 allocated %d bytes, want at most %d", frames, MaxFrame, got, bound)
	}
}

// A frame whose body arrives whole is read whole, through every size the
// buffer grows to, whether it is Next's or a new one for NextInto.
func TestGrowingBody(t *testing.T) {
	for _, n := range []int{0, 1, firstGrow - 1, firstGrow, firstGrow + 1, 4*firstGrow + 3, 3 << 20} {
		body := bytes.Repeat([]byte{0x5a}, n)
		for i := range body {
			body[i] = byte(i * 31)
		}
		var stream bytes.Buffer
		if err := Write(&stream, Chunk, body); err != nil {
			t.Fatal(err)
		}
		r := NewReader(bytes.NewReader(bytes.Repeat(stream.Bytes(), 2)))
		if typ, got, err := r.Next(); err != nil || typ != Chunk || !bytes.Equal(got, body) {
			t.Errorf("Next of %d bytes: %#x, %d bytes, %v", n, typ, len(got), err)
		}
		if typ, got, err := r.NextInto(make([]byte, 0, 10)); err != nil || typ != Chunk || !bytes.Equal(got, body) {
			t.Errorf("NextInto of %d bytes: %#x, %d bytes, %v", n, typ, len(got), err)
		}
	}
}

// Check sees each frame's type and length before its body is read, and
// its error ends Next.
func TestCheck(t *testing.T) {
	tooBig := errors.New("too big for its type")
	var seen []int
	r := NewReader(bytes.NewReader(append(announce(GetChunk, 3, []byte{1, 2, 3}), announce(GetChunk, 1<<20, nil)...)))
	r.Check = func(typ Type, n int) error {
		seen = append(seen, n)
		if typ != GetChunk || n > 8 {
			return tooBig
		}
		return nil
	}
	if _, body, err := r.Next(); err != nil || len(body) != 3 {
		t.Fatalf("a frame within the bound: %d bytes, %v", len(body), err)
	}
	if _, _, err := r.Next(); !errors.Is(err, tooBig) {
		t.Errorf("a frame over the bound: %v, want Check's error", err)
	}
	if !slices.Equal(seen, []int{3, 1 << 20}) {
		t.Errorf("Check saw lengths %v, want [3 1048576]", seen)
	}
}

// scope is a Memory with a limit.
type scope struct {
	used, limit int
	released    int
}

func (s *scope) ReserveMemory(n int, _ uint8) error {
	if s.used+n > s.limit {
		return errors.New("over the limit")
	}
	s.used += n
	return nil
}
func (s *scope) ReleaseMemory(n int) { s.used -= n; s.released += n }

// Next's buffers are reserved before they are allocated and released when
// dropped; a reservation refused ends Next.
func TestMemory(t *testing.T) {
	big := bytes.Repeat([]byte{7}, 100<<10)
	var stream bytes.Buffer
	for _, b := range [][]byte{big, []byte("small"), big} {
		if err := Write(&stream, Chunk, b); err != nil {
			t.Fatal(err)
		}
	}
	m := &scope{limit: 1 << 20}
	r := NewReader(&stream)
	r.Memory = m
	if _, body, err := r.Next(); err != nil || !bytes.Equal(body, big) {
		t.Fatalf("first frame: %d bytes, %v", len(body), err)
	}
	if m.used != cap(r.buf) || m.used < len(big) {
		t.Errorf("after a %d-byte frame %d bytes reserved, buffer of %d", len(big), m.used, cap(r.buf))
	}
	if _, _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	r.Reset()
	if m.used != 0 {
		t.Errorf("after Reset %d bytes stay reserved", m.used)
	}
	m.limit = 64 << 10
	if _, _, err := r.Next(); err == nil {
		t.Error("a frame larger than the memory left was read")
	}
	r.Reset()
	if m.used != 0 {
		t.Errorf("after a refused frame and Reset %d bytes stay reserved", m.used)
	}
}
