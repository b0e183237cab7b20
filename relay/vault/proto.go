package vault

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/ferryhq/ferry/internal/archive"
	"github.com/ferryhq/ferry/internal/wire"
	"github.com/libp2p/go-libp2p/core/peer"
)

// ProtocolID is the libp2p protocol of the vault.
const ProtocolID = "/ferry/vault/1"

// Message types (see doc.go).
const (
	opPutChunk     wire.Type = 0x01
	opHasChunks    wire.Type = 0x02
	opGetChunk     wire.Type = 0x03
	opPutManifest  wire.Type = 0x04
	opGetManifest  wire.Type = 0x05
	opList         wire.Type = 0x06
	opDelete       wire.Type = 0x07
	opPutKeySlot   wire.Type = 0x08
	opGetKeyParams wire.Type = 0x09
	opGetKeySlot   wire.Type = 0x0a

	rAck       wire.Type = 0x80
	rBitmap    wire.Type = 0x81
	rData      wire.Type = 0x82
	rBackups   wire.Type = 0x83
	rKeyParams wire.Type = 0x84
	rWrapped   wire.Type = 0x85
)

// Error codes of an Error answer.
const (
	codeInternal      byte = 1
	codeForbidden     byte = 2
	codeNotFound      byte = 3
	codeBadRequest    byte = 4
	codeQuota         byte = 5
	codeTooLarge      byte = 6
	codeWrongPassword byte = 7
	codeLocked        byte = 8
	codeMissingChunks byte = 9
	codeOldKeySlot    byte = 10
	codeTryLater      byte = 11
	codeFull          byte = 12
	codeNoAccess      byte = 13
	codeBusy          byte = 14
)

// Sizes and bounds of the protocol.
const (
	IDSize      = 16
	NameSize    = 32
	SaltSize    = 32
	WrappedSize = 12 + archive.KeySize + 16 // nonce, sealed key, tag
	// ChallengeSize is the relay's fresh nonce of a password proof.
	ChallengeSize = 32
	// SignatureSize is the Ed25519 signature that proves a password.
	SignatureSize = 64
	// MaxChunk bounds one sealed chunk: the engine's largest stored chunk
	// (16 MiB + zstd slack) padded to its bucket, plus framing.
	MaxChunk = 24 << 20
	// MaxManifest bounds a sealed manifest together with its names.
	MaxManifest = wire.MaxFrame - 1<<20
	// MaxNames bounds the names of one HasChunks request.
	MaxNames = 1 << 16
)

// errBadRequest marks a request that does not parse.
var errBadRequest = errors.New("vault: malformed request")

// Key slot versions: 1 kept SHA-256 of a fixed proof (which whoever saw it
// could replay); 2 keeps an Ed25519 public key, and a proof is a signature
// over a fresh challenge of the relay. The relay still reads version 1
// slots (a backup keeps its size and record) but opens them no more; see
// doc.go.
const (
	slotV1 byte = 1
	slotV2 byte = 2
)

// KeySlot is what the relay keeps for a password backup: the Argon2id
// parameters and salt, the verifier of the proof, and the wrapped key.
type KeySlot struct {
	Version  byte // slotV2 for every slot written now
	Params   archive.Params
	Salt     [SaltSize]byte
	Verifier [32]byte // v2: Ed25519 public key; v1: SHA-256 of the proof
	Wrapped  [WrappedSize]byte
}

// Backup is one entry of List.
type Backup struct {
	ID      [IDSize]byte
	Updated int64 // Unix seconds of the last manifest (or of creation)
	Size    int64 // stored bytes: chunks, manifest, key slot
}

// request is any client request.
type request struct {
	op    wire.Type
	id    [IDSize]byte
	name  [NameSize]byte      // PutChunk, GetChunk
	sig   [SignatureSize]byte // GetKeySlot: the proof
	names [][NameSize]byte    // HasChunks, PutManifest
	data  []byte              // PutChunk: chunk; PutManifest: manifest
	slot  KeySlot             // PutKeySlot
}

// encode returns the request's type and body.
func (r *request) encode() (wire.Type, []byte) {
	t, parts := r.encodeParts()
	return t, bytes.Join(parts, nil)
}

// encodeParts returns the request's type and body in parts, so that a
// chunk or manifest is written as it is, not copied.
func (r *request) encodeParts() (wire.Type, [][]byte) {
	switch r.op {
	case opPutChunk:
		return r.op, [][]byte{append(r.id[:len(r.id):len(r.id)], r.name[:]...), r.data}
	case opPutManifest:
		head := binary.AppendUvarint(slices.Clone(r.id[:]), uint64(len(r.names)))
		for _, n := range r.names {
			head = append(head, n[:]...)
		}
		return r.op, [][]byte{head, r.data}
	}
	t, b := r.encodeSmall()
	return t, [][]byte{b}
}

