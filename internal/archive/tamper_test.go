package archive

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"slices"
	"testing"
)

// rejected lists what a reader may say about a damaged archive. A damaged
// archive must fail with one of these, never succeed, never panic.
var rejected = []error{ErrCorrupt, ErrWrongKey, ErrWrongPassword, ErrTruncated, ErrNotArchive, ErrNewerVersion}

func isRejected(err error) bool {
	return slices.ContainsFunc(rejected, func(e error) bool { return errors.Is(err, e) })
}

// smallFrames is a small archive's content: an empty frame, one that
// crosses the scratch size, and short ones.
func smallFrames(t testing.TB) [][]byte {
	return [][]byte{[]byte("manifest"), {}, []byte("chunk two"), randBytes(t, scratchCap+3), []byte("last")}
}

// TestFlipEveryBit flips every bit of a small archive, one at a time, and
// opens it with the right key (or password).
func TestFlipEveryBit(t *testing.T) {
	for _, m := range []mode{recoveryMode, passwordMode} {
		t.Run(m.String(), func(t *testing.T) {
			data, key := build(t, m, smallFrames(t))
			hsize := headerSize(data[9])
			offsets := make([]int, 0, len(data))
			for off := range data {
				// Every offset of the header and of the frames' first and
				// last 64 bytes; every 97th byte inside the large frame.
				if off < hsize+256 || off%97 == 0 || len(data)-off < 128 {
					offsets = append(offsets, off)
				}
			}
			if testing.Short() && m == passwordMode {
				offsets = offsets[:hsize]
			}
			for _, off := range offsets {
				for bit := range 8 {
					for _, withPassword := range []bool{false, m == passwordMode} {
						data[off] ^= 1 << bit
						got, err := readAll(data, key, withPassword)
						data[off] ^= 1 << bit
						if !isRejected(err) {
							t.Fatalf("flipped bit %d of byte %d (header is %d bytes, password %v): got %d frames, error %v; want a rejection",
								bit, off, hsize, withPassword, len(got), err)
						}
						if off < len(magic) && !errors.Is(err, ErrNotArchive) {
							t.Fatalf("flipped bit %d of magic byte %d: got %v, want ErrNotArchive", bit, off, err)
						}
					}
				}
			}
		})
	}
}

// TestFlipReportsCorrupt pins the error for a changed byte where the format
// promises ErrCorrupt rather than just any rejection.
func TestFlipReportsCorrupt(t *testing.T) {
	data, key := build(t, recoveryMode, smallFrames(t))
	spans := frameSpans(t, data)
	tests := []struct {
		name string
		off  int
		want error
	}{
		{"frame count", 17, ErrCorrupt},
		{"salt", 20, ErrWrongKey}, // the documented trade-off of the key check
		{"key check", 60, ErrWrongKey},
		{"header MAC", 97, ErrCorrupt},
		{"frame 0 length", spans[0][0] + 3, ErrCorrupt},
		{"frame 0 ciphertext", spans[0][0] + 4, ErrCorrupt},
		{"frame 0 tag", spans[0][1] - 1, ErrCorrupt},
		{"final frame", spans[4][1] - 1, ErrCorrupt},
	}
	for _, tt := range tests {
		_, err := readAll(flip(data, tt.off, 0x10), key, false)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s (byte %d): got %v, want %v", tt.name, tt.off, err, tt.want)
		}
	}
	pwData, _ := build(t, passwordMode, smallFrames(t))
	pwTests := []struct {
		name string
		off  int
		want error
	}{
		{"frame count", 17, ErrCorrupt},
		{"salt", 20, ErrCorrupt}, // the unwrapped key is authentic, so this is tampering
		{"argon2id memory, huge", 54, ErrCorrupt},
		{"argon2id salt", 60, ErrWrongPassword},
		{"wrapped key", 100, ErrWrongPassword},
		{"key check", 130, ErrCorrupt},
		{"header MAC", 170, ErrCorrupt},
	}
	for _, tt := range pwTests {
		_, err := readAll(flip(pwData, tt.off, 0x10), Key{}, true)
		if !errors.Is(err, tt.want) {
			t.Errorf("password archive, %s (byte %d): got %v, want %v", tt.name, tt.off, err, tt.want)
		}
	}
}

