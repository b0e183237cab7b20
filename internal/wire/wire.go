// Package wire is the framing of Ferry's stream protocols (/ferry/transfer/1,
// /ferry/vault/1): typed, length-prefixed messages read one at a time with
// a hard size bound. Each protocol defines its message types (package
// transfer, package relay/vaultproto); the Error type is common to all.
//
// A frame on the wire is
//
//	uvarint(len(body)+1) || type (1 byte) || body
//
// and an Error message is
//
//	Error  0xff  code (1 byte) || UTF-8 message
//
// whose codes each protocol defines (1 is "internal" in every one). A
// client sends one request and reads its answer before the next, on as
// many streams in parallel as it likes; a server answers in order.
package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Type identifies a message.
type Type byte

// Error is the message type of an error answer, in every protocol.
const Error Type = 0xff

// MaxFrame bounds every frame body: the largest manifest plus slack. A peer
// that announces more is cut off before anything is allocated.
const MaxFrame = 34 << 20

// codeInternal is the code of an Error message without a body: the
// server failed (1 in every protocol).
const codeInternal byte = 1

// ErrFrameTooLarge is returned for a frame longer than MaxFrame.
var ErrFrameTooLarge = errors.New("wire: frame too large")

// ErrMalformed is returned for a frame that does not parse.
var ErrMalformed = errors.New("wire: malformed frame")

// RemoteError is an Error message received from the peer.
type RemoteError struct {
	Code    byte
	Message string
}

func (e *RemoteError) Error() string { return fmt.Sprintf("peer: %s (code %d)", e.Message, e.Code) }

// Write sends one frame. The header and the small parts of the body at its
// start go out in one write: on a libp2p stream each write is a frame of
// its own, and a TLS record.
func Write(w io.Writer, t Type, body ...[]byte) error {
	n := 1
	for _, b := range body {
		n += len(b)
	}
	if n-1 > MaxFrame {
		return ErrFrameTooLarge
	}
	const joined = 512
	head := make([]byte, 0, min(joined, binary.MaxVarintLen64+n))
	head = binary.AppendUvarint(head, uint64(n))
	head = append(head, byte(t))
	for len(body) > 0 && len(head)+len(body[0]) <= joined {
		head = append(head, body[0]...)
		body = body[1:]
	}
	if _, err := w.Write(head); err != nil {
		return err
	}
	for _, b := range body {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// Reader reads frames, reusing one buffer. A frame's body is read into a
// buffer that grows as its bytes arrive, never to the length the frame
// announces before those bytes are there: a peer that announces MaxFrame
// and sends four bytes costs firstGrow bytes, not MaxFrame.
type Reader struct {
	r   *bufio.Reader
	buf []byte // Next's buffer; its capacity is reserved from Memory
	// Check, if set, is called with each frame's type and body length once
	// its header is read, before anything is allocated for its body; its
	// error ends Next. A server bounds each message type with it (and sets
	// the deadline of the body).
	Check func(t Type, n int) error
	// Memory, if set, accounts the buffers the Reader allocates: each is
	// reserved before it is allocated (an error ends Next) and released
	// when the Reader drops it (a larger one replaced it, or Reset). A
	// libp2p stream's network.ResourceScope is one.
	Memory Memory
}

// Memory accounts memory; network.ResourceScope (go-libp2p) has this
// method set.
type Memory interface {
	ReserveMemory(size int, prio uint8) error
	ReleaseMemory(size int)
}

// reservePriority is the priority of a Reader's reservations: a buffer is
// refused once the scope is about 80% used (go-libp2p's
// network.ReservationPriorityHigh).
const reservePriority = 203

// firstGrow is the first buffer given to a body that does not fit the
// buffer at hand; each further one is four times larger, up to the body's
// length.
const firstGrow = 16 << 10

// NewReader wraps r.
func NewReader(r io.Reader) *Reader { return NewReaderSize(r, 64<<10) }

// NewReaderSize wraps r with a read-ahead buffer of size bytes; a server
// that holds many idle streams gives each a small one.
func NewReaderSize(r io.Reader, size int) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, size)}
}

// Next reads one frame. The body is valid until the next call. io.EOF means
// the stream ended cleanly between frames; io.ErrUnexpectedEOF means it was
// cut mid-frame.
func (r *Reader) Next() (Type, []byte, error) {
	f, err := r.frame(r.buf, true)
	if err != nil {
		return 0, nil, err
	}
	return Type(f[0]), f[1:], nil
}

