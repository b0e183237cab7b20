// Package strictbin reads Ferry's binary formats strictly: fields in
// order, unsigned LEB128 varints in their shortest form and within the
// bound the caller gives, lengths checked against what is left before
// anything is sliced, and no trailing bytes. It is the one reader of the
// transfer manifest, the vault manifest and the vault protocol's
// messages, so that they fail alike: the first failure sticks, every read
// after it returns zero values, and the error wraps the caller's sentinel
// (ErrCorrupt, ErrVaultCorrupt, ErrBadRequest).
package strictbin

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// errMalformed is the sentinel of a Reader made without one.
var errMalformed = errors.New("malformed data")

// Reader reads one byte string. It is not safe for concurrent use.
type Reader struct {
	b        []byte
	err      error
	sentinel error
}

// NewReader reads b; failures wrap sentinel.
func NewReader(b []byte, sentinel error) *Reader {
	if sentinel == nil {
		sentinel = errMalformed
	}
	return &Reader{b: b, sentinel: sentinel}
}

// Err is the first failure, or nil.
func (r *Reader) Err() error { return r.err }

// Len is the number of bytes not read yet.
func (r *Reader) Len() int { return len(r.b) }

// Fail records a failure (unless one is recorded already): the sentinel,
// then the message.
func (r *Reader) Fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", r.sentinel, fmt.Sprintf(format, args...))
	}
}

// Bytes reads n bytes (capacity capped, so appending to them never writes
// over what follows); nil after a failure or when fewer than n are left.
func (r *Reader) Bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.Fail("ends early (%d bytes wanted, %d left)", n, len(r.b))
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// Byte reads one byte.
func (r *Reader) Byte() byte {
	if b := r.Bytes(1); b != nil {
		return b[0]
	}
	return 0
}

// Hash reads a 32-byte hash.
func (r *Reader) Hash() (h [32]byte) {
	copy(h[:], r.Bytes(32))
	return h
}

// Uvarint reads a varint in its shortest form, no larger than max; what
// names it in the error.
func (r *Reader) Uvarint(max uint64, what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	switch {
	case n <= 0:
		r.Fail("bad %s", what)
		return 0
	case n != len(binary.AppendUvarint(nil, v)):
		r.Fail("non-canonical %s", what)
		return 0
	case v > max:
		r.Fail("%s %d too large (at most %d)", what, v, max)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// Rest reads everything that is left.
func (r *Reader) Rest() []byte {
	if r.err != nil {
		return nil
	}
	v := r.b
	r.b = r.b[len(r.b):]
	return v
}

// End checks that nothing is left and returns the first failure.
func (r *Reader) End() error {
	if r.err == nil && len(r.b) != 0 {
		r.Fail("%d trailing bytes", len(r.b))
	}
	return r.err
}
