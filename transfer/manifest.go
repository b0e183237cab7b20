package transfer

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"slices"

	"lukechampine.com/blake3"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/internal/strictbin"
)

// FormatVersion is the manifest format this package writes and the newest it reads.
const FormatVersion = 1

// Manifest limits. A manifest travels as one archive frame, so it is bounded by
// the frame size; the other bounds keep a hostile manifest from asking for
// absurd allocations.
const (
	DefaultChunkSize = 4 << 20  // raw bytes per chunk
	MinChunkSize     = 4 << 10  // smallest chunk size a manifest may declare
	MaxChunkSize     = 16 << 20 // largest chunk size a manifest may declare
	MaxManifestSize  = 32 << 20 // largest encoded manifest
	maxDigestLen     = 128
	maxFileSize      = 1 << 50 // 1 PiB: bigger sizes are certainly hostile
)

var manifestMagic = [4]byte{'F', 'R', 'Y', 'M'}

// emptyHash is BLAKE3 of no bytes: the only valid hash of an empty media file.
var emptyHash = chatstore.Hash(blake3.Sum256(nil))

// Manifest describes one snapshot of a store: what it holds (Stats), the
// message database as zstd-compressed chunks, and every media file as raw
// chunks. Chunks are numbered 0..NumChunks()-1: database chunks first, then
// the media files in ascending hash order, each file's chunks in file order.
//
// Build one with NewManifest or ParseManifest; the zero value is not usable.
// A Manifest is read-only once built (its chunk index is derived from the
// fields), and so safe to share between goroutines.
type Manifest struct {
	// SnapshotID names the snapshot (Snapshot derives it from the content).
	SnapshotID [16]byte
	// Stats are the source's counts and digest for exactly this snapshot.
	Stats chatstore.Stats
	// ChunkSize is the raw size of every chunk except the last of each part.
	ChunkSize int
	// DBSize is the raw size of the snapshot database file.
	DBSize int64
	// DBChunks are the compressed database chunks, in file order.
	DBChunks []DBChunk
	// Media are the media files, sorted by strictly ascending Hash.
	Media []MediaFile

	root   chatstore.Hash
	chunks []chunkRef // index of every chunk, derived
	first  []int      // index of the first chunk of each media file, derived
	total  int64      // sum of stored chunk sizes
}

// DBChunk is one compressed piece of the message database.
type DBChunk struct {
	Hash chatstore.Hash // BLAKE3 of the stored (compressed) bytes
	Size int            // stored (compressed) size
}

// MediaFile is one attachment's bytes.
type MediaFile struct {
	Hash chatstore.Hash // BLAKE3 of the whole file (the attachment hash)
	Size int64
	// Chunks holds the BLAKE3 of each chunk when the file has more than one;
	// nil otherwise, since a single chunk's hash is the file hash.
	Chunks []chatstore.Hash
}

// ChunkKind says which part of the snapshot a chunk belongs to.
type ChunkKind uint8

// Chunk kinds.
const (
	KindDB    ChunkKind = 1 // compressed piece of the database
	KindMedia ChunkKind = 2 // raw piece of a media file
)

// Chunk describes one chunk of a manifest.
type Chunk struct {
	Kind    ChunkKind
	Hash    chatstore.Hash // BLAKE3 of the stored bytes
	Size    int            // stored size (what travels)
	RawSize int            // size after decompression (== Size for media)
	File    int            // index into Media for media chunks, -1 for the database
	Offset  int64          // raw offset within the database or media file
}

type chunkRef struct {
	file   int32 // -1: database
	size   int32 // stored size
	raw    int32
	offset int64
	hash   chatstore.Hash
}

// NewManifest validates the parts and computes the root hash.
func NewManifest(id [16]byte, st chatstore.Stats, chunkSize int, dbSize int64, db []DBChunk, media []MediaFile) (*Manifest, error) {
	m := &Manifest{SnapshotID: id, Stats: st, ChunkSize: chunkSize, DBSize: dbSize, DBChunks: db, Media: media}
	b, err := m.encode()
	if err != nil {
		return nil, err
	}
	// Parse what we produced: one validator for both directions.
	return ParseManifest(b)
}

// Root is the BLAKE3 hash of the canonical encoding (without the root itself).
// Two manifests with equal roots describe the same bytes.
func (m *Manifest) Root() chatstore.Hash { return m.root }

// NumChunks is the number of chunks in the manifest.
func (m *Manifest) NumChunks() int { return len(m.chunks) }

// TotalBytes is the sum of the stored sizes of all chunks.
func (m *Manifest) TotalBytes() int64 { return m.total }

// BytesFor is the stored size of what a target must fetch of m when it
// holds none of it staged: the database's chunks, and those of every media
// file it does not hold already (a Receiver skips those; see
// Receiver.Missing) — nothing when its last commit took in m and it has not
// changed since (the Receiver then fetches nothing). It reads the target
// and writes nothing.
func (m *Manifest) BytesFor(target HistoryTarget) int64 {
	var n int64
	all := true
	for _, c := range m.chunks {
		if c.file >= 0 && target.HasMedia(m.Media[c.file].Hash, m.Media[c.file].Size) {
			continue
		}
		all = all && c.file < 0
		n += int64(c.size)
	}
	if all && upToDate(target, m) != nil {
		return 0
	}
	return n
}

