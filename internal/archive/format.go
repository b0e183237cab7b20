package archive

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"io"

	"golang.org/x/crypto/argon2"
)

// FormatVersion is the archive format version this package writes and the
// highest it reads.
const FormatVersion = 1

// MaxFrame is the largest frame plaintext, in bytes. Writers refuse larger
// frames; readers treat a larger length prefix as corruption, which bounds
// what a hostile archive can make a reader allocate.
const MaxFrame = 32 << 20

const (
	magic = "FERRYARC"

	slotRecovery = 1
	slotPassword = 2

	saltSize    = 32
	pwSaltSize  = 16
	tagSize     = 16 // AES-GCM tag
	wrappedSize = KeySize + tagSize
	checkSize   = 16
	macSize     = sha256.Size
	lenSize     = 4

	prefixSize = len(magic) + 1 + 1 + 8 + saltSize    // magic, version, slot, frames, salt
	pwSlotSize = 4 + 4 + 1 + pwSaltSize + wrappedSize // time, memory, threads, salt, wrapped key
	tailSize   = checkSize + macSize                  // key check, header MAC
	maxSealed  = MaxFrame + tagSize                   // largest valid length prefix
	adSize     = sha256.Size + 8 + 8 + 1              // header hash, index, total, final
	scratchCap = 64 << 10                             // see Reader.readSealed
)

// One HKDF-SHA256 label per derived key.
const (
	labelFrame  = "ferry archive v1 frame key"
	labelHeader = "ferry archive v1 header key"
	labelCheck  = "ferry archive v1 key check"
)

// header is a parsed archive header. raw holds its exact bytes.
type header struct {
	slot    byte
	frames  uint64
	salt    []byte // saltSize
	params  Params
	pwSalt  []byte // pwSaltSize, password slot only
	wrapped []byte // wrappedSize, password slot only
	check   []byte // checkSize
	mac     []byte // macSize
	raw     []byte
}

func headerSize(slot byte) int {
	if slot == slotPassword {
		return prefixSize + pwSlotSize + tailSize
	}
	return prefixSize + tailSize
}

// readHeader reads and parses a header. Nothing in it is authenticated yet.
func readHeader(r io.Reader) (*header, error) {
	buf := make([]byte, headerSize(slotPassword))
	n, err := io.ReadFull(r, buf[:len(magic)])
	if err != nil {
		if bytes.Equal(buf[:n], []byte(magic[:n])) {
			return nil, readErr(err)
		}
		return nil, ErrNotArchive
	}
	if string(buf[:len(magic)]) != magic {
		return nil, ErrNotArchive
	}
	off := len(magic)
	if _, err := io.ReadFull(r, buf[off:off+2]); err != nil {
		return nil, readErr(err)
	}
	switch v := buf[off]; {
	case v > FormatVersion:
		return nil, ErrNewerVersion
	case v < FormatVersion:
		return nil, fmt.Errorf("format version %d: %w", v, ErrCorrupt)
	}
	h := &header{slot: buf[off+1]}
	if h.slot != slotRecovery && h.slot != slotPassword {
		return nil, fmt.Errorf("key slot kind %d: %w", h.slot, ErrCorrupt)
	}
	buf = buf[:headerSize(h.slot)]
	if _, err := io.ReadFull(r, buf[off+2:]); err != nil {
		return nil, readErr(err)
	}
	h.raw = buf
	off += 2
	h.frames = binary.BigEndian.Uint64(buf[off:])
	off += 8
	h.salt = buf[off : off+saltSize]
	off += saltSize
	if h.slot == slotPassword {
		h.params.Time = binary.BigEndian.Uint32(buf[off:])
		h.params.MemoryKiB = binary.BigEndian.Uint32(buf[off+4:])
		h.params.Threads = buf[off+8]
		off += 9
		if err := h.params.Validate(); err != nil {
			return nil, fmt.Errorf("%v: %w", err, ErrCorrupt)
		}
		h.pwSalt = buf[off : off+pwSaltSize]
		off += pwSaltSize
		h.wrapped = buf[off : off+wrappedSize]
		off += wrappedSize
	}
	h.check = buf[off : off+checkSize]
	h.mac = buf[off+checkSize:]
	return h, nil
}

// readErr maps a short read to ErrTruncated and keeps other I/O errors.
func readErr(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return ErrTruncated
	}
	return err
}

// keys is what a key and a per-archive salt give: the frame AEAD, the header
// MAC key, and the key check value.
type keys struct {
	frame  cipher.AEAD
	macKey []byte
	check  []byte
}

