package archive

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Reader opens an archive: NewReader parses the header, Unlock or
// UnlockPassword authenticates it, and Next returns the frames in order,
// each verified before it is returned. After Next or Skip returns an error
// (io.EOF included) every later call returns the same error. A Reader is not
// safe for concurrent use.
type Reader struct {
	src  io.Reader
	hdr  *header
	hash [sha256.Size]byte // SHA-256 of the header bytes, bound into every frame

	keys    *keys  // nil until unlocked
	next    uint64 // index of the next frame
	scratch []byte // first bytes of large frames, see readSealed
	err     error  // sticky
}

var errLocked = errors.New("archive: read frame: archive is not unlocked (call Unlock or UnlockPassword first)")

// NewReader reads and parses the archive header from r, and nothing more. It
// fails with ErrNotArchive if r does not start with the archive magic,
// ErrNewerVersion if the format version is newer than FormatVersion,
// ErrTruncated if r ends inside the header, and ErrCorrupt if the header
// cannot be parsed. The header is authenticated only by Unlock or
// UnlockPassword, so until then Frames and NeedsPassword are claims, not
// facts.
func NewReader(r io.Reader) (*Reader, error) {
	h, err := readHeader(r)
	if err != nil {
		return nil, fmt.Errorf("archive: read header: %w", err)
	}
	return &Reader{src: r, hdr: h, hash: sha256.Sum256(h.raw)}, nil
}

// NeedsPassword reports whether the archive was made with a password
// (UnlockPassword) rather than a recovery key (Unlock). A password archive
// also opens with Unlock and the key NewPasswordWriter returned.
func (r *Reader) NeedsPassword() bool { return r.hdr.slot == slotPassword }

// Frames returns the number of frames the header declares (authenticated
// once the archive is unlocked).
func (r *Reader) Frames() uint64 { return r.hdr.frames }

// Unlock opens the archive with key and authenticates the header. It fails
// with ErrWrongKey if the key check value in the header does not match key
// (on a password archive, an error that also matches ErrNeedsPassword),
// and with ErrCorrupt if it matches but the header MAC does not.
//
// Telling a wrong key from tampering needs the key check value (an HKDF
// output of its own label, so it reveals nothing about the frame and header
// keys). The trade-off: a changed bit inside the salt or the key check value
// itself also reads as ErrWrongKey rather than ErrCorrupt. Either way the
// archive is refused; only the sentence differs. The check value lets anyone
// holding the archive test a guessed key without decrypting a frame, which
// costs nothing against a 256-bit random key.
func (r *Reader) Unlock(key Key) error {
	defer key.Wipe()
	k, err := deriveKeys(&key, r.hdr.salt)
	if err != nil {
		return fmt.Errorf("archive: unlock: %w", err)
	}
	if !equal(k.check, r.hdr.check) {
		k.wipe()
		if r.hdr.slot == slotPassword {
			return fmt.Errorf("archive: unlock: %w", &detailError{msg: ErrNeedsPassword.Error(), kind: ErrWrongKey, also: ErrNeedsPassword})
		}
		return fmt.Errorf("archive: unlock: %w", ErrWrongKey)
	}
	return r.finishUnlock(k)
}

// UnlockPassword opens a password archive: it derives the key-encryption key
// with Argon2id and the header's parameters, unwraps the archive key and
// authenticates the header. It fails with ErrWrongPassword if the key does
// not unwrap (a wrong password, or changed Argon2id parameters, salt or
// wrapped key, which cannot be told apart), and ErrCorrupt if the key
// unwraps but the header does not authenticate. On a recovery-key archive
// it fails with an error matching ErrWrongPassword and ErrNeedsKey that
// says to use the key.
func (r *Reader) UnlockPassword(password []byte) error {
	if r.hdr.slot != slotPassword {
		return &detailError{
			msg:  ErrNeedsKey.Error() + ": use the recovery key shown when it was made",
			kind: ErrWrongPassword,
			also: ErrNeedsKey,
		}
	}
	wrap, err := kek(password, r.hdr.pwSalt, r.hdr.params)
	if err != nil {
		return fmt.Errorf("archive: unlock: %w", err)
	}
	var key Key
	defer key.Wipe()
	var nonce [12]byte
	if _, err := wrap.Open(key[:0], nonce[:], r.hdr.wrapped, nil); err != nil {
		return fmt.Errorf("archive: unlock: %w", ErrWrongPassword)
	}
	k, err := deriveKeys(&key, r.hdr.salt)
	if err != nil {
		return fmt.Errorf("archive: unlock: %w", err)
	}
	if !equal(k.check, r.hdr.check) {
		// The key is authentic (it unwrapped), so the header was changed.
		k.wipe()
		return fmt.Errorf("archive: unlock: key check: %w", ErrCorrupt)
	}
	return r.finishUnlock(k)
}

func (r *Reader) finishUnlock(k *keys) error {
	raw := r.hdr.raw
	if !equal(k.headerMAC(raw[:len(raw)-macSize]), r.hdr.mac) {
		k.wipe()
		return fmt.Errorf("archive: unlock: header: %w", ErrCorrupt)
	}
	if r.keys != nil {
		r.keys.wipe()
	}
	r.keys = k
	return nil
}

