package backup

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/internal/strictbin"
	"github.com/ferryhq/ferry/transfer"
)

var manifestMagic = []byte("FRYV")

// manifest is the plaintext of a sealed vault manifest.
type manifest struct {
	version byte // manifestVersion when written; 2 or 3 when read
	id      [16]byte
	seq     uint64
	time    int64 // Unix nanoseconds
	engine  []byte
	packs   []packRef
	pieces  []dbPiece
	media   []mediaRef // the media chunks kept in packs; the others are objects of their own
}

// mediaRef is a media chunk kept in a pack.
type mediaRef struct {
	hash chatstore.Hash // the chunk's hash (as in the engine manifest)
	pack int            // index in manifest.packs
	off  int            // offset of its bytes in the pack's plaintext
	n    int            // its size
}

// packRef is a pack a vault manifest refers to.
type packRef struct {
	hash chatstore.Hash // BLAKE3 of its plaintext
	size int            // of its plaintext
}

// dbPiece is a piece of the raw database (see splitDB) and where it lies.
type dbPiece struct {
	hash chatstore.Hash // BLAKE3 of the raw bytes
	size int            // raw bytes
	pack int            // index in manifest.packs
	off  int            // offset of its S2-compressed bytes in the pack's plaintext
	n    int            // length of its S2-compressed bytes
}

// Versions of the vault manifest: 2 (its layout, below) with every object
// and the manifest in the legacy seal (legacy.go); 3, the same layout,
// the manifest in the archive envelope and the objects it adds too (those
// it keeps referring to from earlier backups may be legacy). Version 1
// (one piece per object) is no longer read.
const (
	manifestVersion    = 3
	oldestManifest     = 2 // the oldest version read
	firstEnvelopedSeal = 3 // the first version sealed in the archive envelope
)

func (v *manifest) marshal() []byte {
	b := append(slices.Clone(manifestMagic), v.version)
	b = append(b, v.id[:]...)
	b = binary.AppendUvarint(b, v.seq)
	b = binary.AppendUvarint(b, uint64(v.time))
	b = binary.AppendUvarint(b, uint64(len(v.engine)))
	b = append(b, v.engine...)
	b = binary.AppendUvarint(b, uint64(len(v.packs)))
	for _, p := range v.packs {
		b = append(b, p.hash[:]...)
		b = binary.AppendUvarint(b, uint64(p.size))
	}
	b = binary.AppendUvarint(b, uint64(len(v.pieces)))
	for _, p := range v.pieces {
		b = append(b, p.hash[:]...)
		for _, x := range []int{p.size, p.pack, p.off, p.n} {
			b = binary.AppendUvarint(b, uint64(x))
		}
	}
	b = binary.AppendUvarint(b, uint64(len(v.media)))
	for _, r := range v.media {
		b = append(b, r.hash[:]...)
		for _, x := range []int{r.pack, r.off, r.n} {
			b = binary.AppendUvarint(b, uint64(x))
		}
	}
	return b
}

// parseManifest parses a vault manifest's plaintext strictly. It does
// not check the pieces against the engine manifest (checkPieces does).
func parseManifest(b []byte) (*manifest, error) {
	p := strictbin.NewReader(b, ErrCorrupt)
	if magic := p.Bytes(len(manifestMagic)); p.Err() == nil && !bytes.Equal(magic, manifestMagic) {
		p.Fail("not a vault manifest")
	}
	var v manifest
	switch v.version = p.Byte(); {
	case p.Err() != nil:
	case v.version < oldestManifest:
		return nil, fmt.Errorf("vault manifest version %d: %w", v.version, errOldManifest)
	case v.version > manifestVersion:
		return nil, fmt.Errorf("vault manifest version %d: %w", v.version, transfer.ErrNewerVersion)
	}
	copy(v.id[:], p.Bytes(len(v.id)))
	v.seq = p.Uvarint(math.MaxInt64, "sequence")
	v.time = int64(p.Uvarint(math.MaxInt64, "time"))
	if v.engine = p.Bytes(int(p.Uvarint(transfer.MaxManifestSize, "engine manifest length"))); p.Err() == nil && len(v.engine) == 0 {
		p.Fail("no engine manifest")
	}
	v.packs = make([]packRef, p.Uvarint(uint64(p.Len()/33), "packs"))
	for i := range v.packs {
		v.packs[i].hash = p.Hash()
		if v.packs[i].size = int(p.Uvarint(packMax, "pack size")); p.Err() == nil && v.packs[i].size == 0 {
			p.Fail("empty pack")
		}
	}
	// place reads where something lies in a pack.
	place := func() (pack, off, n int) {
		if len(v.packs) == 0 {
			p.Fail("a place but no packs")
			return 0, 0, 0
		}
		pk := p.Uvarint(uint64(len(v.packs)-1), "pack")
		o := p.Uvarint(packMax-1, "offset")
		k := p.Uvarint(packMax-o, "length")
		if p.Err() == nil && (k == 0 || o+k > uint64(v.packs[pk].size)) {
			p.Fail("place outside its pack")
		}
		return int(pk), int(o), int(k)
	}
	v.pieces = make([]dbPiece, p.Uvarint(uint64(p.Len()/36), "pieces"))
	for i := range v.pieces {
		d := &v.pieces[i]
		d.hash = p.Hash()
		if d.size = int(p.Uvarint(pieceMax, "piece size")); p.Err() == nil && d.size == 0 {
			p.Fail("empty piece")
		}
		d.pack, d.off, d.n = place()
	}
	v.media = make([]mediaRef, p.Uvarint(uint64(p.Len()/35), "media chunks"))
	for i := range v.media {
		r := &v.media[i]
		r.hash = p.Hash()
		r.pack, r.off, r.n = place()
	}
	if p.Err() == nil && p.Len() != 0 {
		p.Fail("trailing bytes")
	}
	if p.Err() != nil {
		return nil, fmt.Errorf("vault manifest: %w", p.Err())
	}
	return &v, nil
}

// checkPieces says whether the pieces make up a database of m's size.
func checkPieces(pieces []dbPiece, m *transfer.Manifest) error {
	var total int64
	for _, p := range pieces {
		total += int64(p.size)
	}
	if total != m.DBSize {
		return fmt.Errorf("vault manifest: pieces of %d bytes for a database of %d: %w", total, m.DBSize, ErrCorrupt)
	}
	return nil
}

// fetchManifest fetches, opens and checks the sealed manifest of backup
// id: authentic, of this backup, not older than what st has seen.
func fetchManifest(ctx context.Context, conn Conn, vk *keys, id [16]byte, st *state) (*manifest, *transfer.Manifest, error) {
	sealed, err := conn.GetManifest(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	plain, envelope, err := vk.openManifest(sealed)
	if err != nil {
		return nil, nil, fmt.Errorf("manifest: %w", err)
	}
	vm, err := parseManifest(plain)
	if err != nil {
		return nil, nil, err
	}
	if envelope != (vm.version >= firstEnvelopedSeal) {
		return nil, nil, fmt.Errorf("manifest version %d in the wrong seal: %w", vm.version, ErrCorrupt)
	}
	if vm.id != id {
		return nil, nil, fmt.Errorf("manifest of another backup: %w", ErrCorrupt)
	}
	if seen := st.Seen[FormatID(id)]; vm.seq < seen {
		return nil, nil, fmt.Errorf("manifest %d, this device has seen %d: %w", vm.seq, seen, ErrRollback)
	}
	m, err := transfer.ParseManifest(vm.engine)
	if err != nil {
		// Authentic but unparsable: made by a broken or newer Ferry.
		return nil, nil, err
	}
	return vm, m, nil
}
