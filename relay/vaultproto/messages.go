package vaultproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ferryhq/ferry/internal/archive"
	"github.com/ferryhq/ferry/internal/strictbin"
	"github.com/ferryhq/ferry/internal/wire"
)

// ProtocolID is the libp2p protocol of the vault.
const ProtocolID = "/ferry/vault/1"

// Message types (see doc.go).
const (
	OpPutChunk     wire.Type = 0x01
	OpHasChunks    wire.Type = 0x02
	OpGetChunk     wire.Type = 0x03
	OpPutManifest  wire.Type = 0x04
	OpGetManifest  wire.Type = 0x05
	OpList         wire.Type = 0x06
	OpDelete       wire.Type = 0x07
	OpPutKeySlot   wire.Type = 0x08
	OpGetKeyParams wire.Type = 0x09
	OpGetKeySlot   wire.Type = 0x0a
	// The owner key (see doc.go, "Owner keys").
	OpPutOwnerKey    wire.Type = 0x0b
	OpOwnerChallenge wire.Type = 0x0c
	OpListWithKey    wire.Type = 0x0d
	OpDeleteWithKey  wire.Type = 0x0e

	AnswerAck       wire.Type = 0x80
	AnswerBitmap    wire.Type = 0x81
	AnswerData      wire.Type = 0x82
	AnswerBackups   wire.Type = 0x83
	AnswerKeyParams wire.Type = 0x84
	AnswerWrapped   wire.Type = 0x85
	AnswerChallenge wire.Type = 0x86
)

// Error codes of an Error answer.
const (
	CodeInternal      byte = 1
	CodeForbidden     byte = 2
	CodeNotFound      byte = 3
	CodeBadRequest    byte = 4
	CodeQuota         byte = 5
	CodeTooLarge      byte = 6
	CodeWrongPassword byte = 7
	CodeLocked        byte = 8
	CodeMissingChunks byte = 9
	CodeOldKeySlot    byte = 10
	CodeTryLater      byte = 11
	CodeFull          byte = 12
	CodeNoAccess      byte = 13
	CodeBusy          byte = 14
	CodeNoOwnerKey    byte = 15
)

// Sizes and bounds of the protocol.
const (
	IDSize      = 16
	NameSize    = 32
	SaltSize    = 32
	WrappedSize = 12 + archive.KeySize + 16 // nonce, sealed key, tag
	// ChallengeSize is the relay's fresh nonce of a password proof.
	ChallengeSize = 32
	// SignatureSize is the Ed25519 signature that proves a password or
	// a backup key.
	SignatureSize = 64
	// OwnerKeySize is the Ed25519 public key that checks a proof of a
	// backup key.
	OwnerKeySize = 32
	// MaxChunk bounds one sealed chunk: the engine's largest stored chunk
	// (16 MiB + zstd slack) padded to its bucket, plus framing.
	MaxChunk = 24 << 20
	// MaxManifest bounds a sealed manifest together with its names.
	MaxManifest = wire.MaxFrame - 1<<20
	// MaxNames bounds the names of one HasChunks request.
	MaxNames = 1 << 16
	// MaxKeySlot bounds a key slot, as sent and as stored.
	MaxKeySlot = 1 << 10
	// RequestTimeout bounds one request, read to answer, waits included
	// (the relay's side and a client's attempt).
	RequestTimeout = 2 * time.Minute
)

// ErrBadRequest marks a request that does not parse.
var ErrBadRequest = errors.New("vault: malformed request")

// Key slot versions: 1 kept SHA-256 of a fixed proof (which whoever saw it
// could replay); 2 keeps an Ed25519 public key, and a proof is a signature
// over a fresh challenge of the relay. The relay still reads version 1
// slots (a backup keeps its size and record) but opens them no more; see
// doc.go.
const (
	KeySlotV1 byte = 1
	KeySlotV2 byte = 2
)

