package backup

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
)

// padBucket is the smallest size bucket ≥ n: 16 KiB × 2^k × {1, 1.25, 1.5, 1.75}.
func padBucket(n int) int {
	for b := 16 << 10; ; b *= 2 {
		for _, q := range []int{4, 5, 6, 7} {
			if s := b / 4 * q; s >= n {
				return s
			}
		}
	}
}

// seal pads and seals data: nonce || AES-GCM(len || data || zeros).
func seal(aead cipher.AEAD, data, ad []byte) ([]byte, error) {
	return sealInto(nil, aead, data, ad)
}

// sealInto is seal writing into buf when it is large enough (data must
// not overlap it): a caller sealing many objects in turn reuses one buffer.
func sealInto(buf []byte, aead cipher.AEAD, data, ad []byte) ([]byte, error) {
	ns, size := aead.NonceSize(), 4+padBucket(len(data))
	if need := ns + size + aead.Overhead(); cap(buf) < need {
		buf = make([]byte, need)
	}
	out := buf[:ns+size]
	if _, err := rand.Read(out[:ns]); err != nil {
		return nil, err
	}
	p := out[ns:]
	binary.LittleEndian.PutUint32(p, uint32(len(data)))
	clear(p[4+copy(p[4:], data):])
	return aead.Seal(out[:ns], out[:ns], p, ad), nil // in place
}

// open reverses seal, decrypting in place (sealed is overwritten); any
// deviation is ErrCorrupt.
func open(aead cipher.AEAD, sealed, ad []byte) ([]byte, error) {
	ns := aead.NonceSize()
	if len(sealed) < ns+4+aead.Overhead() {
		return nil, ErrCorrupt
	}
	p, err := aead.Open(sealed[ns:ns], sealed[:ns], sealed[ns:], ad) // in place
	if err != nil {
		return nil, ErrCorrupt
	}
	n := int(binary.LittleEndian.Uint32(p))
	if n > len(p)-4 || len(p)-4 != padBucket(n) {
		return nil, ErrCorrupt
	}
	for _, b := range p[4+n:] {
		if b != 0 {
			return nil, ErrCorrupt
		}
	}
	return p[4 : 4+n], nil
}
