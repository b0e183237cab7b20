package backup

import "crypto/cipher"

// The seal of objects and manifests before manifest version 3, read only:
// a later backup keeps referring to the packs and media chunks an earlier
// one stored, and a restore of an older backup reads them all so.
//
//	nonce (12) || AES-GCM(len (uint32 LE) || bytes || zeros)
//
// under the key "ferry vault v1 chunk" (objects; associated data "ferry
// vault v1 chunk" || backup ID || name) or "ferry vault v1 manifest" (the
// manifest; "ferry vault v1 manifest" || backup ID), padded as pad does.

// openLegacy opens a legacy object in place (sealed is overwritten); any
// deviation is ErrCorrupt.
func openLegacy(aead cipher.AEAD, sealed, ad []byte) ([]byte, error) {
	ns := aead.NonceSize()
	if len(sealed) < ns+4+aead.Overhead() {
		return nil, ErrCorrupt
	}
	p, err := aead.Open(sealed[ns:ns], sealed[:ns], sealed[ns:], ad) // in place
	if err != nil {
		return nil, ErrCorrupt
	}
	return unpad(p)
}

func (vk *keys) chunkAD(n [32]byte) []byte {
	return append(append([]byte("ferry vault v1 chunk"), vk.id[:]...), n[:]...)
}

func (vk *keys) manifestAD() []byte {
	return append([]byte("ferry vault v1 manifest"), vk.id[:]...)
}