// TestTruncateEveryOffset cuts a small archive at every length short of
// its full size: each must fail with ErrTruncated.
func TestTruncateEveryOffset(t *testing.T) {
	for _, m := range []mode{recoveryMode, passwordMode} {
		t.Run(m.String(), func(t *testing.T) {
			frames := [][]byte{[]byte("manifest"), {}, []byte("chunk two"), []byte("last")}
			data, key := build(t, m, frames)
			for n := range len(data) {
				got, err := readAll(data[:n], key, false)
				if !errors.Is(err, ErrTruncated) {
					t.Fatalf("cut at %d of %d bytes: got %d frames, error %v; want ErrTruncated", n, len(data), len(got), err)
				}
			}
			// Also with frames skipped: the final frame is still checked.
			spans := frameSpans(t, data)
			for n := spans[0][0]; n < len(data); n++ {
				r, err := open(data[:n], key, false)
				if err != nil {
					t.Fatal(err)
				}
				for range frames {
					if err = r.Skip(); err != nil {
						break
					}
				}
				if !errors.Is(err, ErrTruncated) {
					t.Fatalf("cut at %d of %d bytes, skipping: got %v, want ErrTruncated", n, len(data), err)
				}
			}
		})
	}
}

// TestRearrange moves whole frames around: each must fail.
func TestRearrange(t *testing.T) {
	frames := [][]byte{[]byte("manifest"), []byte("chunk one"), []byte("chunk two"), []byte("chunk three")}
	data, key := build(t, recoveryMode, frames)
	other, _ := build(t, recoveryMode, frames) // another key
	sameKey := buildWithKey(t, key, frames)    // same key, other archive
	hsize := headerSize(data[9])

	// assemble builds an archive from a header and frames taken by index
	// from data's frames.
	spans := frameSpans(t, data)
	frame := func(d []byte, i int) []byte {
		s := frameSpans(t, d)[i]
		return d[s[0]:s[1]]
	}
	assemble := func(hdr []byte, parts ...[]byte) []byte {
		out := bytes.Clone(hdr)
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	hdr := data[:hsize]
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"swap frames 1 and 2", assemble(hdr, frame(data, 0), frame(data, 2), frame(data, 1), frame(data, 3)), ErrCorrupt},
		{"swap manifest and final", assemble(hdr, frame(data, 3), frame(data, 1), frame(data, 2), frame(data, 0)), ErrCorrupt},
		{"duplicate frame 1", assemble(hdr, frame(data, 0), frame(data, 1), frame(data, 1), frame(data, 3)), ErrCorrupt},
		{"drop frame 1", assemble(hdr, frame(data, 0), frame(data, 2), frame(data, 3)), ErrCorrupt},
		{"drop final frame", assemble(hdr, frame(data, 0), frame(data, 1), frame(data, 2)), ErrTruncated},
		{"repeat final frame", append(bytes.Clone(data), frame(data, 3)...), ErrCorrupt},
		{"trailing byte", append(bytes.Clone(data), 0), ErrCorrupt},
		{"trailing garbage", append(bytes.Clone(data), "garbage after the end"...), ErrCorrupt},
		{"splice frame from same-key archive", assemble(hdr, frame(data, 0), frame(sameKey, 1), frame(data, 2), frame(data, 3)), ErrCorrupt},
		{"splice final frame from same-key archive", assemble(hdr, frame(data, 0), frame(data, 1), frame(data, 2), frame(sameKey, 3)), ErrCorrupt},
		{"header of same-key archive", assemble(sameKey[:hsize], frame(data, 0), frame(data, 1), frame(data, 2), frame(data, 3)), ErrCorrupt},
		{"header of other-key archive", assemble(other[:hsize], data[spans[0][0]:]), ErrWrongKey},
	}
	for _, tt := range tests {
		got, err := readAll(tt.data, key, false)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: got %d frames, error %v; want %v", tt.name, len(got), err, tt.want)
		}
		// A caller that stops after the declared count, without asking
		// for io.EOF, must get the error too.
		if err := readDeclared(tt.data, key); !errors.Is(err, tt.want) {
			t.Errorf("%s, reading only the declared frames: got %v, want %v", tt.name, err, tt.want)
		}
	}
}