// KeySlot is what the relay keeps for a password backup: the Argon2id
// parameters and salt, the verifier of the proof, and the wrapped key.
type KeySlot struct {
	Version  byte // KeySlotV2 for every slot written now
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

// Request is any client request: Op says which, and which of the other
// fields it carries.
type Request struct {
	Op    wire.Type
	ID    [IDSize]byte        // all but List
	Name  [NameSize]byte      // PutChunk, GetChunk
	Sig   [SignatureSize]byte // GetKeySlot, ListWithKey, DeleteWithKey: the proof
	Owner [OwnerKeySize]byte  // PutOwnerKey
	Names [][NameSize]byte    // HasChunks, PutManifest
	Data  []byte              // PutChunk: chunk; PutManifest: manifest
	Slot  KeySlot             // PutKeySlot
}

// Encode returns the request's type and body.
func (r *Request) Encode() (wire.Type, []byte) {
	t, parts := r.encodeParts()
	return t, bytes.Join(parts, nil)
}

// encodeParts returns the request's type and body in parts, so that a
// chunk or manifest is written as it is, not copied.
func (r *Request) encodeParts() (wire.Type, [][]byte) {
	switch r.Op {
	case OpPutChunk:
		return r.Op, [][]byte{append(r.ID[:len(r.ID):len(r.ID)], r.Name[:]...), r.Data}
	case OpPutManifest:
		head := binary.AppendUvarint(slices.Clone(r.ID[:]), uint64(len(r.Names)))
		for _, n := range r.Names {
			head = append(head, n[:]...)
		}
		return r.Op, [][]byte{head, r.Data}
	}
	t, b := r.encodeSmall()
	return t, [][]byte{b}
}

// encodeSmall encodes the requests other than PutChunk and PutManifest.
func (r *Request) encodeSmall() (wire.Type, []byte) {
	var b []byte
	if r.Op != OpList {
		b = append(b, r.ID[:]...)
	}
	switch r.Op {
	case OpHasChunks:
		for _, n := range r.Names {
			b = append(b, n[:]...)
		}
	case OpGetChunk:
		b = append(b, r.Name[:]...)
	case OpGetKeySlot, OpListWithKey, OpDeleteWithKey:
		b = append(b, r.Sig[:]...)
	case OpPutOwnerKey:
		b = append(b, r.Owner[:]...)
	case OpPutKeySlot:
		b = r.Slot.Append(b)
	}
	return r.Op, b
}

// ParseRequest parses one request strictly.
func ParseRequest(t wire.Type, body []byte) (Request, error) {
	r := Request{Op: t}
	p := strictbin.NewReader(body, ErrBadRequest)
	if t != OpList {
		copy(r.ID[:], p.Bytes(IDSize))
	}
	switch t {
	case OpPutChunk:
		copy(r.Name[:], p.Bytes(NameSize))
		r.Data = p.Rest()
		if len(r.Data) == 0 || len(r.Data) > MaxChunk {
			p.Fail("chunk size %d", len(r.Data))
		}
	case OpHasChunks:
		rest := p.Rest()
		if len(rest) == 0 || len(rest)%NameSize != 0 || len(rest)/NameSize > MaxNames {
			p.Fail("names of %d bytes", len(rest))
		} else {
			r.Names = make([][NameSize]byte, len(rest)/NameSize)
			for i := range r.Names {
				copy(r.Names[i][:], rest[i*NameSize:])
			}
		}
	case OpGetChunk:
		copy(r.Name[:], p.Bytes(NameSize))
	case OpGetKeySlot, OpListWithKey, OpDeleteWithKey:
		copy(r.Sig[:], p.Bytes(SignatureSize))
	case OpPutOwnerKey:
		copy(r.Owner[:], p.Bytes(OwnerKeySize))
	case OpPutManifest:
		k := p.Uvarint(uint64(MaxManifest/NameSize), "name count")
		if p.Err() == nil {
			r.Names = make([][NameSize]byte, 0, min(k, uint64(len(body)/NameSize)))
		}
		for i := uint64(0); i < k && p.Err() == nil; i++ {
			var n [NameSize]byte
			copy(n[:], p.Bytes(NameSize))
			if i > 0 && bytes.Compare(r.Names[i-1][:], n[:]) >= 0 {
				p.Fail("names not ascending")
			}
			r.Names = append(r.Names, n)
		}
		r.Data = p.Rest()
		if p.Err() == nil && (len(r.Data) == 0 || len(r.Data) > MaxManifest) {
			p.Fail("manifest size %d", len(r.Data))
		}
	case OpGetManifest, OpDelete, OpGetKeyParams, OpList, OpOwnerChallenge:
	case OpPutKeySlot:
		r.Slot = parseKeySlotFrom(p)
		if p.Err() == nil && r.Slot.Version != KeySlotV2 {
			p.Fail("key slot version %d: this relay takes version %d", r.Slot.Version, KeySlotV2)
		}
	default:
		return Request{}, fmt.Errorf("%w: unknown type %#x", ErrBadRequest, byte(t))
	}
	p.End()
	if p.Err() != nil {
		return Request{}, p.Err()
	}
	return r, nil
}

func (k *KeySlot) Append(b []byte) []byte {
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

func parseParamsFrom(p *strictbin.Reader) (byte, archive.Params, [SaltSize]byte) {
	var salt [SaltSize]byte
	var version byte
	if v := p.Bytes(1); p.Err() == nil {
		version = v[0]
		if version != KeySlotV1 && version != KeySlotV2 {
			p.Fail("key slot version %d", version)
		}
	}
	var pr archive.Params
	pr.Time = uint32(p.Uvarint(math.MaxUint32, "Argon2id time")) // bounded by Validate below
	pr.MemoryKiB = uint32(p.Uvarint(math.MaxUint32, "Argon2id memory"))
	if v := p.Bytes(1); p.Err() == nil {
		pr.Threads = v[0]
	}
	copy(salt[:], p.Bytes(SaltSize))
	if p.Err() == nil {
		if err := pr.Validate(); err != nil {
			p.Fail("%v", err)
		}
	}
	return version, pr, salt
}

func parseKeySlotFrom(p *strictbin.Reader) KeySlot {
	var k KeySlot
	k.Version, k.Params, k.Salt = parseParamsFrom(p)
	copy(k.Verifier[:], p.Bytes(32))
	copy(k.Wrapped[:], p.Bytes(WrappedSize))
	return k
}

// ParseKeySlot parses a stored key slot (of either version).
func ParseKeySlot(b []byte) (KeySlot, error) {
	p := strictbin.NewReader(b, ErrBadRequest)
	k := parseKeySlotFrom(p)
	p.End()
	return k, p.Err()
}

// AppendKeyParams encodes a KeyParams answer: the parameters and salt of
// a version 2 slot, and the challenge the proof must sign.
func AppendKeyParams(b []byte, k KeySlot, challenge [ChallengeSize]byte) []byte {
	b = appendParams(b, k.Version, k.Params, k.Salt)
	return append(b, challenge[:]...)
}

// ParseKeyParams parses a KeyParams answer. A version 1 answer (an older
// relay, or one that claims the slot is old) is refused by the caller.
func ParseKeyParams(b []byte) (byte, archive.Params, [SaltSize]byte, [ChallengeSize]byte, error) {
	var challenge [ChallengeSize]byte
	p := strictbin.NewReader(b, ErrBadRequest)
	v, pr, salt := parseParamsFrom(p)
	if p.Err() == nil && v >= KeySlotV2 {
		copy(challenge[:], p.Bytes(ChallengeSize))
	}
	p.End()
	return v, pr, salt, challenge, p.Err()
}

// Labels that start the messages a proof signs, one per kind of proof.
const (
	proofLabel      = "ferry vault v2 key slot proof"
	ownerProofLabel = "ferry vault v1 owner proof"
)

// ProofMessage is what a device signs to prove a backup's password: the
// label, the backup ID, the relay's challenge, and the peer IDs of the
// relay and the device, so that a signature answers one challenge of one
// relay to one device and nothing else.
func ProofMessage(id [IDSize]byte, challenge [ChallengeSize]byte, relay, device peer.ID) []byte {
	return proofMessage(proofLabel, id, challenge, relay, device)
}

// OwnerProofMessage is what a device signs with a backup's owner key
// (derived from the backup key, see package backup) to list or delete the
// backup: ProofMessage's fields under a label of its own, so that neither
// proof ever stands for the other.
func OwnerProofMessage(id [IDSize]byte, challenge [ChallengeSize]byte, relay, device peer.ID) []byte {
	return proofMessage(ownerProofLabel, id, challenge, relay, device)
}

func proofMessage(label string, id [IDSize]byte, challenge [ChallengeSize]byte, relay, device peer.ID) []byte {
	b := append([]byte(label), 0)
	b = append(b, id[:]...)
	b = append(b, challenge[:]...)
	b = binary.AppendUvarint(b, uint64(len(relay)))
	b = append(b, relay...)
	b = binary.AppendUvarint(b, uint64(len(device)))
	return append(b, device...)
}

// MaxBody is the largest body a request of type t may have, checked
// before anything is allocated for it; 0 for a type that is not a
// request.
func MaxBody(t wire.Type) int {
	switch t {
	case OpPutChunk:
		return IDSize + NameSize + MaxChunk
	case OpHasChunks:
		return IDSize + MaxNames*NameSize
	case OpGetChunk:
		return IDSize + NameSize
	case OpPutManifest:
		return wire.MaxFrame
	case OpGetManifest, OpDelete, OpGetKeyParams, OpOwnerChallenge:
		return IDSize
	case OpList:
		return 0
	case OpPutKeySlot:
		return IDSize + MaxKeySlot
	case OpGetKeySlot, OpListWithKey, OpDeleteWithKey:
		return IDSize + SignatureSize
	case OpPutOwnerKey:
		return IDSize + OwnerKeySize
	}
	return -1
}

func AppendBackups(b []byte, list []Backup) []byte {
	b = binary.AppendUvarint(b, uint64(len(list)))
	for _, e := range list {
		b = append(b, e.ID[:]...)
		b = binary.AppendUvarint(b, uint64(e.Updated))
		b = binary.AppendUvarint(b, uint64(e.Size))
	}
	return b
}

func ParseBackups(b []byte) ([]Backup, error) {
	p := strictbin.NewReader(b, ErrBadRequest)
	n := p.Uvarint(uint64(len(b)/(IDSize+2)), "backup count")
	var out []Backup
	for i := uint64(0); i < n && p.Err() == nil; i++ {
		var e Backup
		copy(e.ID[:], p.Bytes(IDSize))
		e.Updated = int64(p.Uvarint(1<<62, "time"))
		e.Size = int64(p.Uvarint(1<<62, "size"))
		out = append(out, e)
	}
	p.End()
	if p.Err() != nil {
		return nil, p.Err()
	}
	return out, nil
}