// Next returns the next frame's plaintext, verified. The slice is the
// caller's to keep. Next returns io.EOF exactly after the final declared
// frame, ErrTruncated if the input ends before it, and ErrCorrupt if a frame
// fails to verify (a changed bit, frames reordered, duplicated, dropped or
// taken from another archive) or if anything follows the final frame. The
// check for trailing data reads to the end of the input before the final
// frame is returned.
func (r *Reader) Next() ([]byte, error) {
	return r.NextInto(nil)
}

// NextInto is Next that reuses buf's storage for the frame when buf has the
// capacity for it (the frame plus 16 bytes); otherwise it allocates. The
// result aliases buf in the first case. Reading into one buffer over and
// over saves allocating and zeroing every frame.
func (r *Reader) NextInto(buf []byte) ([]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	if r.keys == nil {
		return nil, errLocked
	}
	p, err := r.readFrame(buf)
	if err != nil {
		r.fail(err)
	}
	return p, err
}

// Skip advances past the next frame without decrypting or verifying it, for
// resuming where frames were already received. The final frame is the
// exception: Skip decrypts and verifies it (and checks that nothing follows),
// so that a truncated or extended archive is still caught. A changed byte in
// a skipped frame goes unnoticed, unless it is in the length prefix, in which
// case a later frame fails. After the final frame Skip returns io.EOF.
func (r *Reader) Skip() error {
	if r.err != nil {
		return r.err
	}
	if r.keys == nil {
		return errLocked
	}
	if r.hdr.frames == 0 || r.next >= r.hdr.frames-1 {
		_, err := r.Next()
		return err
	}
	n, err := r.readLen()
	if err == nil {
		if _, cerr := io.CopyN(io.Discard, r.src, int64(n)); cerr != nil {
			err = fmt.Errorf("archive: skip frame %d: %w", r.next, readErr(cerr))
		}
	}
	if err != nil {
		r.fail(err)
		return err
	}
	r.next++
	return nil
}

func (r *Reader) fail(err error) {
	r.err = err
	r.keys.wipe()
	r.scratch = nil
}

func (r *Reader) readFrame(buf []byte) ([]byte, error) {
	if r.next == r.hdr.frames {
		if err := r.expectEnd(); err != nil {
			return nil, err
		}
		return nil, io.EOF
	}
	n, err := r.readLen()
	if err != nil {
		return nil, err
	}
	sealed, err := r.readSealed(n, buf)
	if err != nil {
		return nil, fmt.Errorf("archive: read frame %d: %w", r.next, err)
	}
	p, err := openFrame(r.keys, &r.hash, r.next, r.hdr.frames, sealed)
	if err != nil {
		return nil, err
	}
	r.next++
	if r.next == r.hdr.frames {
		if err := r.expectEnd(); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// readLen reads and checks a frame's length prefix.
func (r *Reader) readLen() (uint32, error) {
	var b [lenSize]byte
	if _, err := io.ReadFull(r.src, b[:]); err != nil {
		return 0, fmt.Errorf("archive: read frame %d: %w", r.next, readErr(err))
	}
	n := binary.BigEndian.Uint32(b[:])
	if n < tagSize || n > maxSealed {
		return 0, fmt.Errorf("archive: frame %d: length %d: %w", r.next, n, ErrCorrupt)
	}
	return n, nil
}

// readSealed reads n sealed bytes into buf if it has the capacity, else into
// a fresh slice. For a large frame it reads the first bytes into a reused
// scratch buffer before allocating the whole frame, so that a hostile length
// prefix with little data behind it does not cost a MaxFrame allocation.
func (r *Reader) readSealed(n uint32, buf []byte) ([]byte, error) {
	if cap(buf) >= int(n) {
		buf = buf[:n]
		if _, err := io.ReadFull(r.src, buf); err != nil {
			return nil, readErr(err)
		}
		return buf, nil
	}
	if n <= scratchCap {
		buf := make([]byte, n)
		if _, err := io.ReadFull(r.src, buf); err != nil {
			return nil, readErr(err)
		}
		return buf, nil
	}
	if r.scratch == nil {
		r.scratch = make([]byte, scratchCap)
	}
	if _, err := io.ReadFull(r.src, r.scratch); err != nil {
		return nil, readErr(err)
	}
	buf = make([]byte, n)
	copy(buf, r.scratch)
	if _, err := io.ReadFull(r.src, buf[scratchCap:]); err != nil {
		return nil, readErr(err)
	}
	return buf, nil
}

// expectEnd checks that the input ends here.
func (r *Reader) expectEnd() error {
	var b [1]byte
	n, err := io.ReadFull(r.src, b[:])
	switch {
	case n > 0:
		return fmt.Errorf("archive: data after the final frame: %w", ErrCorrupt)
	case err == io.EOF:
		return nil
	default:
		return fmt.Errorf("archive: read end: %w", err)
	}
}
