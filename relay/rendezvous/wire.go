// Package rendezvous is the wire format of Ferry's rendezvous protocol,
// /ferry/rendezvous/2, shared by the relay server (package relay) and its
// client (package p2p). The format is specified in relay/doc.go.
//
// Version 2 added the register request's allow-list (the peers the sender
// lets reach it through the relay without claiming) and StatusLimit;
// version 1 is no longer served.
package rendezvous

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"unicode"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// ProtocolID is the libp2p protocol ID of the rendezvous protocol.
const ProtocolID = "/ferry/rendezvous/2"

// Size limits of the wire format.
const (
	MaxNameplateLen = 32
	MaxPeerIDLen    = 64
	MaxMessageLen   = 255
	MaxRelayAddrs   = 8
	MaxAddrLen      = 255
	// MaxAllow is the longest allow-list of a register request.
	MaxAllow = 16
	// MaxRequestLen is the size of the largest valid request.
	MaxRequestLen = 2 + MaxNameplateLen + 1 + MaxAllow*(1+MaxPeerIDLen)
	// MaxResponseLen is the size of the largest valid response.
	MaxResponseLen = 1 + 4 + 1 + MaxPeerIDLen + 1 + MaxRelayAddrs*(1+MaxAddrLen) + 1 + MaxMessageLen
)

// Op is the operation a request asks for.
type Op uint8

// Operations.
const (
	OpRegister   Op = 1 // nameplate → the requesting peer
	OpClaim      Op = 2 // nameplate → its sender's peer ID (a few claimers)
	OpUnregister Op = 3 // forget the requesting peer's nameplate
)

