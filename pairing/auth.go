package pairing

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"

	"github.com/libp2p/go-libp2p/core/peer"
)

const protoAuth = "ferry/auth/1"

// AuthConfig configures Authenticate.
type AuthConfig struct {
	Role Role
	// Local is this device. Required.
	Local Identity
	// RemotePeer is the peer ID of the device at the other end of rw, as the
	// transport authenticated it. Required.
	RemotePeer peer.ID
	// Store is the trust store; RemotePeer must be in it. Required.
	Store *Store
	// Offer is an opaque summary of what this side will send. May be nil.
	Offer []byte

	rand io.Reader // nil: crypto/rand
}

// Authenticate lets two devices that paired before recognise each other without
// a code: a Noise_XX_25519_ChaChaPoly_BLAKE2s handshake (prologue: "ferry/auth/1"
// and both peer IDs, initiator first) whose payloads carry the same signed
// identity as Pair's, after which each side checks that the other's peer ID and
// Noise static key are the ones pinned in its trust store. A device not in the
// store, or one presenting other keys, gets ErrNotPaired.
//
// The returned Peer's Device is the stored entry (with the name and version the
// device presents now); the store is not modified.
func Authenticate(ctx context.Context, rw io.ReadWriter, cfg AuthConfig) (*Peer, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	if err := cfg.Local.check(); err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	if cfg.Role != Initiator && cfg.Role != Responder {
		return nil, fmt.Errorf("authenticate: role %v: want Initiator or Responder", cfg.Role)
	}
	if cfg.Store == nil || cfg.RemotePeer == "" {
		return nil, errors.New("authenticate: need a trust store and a remote peer ID")
	}
	if len(cfg.Offer) > maxOfferLen {
		return nil, fmt.Errorf("authenticate: offer of %d bytes: max %d", len(cfg.Offer), maxOfferLen)
	}
	localPeer, err := cfg.Local.PeerID()
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	static, err := cfg.Local.noiseKey()
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	rnd := cfg.rand
	if rnd == nil {
		rnd = rand.Reader
	}

	stop := watchContext(ctx, rw)
	defer stop()
	c := conn{rw: rw}

	known, lookupErr := cfg.Store.Get(cfg.RemotePeer)
	if lookupErr != nil && !errors.Is(lookupErr, ErrUnknownDevice) {
		return nil, fmt.Errorf("authenticate: %w", lookupErr)
	}
	if lookupErr != nil && cfg.Role == Initiator {
		// Say nothing to a device we do not know.
		return nil, fmt.Errorf("authenticate %s: %w", cfg.RemotePeer, ErrNotPaired)
	}
	if lookupErr != nil {
		// Responder: read the first message so the initiator is listening, then
		// refuse.
		if _, err := c.recv(frameNoise); err != nil {
			return nil, ctxErr(ctx, fmt.Errorf("authenticate: %w", err))
		}
		c.abort(abortNotPaired)
		return nil, fmt.Errorf("authenticate %s: %w", cfg.RemotePeer, ErrNotPaired)
	}

	res, err := runNoise(c, &noiseParams{
		proto:       protoAuth,
		initiator:   cfg.Role == Initiator,
		local:       cfg.Local,
		localStatic: static,
		localPeer:   localPeer,
		remotePeer:  cfg.RemotePeer,
		offer:       cfg.Offer,
		rand:        rnd,
		decryptErr:  fmt.Errorf("handshake message did not decrypt: %w", ErrProtocol),
		checkStatic: func(remoteStatic []byte) error {
			if subtle.ConstantTimeCompare(remoteStatic, known.NoiseStatic) != 1 {
				return fmt.Errorf("noise key differs from the paired one: %w", ErrNotPaired)
			}
			return nil
		},
	})
	if err != nil {
		return nil, ctxErr(ctx, fmt.Errorf("authenticate %s: %w", cfg.RemotePeer, err))
	}
	known.Name, known.Version = res.identity.Name, res.identity.Version
	return &Peer{Device: known, Offer: res.identity.Offer}, nil
}
