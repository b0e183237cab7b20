package pairing

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode"
	"unicode/utf8"
)

// Frame types. See doc.go for the wire format.
const (
	frameCPaceA byte = 1 // initiator -> responder: sid, Ya, ADa
	frameCPaceB byte = 2 // responder -> initiator: Yb, ADb
	frameNoise  byte = 3 // one Noise handshake or transport message
	frameAbort  byte = 4 // either way: reason byte; ends the exchange
	frameTries  byte = 5 // responder -> initiator, after ABORT(1) from a send session: tries left
)

// triesWait bounds how long an initiator told "code mismatch" waits for the
// TRIES frame that follows it (an older responder sends none and closes).
const triesWait = time.Second

// Abort reasons.
const (
	abortCodeMismatch byte = 1 // the handshake did not decrypt: wrong code
	abortClosed       byte = 2 // the send session is over (code used, too many failures, closed)
	abortProtocol     byte = 3 // malformed or unexpected message
	abortIdentity     byte = 4 // signed identity does not match the connection's peer ID
	abortNotPaired    byte = 5 // Authenticate: the peer is not in the trust store
)

const (
	maxFrame    = 1<<16 - 1 // length prefix is a uint16
	sidLen      = 16
	maxADLen    = 64
	maxKeyLen   = 1024 // marshalled libp2p public key (RSA 4096 is ~550 bytes)
	maxSigLen   = 1024
	maxNameLen  = 256
	maxVerLen   = 64
	maxOfferLen = 16 << 10
	noiseKeyLen = 32
	identityVer = 1
)

var errMalformed = errors.New("malformed pairing message")

// writeFrame writes one length-prefixed frame: uint16 big-endian length, then
// the body (type byte first).
func writeFrame(w io.Writer, typ byte, body []byte) error {
	if len(body)+1 > maxFrame {
		return fmt.Errorf("write frame: %d bytes: too large", len(body)+1)
	}
	buf := make([]byte, 3+len(body))
	binary.BigEndian.PutUint16(buf, uint16(len(body)+1))
	buf[2] = typ
	copy(buf[3:], body)
	_, err := w.Write(buf)
	return err
}

// readFrame reads one frame and returns its type and body (without the type).
func readFrame(r io.Reader) (byte, []byte, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := int(binary.BigEndian.Uint16(hdr[:]))
	if n == 0 {
		return 0, nil, fmt.Errorf("read frame: empty: %w", errMalformed)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	switch buf[0] {
	case frameCPaceA, frameCPaceB, frameNoise, frameAbort, frameTries:
	default:
		return 0, nil, fmt.Errorf("read frame: unknown type %d: %w", buf[0], errMalformed)
	}
	return buf[0], buf[1:], nil
}

// cpaceA is the initiator's CPace message: version, sid, Ya, ADa.
type cpaceA struct {
	Version byte
	Sid     [sidLen]byte
	Ya      [cpacePointLen]byte
	AD      []byte
}

func (m *cpaceA) marshal() []byte {
	b := make([]byte, 0, 1+sidLen+cpacePointLen+len(m.AD))
	b = append(b, m.Version)
	b = append(b, m.Sid[:]...)
	b = append(b, m.Ya[:]...)
	return append(b, m.AD...)
}

func parseCPaceA(b []byte) (*cpaceA, error) {
	if len(b) < 1+sidLen+cpacePointLen || len(b) > 1+sidLen+cpacePointLen+maxADLen {
		return nil, fmt.Errorf("cpace message A: %d bytes: %w", len(b), errMalformed)
	}
	m := &cpaceA{Version: b[0]}
	copy(m.Sid[:], b[1:])
	copy(m.Ya[:], b[1+sidLen:])
	m.AD = append([]byte(nil), b[1+sidLen+cpacePointLen:]...)
	return m, nil
}

// cpaceB is the responder's CPace message: Yb, ADb.
type cpaceB struct {
	Yb [cpacePointLen]byte
	AD []byte
}

func (m *cpaceB) marshal() []byte {
	return append(append([]byte(nil), m.Yb[:]...), m.AD...)
}

func parseCPaceB(b []byte) (*cpaceB, error) {
	if len(b) < cpacePointLen || len(b) > cpacePointLen+maxADLen {
		return nil, fmt.Errorf("cpace message B: %d bytes: %w", len(b), errMalformed)
	}
	m := &cpaceB{AD: append([]byte(nil), b[cpacePointLen:]...)}
	copy(m.Yb[:], b)
	return m, nil
}

// identityPayload is carried, encrypted, in a Noise handshake message: who the
// sender is, and its signature binding that to its Noise static key.
type identityPayload struct {
	PublicKey []byte // libp2p crypto.MarshalPublicKey
	Name      string
	Version   string
	Offer     []byte
	Signature []byte
}

func appendU16Bytes(b, v []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
	return append(b, v...)
}

func (p *identityPayload) marshal() []byte {
	var b []byte
	b = append(b, identityVer)
	b = appendU16Bytes(b, p.PublicKey)
	b = appendU16Bytes(b, []byte(p.Name))
	b = appendU16Bytes(b, []byte(p.Version))
	b = appendU16Bytes(b, p.Offer)
	b = appendU16Bytes(b, p.Signature)
	return b
}

func parseIdentityPayload(b []byte) (*identityPayload, error) {
	bad := func(what string) (*identityPayload, error) {
		return nil, fmt.Errorf("identity payload: %s: %w", what, errMalformed)
	}
	if len(b) < 1 || b[0] != identityVer {
		return bad("version")
	}
	b = b[1:]
	field := func(max int) ([]byte, bool) {
		if len(b) < 2 {
			return nil, false
		}
		n := int(binary.BigEndian.Uint16(b))
		if n > max || len(b) < 2+n {
			return nil, false
		}
		v := append([]byte(nil), b[2:2+n]...)
		b = b[2+n:]
		return v, true
	}
	var p identityPayload
	var ok bool
	var name, ver []byte
	if p.PublicKey, ok = field(maxKeyLen); !ok || len(p.PublicKey) == 0 {
		return bad("public key")
	}
	if name, ok = field(maxNameLen); !ok {
		return bad("name")
	}
	if err := checkName(string(name)); err != nil {
		return nil, fmt.Errorf("identity payload: name: %w", err)
	}
	if ver, ok = field(maxVerLen); !ok {
		return bad("version string")
	}
	if err := checkName(string(ver)); err != nil {
		return nil, fmt.Errorf("identity payload: version string: %w", err)
	}
	if p.Offer, ok = field(maxOfferLen); !ok {
		return bad("offer")
	}
	if p.Signature, ok = field(maxSigLen); !ok || len(p.Signature) == 0 {
		return bad("signature")
	}
	if len(b) != 0 {
		return bad("trailing bytes")
	}
	p.Name, p.Version = string(name), string(ver)
	if len(p.Offer) == 0 {
		p.Offer = nil
	}
	return &p, nil
}

// printable reports whether s is valid UTF-8 without C0 or C1 control
// characters: the rule for names in a trust store written before checkName,
// which the store still reads (DisplayName neutralises the rest on display).
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return false
		}
	}
	return true
}

// signedIdentity is what the identity signature covers: a context string, the
// protocol the payload travels in, the sender's Noise static key, name,
// software version and offer, each length-prefixed.
func signedIdentity(proto string, noiseStatic []byte, name, version string, offer []byte) []byte {
	return lvCat([]byte("ferry identity signature v1"), []byte(proto), noiseStatic, []byte(name), []byte(version), offer)
}