func (o Op) String() string {
	switch o {
	case OpRegister:
		return "register"
	case OpClaim:
		return "claim"
	case OpUnregister:
		return "unregister"
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// Status is the outcome the relay reports.
type Status uint8

// Statuses. Clients map each to an error sentence of their own; the
// message in a response is only informative.
const (
	StatusOK            Status = 0
	StatusMalformed     Status = 1 // the request could not be parsed
	StatusUnknown       Status = 2 // no sender registered that nameplate
	StatusExpired       Status = 3 // the registration expired
	StatusClaimed       Status = 4 // as many receivers as allowed claimed it
	StatusInUse         Status = 5 // another sender holds the nameplate
	StatusRateLimited   Status = 6 // too many requests; retry after Seconds
	StatusNoReservation Status = 7 // register and claim need a relay reservation first
	StatusUnavailable   Status = 8 // the relay cannot serve now (storage down, full)
	StatusLimit         Status = 9 // the caller or its address holds as many nameplates or claims as allowed
	maxStatus                  = StatusLimit
)

func (s Status) String() string {
	switch s {
	case StatusOK:
		return "ok"
	case StatusMalformed:
		return "malformed"
	case StatusUnknown:
		return "unknown"
	case StatusExpired:
		return "expired"
	case StatusClaimed:
		return "claimed"
	case StatusInUse:
		return "in-use"
	case StatusRateLimited:
		return "rate-limited"
	case StatusNoReservation:
		return "no-reservation"
	case StatusUnavailable:
		return "unavailable"
	case StatusLimit:
		return "limit"
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// ErrMalformed is wrapped by every parse and marshal error.
var ErrMalformed = errors.New("malformed rendezvous message")

// Request is what a client sends: one per stream.
type Request struct {
	Op        Op
	Nameplate string
	// Allow, in a register request only, are the peers (at most MaxAllow,
	// no repeats) that may reach the sender through the relay without
	// claiming the nameplate: its paired devices. Nil otherwise.
	Allow []peer.ID
}

// Response is what the relay answers: one per stream.
type Response struct {
	Status Status
	// Seconds is the registration's lifetime for a successful register,
	// the time to wait before retrying for StatusRateLimited, else 0.
	Seconds uint32
	// Peer is the sender's peer ID in a successful claim, else empty.
	Peer peer.ID
	// Relay are the addresses of the relay holding the sender's
	// reservation (each ending in /p2p/<relay ID>), in a successful claim;
	// it may be another relay process than the one answering.
	Relay []ma.Multiaddr
	// Message is a short human-readable explanation (may be empty).
	Message string
}

// ValidNameplate reports whether s is a nameplate: 1 to MaxNameplateLen
// ASCII letters and digits.
func ValidNameplate(s string) error {
	if len(s) == 0 || len(s) > MaxNameplateLen {
		return fmt.Errorf("%w: nameplate must be 1 to %d characters, got %d", ErrMalformed, MaxNameplateLen, len(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return fmt.Errorf("%w: nameplate must be ASCII letters and digits", ErrMalformed)
		}
	}
	return nil
}

func validOp(o Op) bool { return o >= OpRegister && o <= OpUnregister }

// MarshalBinary encodes r, refusing what ParseRequest would refuse.
func (r Request) MarshalBinary() ([]byte, error) {
	if err := r.validate(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, 3+len(r.Nameplate)+len(r.Allow)*(1+MaxPeerIDLen))
	b = append(b, byte(r.Op), byte(len(r.Nameplate)))
	b = append(b, r.Nameplate...)
	b = append(b, byte(len(r.Allow)))
	for _, p := range r.Allow {
		b = append(b, byte(len(p)))
		b = append(b, p...)
	}
	return b, nil
}

func (r Request) validate() error {
	if !validOp(r.Op) {
		return fmt.Errorf("%w: unknown operation %d", ErrMalformed, uint8(r.Op))
	}
	if err := ValidNameplate(r.Nameplate); err != nil {
		return err
	}
	if len(r.Allow) > 0 && r.Op != OpRegister {
		return fmt.Errorf("%w: an allow-list in a %s request", ErrMalformed, r.Op)
	}
	if len(r.Allow) > MaxAllow {
		return fmt.Errorf("%w: allow-list of %d peers, more than %d", ErrMalformed, len(r.Allow), MaxAllow)
	}
	for i, p := range r.Allow {
		if err := validPeer(p); err != nil {
			return fmt.Errorf("allow-list: %w", err)
		}
		if slices.Contains(r.Allow[:i], p) {
			return fmt.Errorf("%w: allow-list names a peer twice", ErrMalformed)
		}
	}
	return nil
}

// ParseRequest decodes exactly one request; trailing bytes are an error.
func ParseRequest(b []byte) (Request, error) {
	if len(b) < 2 {
		return Request{}, fmt.Errorf("%w: request is %d bytes, too short", ErrMalformed, len(b))
	}
	op, n := Op(b[0]), int(b[1])
	if !validOp(op) {
		return Request{}, fmt.Errorf("%w: unknown operation %d", ErrMalformed, b[0])
	}
	if len(b) < 3+n {
		return Request{}, fmt.Errorf("%w: request ends inside its nameplate", ErrMalformed)
	}
	r := Request{Op: op, Nameplate: string(b[2 : 2+n])}
	k, rest := int(b[2+n]), b[3+n:]
	if k > MaxAllow {
		return Request{}, fmt.Errorf("%w: allow-list of %d peers, more than %d", ErrMalformed, k, MaxAllow)
	}
	for range k {
		if len(rest) < 1 || len(rest) < 1+int(rest[0]) {
			return Request{}, fmt.Errorf("%w: request ends inside its allow-list", ErrMalformed)
		}
		r.Allow = append(r.Allow, peer.ID(rest[1:1+int(rest[0])]))
		rest = rest[1+int(rest[0]):]
	}
	if len(rest) != 0 {
		return Request{}, fmt.Errorf("%w: %d bytes after the request", ErrMalformed, len(rest))
	}
	if err := r.validate(); err != nil {
		return Request{}, err
	}
	return r, nil
}

// validPeer checks a binary peer ID from the wire.
func validPeer(p peer.ID) error {
	if len(p) > MaxPeerIDLen {
		return fmt.Errorf("%w: peer ID is %d bytes, more than %d", ErrMalformed, len(p), MaxPeerIDLen)
	}
	if err := p.Validate(); err != nil {
		return fmt.Errorf("%w: peer ID: %v", ErrMalformed, err)
	}
	if _, err := peer.IDFromBytes([]byte(p)); err != nil {
		return fmt.Errorf("%w: peer ID: %v", ErrMalformed, err)
	}
	return nil
}

func validMessage(s string) error {
	if len(s) > MaxMessageLen {
		return fmt.Errorf("%w: message is %d bytes, more than %d", ErrMalformed, len(s), MaxMessageLen)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: message is not UTF-8", ErrMalformed)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: message holds a control character", ErrMalformed)
		}
	}
	return nil
}

func (r Response) validate() error {
	if r.Status > maxStatus {
		return fmt.Errorf("%w: unknown status %d", ErrMalformed, uint8(r.Status))
	}
	if r.Peer != "" {
		if r.Status != StatusOK {
			return fmt.Errorf("%w: peer ID in a %s response", ErrMalformed, r.Status)
		}
		if err := validPeer(r.Peer); err != nil {
			return err
		}
	}
	if len(r.Relay) > 0 && r.Peer == "" {
		return fmt.Errorf("%w: relay addresses without a peer ID", ErrMalformed)
	}
	if len(r.Relay) > MaxRelayAddrs {
		return fmt.Errorf("%w: %d relay addresses, more than %d", ErrMalformed, len(r.Relay), MaxRelayAddrs)
	}
	for _, a := range r.Relay {
		if n := len(a.Bytes()); n == 0 || n > MaxAddrLen {
			return fmt.Errorf("%w: relay address of %d bytes", ErrMalformed, n)
		}
	}
	return validMessage(r.Message)
}

// MarshalBinary encodes r, refusing what ParseResponse would refuse.
func (r Response) MarshalBinary() ([]byte, error) {
	if err := r.validate(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, 8+len(r.Peer)+len(r.Message))
	b = append(b, byte(r.Status))
	b = binary.BigEndian.AppendUint32(b, r.Seconds)
	b = append(b, byte(len(r.Peer)))
	b = append(b, r.Peer...)
	b = append(b, byte(len(r.Relay)))
	for _, a := range r.Relay {
		ab := a.Bytes()
		b = append(b, byte(len(ab)))
		b = append(b, ab...)
	}
	b = append(b, byte(len(r.Message)))
	return append(b, r.Message...), nil
}

// ParseResponse decodes exactly one response; trailing bytes are an error.
func ParseResponse(b []byte) (Response, error) {
	if len(b) < 8 {
		return Response{}, fmt.Errorf("%w: response is %d bytes, too short", ErrMalformed, len(b))
	}
	var r Response
	r.Status = Status(b[0])
	r.Seconds = binary.BigEndian.Uint32(b[1:5])
	n := int(b[5])
	rest := b[6:]
	if len(rest) < n+1 {
		return Response{}, fmt.Errorf("%w: response ends inside its peer ID", ErrMalformed)
	}
	r.Peer = peer.ID(rest[:n])
	rest = rest[n:]
	k := int(rest[0])
	rest = rest[1:]
	if k > MaxRelayAddrs {
		return Response{}, fmt.Errorf("%w: %d relay addresses, more than %d", ErrMalformed, k, MaxRelayAddrs)
	}
	for range k {
		if len(rest) < 1 || len(rest) < 1+int(rest[0]) {
			return Response{}, fmt.Errorf("%w: response ends inside its relay addresses", ErrMalformed)
		}
		ab := rest[1 : 1+int(rest[0])]
		rest = rest[1+len(ab):]
		a, err := ma.NewMultiaddrBytes(ab)
		if err != nil {
			return Response{}, fmt.Errorf("%w: relay address: %v", ErrMalformed, err)
		}
		if !bytes.Equal(a.Bytes(), ab) {
			return Response{}, fmt.Errorf("%w: relay address is not canonical", ErrMalformed)
		}
		r.Relay = append(r.Relay, a)
	}
	if len(rest) < 1 {
		return Response{}, fmt.Errorf("%w: response ends before its message", ErrMalformed)
	}
	m := int(rest[0])
	rest = rest[1:]
	if len(rest) != m {
		return Response{}, fmt.Errorf("%w: response has %d message bytes, its length says %d", ErrMalformed, len(rest), m)
	}
	r.Message = string(rest)
	if err := r.validate(); err != nil {
		return Response{}, err
	}
	return r, nil
}
