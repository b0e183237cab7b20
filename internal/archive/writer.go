package archive

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Writer seals frames into an archive as they come: it holds one sealed
// frame at a time, never the whole archive. The header is written by the
// constructor. A Writer is not safe for concurrent use.
type Writer struct {
	w      io.Writer
	keys   *keys
	hash   [sha256.Size]byte
	frames uint64 // declared

	next     uint64 // index of the next frame to write
	buf      []byte // length prefix + sealed frame, reused
	err      error  // sticky write error
	closed   bool
	closeErr error
}

// NewWriter writes the header of a recovery-key archive of exactly frames
// frames to w and returns a Writer for them.
func NewWriter(w io.Writer, key Key, frames uint64) (*Writer, error) {
	defer key.Wipe()
	return newWriter(w, &key, frames, slotRecovery, nil)
}

// NewPasswordWriter makes a fresh random key, wraps it under
// Argon2id(password, random salt, p), writes the header of an archive of
// exactly frames frames to w and returns a Writer for them together with the
// key (which also opens the archive with Reader.Unlock; the caller should
// Wipe it when done).
func NewPasswordWriter(w io.Writer, password []byte, p Params, frames uint64) (*Writer, Key, error) {
	if len(password) == 0 {
		return nil, Key{}, errors.New("archive: new password archive: empty password")
	}
	if err := p.Validate(); err != nil {
		return nil, Key{}, fmt.Errorf("archive: new password archive: %w", err)
	}
	key, err := NewKey()
	if err != nil {
		return nil, Key{}, err
	}
	slot := make([]byte, pwSlotSize)
	binary.BigEndian.PutUint32(slot[0:], p.Time)
	binary.BigEndian.PutUint32(slot[4:], p.MemoryKiB)
	slot[8] = p.Threads
	pwSalt := slot[9 : 9+pwSaltSize]
	if _, err := rand.Read(pwSalt); err != nil {
		return nil, Key{}, fmt.Errorf("archive: new password archive: %w", err)
	}
	wrap, err := kek(password, pwSalt, p)
	if err != nil {
		return nil, Key{}, fmt.Errorf("archive: new password archive: %w", err)
	}
	var nonce [12]byte
	wrap.Seal(slot[9+pwSaltSize:9+pwSaltSize], nonce[:], key[:], nil)
	wr, err := newWriter(w, &key, frames, slotPassword, slot)
	if err != nil {
		key.Wipe()
		return nil, Key{}, err
	}
	return wr, key, nil
}

func newWriter(w io.Writer, key *Key, frames uint64, slot byte, slotBody []byte) (*Writer, error) {
	hdr, k, err := appendHeader(nil, key, frames, slot, slotBody)
	if err != nil {
		return nil, fmt.Errorf("archive: new archive: %w", err)
	}
	if _, err := w.Write(hdr); err != nil {
		k.wipe()
		return nil, fmt.Errorf("archive: write header: %w", err)
	}
	return &Writer{w: w, keys: k, hash: sha256.Sum256(hdr), frames: frames}, nil
}

// WriteFrame seals p as the next frame and writes it. It fails if p is
// larger than MaxFrame or if all declared frames were already written. After
// a write error every later call returns that error.
func (w *Writer) WriteFrame(p []byte) error {
	switch {
	case w.closed:
		return errors.New("archive: write frame: writer is closed")
	case w.err != nil:
		return w.err
	case w.next >= w.frames:
		return fmt.Errorf("archive: write frame %d: archive was declared with %d frames", w.next, w.frames)
	case len(p) > MaxFrame:
		return fmt.Errorf("archive: write frame %d: %d bytes is more than the %d-byte frame limit", w.next, len(p), MaxFrame)
	}
	w.buf = sealFrame(w.buf[:0], w.keys, &w.hash, w.next, w.frames, p)
	if _, err := w.w.Write(w.buf); err != nil {
		w.err = fmt.Errorf("archive: write frame %d: %w", w.next, err)
		return w.err
	}
	w.next++
	return nil
}

// Close checks that every declared frame was written and drops the key
// material. It does not close the underlying writer. Close is idempotent: a
// second call returns what the first returned.
func (w *Writer) Close() error {
	if w.closed {
		return w.closeErr
	}
	w.closed = true
	w.keys.wipe()
	w.buf = nil
	switch {
	case w.err != nil:
		w.closeErr = w.err
	case w.next < w.frames:
		w.closeErr = fmt.Errorf("archive: close: %d of %d declared frames written; the archive is incomplete", w.next, w.frames)
	}
	return w.closeErr
}
