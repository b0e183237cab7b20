package pairing

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/flynn/noise"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// noiseSuite is Noise_*_25519_ChaChaPoly_BLAKE2s.
var noiseSuite = noise.NewCipherSuite(noise.DH25519, noise.CipherChaChaPoly, noise.HashBLAKE2s)

// confirmByte is the plaintext of the responder's final transport message: "I
// accepted your identity". Without it the initiator could not tell a refusal
// from success.
const confirmByte = 0x01

// conn sends and receives frames, turning a received abort into its error.
type conn struct {
	rw io.ReadWriter
}

func (c conn) send(typ byte, body []byte) error {
	if err := writeFrame(c.rw, typ, body); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	return nil
}

// abort tells the peer why this side stops. Best effort: the local error is what
// matters.
func (c conn) abort(reason byte) {
	_ = writeFrame(c.rw, frameAbort, []byte{reason})
}

// recv reads the next frame and returns its body if it has type want. An abort
// frame becomes the error its reason maps to; anything else is ErrProtocol.
func (c conn) recv(want byte) ([]byte, error) {
	typ, body, err := readFrame(c.rw)
	if err != nil {
		if errors.Is(err, errMalformed) {
			return nil, fmt.Errorf("receive: %v: %w", err, ErrProtocol)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("receive: the other device closed the connection: %w", err)
		}
		return nil, fmt.Errorf("receive: %w", err)
	}
	if typ == frameAbort {
		if len(body) != 1 {
			return nil, fmt.Errorf("receive: abort of %d bytes: %w", len(body), ErrProtocol)
		}
		return nil, abortError(body[0])
	}
	if typ != want {
		return nil, fmt.Errorf("receive: frame type %d, want %d: %w", typ, want, ErrProtocol)
	}
	return body, nil
}

// noiseParams is one Noise XX run, shared by Pair (XXpsk0) and Authenticate (XX).
type noiseParams struct {
	proto       string // "ferry/pair/1" or "ferry/auth/1": prologue and signature context
	initiator   bool
	psk         []byte // nil for Authenticate
	local       Identity
	localStatic noise.DHKey
	localPeer   peer.ID
	remotePeer  peer.ID
	offer       []byte
	rand        io.Reader
	// decryptErr is reported (and, as an abort, sent) when a handshake message
	// does not decrypt: ErrCodeMismatch in Pair.
	decryptErr error
	// checkStatic, if set, vets the remote static key (Authenticate's trust-store
	// check). It runs before this side reveals anything more.
	checkStatic func(remoteStatic []byte) error
	// accept, if set, runs on the responder once the initiator's identity is
	// verified and before the confirmation is sent; an error refuses it.
	accept func(*noiseResult) error
}

// noiseResult is what a successful run learned about the other side.
type noiseResult struct {
	remoteStatic []byte
	identity     *identityPayload
}

// prologue binds the protocol and both peer IDs, initiator first.
func prologue(proto string, initiator, responder peer.ID) []byte {
	return lvCat([]byte(proto), []byte(initiator), []byte(responder))
}

func (p *noiseParams) ownPayload() ([]byte, error) {
	pub, err := crypto.MarshalPublicKey(p.local.Key.GetPublic())
	if err != nil {
		return nil, fmt.Errorf("marshal public key: %w", err)
	}
	sig, err := p.local.Key.Sign(signedIdentity(p.proto, p.localStatic.Public, p.local.Name, p.local.Version, p.offer))
	if err != nil {
		return nil, fmt.Errorf("sign identity: %w", err)
	}
	ip := identityPayload{PublicKey: pub, Name: p.local.Name, Version: p.local.Version, Offer: p.offer, Signature: sig}
	return ip.marshal(), nil
}

// verifyPeer checks the remote identity payload: its key must be the key of the
// peer ID this connection is with, and its signature must cover the Noise static
// key the handshake authenticated.
func (p *noiseParams) verifyPeer(remoteStatic, payload []byte) (*identityPayload, error) {
	ip, err := parseIdentityPayload(payload)
	if errors.Is(err, ErrBadName) {
		return nil, fmt.Errorf("the other device's identity: %w", err)
	}
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, ErrProtocol)
	}
	pub, err := crypto.UnmarshalPublicKey(ip.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("peer public key: %v: %w", err, ErrPeerMismatch)
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil || id != p.remotePeer {
		return nil, fmt.Errorf("peer proved ID %s, want %s: %w", id, p.remotePeer, ErrPeerMismatch)
	}
	ok, err := pub.Verify(signedIdentity(p.proto, remoteStatic, ip.Name, ip.Version, ip.Offer), ip.Signature)
	if err != nil || !ok {
		return nil, fmt.Errorf("peer identity signature does not verify: %w", ErrPeerMismatch)
	}
	return ip, nil
}

// abortReason maps a local failure to what the peer is told.
func abortReason(err error) byte {
	switch {
	case errors.Is(err, ErrCodeMismatch):
		return abortCodeMismatch
	case errors.Is(err, ErrPeerMismatch):
		return abortIdentity
	case errors.Is(err, ErrNotPaired):
		return abortNotPaired
	default:
		return abortProtocol
	}
}

