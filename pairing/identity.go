package pairing

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/flynn/noise"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Identity is this device as it presents itself when pairing: its libp2p key
// (whose peer ID the other side pins), and a name and software version shown to
// the other side's user.
type Identity struct {
	Key     crypto.PrivKey
	Name    string // e.g. "Alice's phone"; at most 256 bytes of UTF-8, no control or text-direction characters (see ErrBadName)
	Version string // software version, e.g. "ferry 0.1.0"; at most 64 bytes
}

// HKDF labels; one per derived key.
const (
	labelNoiseStatic = "ferry/pair/1 noise static key"
	labelPairPSK     = "ferry/pair/1 noise psk from cpace isk"
)

func (id Identity) check() error {
	if id.Key == nil {
		return errors.New("identity has no key")
	}
	if len(id.Name) > maxNameLen || len(id.Version) > maxVerLen {
		return fmt.Errorf("identity name (max %d bytes) or version (max %d bytes) too long", maxNameLen, maxVerLen)
	}
	if err := checkName(id.Name); err != nil {
		return fmt.Errorf("identity name: %w", err)
	}
	if err := checkName(id.Version); err != nil {
		return fmt.Errorf("identity version: %w", err)
	}
	return nil
}

// PeerID is the libp2p peer ID of the identity's key.
func (id Identity) PeerID() (peer.ID, error) {
	if id.Key == nil {
		return "", errors.New("identity has no key")
	}
	return peer.IDFromPrivateKey(id.Key)
}

// noiseKey derives the device's long-term Noise static key (X25519) from its
// libp2p private key, so a device has one stable Noise key and nothing more to
// store. The derivation is one-way: the Noise key says nothing about the
// libp2p key.
func (id Identity) noiseKey() (noise.DHKey, error) {
	raw, err := id.Key.Raw()
	if err != nil {
		return noise.DHKey{}, fmt.Errorf("noise static key: %w", err)
	}
	seed, err := hkdf.Key(sha256.New, raw, nil, labelNoiseStatic, 32)
	clear(raw)
	if err != nil {
		return noise.DHKey{}, fmt.Errorf("noise static key: %w", err)
	}
	kp, err := noise.DH25519.GenerateKeypair(bytes.NewReader(seed))
	clear(seed)
	if err != nil {
		return noise.DHKey{}, fmt.Errorf("noise static key: %w", err)
	}
	return kp, nil
}

// NoiseStatic returns the public half of the device's Noise static key, the value
// the other side stores in its trust store.
func (id Identity) NoiseStatic() ([]byte, error) {
	if id.Key == nil {
		return nil, errors.New("identity has no key")
	}
	kp, err := id.noiseKey()
	if err != nil {
		return nil, err
	}
	return kp.Public, nil
}