// NextInto is Next reading the frame into buf when it fits, else into a new
// buffer; the body belongs to the caller, and a new buffer is not
// accounted to Memory. A caller that reads many frames into one buffer of
// its own allocates nothing per frame.
func (r *Reader) NextInto(buf []byte) (Type, []byte, error) {
	f, err := r.frame(buf, false)
	if err != nil {
		return 0, nil, err
	}
	return Type(f[0]), f[1:], nil
}

// Reset drops Next's buffer (and releases its reservation): a server calls
// it once a stream goes idle after a large request, and when the stream
// ends.
func (r *Reader) Reset() {
	if r.Memory != nil && cap(r.buf) > 0 {
		r.Memory.ReleaseMemory(cap(r.buf))
	}
	r.buf = nil
}

// frame reads one frame (type and body) into buf, or into buffers that
// grow as the body arrives if it does not fit. own says buf is Next's,
// which the grown buffer replaces.
func (r *Reader) frame(buf []byte, own bool) ([]byte, error) {
	n, err := r.length()
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, ErrMalformed
	}
	if n-1 > MaxFrame {
		return nil, ErrFrameTooLarge
	}
	t, err := r.r.ReadByte()
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if r.Check != nil {
		if err := r.Check(Type(t), int(n-1)); err != nil {
			return nil, err
		}
	}
	if cap(buf) >= int(n) {
		b := buf[:n]
		b[0] = t
		if err := r.fill(b[1:]); err != nil {
			return nil, err
		}
		return b, nil
	}
	// Grow as the bytes arrive: a buffer is replaced by a larger one only
	// once it is full.
	b := buf[:0]
	if !own {
		b = nil // the caller's buffer is left alone
	}
	if cap(b) == 0 {
		if b, err = r.grow(b, min(int(n), firstGrow), own); err != nil {
			return nil, err
		}
	}
	b = append(b, t)
	for len(b) < int(n) {
		if len(b) == cap(b) {
			if b, err = r.grow(b, min(int(n), 4*cap(b)), own); err != nil {
				return nil, err
			}
		}
		k := min(cap(b), int(n))
		if err := r.fill(b[len(b):k]); err != nil {
			return nil, err
		}
		b = b[:k]
	}
	return b, nil
}

// grow returns a buffer of capacity size holding b, reserved from Memory
// when it is Next's (own); it replaces Next's buffer at once, so that the
// reservation and the buffer stay one.
func (r *Reader) grow(b []byte, size int, own bool) ([]byte, error) {
	if own && r.Memory != nil {
		if err := r.Memory.ReserveMemory(size, reservePriority); err != nil {
			return nil, fmt.Errorf("wire: frame buffer of %d bytes: %w", size, err)
		}
	}
	nb := make([]byte, len(b), size)
	copy(nb, b)
	if own {
		r.Reset()
		r.buf = nb
	}
	return nb, nil
}

// fill reads len(b) bytes of a frame's body.
func (r *Reader) fill(b []byte) error {
	if _, err := io.ReadFull(r.r, b); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	return nil
}

// length reads a frame's length prefix. An error of the stream (a reset, a
// deadline) is returned as it is, so that a caller can tell a lost connection
// from a peer that sent something that is not a frame (ErrMalformed).
func (r *Reader) length() (uint64, error) {
	var n uint64
	for i := 0; i < binary.MaxVarintLen64; i++ {
		b, err := r.r.ReadByte()
		if err != nil {
			if err == io.EOF && i > 0 {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
		if i == binary.MaxVarintLen64-1 && b > 1 {
			return 0, ErrMalformed // overflows 64 bits
		}
		n |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			return n, nil
		}
	}
	return 0, ErrMalformed
}

// WriteError sends an Error message.
func WriteError(w io.Writer, code byte, msg string) error {
	return Write(w, Error, []byte{code}, []byte(msg))
}

// ParseError decodes the body of an Error message.
func ParseError(body []byte) *RemoteError {
	if len(body) == 0 {
		return &RemoteError{Code: codeInternal, Message: "unspecified error"}
	}
	return &RemoteError{Code: body[0], Message: string(body[1:])}
}