// runNoise performs the three handshake messages plus the responder's
// confirmation:
//
//	-> [psk,] e                      (payload empty)
//	<- e, ee, s, es                  (payload: responder identity)
//	-> s, se                         (payload: initiator identity)
//	<- transport message {0x01}      (responder accepted)
func runNoise(c conn, p *noiseParams) (*noiseResult, error) {
	cfg := noise.Config{
		CipherSuite:   noiseSuite,
		Random:        p.rand,
		Pattern:       noise.HandshakeXX,
		Initiator:     p.initiator,
		StaticKeypair: p.localStatic,
	}
	if p.initiator {
		cfg.Prologue = prologue(p.proto, p.localPeer, p.remotePeer)
	} else {
		cfg.Prologue = prologue(p.proto, p.remotePeer, p.localPeer)
	}
	if p.psk != nil {
		cfg.PresharedKey = p.psk
		cfg.PresharedKeyPlacement = 0
	}
	hs, err := noise.NewHandshakeState(cfg)
	if err != nil {
		return nil, fmt.Errorf("noise: %w", err)
	}
	fail := func(err error) (*noiseResult, error) {
		c.abort(abortReason(err))
		return nil, err
	}
	// readHS reads and decrypts one handshake message. A message that does not
	// decrypt is answered with an abort; a received abort is not.
	readHS := func() ([]byte, *noise.CipherState, error) {
		body, err := c.recv(frameNoise)
		if err != nil {
			return nil, nil, err
		}
		pl, _, cs2, err := hs.ReadMessage(nil, body)
		if err != nil {
			c.abort(abortReason(p.decryptErr))
			return nil, nil, p.decryptErr
		}
		return pl, cs2, nil
	}
	var res noiseResult
	if p.initiator {
		msg, _, _, err := hs.WriteMessage(nil, nil)
		if err != nil {
			return nil, fmt.Errorf("noise: %w", err)
		}
		if err := c.send(frameNoise, msg); err != nil {
			return nil, err
		}
		pl, _, err := readHS()
		if err != nil {
			return nil, err
		}
		res.remoteStatic = append([]byte(nil), hs.PeerStatic()...)
		if p.checkStatic != nil {
			if err := p.checkStatic(res.remoteStatic); err != nil {
				return fail(err)
			}
		}
		if res.identity, err = p.verifyPeer(res.remoteStatic, pl); err != nil {
			return fail(err)
		}
		own, err := p.ownPayload()
		if err != nil {
			return nil, err
		}
		msg, _, cs2, err := hs.WriteMessage(nil, own)
		if err != nil {
			return nil, fmt.Errorf("noise: %w", err)
		}
		if err := c.send(frameNoise, msg); err != nil {
			return nil, err
		}
		body, err := c.recv(frameNoise)
		if err != nil {
			return nil, err
		}
		conf, err := cs2.Decrypt(nil, nil, body)
		if err != nil || !bytes.Equal(conf, []byte{confirmByte}) {
			return nil, fmt.Errorf("confirmation: %w", ErrProtocol)
		}
		return &res, nil
	}

	if _, _, err := readHS(); err != nil {
		return nil, err
	}
	own, err := p.ownPayload()
	if err != nil {
		return nil, err
	}
	msg, _, _, err := hs.WriteMessage(nil, own)
	if err != nil {
		return nil, fmt.Errorf("noise: %w", err)
	}
	if err := c.send(frameNoise, msg); err != nil {
		return nil, err
	}
	pl, cs2, err := readHS()
	if err != nil {
		return nil, err
	}
	res.remoteStatic = append([]byte(nil), hs.PeerStatic()...)
	if p.checkStatic != nil {
		if err := p.checkStatic(res.remoteStatic); err != nil {
			return fail(err)
		}
	}
	if res.identity, err = p.verifyPeer(res.remoteStatic, pl); err != nil {
		return fail(err)
	}
	if p.accept != nil {
		if err := p.accept(&res); err != nil {
			return fail(err)
		}
	}
	conf, err := cs2.Encrypt(nil, nil, []byte{confirmByte})
	if err != nil {
		return nil, fmt.Errorf("noise: %w", err)
	}
	if err := c.send(frameNoise, conf); err != nil {
		return nil, err
	}
	return &res, nil
}

// deadliner is implemented by net.Conn and libp2p streams.
type deadliner interface {
	SetDeadline(time.Time) error
}

// watchContext makes blocking reads and writes on rw return when ctx is done:
// through deadlines when rw supports them, else by closing rw if it is an
// io.Closer. The returned function stops watching and clears the deadline.
func watchContext(ctx context.Context, rw io.ReadWriter) (stop func()) {
	if d, ok := rw.(deadliner); ok {
		if dl, ok := ctx.Deadline(); ok {
			_ = d.SetDeadline(dl)
		}
		stopAF := context.AfterFunc(ctx, func() { _ = d.SetDeadline(time.Unix(1, 0)) })
		return func() {
			stopAF()
			_ = d.SetDeadline(time.Time{})
		}
	}
	if cl, ok := rw.(io.Closer); ok {
		stopAF := context.AfterFunc(ctx, func() { _ = cl.Close() })
		return func() { stopAF() }
	}
	return func() {}
}

// ctxErr prefers the context's error when the context ended the exchange.
func ctxErr(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}
