package pairing

import (
	"bytes"
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Role says which side of the exchange this device plays. The receiver (who
// types the code and dials) is the Initiator; the sender (who shows the code and
// accepts) is the Responder.
type Role int

const (
	Initiator Role = iota + 1
	Responder
)

func (r Role) String() string {
	switch r {
	case Initiator:
		return "initiator"
	case Responder:
		return "responder"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

const (
	protoPair   = "ferry/pair/1"
	pairVersion = 1
)

// Config configures one pairing attempt.
type Config struct {
	Role Role
	// Code is the code both users hold. Required.
	Code Code
	// Local is this device. Required.
	Local Identity
	// RemotePeer is the libp2p peer ID of the device at the other end of rw, as
	// the transport authenticated it (the dialled peer, or the stream's remote
	// peer). Required: pairing fails unless the other side proves this ID.
	RemotePeer peer.ID
	// Offer is an opaque summary of what this side will send (the sender's
	// snapshot size and counts), shown to the other user. May be nil.
	Offer []byte
	// Store, if set, records the other device on success.
	Store *Store
	// Now returns the time recorded as PairedAt. Nil means time.Now.
	Now func() time.Time

	rand      io.Reader // nil: crypto/rand. Tests set it for known answers.
	localPeer peer.ID   // tests only: claim this peer ID instead of Local's
	unchecked bool      // tests only: present Local's name even if checkName refuses it
	// onAccept, for a responder, is called with the other device once it is
	// recorded, before the initiator is told it was accepted (SendSession).
	onAccept func(*Peer)
}

// Device is a paired device as the trust store keeps it.
type Device struct {
	PeerID      peer.ID   `json:"peer_id"`
	NoiseStatic []byte    `json:"noise_static"` // X25519 public key, base64 in JSON
	Name        string    `json:"name"`
	Version     string    `json:"version,omitempty"`
	PairedAt    time.Time `json:"paired_at"`
	// LastSeen is when this device last paired or migrated with it (a
	// store written before version 2 has none: zero, and left out).
	LastSeen time.Time `json:"last_seen,omitzero"`
}

// Peer is the outcome of a successful Pair or Authenticate.
type Peer struct {
	Device Device
	// Offer is the other side's opaque offer summary (nil if it sent none).
	Offer []byte
}

// Pair runs one pairing attempt over rw: CPace on the code, then
// Noise_XXpsk0_25519_ChaChaPoly_BLAKE2s keyed by CPace's result. It returns the
// other device once both sides proved the same code and their identities.
//
// A wrong code makes both sides return ErrCodeMismatch. Pair does not close rw.
// When ctx ends, blocked reads and writes are interrupted through rw's
// SetDeadline if it has one, otherwise by closing rw if it is an io.Closer.
func Pair(ctx context.Context, rw io.ReadWriter, cfg Config) (*Peer, error) {
	return pair(ctx, rw, cfg, nil)
}

// pair is Pair. first, if not nil, is the body of the initiator's CPACE_A,
// which a responder's caller has already read from rw (SendSession.Accept
// reads it before the attempt takes its turn).
func pair(ctx context.Context, rw io.ReadWriter, cfg Config, first []byte) (*Peer, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("pair: %w", err)
	}
	if err := cfg.Local.check(); err != nil && !(cfg.unchecked && errors.Is(err, ErrBadName)) {
		return nil, fmt.Errorf("pair: %w", err)
	}
	if err := cfg.Code.validate(); err != nil {
		return nil, fmt.Errorf("pair: %w", err)
	}
	if cfg.Role != Initiator && cfg.Role != Responder {
		return nil, fmt.Errorf("pair: role %v: want Initiator or Responder", cfg.Role)
	}
	if cfg.RemotePeer == "" {
		return nil, errors.New("pair: no remote peer ID")
	}
	if len(cfg.Offer) > maxOfferLen {
		return nil, fmt.Errorf("pair: offer of %d bytes: max %d", len(cfg.Offer), maxOfferLen)
	}
	localPeer, err := cfg.Local.PeerID()
	if err != nil {
		return nil, fmt.Errorf("pair: %w", err)
	}
	if cfg.localPeer != "" {
		localPeer = cfg.localPeer
	}
	if localPeer == cfg.RemotePeer {
		return nil, errors.New("pair: remote peer is this device")
	}
	static, err := cfg.Local.noiseKey()
	if err != nil {
		return nil, fmt.Errorf("pair: %w", err)
	}
	rnd := cfg.rand
	if rnd == nil {
		rnd = rand.Reader
	}

	stop := watchContext(ctx, rw)
	defer stop()
	c := conn{rw: rw}

	initPeer, respPeer := localPeer, cfg.RemotePeer
	if cfg.Role == Responder {
		initPeer, respPeer = cfg.RemotePeer, localPeer
	}
	ci := channelIdentifier(cfg.Code.Nameplate, initPeer, respPeer)

	var isk []byte
	if cfg.Role == Initiator {
		isk, err = cpaceInitiator(c, rnd, cfg.Code, ci)
	} else {
		isk, err = cpaceResponder(c, rnd, cfg.Code, ci, first)
	}
	if err != nil {
		return nil, ctxErr(ctx, fmt.Errorf("pair: %w", err))
	}
	psk, err := hkdf.Key(sha256.New, isk, nil, labelPairPSK, 32)
	clear(isk)
	if err != nil {
		return nil, fmt.Errorf("pair: %w", err)
	}
	defer clear(psk)

	now := time.Now
	if cfg.Now != nil {
		now = cfg.Now
	}
	var p *Peer
	// commit records the other device once its identity is proven: the
	// responder does so before it confirms, so that the initiator, once
	// confirmed, is known to the responder's side.
	commit := func(res *noiseResult) error {
		p = &Peer{
			Device: Device{
				PeerID:      cfg.RemotePeer,
				NoiseStatic: res.remoteStatic,
				Name:        res.identity.Name,
				Version:     res.identity.Version,
				PairedAt:    now().UTC().Truncate(time.Second),
			},
			Offer: res.identity.Offer,
		}
		p.Device.LastSeen = p.Device.PairedAt
		if cfg.Store != nil {
			if err := cfg.Store.Add(p.Device); err != nil {
				return err
			}
		}
		if cfg.onAccept != nil {
			cfg.onAccept(p)
		}
		return nil
	}
	np := &noiseParams{
		proto:       protoPair,
		initiator:   cfg.Role == Initiator,
		psk:         psk,
		local:       cfg.Local,
		localStatic: static,
		localPeer:   localPeer,
		remotePeer:  cfg.RemotePeer,
		offer:       cfg.Offer,
		rand:        rnd,
		decryptErr:  ErrCodeMismatch,
	}
	if cfg.Role == Responder {
		np.accept = commit
	}
	res, err := runNoise(c, np)
	if err != nil {
		if errors.Is(err, errToldMismatch) && cfg.Role == Initiator {
			if left, ok := readTries(ctx, rw); ok {
				return nil, ctxErr(ctx, &MismatchError{TriesLeft: left})
			}
		}
		if errors.Is(err, ErrCodeMismatch) {
			// The one error a wrong code produces, on both sides, unadorned.
			return nil, ctxErr(ctx, ErrCodeMismatch)
		}
		return nil, ctxErr(ctx, fmt.Errorf("pair: %w", err))
	}
	if cfg.Role == Initiator {
		if err := commit(res); err != nil {
			return nil, fmt.Errorf("pair: %w", err)
		}
	}
	return p, nil
}

// channelIdentifier is CPace's CI: the protocol, the nameplate, then the
// initiator's and the responder's peer IDs, in that order.
func channelIdentifier(nameplate uint16, initiator, responder peer.ID) []byte {
	return lvCat([]byte(protoPair), binary.BigEndian.AppendUint16(nil, nameplate), []byte(initiator), []byte(responder))
}

// cpaceAD is ADa and ADb: the protocol name, which makes a version downgrade
// change the key.
var cpaceAD = []byte(protoPair)

func cpaceInitiator(c conn, rnd io.Reader, code Code, ci []byte) ([]byte, error) {
	var a cpaceA
	a.Version = pairVersion
	if _, err := io.ReadFull(rnd, a.Sid[:]); err != nil {
		return nil, fmt.Errorf("cpace: sid: %w", err)
	}
	party, err := newCPaceParty(rnd, code.prs(), ci, a.Sid[:], cpaceAD, true)
	if err != nil {
		return nil, err
	}
	copy(a.Ya[:], party.share)
	a.AD = cpaceAD
	if err := c.send(frameCPaceA, a.marshal()); err != nil {
		return nil, err
	}
	body, err := c.recv(frameCPaceB)
	if err != nil {
		return nil, err
	}
	b, err := parseCPaceB(body)
	if err != nil {
		c.abort(abortProtocol)
		return nil, fmt.Errorf("%v: %w", err, ErrProtocol)
	}
	if !bytes.Equal(b.AD, cpaceAD) {
		c.abort(abortProtocol)
		return nil, fmt.Errorf("cpace: peer speaks %q, want %q: %w", b.AD, cpaceAD, ErrProtocol)
	}
	isk, err := party.finish(b.Yb[:], b.AD)
	if err != nil {
		c.abort(abortProtocol)
		return nil, fmt.Errorf("%v: %w", err, ErrProtocol)
	}
	return isk, nil
}

func cpaceResponder(c conn, rnd io.Reader, code Code, ci []byte, first []byte) ([]byte, error) {
	body := first
	if body == nil {
		var err error
		if body, err = c.recv(frameCPaceA); err != nil {
			return nil, err
		}
	}
	a, err := parseCPaceA(body)
	if err != nil {
		c.abort(abortProtocol)
		return nil, fmt.Errorf("%v: %w", err, ErrProtocol)
	}
	if a.Version != pairVersion || !bytes.Equal(a.AD, cpaceAD) {
		c.abort(abortProtocol)
		return nil, fmt.Errorf("cpace: peer speaks version %d %q: %w", a.Version, a.AD, ErrProtocol)
	}
	party, err := newCPaceParty(rnd, code.prs(), ci, a.Sid[:], cpaceAD, false)
	if err != nil {
		return nil, err
	}
	isk, err := party.finish(a.Ya[:], a.AD)
	if err != nil {
		c.abort(abortProtocol)
		return nil, fmt.Errorf("%v: %w", err, ErrProtocol)
	}
	var b cpaceB
	copy(b.Yb[:], party.share)
	b.AD = cpaceAD
	if err := c.send(frameCPaceB, b.marshal()); err != nil {
		return nil, err
	}
	return isk, nil
}

// readTries reads the TRIES frame a send session sends after its ABORT(1):
// how many more wrong codes it allows. ok is false when none comes within
// triesWait (an older sender, or one that does not say), and at once when
// rw has no way to bound the wait (neither a deadline nor Close).
func readTries(ctx context.Context, rw io.ReadWriter) (left int, ok bool) {
	_, dl := rw.(deadliner)
	_, cl := rw.(io.Closer)
	if !dl && !cl {
		return 0, false
	}
	tctx, cancel := context.WithTimeout(ctx, triesWait)
	defer cancel()
	stop := watchContext(tctx, rw)
	defer stop()
	typ, body, err := readFrame(rw)
	if err != nil || typ != frameTries || len(body) != 1 {
		return 0, false
	}
	return int(body[0]), true
}
