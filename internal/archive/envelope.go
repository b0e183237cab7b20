package archive

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// Seal returns p sealed as a whole archive of one frame under key (a
// recovery-key slot), appended to dst: the format above, byte for byte, so
// that a Reader opens it too. It is the envelope of a small object kept
// apart (a vault's chunk or manifest), where a stream is of no use. p must
// not overlap dst's spare capacity; p is at most MaxFrame bytes.
func Seal(dst []byte, key Key, p []byte) ([]byte, error) {
	defer key.Wipe()
	if len(p) > MaxFrame {
		return nil, fmt.Errorf("archive: seal: %d bytes is more than the %d-byte frame limit", len(p), MaxFrame)
	}
	start := len(dst)
	out, k, err := appendHeader(dst, &key, 1, slotRecovery, nil)
	if err != nil {
		return nil, fmt.Errorf("archive: seal: %w", err)
	}
	defer k.wipe()
	hash := sha256.Sum256(out[start:])
	return sealFrame(out, k, &hash, 0, 1, p), nil
}

// Open opens what Seal made (any archive of exactly one frame) with key,
// decrypting in place: the plaintext returned lies in sealed, which is
// overwritten. It fails like a Reader: ErrNotArchive, ErrNewerVersion,
// ErrWrongKey, ErrTruncated, ErrCorrupt (also for an archive of another
// number of frames, or bytes after its frame).
func Open(key Key, sealed []byte) ([]byte, error) {
	defer key.Wipe()
	h, err := readHeader(bytes.NewReader(sealed))
	if err != nil {
		return nil, fmt.Errorf("archive: open: %w", err)
	}
	k, err := deriveKeys(&key, h.salt)
	if err != nil {
		return nil, fmt.Errorf("archive: open: %w", err)
	}
	defer k.wipe()
	if !equal(k.check, h.check) {
		return nil, fmt.Errorf("archive: open: %w", ErrWrongKey)
	}
	if !equal(k.headerMAC(h.raw[:len(h.raw)-macSize]), h.mac) {
		return nil, fmt.Errorf("archive: open: header: %w", ErrCorrupt)
	}
	if h.frames != 1 {
		return nil, fmt.Errorf("archive: open: %d frames, want 1: %w", h.frames, ErrCorrupt)
	}
	rest := sealed[len(h.raw):]
	if len(rest) < lenSize {
		return nil, fmt.Errorf("archive: open: %w", ErrTruncated)
	}
	n := binary.BigEndian.Uint32(rest)
	switch rest = rest[lenSize:]; {
	case n < tagSize || n > maxSealed:
		return nil, fmt.Errorf("archive: open: frame length %d: %w", n, ErrCorrupt)
	case uint32(len(rest)) < n:
		return nil, fmt.Errorf("archive: open: %w", ErrTruncated)
	case uint32(len(rest)) > n:
		return nil, fmt.Errorf("archive: open: data after the frame: %w", ErrCorrupt)
	}
	hash := sha256.Sum256(h.raw)
	return openFrame(k, &hash, 0, 1, rest)
}