// readDeclared reads exactly the declared number of frames.
func readDeclared(data []byte, key Key) error {
	r, err := open(data, key, false)
	if err != nil {
		return err
	}
	for range r.Frames() {
		if _, err := r.Next(); err != nil {
			return err
		}
	}
	return nil
}

func buildWithKey(t testing.TB, key Key, frames [][]byte) []byte {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, key, uint64(len(frames)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range frames {
		if err := w.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestHostileLength checks that a length prefix cannot make the reader
// allocate much more than the bytes actually behind it.
func TestHostileLength(t *testing.T) {
	data, key := build(t, recoveryMode, [][]byte{[]byte("a")})
	hdr := data[:headerSize(data[9])]
	prefix := func(n uint32, body int) []byte {
		d := binary.BigEndian.AppendUint32(bytes.Clone(hdr), n)
		return append(d, make([]byte, body)...)
	}
	tests := []struct {
		name     string
		data     []byte
		want     error
		maxAlloc uint64
	}{
		{"length 0", prefix(0, 0), ErrCorrupt, 1 << 20},
		{"length below tag", prefix(tagSize-1, tagSize-1), ErrCorrupt, 1 << 20},
		{"length above MaxFrame", prefix(maxSealed+1, 100), ErrCorrupt, 1 << 20},
		{"length 4 GiB", prefix(1<<32-1, 100), ErrCorrupt, 1 << 20},
		{"MaxFrame claimed, 100 bytes sent", prefix(maxSealed, 100), ErrTruncated, 1 << 20},
		{"MaxFrame claimed, 64 KiB sent", prefix(maxSealed, scratchCap), ErrTruncated, maxSealed + 1<<20},
	}
	for _, tt := range tests {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := readAll(tt.data, key, false)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
		if got := after.TotalAlloc - before.TotalAlloc; got > tt.maxAlloc {
			t.Errorf("%s: allocated %d bytes, want at most %d", tt.name, got, tt.maxAlloc)
		}
	}
}

// TestHostileParams checks that Argon2id parameters out of bounds are
// refused before any Argon2id work.
func TestHostileParams(t *testing.T) {
	data, _ := build(t, passwordMode, nil)
	const paramsAt = prefixSize
	tests := []struct {
		name  string
		patch func(d []byte)
	}{
		{"time 0", func(d []byte) { binary.BigEndian.PutUint32(d[paramsAt:], 0) }},
		{"time huge", func(d []byte) { binary.BigEndian.PutUint32(d[paramsAt:], 1<<31) }},
		{"memory 4 GiB", func(d []byte) { binary.BigEndian.PutUint32(d[paramsAt+4:], 1<<22) }},
		{"memory below 8 per thread", func(d []byte) { binary.BigEndian.PutUint32(d[paramsAt+4:], 7) }},
		{"threads 0", func(d []byte) { d[paramsAt+8] = 0 }},
		{"threads 255", func(d []byte) { d[paramsAt+8] = 255 }},
	}
	for _, tt := range tests {
		d := bytes.Clone(data)
		tt.patch(d)
		if _, err := NewReader(bytes.NewReader(d)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: NewReader = %v, want ErrCorrupt", tt.name, err)
		}
	}
}

// TestReadError checks that an I/O error is reported as such, not as
// corruption or truncation.
func TestReadError(t *testing.T) {
	data, key := build(t, recoveryMode, [][]byte{[]byte("a"), []byte("b")})
	errIO := errors.New("input/output error")
	for n := range len(data) + 1 {
		r, err := NewReader(io.MultiReader(bytes.NewReader(data[:n]), &errReader{errIO}))
		if err == nil {
			if err = r.Unlock(key); err != nil {
				t.Fatal(err)
			}
			for err == nil {
				_, err = r.Next()
			}
		}
		if !errors.Is(err, errIO) {
			t.Fatalf("read error after %d bytes: got %v, want %v", n, err, errIO)
		}
	}
}

type errReader struct{ err error }

func (r *errReader) Read([]byte) (int, error) { return 0, r.err }