func deriveKeys(key *Key, salt []byte) (*keys, error) {
	frameKey, err := hkdf.Key(sha256.New, key[:], salt, labelFrame, KeySize)
	if err != nil {
		return nil, err
	}
	defer clear(frameKey)
	aead, err := newGCM(frameKey)
	if err != nil {
		return nil, err
	}
	macKey, err := hkdf.Key(sha256.New, key[:], salt, labelHeader, sha256.Size)
	if err != nil {
		return nil, err
	}
	check, err := hkdf.Key(sha256.New, key[:], salt, labelCheck, checkSize)
	if err != nil {
		return nil, err
	}
	return &keys{frame: aead, macKey: macKey, check: check}, nil
}

func (k *keys) wipe() {
	clear(k.macKey)
	clear(k.check)
	// The AEAD's expanded key schedule is inside crypto/aes and cannot be
	// wiped from here; dropping the reference is the best we can do.
	k.frame = nil
}

func (k *keys) headerMAC(authenticated []byte) []byte {
	m := hmac.New(sha256.New, k.macKey)
	m.Write(authenticated)
	return m.Sum(nil)
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// kek derives the key-encryption key of a password slot. Its nonce is all
// zeros: each key-encryption key comes from a fresh random salt and wraps
// exactly one key.
func kek(password, salt []byte, p Params) (cipher.AEAD, error) {
	k := argon2.IDKey(password, salt, p.Time, p.MemoryKiB, p.Threads, KeySize)
	defer clear(k)
	return newGCM(k)
}

// frameNonce is the frame index, big-endian, in the last 8 of 12 bytes.
// Nonces never repeat under one frame key: the frame key is unique to the
// archive (fresh salt) and the index counts up from 0.
func frameNonce(nonce *[12]byte, i uint64) []byte {
	binary.BigEndian.PutUint64(nonce[4:], i)
	return nonce[:]
}

// frameAD binds a frame to its header, its position, the total and whether it
// is the final one.
func frameAD(ad *[adSize]byte, headerHash *[sha256.Size]byte, i, total uint64) []byte {
	copy(ad[:], headerHash[:])
	binary.BigEndian.PutUint64(ad[sha256.Size:], i)
	binary.BigEndian.PutUint64(ad[sha256.Size+8:], total)
	ad[adSize-1] = 0
	if i == total-1 {
		ad[adSize-1] = 1
	}
	return ad[:]
}

func equal(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }

// appendHeader appends to dst the header of a new archive of frames frames
// under key (a fresh random salt, the key slot, the key check, the MAC) and
// returns it with the archive's keys.
func appendHeader(dst []byte, key *Key, frames uint64, slot byte, slotBody []byte) ([]byte, *keys, error) {
	start := len(dst)
	hdr := append(dst, magic...)
	hdr = append(hdr, FormatVersion, slot)
	hdr = binary.BigEndian.AppendUint64(hdr, frames)
	hdr = append(hdr, make([]byte, saltSize)...)
	salt := hdr[len(hdr)-saltSize:]
	if _, err := rand.Read(salt); err != nil {
		return nil, nil, err
	}
	hdr = append(hdr, slotBody...)
	k, err := deriveKeys(key, salt)
	if err != nil {
		return nil, nil, err
	}
	hdr = append(hdr, k.check...)
	hdr = append(hdr, k.headerMAC(hdr[start:])...)
	return hdr, k, nil
}

// sealFrame appends frame i of total, p sealed, to dst: its length prefix
// and AES-GCM(frame key, nonce, p, AD). p must not overlap dst's spare
// capacity.
func sealFrame(dst []byte, k *keys, headerHash *[sha256.Size]byte, i, total uint64, p []byte) []byte {
	var nonce [12]byte
	var ad [adSize]byte
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(p)+tagSize))
	return k.frame.Seal(dst, frameNonce(&nonce, i), p, frameAD(&ad, headerHash, i, total))
}

// openFrame opens frame i of total (sealed, without its length prefix) in
// place: the plaintext returned overwrites sealed.
func openFrame(k *keys, headerHash *[sha256.Size]byte, i, total uint64, sealed []byte) ([]byte, error) {
	var nonce [12]byte
	var ad [adSize]byte
	p, err := k.frame.Open(sealed[:0], frameNonce(&nonce, i), sealed, frameAD(&ad, headerHash, i, total))
	if err != nil {
		return nil, fmt.Errorf("archive: frame %d: %w", i, ErrCorrupt)
	}
	return p, nil
}