// Chunk describes chunk i; it panics when i is out of range.
func (m *Manifest) Chunk(i int) Chunk {
	r := m.chunks[i]
	c := Chunk{Hash: r.hash, Size: int(r.size), RawSize: int(r.raw), File: int(r.file), Offset: r.offset}
	if r.file < 0 {
		c.Kind = KindDB
	} else {
		c.Kind = KindMedia
	}
	return c
}

// MediaChunks returns the index of the first chunk of media file f and how
// many chunks it has (0 for an empty file).
func (m *Manifest) MediaChunks(f int) (first, n int) {
	return m.first[f], chunkCount(m.Media[f].Size, m.ChunkSize)
}

// Marshal returns the canonical encoding, ending in the root hash.
func (m *Manifest) Marshal() ([]byte, error) { return m.encode() }

func chunkCount(size int64, chunkSize int) int {
	return int((size + int64(chunkSize) - 1) / int64(chunkSize))
}

// maxStored bounds a compressed chunk: zstd's worst case plus slack.
func maxStored(chunkSize int) int { return chunkSize + chunkSize/128 + 4096 }

func (m *Manifest) encode() ([]byte, error) {
	if m.ChunkSize < MinChunkSize || m.ChunkSize > MaxChunkSize {
		return nil, fmt.Errorf("encode manifest: chunk size %d out of range", m.ChunkSize)
	}
	b := make([]byte, 0, 256+len(m.DBChunks)*40+len(m.Media)*48)
	b = append(b, manifestMagic[:]...)
	b = binary.AppendUvarint(b, FormatVersion)
	b = append(b, m.SnapshotID[:]...)
	b = binary.AppendUvarint(b, uint64(m.ChunkSize))
	for _, v := range []int64{m.Stats.Conversations, m.Stats.Messages, m.Stats.Attachments, m.Stats.MediaBytes} {
		if v < 0 {
			return nil, fmt.Errorf("encode manifest: negative count in stats")
		}
		b = binary.AppendUvarint(b, uint64(v))
	}
	b = binary.AppendUvarint(b, uint64(len(m.Stats.Digest)))
	b = append(b, m.Stats.Digest...)
	if m.DBSize < 0 {
		return nil, fmt.Errorf("encode manifest: negative database size")
	}
	b = binary.AppendUvarint(b, uint64(m.DBSize))
	if n := chunkCount(m.DBSize, m.ChunkSize); n != len(m.DBChunks) {
		return nil, fmt.Errorf("encode manifest: %d database chunks for %d bytes, want %d", len(m.DBChunks), m.DBSize, n)
	}
	for _, c := range m.DBChunks {
		b = append(b, c.Hash[:]...)
		b = binary.AppendUvarint(b, uint64(c.Size))
	}
	b = binary.AppendUvarint(b, uint64(len(m.Media)))
	for _, f := range m.Media {
		b = append(b, f.Hash[:]...)
		if f.Size < 0 {
			return nil, fmt.Errorf("encode manifest: negative media size")
		}
		b = binary.AppendUvarint(b, uint64(f.Size))
		if n := chunkCount(f.Size, m.ChunkSize); n > 1 {
			if len(f.Chunks) != n {
				return nil, fmt.Errorf("encode manifest: media %x has %d chunk hashes, want %d", f.Hash[:4], len(f.Chunks), n)
			}
			for _, h := range f.Chunks {
				b = append(b, h[:]...)
			}
		} else if len(f.Chunks) != 0 {
			return nil, fmt.Errorf("encode manifest: single-chunk media %x lists chunk hashes", f.Hash[:4])
		}
	}
	root := blake3.Sum256(b)
	b = append(b, root[:]...)
	if len(b) > MaxManifestSize {
		return nil, fmt.Errorf("encode manifest: %w", ErrTooLarge)
	}
	return b, nil
}