// encodeSmall encodes the requests other than PutChunk and PutManifest.
func (r *request) encodeSmall() (wire.Type, []byte) {
	var b []byte
	if r.op != opList {
		b = append(b, r.id[:]...)
	}
	switch r.op {
	case opHasChunks:
		for _, n := range r.names {
			b = append(b, n[:]...)
		}
	case opGetChunk:
		b = append(b, r.name[:]...)
	case opGetKeySlot:
		b = append(b, r.sig[:]...)
	case opPutKeySlot:
		b = r.slot.append(b)
	}
	return r.op, b
}

// parseRequest parses one request strictly.
func parseRequest(t wire.Type, body []byte) (request, error) {
	r := request{op: t}
	p := &reader{b: body}
	if t != opList {
		copy(r.id[:], p.bytes(IDSize))
	}
	switch t {
	case opPutChunk:
		copy(r.name[:], p.bytes(NameSize))
		r.data = p.rest()
		if len(r.data) == 0 || len(r.data) > MaxChunk {
			p.fail("chunk size %d", len(r.data))
		}
	case opHasChunks:
		rest := p.rest()
		if len(rest) == 0 || len(rest)%NameSize != 0 || len(rest)/NameSize > MaxNames {
			p.fail("names of %d bytes", len(rest))
		} else {
			r.names = make([][NameSize]byte, len(rest)/NameSize)
			for i := range r.names {
				copy(r.names[i][:], rest[i*NameSize:])
			}
		}
	case opGetChunk:
		copy(r.name[:], p.bytes(NameSize))
	case opGetKeySlot:
		copy(r.sig[:], p.bytes(SignatureSize))
	case opPutManifest:
		k := p.uvarint(uint64(MaxManifest / NameSize))
		if p.err == nil {
			r.names = make([][NameSize]byte, 0, min(k, uint64(len(body)/NameSize)))
		}
		for i := uint64(0); i < k && p.err == nil; i++ {
			var n [NameSize]byte
			copy(n[:], p.bytes(NameSize))
			if i > 0 && bytes.Compare(r.names[i-1][:], n[:]) >= 0 {
				p.fail("names not ascending")
			}
			r.names = append(r.names, n)
		}
		r.data = p.rest()
		if p.err == nil && (len(r.data) == 0 || len(r.data) > MaxManifest) {
			p.fail("manifest size %d", len(r.data))
		}
	case opGetManifest, opDelete, opGetKeyParams, opList:
	case opPutKeySlot:
		r.slot = parseKeySlotFrom(p)
		if p.err == nil && r.slot.Version != slotV2 {
			p.fail("key slot version %d: this relay takes version %d", r.slot.Version, slotV2)
		}
	default:
		return request{}, fmt.Errorf("%w: unknown type %#x", errBadRequest, byte(t))
	}
	p.end()
	if p.err != nil {
		return request{}, p.err
	}
	return r, nil
}

func (k *KeySlot) append(b []byte) []byte {
	b = appendParams(b, k.Version, k.Params, k.Salt)
	b = append(b, k.Verifier[:]...)
	return append(b, k.Wrapped[:]...)
}

func appendParams(b []byte, v byte, p archive.Params, salt [SaltSize]byte) []byte {
	b = append(b, v)
	b = binary.AppendUvarint(b, uint64(p.Time))
	b = binary.AppendUvarint(b, uint64(p.MemoryKiB))
	b = append(b, p.Threads)
	return append(b, salt[:]...)
}

func parseParamsFrom(p *reader) (byte, archive.Params, [SaltSize]byte) {
	var salt [SaltSize]byte
	var version byte
	if v := p.bytes(1); p.err == nil {
		version = v[0]
		if version != slotV1 && version != slotV2 {
			p.fail("key slot version %d", version)
		}
	}
	var pr archive.Params
	pr.Time = uint32(p.uvarint(math.MaxUint32)) // bounded by Validate below
	pr.MemoryKiB = uint32(p.uvarint(math.MaxUint32))
	if v := p.bytes(1); p.err == nil {
		pr.Threads = v[0]
	}
	copy(salt[:], p.bytes(SaltSize))
	if p.err == nil {
		if err := pr.Validate(); err != nil {
			p.fail("%v", err)
		}
	}
	return version, pr, salt
}

func parseKeySlotFrom(p *reader) KeySlot {
	var k KeySlot
	k.Version, k.Params, k.Salt = parseParamsFrom(p)
	copy(k.Verifier[:], p.bytes(32))
	copy(k.Wrapped[:], p.bytes(WrappedSize))
	return k
}

