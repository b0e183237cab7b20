package strictbin

import (
	"encoding/binary"
	"errors"
	"testing"
)

var errTest = errors.New("test sentinel")

func TestReader(t *testing.T) {
	b := binary.AppendUvarint([]byte{7}, 300)
	b = append(b, make([]byte, 32)...)
	b = append(b, "tail"...)
	r := NewReader(b, errTest)
	if got := r.Byte(); got != 7 {
		t.Errorf("Byte: got %d, want 7", got)
	}
	if got := r.Uvarint(1000, "count"); got != 300 {
		t.Errorf("Uvarint: got %d, want 300", got)
	}
	if got := r.Hash(); got != ([32]byte{}) {
		t.Errorf("Hash: got %x", got)
	}
	if got := string(r.Rest()); got != "tail" {
		t.Errorf("Rest: got %q", got)
	}
	if err := r.End(); err != nil {
		t.Errorf("End: %v", err)
	}
}

// Every malformation fails with the sentinel, and the first failure sticks.
func TestReaderRejects(t *testing.T) {
	cases := []struct {
		name string
		b    []byte
		read func(r *Reader)
	}{
		{"short", []byte{1, 2}, func(r *Reader) { r.Bytes(3) }},
		{"negative", []byte{1}, func(r *Reader) { r.Bytes(-1) }},
		{"truncated varint", []byte{0x80}, func(r *Reader) { r.Uvarint(1<<62, "n") }},
		{"non-canonical varint", []byte{0x81, 0x00}, func(r *Reader) { r.Uvarint(1<<62, "n") }},
		{"too large", binary.AppendUvarint(nil, 11), func(r *Reader) { r.Uvarint(10, "n") }},
		{"trailing", []byte{1, 2}, func(r *Reader) { r.Bytes(1) }},
	}
	for _, tc := range cases {
		r := NewReader(tc.b, errTest)
		tc.read(r)
		if err := r.End(); !errors.Is(err, errTest) {
			t.Errorf("%s: got %v, want the sentinel", tc.name, err)
		}
		first := r.Err()
		r.Fail("later")
		if r.Bytes(0) != nil || r.Uvarint(1, "n") != 0 || r.Err() != first {
			t.Errorf("%s: a read after the failure did not stick to it", tc.name)
		}
	}
}

func FuzzReader(f *testing.F) {
	f.Add([]byte{0x81, 0x01, 1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewReader(b, errTest)
		n := r.Uvarint(uint64(len(b)), "length")
		got := r.Bytes(int(n))
		if r.End() == nil && (len(binary.AppendUvarint(nil, n))+len(got) != len(b)) {
			t.Fatalf("accepted %x as %d bytes", b, len(got))
		}
	})
}