// ParseManifest strictly parses an encoded manifest: every field canonical,
// every bound checked, no trailing bytes, and the root hash verified. A
// manifest of a newer format gives ErrNewerVersion; anything else malformed
// gives ErrCorrupt.
func ParseManifest(b []byte) (*Manifest, error) {
	if len(b) > MaxManifestSize {
		return nil, fmt.Errorf("parse manifest: %w", ErrTooLarge)
	}
	full := b
	p := strictbin.NewReader(b, ErrCorrupt)
	if magic := p.Bytes(4); p.Err() == nil && !bytes.Equal(magic, manifestMagic[:]) {
		p.Fail("not a manifest")
	}
	if v := p.Uvarint(math.MaxUint32, "version"); p.Err() == nil {
		if v > FormatVersion {
			return nil, fmt.Errorf("parse manifest: format %d: %w", v, ErrNewerVersion)
		}
		if v != FormatVersion {
			p.Fail("unknown format %d", v)
		}
	}
	m := &Manifest{}
	copy(m.SnapshotID[:], p.Bytes(16))
	cs := p.Uvarint(MaxChunkSize, "chunk size")
	if p.Err() == nil && cs < MinChunkSize {
		p.Fail("chunk size %d too small", cs)
	}
	m.ChunkSize = int(cs)
	m.Stats.Conversations = int64(p.Uvarint(math.MaxInt64, "conversations"))
	m.Stats.Messages = int64(p.Uvarint(math.MaxInt64, "messages"))
	m.Stats.Attachments = int64(p.Uvarint(math.MaxInt64, "attachments"))
	m.Stats.MediaBytes = int64(p.Uvarint(math.MaxInt64, "media bytes"))
	dl := p.Uvarint(maxDigestLen, "digest length")
	d := p.Bytes(int(dl))
	for _, c := range d {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			p.Fail("digest is not lowercase hex")
			break
		}
	}
	m.Stats.Digest = string(d)
	m.DBSize = int64(p.Uvarint(maxFileSize, "database size"))
	if p.Err() != nil {
		return nil, p.Err()
	}
	m.chunks = make([]chunkRef, 0, 16)
	nDB := chunkCount(m.DBSize, m.ChunkSize)
	if nDB > p.Len()/33 { // each entry takes at least 33 bytes
		p.Fail("database chunk count %d exceeds manifest", nDB)
		return nil, p.Err()
	}
	m.DBChunks = make([]DBChunk, nDB)
	for i := range m.DBChunks {
		h := p.Hash()
		s := p.Uvarint(uint64(maxStored(m.ChunkSize)), "chunk size")
		if p.Err() == nil && s == 0 {
			p.Fail("empty database chunk")
		}
		if p.Err() != nil {
			return nil, p.Err()
		}
		m.DBChunks[i] = DBChunk{Hash: h, Size: int(s)}
		raw := int64(m.ChunkSize)
		if rest := m.DBSize - int64(i)*int64(m.ChunkSize); rest < raw {
			raw = rest
		}
		m.chunks = append(m.chunks, chunkRef{file: -1, size: int32(s), raw: int32(raw), offset: int64(i) * int64(m.ChunkSize), hash: h})
		m.total += int64(s)
	}
	nMedia := p.Uvarint(math.MaxInt32, "media count")
	if p.Err() == nil && nMedia > uint64(p.Len()/33) {
		p.Fail("media count %d exceeds manifest", nMedia)
	}
	if p.Err() != nil {
		return nil, p.Err()
	}
	m.Media = make([]MediaFile, nMedia)
	m.first = make([]int, nMedia)
	for f := range m.Media {
		mf := &m.Media[f]
		mf.Hash = p.Hash()
		mf.Size = int64(p.Uvarint(maxFileSize, "media size"))
		if p.Err() != nil {
			return nil, p.Err()
		}
		if f > 0 && bytes.Compare(m.Media[f-1].Hash[:], mf.Hash[:]) >= 0 {
			p.Fail("media not in strictly ascending hash order")
			return nil, p.Err()
		}
		if mf.Size == 0 && mf.Hash != emptyHash {
			p.Fail("empty media file with a non-empty hash")
			return nil, p.Err()
		}
		m.first[f] = len(m.chunks)
		n := chunkCount(mf.Size, m.ChunkSize)
		if n > 1 {
			if n > p.Len()/32 {
				p.Fail("media chunk count %d exceeds manifest", n)
				return nil, p.Err()
			}
			mf.Chunks = make([]chatstore.Hash, n)
			for j := range mf.Chunks {
				mf.Chunks[j] = p.Hash()
			}
		}
		for j := 0; j < n; j++ {
			off := int64(j) * int64(m.ChunkSize)
			size := min(int64(m.ChunkSize), mf.Size-off)
			h := mf.Hash
			if n > 1 {
				h = mf.Chunks[j]
			}
			m.chunks = append(m.chunks, chunkRef{file: int32(f), size: int32(size), raw: int32(size), offset: off, hash: h})
			m.total += size
		}
		if len(m.chunks) > math.MaxInt32 {
			p.Fail("too many chunks")
			return nil, p.Err()
		}
	}
	body := len(full) - p.Len()
	root := p.Hash()
	if p.Err() != nil {
		return nil, p.Err()
	}
	if p.Len() != 0 {
		p.Fail("%d trailing bytes", p.Len())
		return nil, p.Err()
	}
	if blake3.Sum256(full[:body]) != root {
		p.Fail("root hash mismatch")
		return nil, p.Err()
	}
	m.root = root
	return m, nil
}

// String is a short human-readable summary (for logs).
func (m *Manifest) String() string {
	return fmt.Sprintf("snapshot %s: %d messages, %d db chunks, %d media files, %d bytes, root %s",
		hex.EncodeToString(m.SnapshotID[:]), m.Stats.Messages, len(m.DBChunks), len(m.Media), m.total, hex.EncodeToString(m.root[:8]))
}

// sortMedia puts media files in manifest order (ascending hash).
func sortMedia(media []MediaFile) {
	slices.SortFunc(media, func(a, b MediaFile) int { return bytes.Compare(a.Hash[:], b.Hash[:]) })
}