// parseKeySlot parses a stored key slot (of either version).
func parseKeySlot(b []byte) (KeySlot, error) {
	p := &reader{b: b}
	k := parseKeySlotFrom(p)
	p.end()
	return k, p.err
}

// appendKeyParams encodes a KeyParams answer: the parameters and salt of
// a version 2 slot, and the challenge the proof must sign.
func appendKeyParams(b []byte, k KeySlot, challenge [ChallengeSize]byte) []byte {
	b = appendParams(b, k.Version, k.Params, k.Salt)
	return append(b, challenge[:]...)
}

// parseKeyParams parses a KeyParams answer. A version 1 answer (an older
// relay, or one that claims the slot is old) is refused by the caller.
func parseKeyParams(b []byte) (byte, archive.Params, [SaltSize]byte, [ChallengeSize]byte, error) {
	var challenge [ChallengeSize]byte
	p := &reader{b: b}
	v, pr, salt := parseParamsFrom(p)
	if p.err == nil && v >= slotV2 {
		copy(challenge[:], p.bytes(ChallengeSize))
	}
	p.end()
	return v, pr, salt, challenge, p.err
}

// proofLabel starts the message a password proof signs.
const proofLabel = "ferry vault v2 key slot proof"

// ProofMessage is what a device signs to prove a backup's password: the
// label, the backup ID, the relay's challenge, and the peer IDs of the
// relay and the device, so that a signature answers one challenge of one
// relay to one device and nothing else.
func ProofMessage(id [IDSize]byte, challenge [ChallengeSize]byte, relay, device peer.ID) []byte {
	b := append([]byte(proofLabel), 0)
	b = append(b, id[:]...)
	b = append(b, challenge[:]...)
	b = binary.AppendUvarint(b, uint64(len(relay)))
	b = append(b, relay...)
	b = binary.AppendUvarint(b, uint64(len(device)))
	return append(b, device...)
}

// maxBody is the largest body a request of type t may have, checked
// before anything is allocated for it; 0 for a type that is not a
// request.
func maxBody(t wire.Type) int {
	switch t {
	case opPutChunk:
		return IDSize + NameSize + MaxChunk
	case opHasChunks:
		return IDSize + MaxNames*NameSize
	case opGetChunk:
		return IDSize + NameSize
	case opPutManifest:
		return wire.MaxFrame
	case opGetManifest, opDelete, opGetKeyParams:
		return IDSize
	case opList:
		return 0
	case opPutKeySlot:
		return IDSize + maxKeySlot
	case opGetKeySlot:
		return IDSize + SignatureSize
	}
	return -1
}

func appendBackups(b []byte, list []Backup) []byte {
	b = binary.AppendUvarint(b, uint64(len(list)))
	for _, e := range list {
		b = append(b, e.ID[:]...)
		b = binary.AppendUvarint(b, uint64(e.Updated))
		b = binary.AppendUvarint(b, uint64(e.Size))
	}
	return b
}

func parseBackups(b []byte) ([]Backup, error) {
	p := &reader{b: b}
	n := p.uvarint(uint64(len(b) / (IDSize + 2)))
	var out []Backup
	for i := uint64(0); i < n && p.err == nil; i++ {
		var e Backup
		copy(e.ID[:], p.bytes(IDSize))
		e.Updated = int64(p.uvarint(1 << 62))
		e.Size = int64(p.uvarint(1 << 62))
		out = append(out, e)
	}
	p.end()
	if p.err != nil {
		return nil, p.err
	}
	return out, nil
}

// reader parses a body; the first failure sticks.
type reader struct {
	b   []byte
	err error
}

func (p *reader) fail(format string, args ...any) {
	if p.err == nil {
		p.err = fmt.Errorf("%w: %s", errBadRequest, fmt.Sprintf(format, args...))
	}
}

func (p *reader) bytes(n int) []byte {
	if p.err != nil || len(p.b) < n {
		p.fail("short body")
		return make([]byte, n)
	}
	v := p.b[:n]
	p.b = p.b[n:]
	return v
}

func (p *reader) rest() []byte {
	if p.err != nil {
		return nil
	}
	v := p.b
	p.b = nil
	return v
}

func (p *reader) uvarint(max uint64) uint64 {
	if p.err != nil {
		return 0
	}
	v, k := binary.Uvarint(p.b)
	if k <= 0 || k != len(binary.AppendUvarint(nil, v)) {
		p.fail("bad varint")
		return 0
	}
	if v > max {
		p.fail("value %d above %d", v, max)
		return 0
	}
	p.b = p.b[k:]
	return v
}

func (p *reader) end() {
	if p.err == nil && len(p.b) != 0 {
		p.fail("%d trailing bytes", len(p.b))
	}
}
