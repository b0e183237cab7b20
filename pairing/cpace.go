package pairing

import (
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"

	"github.com/gtank/ristretto255"
)

// CPace (draft-irtf-cfrg-cpace-21), cipher suite CPACE-RISTR255-SHA512, in the
// initiator-responder setting. The names follow the draft: PRS, CI, sid, ADa, ADb,
// Ya, Yb, K, ISK. The functions below are the draft's, one for one, so that
// cpace_test.go can hold each against Appendix B.3.

const (
	cpaceDSI       = "CPaceRistretto255" // G_Ristretto255.DSI
	cpaceHashBlock = 128                 // H.s_in_bytes for SHA-512
	cpacePointLen  = 32                  // encoded ristretto255 element
	cpaceScalarLen = 32                  // G.group_size_bytes
)

// errCPaceInvalidPoint is returned when scalar_mult_vfy yields G.I: the received
// share does not decode, or is the neutral element. The draft says: abort.
var errCPaceInvalidPoint = errors.New("cpace: received share is not a valid group element")

// prependLen appends the LEB128 encoding of len(data) and then data to dst.
func prependLen(dst, data []byte) []byte {
	n := len(data)
	for {
		if n < 128 {
			dst = append(dst, byte(n))
			break
		}
		dst = append(dst, byte(n&0x7f)|0x80)
		n >>= 7
	}
	return append(dst, data...)
}

// lvCat is the draft's lv_cat: the length-value concatenation of its arguments.
func lvCat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = prependLen(out, p)
	}
	return out
}

// generatorString is the draft's generator_string(DSI, PRS, CI, sid, s_in_bytes).
func generatorString(dsi, prs, ci, sid []byte, sInBytes int) []byte {
	zpad := sInBytes - 1 - len(prependLen(nil, prs)) - len(prependLen(nil, dsi))
	if zpad < 0 {
		zpad = 0
	}
	return lvCat(dsi, prs, make([]byte, zpad), ci, sid)
}

// cpaceGenerator is G.calculate_generator(H, PRS, CI, sid) for ristretto255 and
// SHA-512: hash the generator string to 64 bytes and apply the group's one-way
// map (RFC 9496 element derivation, ristretto255.Element.FromUniformBytes).
func cpaceGenerator(prs, ci, sid []byte) *ristretto255.Element {
	h := sha512.Sum512(generatorString([]byte(cpaceDSI), prs, ci, sid, cpaceHashBlock))
	return ristretto255.NewElement().FromUniformBytes(h[:])
}

// cpaceSampleScalar is G.sample_scalar() as the draft recommends: 32 random bytes,
// the bits above group_size_bits (252) cleared, read little-endian. The result is
// below the group order, so its encoding is canonical. A zero scalar is redrawn.
func cpaceSampleScalar(rand io.Reader) (*ristretto255.Scalar, error) {
	var b [cpaceScalarLen]byte
	zero := ristretto255.NewScalar()
	for {
		if _, err := io.ReadFull(rand, b[:]); err != nil {
			return nil, fmt.Errorf("cpace: sample scalar: %w", err)
		}
		b[31] &= 0x0f
		s := ristretto255.NewScalar()
		if err := s.Decode(b[:]); err != nil {
			return nil, fmt.Errorf("cpace: sample scalar: %w", err)
		}
		if s.Equal(zero) == 0 {
			return s, nil
		}
	}
}

// cpaceScalarMult is G.scalar_mult(y, g): the encoding of y*g.
func cpaceScalarMult(y *ristretto255.Scalar, g *ristretto255.Element) []byte {
	return ristretto255.NewElement().ScalarMult(y, g).Encode(nil)
}

// cpaceIdentity is G.I, the encoding of the neutral element.
var cpaceIdentity = make([]byte, cpacePointLen)

// cpaceScalarMultVfy is G.scalar_mult_vfy(y, X): G.I when X does not decode,
// otherwise the encoding of y*decode(X) (G.I again if X is the neutral element).
func cpaceScalarMultVfy(y *ristretto255.Scalar, x []byte) []byte {
	p := ristretto255.NewElement()
	if err := p.Decode(x); err != nil {
		return append([]byte(nil), cpaceIdentity...)
	}
	return ristretto255.NewElement().ScalarMult(y, p).Encode(nil)
}

// transcriptIR is the draft's transcript_ir(Ya, ADa, Yb, ADb).
func transcriptIR(ya, ada, yb, adb []byte) []byte {
	return append(lvCat(ya, ada), lvCat(yb, adb)...)
}

// cpaceISK is ISK = H.hash(lv_cat(G.DSI || "_ISK", sid, K) || transcript_ir(...)).
func cpaceISK(sid, k, ya, ada, yb, adb []byte) []byte {
	h := sha512.New()
	h.Write(lvCat([]byte(cpaceDSI+"_ISK"), sid, k))
	h.Write(transcriptIR(ya, ada, yb, adb))
	return h.Sum(nil)
}

// cpaceParty is one side of a CPace run: its secret scalar and the inputs it was
// provisioned with.
type cpaceParty struct {
	y      *ristretto255.Scalar
	share  []byte // Ya or Yb, as sent
	ad     []byte // ADa or ADb, as sent
	ci     []byte
	sid    []byte
	isInit bool
}

// newCPaceParty samples y and computes this side's share y*g.
func newCPaceParty(rand io.Reader, prs, ci, sid, ad []byte, initiator bool) (*cpaceParty, error) {
	y, err := cpaceSampleScalar(rand)
	if err != nil {
		return nil, err
	}
	g := cpaceGenerator(prs, ci, sid)
	return &cpaceParty{y: y, share: cpaceScalarMult(y, g), ad: ad, ci: ci, sid: sid, isInit: initiator}, nil
}

// finish computes ISK from the peer's share and associated data. It aborts
// (errCPaceInvalidPoint) when K is the neutral element, as the draft requires.
func (p *cpaceParty) finish(peerShare, peerAD []byte) ([]byte, error) {
	k := cpaceScalarMultVfy(p.y, peerShare)
	if subtle.ConstantTimeCompare(k, cpaceIdentity) == 1 {
		return nil, errCPaceInvalidPoint
	}
	var isk []byte
	if p.isInit {
		isk = cpaceISK(p.sid, k, p.share, p.ad, peerShare, peerAD)
	} else {
		isk = cpaceISK(p.sid, k, peerShare, peerAD, p.share, p.ad)
	}
	clear(k)
	p.y = nil
	return isk, nil
}
