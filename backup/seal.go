package backup

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/ferryhq/ferry/internal/archive"
)

// Objects and manifests are sealed in the archive envelope
// (internal/archive.Seal: an archive of one frame, its keys derived from
// the object's key with the archive's own random salt), the same code and
// format as `ferry export` writes. The frame holds the padded plaintext
//
//	len (uint32 LE) || bytes || zeros
//
// whose zeros bring it to a size bucket (16 KiB × 2^k × 1, 1.25, 1.5 or
// 1.75), so the relay sees sizes rounded up. Objects sealed before
// manifest version 3 are read by legacy.go.

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

// pad returns len || data || zeros, into buf when it is large enough (data
// must not overlap it).
func pad(buf, data []byte) []byte {
	size := 4 + padBucket(len(data))
	if cap(buf) < size {
		buf = make([]byte, size)
	}
	p := buf[:size]
	binary.LittleEndian.PutUint32(p, uint32(len(data)))
	clear(p[4+copy(p[4:], data):])
	return p
}

// unpad reverses pad; any deviation is ErrCorrupt.
func unpad(p []byte) ([]byte, error) {
	if len(p) < 4 {
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

// sealChunk seals object n's plaintext data: into buf when it is large
// enough, with scratch (returned for reuse) holding the padded plaintext.
func (vk *keys) sealChunk(buf, scratch []byte, n [32]byte, data []byte) (sealed, padded []byte, err error) {
	padded = pad(scratch, data)
	sealed, err = archive.Seal(buf[:0], vk.objectKey(n), padded)
	return sealed, padded, err
}

// openChunk opens object n in place (sealed is overwritten): the archive
// envelope, or an object a backup before manifest version 3 sealed and a
// later one refers to still. Any deviation is ErrCorrupt.
func (vk *keys) openChunk(n [32]byte, sealed []byte) ([]byte, error) {
	if isEnvelope(sealed) {
		if p, err := openEnvelope(vk.objectKey(n), sealed); err == nil || !errors.Is(err, errNotEnvelope) {
			return p, err
		}
	}
	return openLegacy(vk.chunk, sealed, vk.chunkAD(n))
}

// sealManifest seals a manifest's plaintext.
func (vk *keys) sealManifest(plain []byte) ([]byte, error) {
	return archive.Seal(nil, vk.manifestKey(), pad(nil, plain))
}

// openManifest opens a sealed manifest in place; envelope says it was in
// the archive envelope (manifest version 3 on), not the legacy seal.
func (vk *keys) openManifest(sealed []byte) (plain []byte, envelope bool, err error) {
	if isEnvelope(sealed) {
		if p, err := openEnvelope(vk.manifestKey(), sealed); err == nil || !errors.Is(err, errNotEnvelope) {
			return p, true, err
		}
	}
	p, err := openLegacy(vk.manifest, sealed, vk.manifestAD())
	return p, false, err
}

// envelopeMagic starts every archive, hence every enveloped object.
var envelopeMagic = []byte("FERRYARC")

func isEnvelope(b []byte) bool { return bytes.HasPrefix(b, envelopeMagic) }

// errNotEnvelope: the bytes start like an archive but do not open as one
// under the key: a legacy object whose random nonce began with the magic
// (odds 2^-64), or damage; the legacy seal decides.
var errNotEnvelope = errors.New("not an archive envelope under this key")

// openEnvelope opens an object in the archive envelope and unpads it.
func openEnvelope(key archive.Key, sealed []byte) ([]byte, error) {
	p, err := archive.Open(key, sealed)
	if err != nil {
		return nil, fmt.Errorf("%w (%v)", errNotEnvelope, err)
	}
	return unpad(p)
}
