package backup

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"lukechampine.com/blake3"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/internal/archive"
)

// keys are the keys derived from a backup key. Wipe them when done.
type keys struct {
	id      [16]byte
	root    archive.Key // the backup key: each object's key comes from it (see objectKey)
	nameKey [32]byte
	// chunk and manifest open what was sealed before the archive envelope
	// (see legacy.go).
	chunk, manifest cipher.AEAD
}

func deriveKeys(k archive.Key) (*keys, error) {
	vk := keys{root: k}
	derive := func(label string, n int) ([]byte, error) { return hkdf.Key(sha256.New, k[:], nil, label, n) }
	id, err := derive("ferry vault v1 backup id", 16)
	if err != nil {
		return nil, err
	}
	copy(vk.id[:], id)
	nk, err := derive("ferry vault v1 chunk name", 32)
	if err != nil {
		return nil, err
	}
	copy(vk.nameKey[:], nk)
	clear(nk)
	for _, x := range []struct {
		label string
		aead  *cipher.AEAD
	}{{"ferry vault v1 chunk", &vk.chunk}, {"ferry vault v1 manifest", &vk.manifest}} {
		b, err := derive(x.label, 32)
		if err != nil {
			return nil, err
		}
		*x.aead, err = newAEAD(b)
		clear(b)
		if err != nil {
			return nil, err
		}
	}
	return &vk, nil
}

// wipe clears the key material it can (the AEADs' schedules live inside
// crypto/aes).
func (vk *keys) wipe() {
	vk.root.Wipe()
	clear(vk.nameKey[:])
}

// objectKey is the key of the archive envelope of object n of this backup:
// HKDF-SHA256(backup key, salt backup ID || n, "ferry vault v3 object
// key"), so an object moved to another name or backup opens with no key
// that fits.
func (vk *keys) objectKey(n [32]byte) archive.Key {
	return vk.derive(append(vk.id[:len(vk.id):len(vk.id)], n[:]...), "ferry vault v3 object key")
}

// manifestKey is the key of the manifest's archive envelope:
// HKDF-SHA256(backup key, salt backup ID, "ferry vault v3 manifest key").
func (vk *keys) manifestKey() archive.Key {
	return vk.derive(vk.id[:], "ferry vault v3 manifest key")
}

func (vk *keys) derive(salt []byte, label string) archive.Key {
	var k archive.Key
	b, err := hkdf.Key(sha256.New, vk.root[:], salt, label, archive.KeySize)
	if err != nil {
		panic("backup: HKDF-SHA256 refused 32 bytes: " + err.Error()) // it cannot: the length is far below its bound
	}
	copy(k[:], b)
	clear(b)
	return k
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// Kinds of vault objects, hashed into their names so that a media chunk
// and a database piece of equal bytes never share a name.
const (
	objMedia = 1 // a media chunk of the engine's manifest, stored raw
	objPack  = 3 // database pieces, S2-compressed, back to back (2 was a single piece, manifest version 1)
)

// name is the vault name of an object of kind with plaintext hash h.
func (vk *keys) name(kind byte, h chatstore.Hash) (n [32]byte) {
	x := blake3.New(32, vk.nameKey[:])
	x.Write([]byte{kind})
	x.Write(h[:])
	x.Sum(n[:0])
	return n
}

// FormatID shows a backup ID as 32 lowercase hex digits.
func FormatID(id [16]byte) string { return hex.EncodeToString(id[:]) }

// ParseID parses what FormatID shows.
func ParseID(s string) ([16]byte, error) {
	var id [16]byte
	if n, err := hex.Decode(id[:], []byte(s)); err != nil || n != 16 || len(s) != 32 {
		return id, fmt.Errorf("backup ID %q: %w", s, ErrID)
	}
	return id, nil
}
