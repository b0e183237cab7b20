// Package wire is the framing of Ferry's stream protocols (/ferry/transfer/1):
// typed, length-prefixed messages read one at a time with a hard size bound.
//
// A frame on the wire is
//
//	uvarint(len(body)+1) || type (1 byte) || body
//
// Message types and their bodies:
//
//	client → server
//	  GetManifest  0x01  empty
//	  GetChunk     0x02  uvarint(index)
//	  Done         0x03  JSON report of the committed migration
//	server → client
//	  Manifest     0x81  the manifest's canonical encoding (see package transfer)
//	  Chunk        0x82  uvarint(index) || the chunk's stored bytes
//	  Ack          0x83  empty
//	  Error        0xff  code (1 byte) || UTF-8 message
//
// A client sends one request and reads its answer before the next, on as many
// streams in parallel as it likes; a server answers in order. The first byte
// of each answer tells success (Manifest, Chunk, Ack) from Error. Unknown types
// are a protocol error: both sides are the same version by the protocol ID.
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

// Message types.
const (
	GetManifest Type = 0x01
	GetChunk    Type = 0x02
	Done        Type = 0x03
	Manifest    Type = 0x81
	Chunk       Type = 0x82
	Ack         Type = 0x83
	Error       Type = 0xff
)

// MaxFrame bounds every frame body: the largest manifest plus slack. A peer
// that announces more is cut off before anything is allocated.
const MaxFrame = 34 << 20

// Error codes carried by an Error message.
const (
	CodeInternal   byte = 1 // the server failed; the client may retry
	CodeNotTrusted byte = 2 // the client's peer ID is not a paired device
	CodeNoSession  byte = 3 // nothing is being offered right now
	CodeBadRequest byte = 4 // the request made no sense (index out of range, ...)
)

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
	head := make([]byte, 0, joined)
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

// Reader reads frames, reusing one buffer.
type Reader struct {
	r   *bufio.Reader
	buf []byte
}

// NewReader wraps r.
func NewReader(r io.Reader) *Reader { return &Reader{r: bufio.NewReaderSize(r, 64<<10)} }

// Next reads one frame. The body is valid until the next call. io.EOF means
// the stream ended cleanly between frames; io.ErrUnexpectedEOF means it was
// cut mid-frame.
func (r *Reader) Next() (Type, []byte, error) {
	f, err := r.frame(r.buf)
	if err != nil {
		return 0, nil, err
	}
	r.buf = f[:0]
	return Type(f[0]), f[1:], nil
}

// NextInto is Next reading the frame into buf when it fits, else into a new
// buffer; the body belongs to the caller. A caller that reads many frames
// into one buffer of its own allocates nothing per frame.
func (r *Reader) NextInto(buf []byte) (Type, []byte, error) {
	f, err := r.frame(buf)
	if err != nil {
		return 0, nil, err
	}
	return Type(f[0]), f[1:], nil
}

// frame reads one frame (type and body) into buf, or a new buffer if it
// does not fit.
func (r *Reader) frame(buf []byte) ([]byte, error) {
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
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	b := buf[:n]
	if _, err := io.ReadFull(r.r, b); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return b, nil
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
		return &RemoteError{Code: CodeInternal, Message: "unspecified error"}
	}
	return &RemoteError{Code: body[0], Message: string(body[1:])}
}

// PutIndex encodes a chunk index.
func PutIndex(i uint64) []byte { return binary.AppendUvarint(nil, i) }

// Index decodes a chunk index at the start of body and returns the rest.
func Index(body []byte) (uint64, []byte, error) {
	i, k := binary.Uvarint(body)
	if k <= 0 {
		return 0, nil, ErrMalformed
	}
	return i, body[k:], nil
}
