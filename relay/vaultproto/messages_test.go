package vaultproto

import (
	"bytes"
	"errors"
	"testing"

	"github.com/ferryhq/ferry/internal/archive"
	"github.com/ferryhq/ferry/internal/wire"
)

func sampleRequests() []Request {
	slot := KeySlot{Version: KeySlotV2, Params: archive.Params{Time: 3, MemoryKiB: 65536, Threads: 4}, Salt: [32]byte{1}, Verifier: [32]byte{2}, Wrapped: [WrappedSize]byte{3}}
	id := [IDSize]byte{0xaa}
	return []Request{
		{Op: OpPutChunk, ID: id, Name: [32]byte{1}, Data: []byte("sealed")},
		{Op: OpHasChunks, ID: id, Names: [][32]byte{{1}, {2}}},
		{Op: OpGetChunk, ID: id, Name: [32]byte{1}},
		{Op: OpPutManifest, ID: id, Names: [][32]byte{{1}, {2}}, Data: []byte("m")},
		{Op: OpPutManifest, ID: id, Data: []byte("m")},
		{Op: OpGetManifest, ID: id},
		{Op: OpList},
		{Op: OpDelete, ID: id},
		{Op: OpPutKeySlot, ID: id, Slot: slot},
		{Op: OpGetKeyParams, ID: id},
		{Op: OpGetKeySlot, ID: id, Sig: [SignatureSize]byte{5}},
		{Op: OpPutOwnerKey, ID: id, Owner: [OwnerKeySize]byte{6}},
		{Op: OpOwnerChallenge, ID: id},
		{Op: OpListWithKey, ID: id, Sig: [SignatureSize]byte{7}},
		{Op: OpDeleteWithKey, ID: id, Sig: [SignatureSize]byte{8}},
	}
}

func TestParseRequestRejects(t *testing.T) {
	id := make([]byte, IDSize)
	name := make([]byte, NameSize)
	cases := []struct {
		name string
		t    wire.Type
		body []byte
	}{
		{"unknown type", 0x7f, id},
		{"short id", OpGetManifest, id[:15]},
		{"trailing", OpGetManifest, append(id, 0)},
		{"empty chunk", OpPutChunk, append(id, name...)},
		{"no names", OpHasChunks, id},
		{"partial name", OpHasChunks, append(id, 1)},
		{"unsorted names", OpPutManifest, append(append(append(append(id, 2), bytes.Repeat([]byte{2}, 32)...), name...), 'm')},
		{"non-canonical varint", OpPutManifest, append(append(id, 0x80, 0x00), 'm')},
		{"no manifest", OpPutManifest, append(id, 0)},
		{"list with body", OpList, []byte{0}},
		{"bad params", OpPutKeySlot, append(append(id, 2, 0, 0, 0), make([]byte, 32+32+WrappedSize)...)},
		{"old key slot", OpPutKeySlot, append(append(id, 1, 3, 0x80, 0x80, 4, 4), make([]byte, 32+32+WrappedSize)...)},
		{"short proof", OpGetKeySlot, append(id, make([]byte, 32)...)},
		{"short owner key", OpPutOwnerKey, append(id, make([]byte, 31)...)},
		{"long owner key", OpPutOwnerKey, append(id, make([]byte, 33)...)},
		{"challenge with body", OpOwnerChallenge, append(id, 0)},
		{"short key proof", OpListWithKey, append(id, make([]byte, 63)...)},
		{"long key proof", OpDeleteWithKey, append(id, make([]byte, 65)...)},
	}
	for _, tc := range cases {
		if _, err := ParseRequest(tc.t, tc.body); !errors.Is(err, ErrBadRequest) {
			t.Errorf("%s: %v, want ErrBadRequest", tc.name, err)
		}
	}
}

func FuzzParseRequest(f *testing.F) {
	for _, r := range sampleRequests() {
		t, b := r.Encode()
		f.Add(byte(t), b)
	}
	f.Fuzz(func(t *testing.T, typ byte, body []byte) {
		r, err := ParseRequest(wire.Type(typ), body)
		if err != nil {
			return
		}
		gt, gb := r.Encode()
		if byte(gt) != typ || !bytes.Equal(gb, body) {
			t.Fatalf("round trip: %#x %x, want %#x %x", gt, gb, typ, body)
		}
	})
}

func FuzzParseBackups(f *testing.F) {
	f.Add(AppendBackups(nil, []Backup{{ID: [16]byte{1}, Updated: 1700000000, Size: 12345}, {ID: [16]byte{2}}}))
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, b []byte) {
		list, err := ParseBackups(b)
		if err != nil {
			return
		}
		if got := AppendBackups(nil, list); !bytes.Equal(got, b) {
			t.Fatalf("round trip: %x, want %x", got, b)
		}
	})
}

func FuzzParseKeyParams(f *testing.F) {
	f.Add(AppendKeyParams(nil, KeySlot{Version: KeySlotV2, Params: archive.DefaultParams(), Salt: [32]byte{9}}, [ChallengeSize]byte{8}))
	f.Add(appendParams(nil, KeySlotV1, archive.DefaultParams(), [32]byte{9}))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, p, salt, challenge, err := ParseKeyParams(b)
		if err != nil {
			return
		}
		got := appendParams(nil, v, p, salt)
		if v >= KeySlotV2 {
			got = AppendKeyParams(nil, KeySlot{Version: v, Params: p, Salt: salt}, challenge)
		}
		if !bytes.Equal(got, b) {
			t.Fatalf("round trip: %x, want %x", got, b)
		}
	})
}

func FuzzParseKeySlot(f *testing.F) {
	f.Add((&KeySlot{Version: KeySlotV2, Params: archive.DefaultParams(), Salt: [32]byte{9}, Verifier: [32]byte{1}}).Append(nil))
	f.Add((&KeySlot{Version: KeySlotV1, Params: archive.DefaultParams()}).Append(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParseKeySlot(b)
		if err != nil {
			return
		}
		if got := k.Append(nil); !bytes.Equal(got, b) {
			t.Fatalf("round trip: %x, want %x", got, b)
		}
	})
}
