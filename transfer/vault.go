package transfer

import (
	"bytes"
	"cmp"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/crypto/argon2"
	"lukechampine.com/blake3"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/internal/archive"
	"github.com/ferryhq/ferry/internal/atomicfile"
	"github.com/ferryhq/ferry/internal/strictbin"
	"github.com/ferryhq/ferry/internal/usererr"
)

// Vault backups (the client side of /ferry/vault/1, see package relay/vaultproto).
//
// A backup key K (32 random bytes, shown as a recovery key or wrapped by a
// password) gives, by HKDF-SHA256 with one label each:
//
//	"ferry vault v1 chunk"       AES-256-GCM key of the chunks
//	"ferry vault v1 chunk name"  BLAKE3 key of the chunk names
//	"ferry vault v1 manifest"    AES-256-GCM key of the manifest
//	"ferry vault v1 backup id"   the 16-byte backup ID
//
// The vault holds two kinds of objects: media chunks of the engine's
// manifest larger than packMedia (raw, one object each), and packs of up to
// packMax bytes holding database pieces and the smaller media chunks. The
// raw database is cut into pieces by content (see splitDB), so that a
// database that grew keeps most of its pieces; the pieces a backup adds
// are S2-compressed into packs (a piece alone, ~64 KiB stored, would cost a
// request and an object on the relay's storage, and show its size). An
// object of kind k (1 media, 3 pack) whose plaintext has BLAKE3 hash h is
// named BLAKE3-keyed(name key, k || h): identical objects of later backups
// with the same key have the same name, so a backup sends only what the
// vault lacks, while the operator cannot test a guess of content. A sealed
// object is nonce (12) || AES-GCM(len (uint32 LE) || bytes || zeros), the
// zeros padding it to a size bucket (16 KiB × 2^k × 1, 1.25, 1.5 or 1.75),
// with "ferry vault v1 chunk" || backup ID || name as associated data, so an
// object moved to another name or backup fails to open.
//
// The vault manifest is sealed the same way (associated data "ferry vault
// v1 manifest" || backup ID) and holds
//
//	"FRYV" || 0x02 || backup ID (16) || uvarint(sequence) ||
//	uvarint(Unix nanoseconds) || uvarint(len) || the engine's manifest ||
//	uvarint(p) || p × (BLAKE3 of a pack's plaintext (32) || uvarint(its size)) ||
//	uvarint(n) || n × (BLAKE3 of the raw piece (32) || uvarint(piece size) ||
//	                   uvarint(pack) || uvarint(offset) || uvarint(length)) ||
//	uvarint(k) || k × (a media chunk's hash (32) || uvarint(pack) ||
//	                   uvarint(offset) || uvarint(size))
//
// The pieces, in order, make up the database the engine manifest
// describes; each lies S2-compressed at offset, length bytes long, in the
// plaintext of pack number pack. The k entries place the packed media
// chunks (raw). The names the manifest refers to follow from the hashes and
// the name key. A backup after the first reads the previous manifest and
// refers to the pieces and chunks it already stored where they are: only
// new ones go into new packs. A pack stays on the relay while something in
// it is in use; one that the previous backup used less than half of is not
// referred to again, and what of it is in use goes into new packs (so that
// what a backup holds stays within about twice what it uses).
//
// Restore fetches the objects holding the media chunks and database pieces
// the home lacks, checks every piece's hash, stages media chunks with
// Receiver.Put (which checks them against the engine manifest) and
// database chunks from the checked pieces, and commits: the digest check
// covers the whole. The sequence grows by one per backup; the home
// remembers the highest sequence it wrote or restored of each backup ID
// (home/vault.json), so an operator serving an older manifest to that home
// is caught. A new device can only check that the manifest is authentic.
//
// With a password (key slot version 2), Argon2id(password,
// SHA-256("ferry vault v2 salt" || backup ID || salt)) gives by HKDF the
// key that wraps K ("ferry vault v2 key wrap", AES-256-GCM, associated
// data the backup ID) and the seed of an Ed25519 key ("ferry vault v2 auth
// key") whose public half the relay keeps: the device proves the password
// by signing the relay's fresh challenge (see vault.ProofMessage), so a
// proof is good for one challenge of one relay. The salt the relay keeps
// is random per slot and bound to the backup ID, so one salt served to
// everyone cannot make one precomputed table serve every backup. The
// Argon2id parameters come back from the relay: a restore refuses any
// below archive.DefaultParams() in time or memory, and below what this
// home last wrote or restored for that backup (vault.json "stretch"),
// before it computes or sends anything (ErrWeakStretch). Slots of the
// first version (salt alone, SHA-256 of a fixed proof) are no longer
// opened: the device that made one writes a version 2 slot with its next
// password backup.
//
// home/vault.json (mode 0600) keeps the current backup's key, ID and mode,
// so that later backups reuse them (incremental), and the sequences seen.
// It holds the backup key in clear, like identity.key holds the device's
// identity: whoever can read the home can read the history anyway.

// VaultConn is a relay's vault as Backup and Restore use it;
// *vaultproto.Client implements it. Names are chunk names,
// ids backup IDs. GetChunk reads into buf when the chunk fits; its error
// for a chunk the vault does not hold matches fs.ErrNotExist, and so does
// GetManifest's for a backup it does not hold.
type VaultConn interface {
	PutChunk(ctx context.Context, id [16]byte, name [32]byte, sealed []byte) error
	HasChunks(ctx context.Context, id [16]byte, names [][32]byte) ([]bool, error)
	GetChunk(ctx context.Context, id [16]byte, name [32]byte, buf []byte) ([]byte, error)
	PutManifest(ctx context.Context, id [16]byte, names [][32]byte, sealed []byte) error
	GetManifest(ctx context.Context, id [16]byte) ([]byte, error)
	PutKeySlot(ctx context.Context, id [16]byte, p archive.Params, salt, public [32]byte, wrapped [60]byte) error
	// UnlockKey gets the key slot's parameters, salt and a challenge,
	// calls prove (whose error ends it before anything is sent), sends
	// the signature and returns the wrapped key.
	UnlockKey(ctx context.Context, id [16]byte, prove func(p archive.Params, salt [32]byte, msg []byte) ([64]byte, error)) ([60]byte, error)
}

// Vault errors a user can act on.
var (
	// ErrVaultCorrupt: a chunk or the manifest from the vault failed its
	// check (changed, swapped or forged); nothing was written.
	ErrVaultCorrupt = errors.New("the backup on the relay is damaged or was tampered with: nothing was restored")
	// ErrVaultIncomplete: the vault lacks a chunk the manifest refers to.
	ErrVaultIncomplete = errors.New("the backup on the relay is missing part of its data (lost or deleted there): nothing was restored; make a new backup from a device that has the history")
	// ErrVaultChanged: a newer backup replaced the one being restored (its
	// device backed up meanwhile), and the objects only the old one used
	// are gone.
	ErrVaultChanged = errors.New("the backup changed on the relay while it was being restored (its device made a newer one): nothing was restored; run the same command again to restore the newer one")
	// ErrVaultRollback: the relay served an older manifest than this device
	// already wrote or restored.
	ErrVaultRollback = errors.New("the relay served an older version of this backup than this device has already seen: nothing was restored")
	// ErrBackupID: a backup ID is malformed, or does not belong to the key.
	ErrBackupID = errors.New("that is not the ID of a backup made with this key: check the ID printed by `ferry backup` (32 hex digits)")
	// ErrWeakStretch: the relay asked for a password stretch cheaper than
	// Ferry's own (or than this backup had before); nothing derived from
	// the password was computed or sent.
	ErrWeakStretch = errors.New("the relay asked for a weaker password stretch than Ferry uses (it may be hostile, guessing passwords): refused, nothing derived from the password was sent")
)

// VaultFile is the file in a home that keeps the backup key and sequences.
const VaultFile = "vault.json"

// BackupOptions control Backup. The zero value backs up with the key the
// home already uses for the vault, or a new random key the first time.
type BackupOptions struct {
	// Key backs up with this key instead.
	Key *archive.Key
	// Password, when not empty, wraps the backup key with this password
	// and stores it with the backup.
	Password []byte
	// Params are the Argon2id costs for Password; zero means
	// archive.DefaultParams(). A restore refuses a slot below
	// archive.DefaultParams() in time or memory, so a backup refuses them
	// too.
	Params archive.Params
	// WorkDir holds the temporary snapshot; empty means the system's
	// temporary directory.
	WorkDir string
	// Progress, if set, is called with the bytes sent and to send, one call
	// at a time.
	Progress func(done, total int64)

	chunkSize int            // tests: 0 means DefaultChunkSize
	packSize  int            // tests: 0 means packMax
	packMedia int            // tests: 0 means packMedia
	floor     archive.Params // tests: zero means archive.DefaultParams()
}

// BackupResult reports a backup.
type BackupResult struct {
	// ID names the backup on the relay (FormatBackupID shows it).
	ID [16]byte
	// Key is the backup key; New says this is the first backup completed
	// with it (show Key.RecoveryString() then, unless a password wraps it).
	Key archive.Key
	New bool
	// Seq is this backup's sequence number (1 for the first).
	Seq   uint64
	Stats chatstore.Stats
	// Bytes is the stored size of the whole snapshot (every chunk once).
	Bytes int64
	// Chunks is the number of distinct chunks the backup refers to;
	// ChunksSent of them were uploaded (BytesSent sealed bytes), and
	// ChunksSkipped were already in the vault.
	Chunks, ChunksSent, ChunksSkipped int
	BytesSent                         int64
	Duration                          time.Duration
}

// RestoreOptions say which backup to restore and how to open it: Key, or
// Password with BackupID.
type RestoreOptions struct {
	Key      *archive.Key
	Password []byte
	// BackupID is needed with Password; with Key it is checked.
	BackupID string
	// Progress, if set, is called with the bytes fetched and to fetch (the
	// database pieces this home lacks, uncompressed, and the media chunks),
	// one call at a time.
	Progress func(done, total int64)

	floor archive.Params // tests: zero means archive.DefaultParams()
}

// FormatBackupID shows a backup ID as 32 lowercase hex digits.
func FormatBackupID(id [16]byte) string { return hex.EncodeToString(id[:]) }

// ParseBackupID parses what FormatBackupID shows.
func ParseBackupID(s string) ([16]byte, error) {
	var id [16]byte
	if n, err := hex.Decode(id[:], []byte(s)); err != nil || n != 16 || len(s) != 32 {
		return id, fmt.Errorf("backup ID %q: %w", s, ErrBackupID)
	}
	return id, nil
}

// vaultKeys are the keys derived from a backup key.
type vaultKeys struct {
	id              [16]byte
	chunk, manifest cipher.AEAD
	nameKey         [32]byte
}

func deriveVaultKeys(k archive.Key) (*vaultKeys, error) {
	var vk vaultKeys
	derive := func(label string, n int) ([]byte, error) { return hkdf.Key(sha256.New, k[:], nil, label, n) }
	id, err := derive("ferry vault v1 backup id", 16)
	if err != nil {
		return nil, err
	}
	copy(vk.id[:], id)
	nk, err := derive("ferry vault v1 chunk name", 32)
	if err != nil {
		return nil, err
	}
	copy(vk.nameKey[:], nk)
	clear(nk)
	for _, x := range []struct {
		label string
		aead  *cipher.AEAD
	}{{"ferry vault v1 chunk", &vk.chunk}, {"ferry vault v1 manifest", &vk.manifest}} {
		b, err := derive(x.label, 32)
		if err != nil {
			return nil, err
		}
		*x.aead, err = newAEAD(b)
		clear(b)
		if err != nil {
			return nil, err
		}
	}
	return &vk, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// Kinds of vault objects, hashed into their names so that a media chunk
// and a database piece of equal bytes never share a name.
const (
	objMedia = 1 // a media chunk of the engine's manifest, stored raw
	objPack  = 3 // database pieces, S2-compressed, back to back (2 was a single piece, manifest version 1)
)

// packMax bounds a pack's plaintext: a pack is closed when the next piece
// would not fit. It is a size bucket (see padBucket), so a full pack is
// hardly padded.
const packMax = 4 << 20

// packMedia is the largest media chunk kept in a pack: a smaller one as an
// object of its own would cost a request and an object for little data
// (and show its padded size).
const packMedia = 1 << 20

// name is the vault name of an object of kind with plaintext hash h.
func (vk *vaultKeys) name(kind byte, h chatstore.Hash) (n [32]byte) {
	x := blake3.New(32, vk.nameKey[:])
	x.Write([]byte{kind})
	x.Write(h[:])
	x.Sum(n[:0])
	return n
}

func (vk *vaultKeys) chunkAD(n [32]byte) []byte {
	return append(append([]byte("ferry vault v1 chunk"), vk.id[:]...), n[:]...)
}

func (vk *vaultKeys) manifestAD() []byte {
	return append([]byte("ferry vault v1 manifest"), vk.id[:]...)
}

// padBucket is the smallest size bucket ≥ n: 16 KiB × 2^k × {1, 1.25, 1.5, 1.75}.
func padBucket(n int) int {
	for b := 16 << 10; ; b *= 2 {
		for _, q := range []int{4, 5, 6, 7} {
			if s := b / 4 * q; s >= n {
				return s
			}
		}
	}
}

// seal pads and seals data: nonce || AES-GCM(len || data || zeros).
func seal(aead cipher.AEAD, data, ad []byte) ([]byte, error) {
	return sealInto(nil, aead, data, ad)
}

// sealInto is seal writing into buf when it is large enough (data must
// not overlap it): a caller sealing many objects in turn reuses one buffer.
func sealInto(buf []byte, aead cipher.AEAD, data, ad []byte) ([]byte, error) {
	ns, size := aead.NonceSize(), 4+padBucket(len(data))
	if need := ns + size + aead.Overhead(); cap(buf) < need {
		buf = make([]byte, need)
	}
	out := buf[:ns+size]
	if _, err := rand.Read(out[:ns]); err != nil {
		return nil, err
	}
	p := out[ns:]
	binary.LittleEndian.PutUint32(p, uint32(len(data)))
	clear(p[4+copy(p[4:], data):])
	return aead.Seal(out[:ns], out[:ns], p, ad), nil // in place
}

// open reverses seal, decrypting in place (sealed is overwritten); any
// deviation is ErrVaultCorrupt.
func open(aead cipher.AEAD, sealed, ad []byte) ([]byte, error) {
	ns := aead.NonceSize()
	if len(sealed) < ns+4+aead.Overhead() {
		return nil, ErrVaultCorrupt
	}
	p, err := aead.Open(sealed[ns:ns], sealed[:ns], sealed[ns:], ad) // in place
	if err != nil {
		return nil, ErrVaultCorrupt
	}
	n := int(binary.LittleEndian.Uint32(p))
	if n > len(p)-4 || len(p)-4 != padBucket(n) {
		return nil, ErrVaultCorrupt
	}
	for _, b := range p[4+n:] {
		if b != 0 {
			return nil, ErrVaultCorrupt
		}
	}
	return p[4 : 4+n], nil
}

var vaultMagic = []byte("FRYV")

// errOldVault: the manifest is of a version before this Ferry's: made by an
// early Ferry, and not restorable with this one. Backup starts afresh over
// it.
var errOldVault = fmt.Errorf("made by an early Ferry that this one cannot read (make a new backup): %w", ErrVaultCorrupt)

// vaultManifest is the plaintext of a sealed vault manifest.
type vaultManifest struct {
	id     [16]byte
	seq    uint64
	time   int64 // Unix nanoseconds
	engine []byte
	packs  []packRef
	pieces []dbPiece
	media  []mediaRef // the media chunks kept in packs; the others are objects of their own
}

// mediaRef is a media chunk kept in a pack.
type mediaRef struct {
	hash chatstore.Hash // the chunk's hash (as in the engine manifest)
	pack int            // index in vaultManifest.packs
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
	pack int            // index in vaultManifest.packs
	off  int            // offset of its S2-compressed bytes in the pack's plaintext
	n    int            // length of its S2-compressed bytes
}

// vaultVersion is the version of the vault manifest.
const vaultVersion = 2

func (v *vaultManifest) marshal() []byte {
	b := append(slices.Clone(vaultMagic), vaultVersion)
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

// parseVaultManifest parses a vault manifest's plaintext strictly. It does
// not check the pieces against the engine manifest (checkPieces does).
func parseVaultManifest(b []byte) (*vaultManifest, error) {
	p := strictbin.NewReader(b, ErrVaultCorrupt)
	if magic := p.Bytes(len(vaultMagic)); p.Err() == nil && !bytes.Equal(magic, vaultMagic) {
		p.Fail("not a vault manifest")
	}
	if ver := p.Bytes(1); p.Err() == nil && ver[0] != vaultVersion {
		if ver[0] < vaultVersion {
			return nil, fmt.Errorf("vault manifest version %d: %w", ver[0], errOldVault)
		}
		return nil, fmt.Errorf("vault manifest version %d: %w", ver[0], ErrNewerVersion)
	}
	var v vaultManifest
	copy(v.id[:], p.Bytes(len(v.id)))
	v.seq = p.Uvarint(math.MaxInt64, "sequence")
	v.time = int64(p.Uvarint(math.MaxInt64, "time"))
	if v.engine = p.Bytes(int(p.Uvarint(MaxManifestSize, "engine manifest length"))); p.Err() == nil && len(v.engine) == 0 {
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
func checkPieces(pieces []dbPiece, m *Manifest) error {
	var total int64
	for _, p := range pieces {
		total += int64(p.size)
	}
	if total != m.DBSize {
		return fmt.Errorf("vault manifest: pieces of %d bytes for a database of %d: %w", total, m.DBSize, ErrVaultCorrupt)
	}
	return nil
}

// The database travels to the vault as pieces cut by content, not as the
// engine's fixed-offset chunks: a snapshot (VACUUM INTO) of a history that
// grew shifts most pages, so fixed chunks would all change, while most
// pages stay byte for byte the same. splitDB cuts after a 4 KiB block
// (SQLite's page size) whose hash has its low bits zero: pieces of 8 to 128
// blocks, about 32 (128 KiB) on average, whose bounds move with the
// content. Unchanged pieces keep their names, so an incremental backup
// sends only pieces with changed pages. (Measured on a 100k-message
// history grown by 1%: 16% of the database is sent with 128 KiB pieces,
// 9% with 64 KiB, 41% with 256 KiB; smaller pieces cost more requests and
// more objects on the relay.)
const (
	pieceBlock     = 4 << 10
	pieceMinBlocks = 8
	pieceMaxBlocks = 128
	pieceMax       = pieceMaxBlocks * pieceBlock
	pieceCutMask   = 31 // cut when hash&mask == 0: 1 block in 32
)

// blockCut says whether a piece may end after block b (content only).
func blockCut(b []byte) bool {
	var h uint64
	for j := 0; j+8 <= len(b); j += 64 {
		h = (h ^ binary.LittleEndian.Uint64(b[j:])) * 0x9e3779b97f4a7c15
	}
	h ^= h >> 29
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 32
	return h&pieceCutMask == 0
}

// cutPiece returns the length of the piece at the start of b; final says
// b runs to the end of the database.
func cutPiece(b []byte, final bool) int {
	for k := 1; k <= pieceMaxBlocks; k++ {
		end := k * pieceBlock
		if end > len(b) {
			if final {
				return len(b)
			}
			return 0 // need more bytes to decide
		}
		if k >= pieceMinBlocks && blockCut(b[end-pieceBlock:end]) {
			return end
		}
	}
	return pieceMax
}

// splitDB decompresses the snapshot's database chunks in order and calls fn
// with each piece (valid only during the call).
func splitDB(ctx context.Context, snap *Snap, fn func(piece []byte) error) error {
	m := snap.Manifest()
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(m.ChunkSize)))
	if err != nil {
		return err
	}
	defer dec.Close()
	var zbuf, raw []byte
	pending := make([]byte, 0, pieceMax+m.ChunkSize)
	off := 0 // pending[off:] is not cut yet
	for i := range len(m.DBChunks) {
		z, err := snap.ReadChunk(ctx, i, zbuf)
		if err != nil {
			return err
		}
		zbuf = z
		if raw, err = dec.DecodeAll(z, raw[:0]); err != nil {
			return fmt.Errorf("read database chunk %d: %w", i, err)
		}
		// Keep the undecided tail (less than a piece) and append.
		pending = append(pending[:copy(pending, pending[off:])], raw...)
		off = 0
		final := i == len(m.DBChunks)-1
		for off < len(pending) {
			n := cutPiece(pending[off:], final)
			if n == 0 {
				break
			}
			if err := fn(pending[off : off+n]); err != nil {
				return err
			}
			off += n
		}
	}
	return nil
}

// vaultState is home/vault.json.
type vaultState struct {
	Version  int               `json:"version"`
	ID       string            `json:"id,omitempty"`
	Key      string            `json:"key,omitempty"`
	Password bool              `json:"password,omitempty"`
	Done     bool              `json:"done,omitempty"` // a backup with Key completed
	Seen     map[string]uint64 `json:"seen,omitempty"` // backup ID → highest sequence written or restored
	// Stretch: backup ID → the Argon2id parameters of the password slot
	// this home last wrote or opened; a restore refuses less.
	Stretch map[string]archive.Params `json:"stretch,omitempty"`
}

func loadVaultState(home string) (*vaultState, error) {
	b, err := os.ReadFile(filepath.Join(home, VaultFile))
	if errors.Is(err, os.ErrNotExist) {
		return &vaultState{Version: 1, Seen: map[string]uint64{}, Stretch: map[string]archive.Params{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", VaultFile, err)
	}
	var st vaultState
	if err := json.Unmarshal(b, &st); err != nil || st.Version != 1 {
		return nil, fmt.Errorf("read %s: not a vault state file (remove it to start a new backup): %v", VaultFile, err)
	}
	if st.Seen == nil {
		st.Seen = map[string]uint64{}
	}
	if st.Stretch == nil {
		st.Stretch = map[string]archive.Params{}
	}
	return &st, nil
}

func (st *vaultState) key() (archive.Key, bool) {
	var k archive.Key
	if n, err := hex.Decode(k[:], []byte(st.Key)); err != nil || n != len(k) {
		return archive.Key{}, false
	}
	return k, true
}

// save writes the state atomically with mode 0600.
func (st *vaultState) save(home string) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(home, VaultFile), b, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", VaultFile, usererr.Disk(home, err))
	}
	return nil
}

// passwordKeys derives, from a password and the key slot's salt and
// parameters, the AEAD that wraps the backup key and the Ed25519 key whose
// signature proves the password (see the format comment above).
func passwordKeys(pw []byte, id [16]byte, salt [32]byte, p archive.Params) (cipher.AEAD, ed25519.PrivateKey, error) {
	h := sha256.New()
	h.Write([]byte("ferry vault v2 salt"))
	h.Write(id[:])
	h.Write(salt[:])
	master := argon2.IDKey(pw, h.Sum(nil), p.Time, p.MemoryKiB, p.Threads, 32)
	defer clear(master)
	kek, err := hkdf.Key(sha256.New, master, nil, "ferry vault v2 key wrap", 32)
	if err != nil {
		return nil, nil, err
	}
	defer clear(kek)
	seed, err := hkdf.Key(sha256.New, master, nil, "ferry vault v2 auth key", ed25519.SeedSize)
	if err != nil {
		return nil, nil, err
	}
	defer clear(seed)
	aead, err := newAEAD(kek)
	if err != nil {
		return nil, nil, err
	}
	return aead, ed25519.NewKeyFromSeed(seed), nil
}

// stretchFloor is the least Argon2id cost a password slot may have:
// floor (archive.DefaultParams() when zero) and what the home saw for
// the backup before, whichever is more in each of time and memory.
func stretchFloor(floor archive.Params, seen archive.Params, ok bool) archive.Params {
	if floor == (archive.Params{}) {
		floor = archive.DefaultParams()
	}
	if ok {
		floor.Time, floor.MemoryKiB = max(floor.Time, seen.Time), max(floor.MemoryKiB, seen.MemoryKiB)
	}
	return floor
}

// checkStretch refuses Argon2id parameters below floor in time or memory.
// The lanes do not change an attacker's cost (memory × passes), so any
// number archive.Params.Validate allows will do.
func checkStretch(p, floor archive.Params) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("%w (%v)", ErrWeakStretch, err)
	}
	if p.Time < floor.Time || p.MemoryKiB < floor.MemoryKiB {
		return fmt.Errorf("%w (Argon2id %d passes over %d KiB, at least %d over %d KiB wanted)",
			ErrWeakStretch, p.Time, p.MemoryKiB, floor.Time, floor.MemoryKiB)
	}
	return nil
}

// Backup uploads a snapshot of store to the vault: only the chunks the
// vault lacks, then the sealed manifest. An interrupted backup leaves the
// chunks it sent, and the next Backup of the same home skips them.
func Backup(ctx context.Context, store *chatstore.Store, conn VaultConn, opts BackupOptions) (BackupResult, error) {
	var res BackupResult
	start := time.Now()
	if opts.Key != nil && len(opts.Password) > 0 {
		return res, errors.New("backup: give a key or a password, not both")
	}
	home := store.Home()
	st, err := loadVaultState(home)
	if err != nil {
		return res, fmt.Errorf("backup: %w", err)
	}
	password := len(opts.Password) > 0
	key, ok := st.key()
	switch {
	case opts.Key != nil:
		if !ok || key != *opts.Key {
			st.Done = false
		}
		key = *opts.Key
	case ok && st.Password == password:
	default:
		if key, err = archive.NewKey(); err != nil {
			return res, fmt.Errorf("backup: %w", err)
		}
		st.Done = false
	}
	defer key.Wipe()
	vk, err := deriveVaultKeys(key)
	if err != nil {
		return res, fmt.Errorf("backup: %w", err)
	}
	st.ID, st.Key, st.Password = FormatBackupID(vk.id), hex.EncodeToString(key[:]), password
	// Keep the key before anything goes up: an interrupted first backup
	// continues with it.
	if err := st.save(home); err != nil {
		return res, fmt.Errorf("backup: %w", err)
	}
	res.ID, res.Key, res.New = vk.id, key, !st.Done

	if password {
		p, err := putKeySlot(ctx, conn, vk.id, key, opts.Password, opts.Params, opts.floor)
		if err != nil {
			return res, fmt.Errorf("backup: %w", err)
		}
		st.Stretch[st.ID] = p
	}

	prev, err := previousManifest(ctx, conn, vk, st)
	if err != nil {
		return res, fmt.Errorf("backup: previous manifest: %w", err)
	}
	cs := opts.chunkSize
	if cs == 0 {
		cs = DefaultChunkSize
	}
	snap, err := snapshot(ctx, store, opts.WorkDir, cs)
	if err != nil {
		return res, fmt.Errorf("backup: %w", err)
	}
	defer snap.Close()
	m := snap.Manifest()
	res.Stats, res.Bytes = m.Stats, m.TotalBytes()

	up := newUploader(ctx, conn, vk, opts.Progress)
	up.total = m.DBSize + m.TotalBytes() - dbStored(m)
	pk := newPacker(up, &res, prev, &opts)
	var pieces []dbPiece
	var media []mediaRef
	pieces, err = backupDB(ctx, snap, pk)
	if err == nil {
		media, err = backupMedia(ctx, snap, pk)
	}
	sent, bytesSent, held, uerr := up.wait()
	res.ChunksSent, res.BytesSent = sent, bytesSent
	res.ChunksSkipped += held
	if uerr != nil {
		err = uerr // the cause of any cancellation err reports
	}
	if err != nil {
		return res, fmt.Errorf("backup: %w", err)
	}
	names := slices.Clone(up.mediaNames)
	for _, p := range pk.packs {
		names = append(names, vk.name(objPack, p.hash))
	}
	slices.SortFunc(names, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
	names = slices.Compact(names)
	res.Chunks = len(names)

	enc, err := m.Marshal()
	if err != nil {
		return res, fmt.Errorf("backup: %w", err)
	}
	res.Seq = st.Seen[st.ID] + 1
	if prev != nil {
		res.Seq = max(res.Seq, prev.seq+1)
	}
	vm := vaultManifest{id: vk.id, seq: res.Seq, time: time.Now().UnixNano(), engine: enc, packs: pk.packs, pieces: pieces, media: media}
	sealed, err := seal(vk.manifest, vm.marshal(), vk.manifestAD())
	if err != nil {
		return res, fmt.Errorf("backup: seal manifest: %w", err)
	}
	if err := conn.PutManifest(ctx, vk.id, names, sealed); err != nil {
		return res, fmt.Errorf("backup: %w", err)
	}
	st.Seen[st.ID] = res.Seq
	st.Done = true
	if err := st.save(home); err != nil {
		return res, fmt.Errorf("backup: %w", err)
	}
	res.Duration = time.Since(start)
	return res, nil
}

// putKeySlot wraps key with the password and stores the key slot; it
// returns the parameters used.
func putKeySlot(ctx context.Context, conn VaultConn, id [16]byte, key archive.Key, pw []byte, p, floor archive.Params) (archive.Params, error) {
	if p == (archive.Params{}) {
		p = archive.DefaultParams()
	}
	if err := checkStretch(p, stretchFloor(floor, archive.Params{}, false)); err != nil {
		return p, fmt.Errorf("password parameters: %w", err)
	}
	var salt [32]byte
	if _, err := rand.Read(salt[:]); err != nil {
		return p, err
	}
	aead, priv, err := passwordKeys(pw, id, salt, p)
	if err != nil {
		return p, err
	}
	defer clear(priv)
	var wrapped [60]byte
	if _, err := rand.Read(wrapped[:12]); err != nil {
		return p, err
	}
	aead.Seal(wrapped[12:12], wrapped[:12], key[:], id[:])
	var public [32]byte
	copy(public[:], priv.Public().(ed25519.PublicKey))
	return p, conn.PutKeySlot(ctx, id, p, salt, public, wrapped)
}

// vaultWorkers upload or download chunks in parallel.
const vaultWorkers = 4

// uploader seals and sends objects with a few workers; the first error
// stops it.
type uploader struct {
	ctx      context.Context
	cancel   context.CancelFunc
	conn     VaultConn
	vk       *vaultKeys
	jobs     chan upJob
	wg       sync.WaitGroup
	progress func(done, total int64)

	mu        sync.Mutex // guards the fields below and calls of progress
	err       error
	sent      int
	sentBytes int64
	held      int // objects the vault already held
	done      int64
	total     int64 // set before the first job: raw database + media bytes

	mediaNames [][32]byte // set by backupMedia before wait
}

// upJob produces an object's plaintext (compressed for pieces), into buf
// when it fits, and names it. A worker first asks the vault and sends it only
// if the vault lacks it (an interrupted backup of the same history stored
// the same packs and media).
type upJob struct {
	name [32]byte
	make func(buf []byte) ([]byte, error)
	size int64 // for progress
}

func newUploader(ctx context.Context, conn VaultConn, vk *vaultKeys, progress func(done, total int64)) *uploader {
	ctx, cancel := context.WithCancel(ctx)
	u := &uploader{ctx: ctx, cancel: cancel, conn: conn, vk: vk, jobs: make(chan upJob, vaultWorkers), progress: progress}
	for range vaultWorkers {
		u.wg.Add(1)
		go u.work()
	}
	return u
}

func (u *uploader) work() {
	defer u.wg.Done()
	var plain, sealed []byte // this worker's, reused for every object
	for j := range u.jobs {
		if u.ctx.Err() != nil {
			continue
		}
		held, err := u.has(j.name)
		if err == nil && !held {
			if plain, err = j.make(plain[:0]); err == nil {
				sealed, err = sealInto(sealed, u.vk.chunk, plain, u.vk.chunkAD(j.name))
			}
			if err == nil {
				// PutChunk returns once the relay has stored the object:
				// the buffer is free again.
				err = u.conn.PutChunk(u.ctx, u.vk.id, j.name, sealed)
			}
		}
		u.mu.Lock()
		if err != nil {
			if u.err == nil {
				u.err = err
			}
			u.cancel()
		} else {
			if held {
				u.held++
			} else {
				u.sent++
				u.sentBytes += int64(len(sealed))
			}
			u.done += j.size
			if u.progress != nil {
				u.progress(u.done, u.total)
			}
		}
		u.mu.Unlock()
	}
}

// has asks the vault whether it holds the object named n.
func (u *uploader) has(n [32]byte) (bool, error) {
	have, err := u.conn.HasChunks(u.ctx, u.vk.id, [][32]byte{n})
	if err != nil {
		return false, err
	}
	if len(have) != 1 {
		return false, fmt.Errorf("has chunks: %d answers for 1 name", len(have))
	}
	return have[0], nil
}

// skipped counts bytes the vault already holds as done.
func (u *uploader) skipped(n int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.done += n
	if u.progress != nil {
		u.progress(u.done, u.total)
	}
}

// dbStored is the stored size of m's database chunks.
func dbStored(m *Manifest) int64 {
	var n int64
	for _, c := range m.DBChunks {
		n += int64(c.Size)
	}
	return n
}

// send queues a job; false when the uploader has stopped.
func (u *uploader) send(j upJob) bool {
	select {
	case u.jobs <- j:
		return true
	case <-u.ctx.Done():
		return false
	}
}

// wait ends the uploader and reports the objects it sent, their bytes, the
// objects the vault held already, and its first error.
func (u *uploader) wait() (int, int64, int, error) {
	close(u.jobs)
	u.wg.Wait()
	err := u.err
	if err == nil {
		err = u.ctx.Err()
	}
	u.cancel()
	return u.sent, u.sentBytes, u.held, err
}

// packer fills packs with the new pieces and small media chunks of a
// backup, queues each full pack to be sent if the vault lacks it (an
// interrupted backup of the same history made the same packs), and keeps
// the list of packs the new manifest refers to, old ones included.
type packer struct {
	up     *uploader
	res    *BackupResult
	prev   *vaultManifest
	packs  []packRef
	reused map[int]int // pack of prev → its index in packs

	max   int // pack size limit (packMax but in tests)
	media int // largest media chunk packed (packMedia but in tests)

	cur     []byte // the pack being filled
	curPack int    // its index in packs, -1 when none
	curRaw  int64  // raw bytes of what it holds (for progress)
}

func newPacker(up *uploader, res *BackupResult, prev *vaultManifest, opts *BackupOptions) *packer {
	return &packer{up: up, res: res, prev: prev, reused: map[int]int{}, curPack: -1,
		max: cmp.Or(opts.packSize, packMax), media: cmp.Or(opts.packMedia, packMedia)}
}

// reuse returns the index in the new manifest's packs of pack i of prev.
func (p *packer) reuse(i int) int {
	j, ok := p.reused[i]
	if !ok {
		j = len(p.packs)
		p.reused[i] = j
		p.packs = append(p.packs, p.prev.packs[i])
		p.res.ChunksSkipped++
	}
	return j
}

// add appends b (raw bytes of what it holds, for progress) to the pack
// being filled, closing it first if b would not fit; it returns where b
// lies.
func (p *packer) add(b []byte, raw int) (pack, off int, err error) {
	if len(p.cur)+len(b) > p.max {
		if err := p.flush(); err != nil {
			return 0, 0, err
		}
	}
	if p.curPack < 0 {
		p.curPack = len(p.packs)
		p.packs = append(p.packs, packRef{}) // set by flush
		p.cur = make([]byte, 0, p.max)
	}
	off = len(p.cur)
	p.cur = append(p.cur, b...)
	p.curRaw += int64(raw)
	return p.curPack, off, nil
}

// flush closes the pack being filled, if any.
func (p *packer) flush() error {
	if p.curPack < 0 {
		return nil
	}
	h := chatstore.Hash(blake3.Sum256(p.cur))
	p.packs[p.curPack] = packRef{hash: h, size: len(p.cur)}
	pack := p.cur
	if !p.up.send(upJob{name: p.up.vk.name(objPack, h), size: p.curRaw,
		make: func([]byte) ([]byte, error) { return pack, nil }}) {
		return p.up.ctx.Err()
	}
	p.cur, p.curPack, p.curRaw = nil, -1, 0
	return nil
}

// backupDB cuts the database into pieces. A piece that the previous
// manifest holds stays where it is; the others go into packs.
func backupDB(ctx context.Context, snap *Snap, pk *packer) ([]dbPiece, error) {
	var (
		pieces []dbPiece
		seen   = map[chatstore.Hash]int{} // raw hash → its first piece in pieces
		old    = map[chatstore.Hash]dbPiece{}
		zbuf   = make([]byte, s2.MaxEncodedLen(pieceMax))
	)
	if pk.prev != nil {
		for _, p := range pk.prev.pieces {
			old[p.hash] = p
		}
	}
	err := splitDB(ctx, snap, func(raw []byte) error {
		h := chatstore.Hash(blake3.Sum256(raw))
		if k, ok := seen[h]; ok { // the same bytes again: the same place
			pieces = append(pieces, pieces[k])
			pk.up.skipped(int64(len(raw)))
			return nil
		}
		seen[h] = len(pieces)
		if p, ok := old[h]; ok {
			p.pack = pk.reuse(p.pack)
			pieces = append(pieces, p)
			pk.up.skipped(int64(len(raw)))
			return nil
		}
		z := s2.Encode(zbuf, raw)
		pack, off, err := pk.add(z, len(raw))
		if err != nil {
			return err
		}
		pieces = append(pieces, dbPiece{hash: h, size: len(raw), pack: pack, off: off, n: len(z)})
		return nil
	})
	return pieces, err
}

// previousManifest returns the backup's last manifest, with only the
// pieces whose packs the vault still holds and the backup used at least
// half of (the others' pieces are packed anew); nil when there is none.
func previousManifest(ctx context.Context, conn VaultConn, vk *vaultKeys, st *vaultState) (*vaultManifest, error) {
	if st.Seen[FormatBackupID(vk.id)] == 0 {
		return nil, nil // this home never finished a backup with this key
	}
	vm, _, err := fetchVaultManifest(ctx, conn, vk, vk.id, st)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errOldVault) {
		return nil, nil // deleted or expired on the relay, or of an early Ferry: start afresh
	}
	if err != nil {
		return nil, err
	}
	names := make([][32]byte, len(vm.packs))
	for i, p := range vm.packs {
		names[i] = vk.name(objPack, p.hash)
	}
	have, err := conn.HasChunks(ctx, vk.id, names)
	if err != nil {
		return nil, err
	}
	if len(have) != len(names) {
		return nil, fmt.Errorf("has chunks: %d answers for %d names", len(have), len(names))
	}
	vm.pieces, vm.media = reusable(vm, have)
	return vm, nil
}

// reusable returns the pieces and media chunks of vm a new backup refers to
// where they are: those in packs the vault holds (have, by pack) that vm
// used at least half of.
func reusable(vm *vaultManifest, have []bool) ([]dbPiece, []mediaRef) {
	used := make([]int, len(vm.packs)) // each piece and chunk counted once
	counted := map[chatstore.Hash]bool{}
	for _, p := range vm.pieces {
		if !counted[p.hash] {
			counted[p.hash] = true
			used[p.pack] += p.n
		}
	}
	for _, r := range vm.media { // one entry per chunk hash
		used[r.pack] += r.n
	}
	keep := func(pack int) bool { return have[pack] && 2*used[pack] >= vm.packs[pack].size }
	var pieces []dbPiece
	for _, p := range vm.pieces {
		if keep(p.pack) {
			pieces = append(pieces, p)
		}
	}
	var media []mediaRef
	for _, r := range vm.media {
		if keep(r.pack) {
			media = append(media, r)
		}
	}
	return pieces, media
}

// backupMedia stores the media chunks: one of up to packMedia bytes in a
// pack (where the previous manifest has it, or a new one), a larger one as
// an object of its own. It returns the
// packed chunks and sets up.mediaNames to the names of the others.
func backupMedia(ctx context.Context, snap *Snap, pk *packer) ([]mediaRef, error) {
	up, m := pk.up, snap.Manifest()
	old := map[chatstore.Hash]mediaRef{}
	if pk.prev != nil {
		for _, r := range pk.prev.media {
			old[r.hash] = r
		}
	}
	var (
		packed []mediaRef
		seen   = map[chatstore.Hash]bool{}
		alone  []int      // the chunks stored as objects of their own
		names  [][32]byte // and their names
		buf    []byte
	)
	for i := range m.NumChunks() {
		c := m.Chunk(i)
		if c.Kind != KindMedia || seen[c.Hash] {
			continue
		}
		seen[c.Hash] = true
		if c.Size > pk.media {
			alone = append(alone, i)
			names = append(names, up.vk.name(objMedia, c.Hash))
			continue
		}
		if r, ok := old[c.Hash]; ok && r.n == c.Size {
			r.pack = pk.reuse(r.pack)
			packed = append(packed, r)
			up.skipped(int64(c.Size))
			continue
		}
		data, err := snap.ReadChunk(ctx, i, buf)
		if err != nil {
			return nil, err
		}
		buf = data[:0]
		pack, off, err := pk.add(data, c.Size)
		if err != nil {
			return nil, err
		}
		packed = append(packed, mediaRef{hash: c.Hash, pack: pack, off: off, n: c.Size})
	}
	if err := pk.flush(); err != nil {
		return nil, err
	}
	up.mediaNames = names
	for k, n := range names {
		i := alone[k]
		if !up.send(upJob{name: n, size: int64(m.Chunk(i).Size), make: func(buf []byte) ([]byte, error) {
			return snap.ReadChunk(up.ctx, i, buf)
		}}) {
			return nil, up.ctx.Err()
		}
	}
	return packed, nil
}

// Restore fetches a backup from the vault and commits it into store with
// the engine's atomic merge and digest check. Every chunk is opened and
// checked against the authenticated manifest before the Receiver stages it;
// a damaged, swapped or forged chunk or manifest fails with ErrVaultCorrupt
// and a chunk the vault lacks with ErrVaultIncomplete; both leave the store
// as it was and remove what this backup had staged. A network failure keeps
// what was verified staged, so running Restore again continues where it
// stopped.
func Restore(ctx context.Context, conn VaultConn, store *chatstore.Store, opts RestoreOptions) (Result, error) {
	key, id, err := restoreKey(ctx, conn, store.Home(), opts)
	if err != nil {
		return Result{}, fmt.Errorf("restore: %w", err)
	}
	defer key.Wipe()
	vk, err := deriveVaultKeys(key)
	if err != nil {
		return Result{}, fmt.Errorf("restore: %w", err)
	}
	if vk.id != id {
		return Result{}, fmt.Errorf("restore: %w", ErrBackupID)
	}
	home := store.Home()
	st, err := loadVaultState(home)
	if err != nil {
		return Result{}, fmt.Errorf("restore: %w", err)
	}
	vm, m, err := fetchVaultManifest(ctx, conn, vk, id, st)
	if err != nil {
		return Result{}, fmt.Errorf("restore: %w", err)
	}
	if err := checkPieces(vm.pieces, m); err != nil {
		return Result{}, fmt.Errorf("restore: %w", err)
	}
	recv, err := NewReceiver(store, m)
	if err != nil {
		return Result{}, fmt.Errorf("restore: %w", err)
	}
	plan := planRestore(recv, vm.pieces, opts.Progress)
	err = download(ctx, conn, vk, recv, vm, plan)
	var res Result
	if err == nil {
		res, err = recv.Commit(ctx)
	}
	if err != nil {
		if Discard(err) || errors.Is(err, ErrVaultCorrupt) || errors.Is(err, ErrVaultIncomplete) {
			recv.Abort()
		} else {
			recv.Close()
		}
		if errors.Is(err, ErrVaultIncomplete) && replaced(ctx, conn, vk, vm.seq, st) {
			err = usererr.As(ErrVaultChanged, err)
		}
		return res, fmt.Errorf("restore: %w", err)
	}
	if vm.seq > st.Seen[FormatBackupID(id)] {
		st.Seen[FormatBackupID(id)] = vm.seq
		if err := st.save(home); err != nil {
			return res, fmt.Errorf("restore: %w", err)
		}
	}
	return res, nil
}

// replaced says whether the relay now holds a newer manifest of the backup
// than the one of sequence seq: a restore that found an object missing then
// raced a new backup, whose manifest let the relay delete what only the old
// one used.
func replaced(ctx context.Context, conn VaultConn, vk *vaultKeys, seq uint64, st *vaultState) bool {
	vm, _, err := fetchVaultManifest(ctx, conn, vk, vk.id, st)
	return err == nil && vm.seq > seq
}

// restoreKey finds the backup key and ID from the options.
func restoreKey(ctx context.Context, conn VaultConn, home string, opts RestoreOptions) (archive.Key, [16]byte, error) {
	var id [16]byte
	var err error
	if opts.BackupID != "" {
		if id, err = ParseBackupID(opts.BackupID); err != nil {
			return archive.Key{}, id, err
		}
	}
	switch {
	case opts.Key != nil && len(opts.Password) > 0:
		return archive.Key{}, id, errors.New("give a key or a password, not both")
	case opts.Key != nil:
		vk, err := deriveVaultKeys(*opts.Key)
		if err != nil {
			return archive.Key{}, id, err
		}
		if opts.BackupID != "" && vk.id != id {
			return archive.Key{}, id, ErrBackupID
		}
		return *opts.Key, vk.id, nil
	case len(opts.Password) == 0:
		return archive.Key{}, id, ErrNoKey
	case opts.BackupID == "":
		return archive.Key{}, id, fmt.Errorf("a password backup needs its backup ID: %w", ErrBackupID)
	}
	st, err := loadVaultState(home)
	if err != nil {
		return archive.Key{}, id, err
	}
	seen, ok := st.Stretch[FormatBackupID(id)]
	floor := stretchFloor(opts.floor, seen, ok)
	var aead cipher.AEAD
	var used archive.Params
	wrapped, err := conn.UnlockKey(ctx, id, func(p archive.Params, salt [32]byte, msg []byte) ([64]byte, error) {
		var sig [64]byte
		// Before anything is computed: a relay that asks for a cheap
		// stretch gets nothing to guess against at that cost.
		if err := checkStretch(p, floor); err != nil {
			return sig, err
		}
		a, priv, err := passwordKeys(opts.Password, id, salt, p)
		if err != nil {
			return sig, err
		}
		defer clear(priv)
		aead, used = a, p
		copy(sig[:], ed25519.Sign(priv, msg))
		return sig, nil
	})
	if err != nil {
		return archive.Key{}, id, err
	}
	if aead == nil {
		return archive.Key{}, id, errors.New("key slot: the vault connection returned a key without asking for the proof")
	}
	kb, err := aead.Open(nil, wrapped[:12], wrapped[12:], id[:])
	if err != nil || len(kb) != archive.KeySize {
		// The relay accepted the proof, so the password is right: the slot
		// was changed.
		return archive.Key{}, id, fmt.Errorf("key slot: %w", ErrVaultCorrupt)
	}
	var key archive.Key
	copy(key[:], kb)
	clear(kb)
	st.Stretch[FormatBackupID(id)] = used
	if err := st.save(home); err != nil {
		key.Wipe()
		return archive.Key{}, id, err
	}
	return key, id, nil
}

// restorePlan is what a restore fetches: the pieces covering the database
// chunks recv lacks, and the media chunks it lacks.
type restorePlan struct {
	dbChunks []int   // database chunks to stage
	pieces   []int   // the vault pieces that cover them, in order
	offs     []int64 // offs[k]: where piece k starts in the database
	media    []int   // media chunks to fetch

	progress func(done, total int64) // may be nil
	total    int64                   // raw bytes of the pieces and media chunks to fetch
	mu       sync.Mutex              // serialises calls of progress
	done     int64                   // guarded by mu
}

func planRestore(recv *Receiver, pieces []dbPiece, progress func(done, total int64)) *restorePlan {
	m := recv.Manifest()
	p := &restorePlan{progress: progress, offs: make([]int64, len(pieces)+1)}
	for k, pc := range pieces {
		p.offs[k+1] = p.offs[k] + int64(pc.size)
	}
	want := make([]bool, len(pieces))
	for _, i := range recv.Missing() {
		c := m.Chunk(i)
		if c.Kind == KindMedia {
			p.media = append(p.media, i)
			p.total += int64(c.Size)
			continue
		}
		p.dbChunks = append(p.dbChunks, i)
		k, _ := slices.BinarySearch(p.offs, c.Offset+1)
		for k--; k < len(pieces) && p.offs[k] < c.Offset+int64(c.RawSize); k++ {
			want[k] = true
		}
	}
	for k, w := range want {
		if w {
			p.pieces = append(p.pieces, k)
			p.total += int64(pieces[k].size)
		}
	}
	return p
}

// fetched counts n more bytes as fetched (one call of progress at a time,
// as Backup makes them).
func (p *restorePlan) fetched(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += int64(n)
	if p.progress != nil {
		p.progress(p.done, p.total)
	}
}

// download fetches what the plan needs, each object once: first the packs
// holding database pieces (with the media chunks of the plan they also
// hold), then it stages the database chunks the pieces cover, then it
// fetches the other packs and the media chunks stored alone. The database
// comes first so that its digest check runs while the media still
// download (see Receiver.startVerify).
func download(ctx context.Context, conn VaultConn, vk *vaultKeys, recv *Receiver, vm *vaultManifest, plan *restorePlan) error {
	m := recv.Manifest()
	where := make(map[chatstore.Hash]mediaRef, len(vm.media))
	for _, r := range vm.media {
		where[r.hash] = r
	}
	type packWork struct{ pieces, media []int } // of the plan, in one pack
	work := map[int]*packWork{}
	var dbPacks, mediaPacks, alone []int
	in := func(pk int, list *[]int) *packWork {
		w := work[pk]
		if w == nil {
			w = &packWork{}
			work[pk] = w
			*list = append(*list, pk)
		}
		return w
	}
	for _, k := range plan.pieces {
		w := in(vm.pieces[k].pack, &dbPacks)
		w.pieces = append(w.pieces, k)
	}
	for _, i := range plan.media {
		r, ok := where[m.Chunk(i).Hash]
		if !ok {
			alone = append(alone, i)
			continue
		}
		w := in(r.pack, &mediaPacks)
		w.media = append(w.media, i)
	}

	bufs := make([][]byte, vaultWorkers) // per worker, reused: sealed objects
	raws := make([][]byte, vaultWorkers) // and decoded pieces, staged chunks
	putMedia := func(i int, data []byte) error {
		// Put checks the bytes against the manifest's hash.
		if err := recv.Put(i, data); err != nil {
			if errors.Is(err, ErrChunkCorrupt) {
				err = usererr.As(ErrVaultCorrupt, err)
			}
			return err
		}
		plan.fetched(m.Chunk(i).Size)
		return nil
	}
	getPack := func(ctx context.Context, w, pk int) error {
		plain, err := fetch(ctx, conn, vk, vk.name(objPack, vm.packs[pk].hash), &bufs[w])
		if err != nil {
			return fmt.Errorf("pack %d: %w", pk, err)
		}
		for _, k := range work[pk].pieces {
			p := vm.pieces[k]
			var raw []byte
			if p.off+p.n <= len(plain) {
				z := plain[p.off : p.off+p.n]
				if n, err := s2.DecodedLen(z); err == nil && n == p.size {
					if cap(raws[w]) < n {
						raws[w] = make([]byte, pieceMax)
					}
					if raw, err = s2.Decode(raws[w][:n], z); err != nil {
						raw = nil
					}
				}
			}
			if len(raw) != p.size || blake3.Sum256(raw) != p.hash {
				return fmt.Errorf("database piece %d: %w", k, ErrVaultCorrupt)
			}
			// A piece that overlaps a chunk staged before writes the same
			// bytes again: both are the database the manifest describes.
			if err := recv.writeDB(raw, plan.offs[k]); err != nil {
				return err
			}
			plan.fetched(p.size)
		}
		for _, i := range work[pk].media {
			r := where[m.Chunk(i).Hash]
			if r.off+r.n > len(plain) {
				return fmt.Errorf("pack %d: %w", pk, ErrVaultCorrupt)
			}
			if err := putMedia(i, plain[r.off:r.off+r.n]); err != nil {
				return err
			}
		}
		return nil
	}

	err := parallel(ctx, len(dbPacks), func(ctx context.Context, w, j int) error {
		return getPack(ctx, w, dbPacks[j])
	})
	if err == nil && len(plan.dbChunks) > 0 {
		err = parallel(ctx, len(plan.dbChunks), func(ctx context.Context, w, j int) error {
			if cap(raws[w]) < m.ChunkSize {
				raws[w] = make([]byte, m.ChunkSize)
			}
			return recv.stageWritten(plan.dbChunks[j], raws[w])
		})
	}
	if err != nil {
		return err
	}
	clear(raws) // the other packs hold no pieces of the plan: free the buffers
	return parallel(ctx, len(mediaPacks)+len(alone), func(ctx context.Context, w, j int) error {
		if j < len(mediaPacks) {
			return getPack(ctx, w, mediaPacks[j])
		}
		i := alone[j-len(mediaPacks)]
		data, err := fetch(ctx, conn, vk, vk.name(objMedia, m.Chunk(i).Hash), &bufs[w])
		if err != nil {
			return fmt.Errorf("chunk %d: %w", i, err)
		}
		return putMedia(i, data)
	})
}

// fetch gets and opens one object, reading it into *buf (kept for the
// next call); the plaintext returned lies in *buf.
func fetch(ctx context.Context, conn VaultConn, vk *vaultKeys, n [32]byte, buf *[]byte) ([]byte, error) {
	sealed, err := conn.GetChunk(ctx, vk.id, n, *buf)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, usererr.As(ErrVaultIncomplete, err)
	}
	if err != nil {
		return nil, err
	}
	*buf = sealed[:0]
	return open(vk.chunk, sealed, vk.chunkAD(n))
}

// parallel runs fn for k = 0..n-1 on vaultWorkers goroutines (w is the
// worker, 0 ≤ w < vaultWorkers) and returns the first error, after which no
// new call starts.
func parallel(ctx context.Context, n int, fn func(ctx context.Context, w, k int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for w := range min(vaultWorkers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1)) - 1
				if k >= n || ctx.Err() != nil {
					return
				}
				if err := fn(ctx, w, k); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					cancel()
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return firstErr
}

// writeDB writes raw database bytes (a checked vault piece) into the staged
// database at off. They count as staged once stageWritten records the
// chunks they cover.
func (r *Receiver) writeDB(raw []byte, off int64) error {
	r.life.RLock()
	defer r.life.RUnlock()
	if r.closed {
		return fmt.Errorf("stage database: %w", ErrClosed)
	}
	if _, err := r.db.WriteAt(raw, off); err != nil {
		return fmt.Errorf("stage database: %w", usererr.Disk(r.store.Home(), err))
	}
	startWriteback(r.db, off, int64(len(raw)))
	return nil
}

// stageWritten records database chunk i, whose bytes writeDB wrote, as
// staged; buf holds at least the chunk's raw size.
func (r *Receiver) stageWritten(i int, buf []byte) error {
	if i < 0 || i >= len(r.done) {
		return fmt.Errorf("put chunk %d: %w", i, ErrChunkRange)
	}
	c := r.m.Chunk(i)
	if c.Kind != KindDB || len(buf) < c.RawSize {
		return fmt.Errorf("put chunk %d: %w", i, ErrChunkRange)
	}
	r.life.RLock()
	defer r.life.RUnlock()
	if r.closed {
		return fmt.Errorf("put chunk %d: %w", i, ErrClosed)
	}
	raw := buf[:c.RawSize]
	if _, err := r.db.ReadAt(raw, c.Offset); err != nil {
		return fmt.Errorf("put chunk %d: %w", i, err)
	}
	return r.recordLocked(i, c, r.journalHash(c, raw))
}

// fetchVaultManifest fetches, opens and checks the sealed manifest of backup
// id: authentic, of this backup, not older than what st has seen.
func fetchVaultManifest(ctx context.Context, conn VaultConn, vk *vaultKeys, id [16]byte, st *vaultState) (*vaultManifest, *Manifest, error) {
	sealed, err := conn.GetManifest(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	plain, err := open(vk.manifest, sealed, vk.manifestAD())
	if err != nil {
		return nil, nil, fmt.Errorf("manifest: %w", err)
	}
	vm, err := parseVaultManifest(plain)
	if err != nil {
		return nil, nil, err
	}
	if vm.id != id {
		return nil, nil, fmt.Errorf("manifest of another backup: %w", ErrVaultCorrupt)
	}
	if seen := st.Seen[FormatBackupID(id)]; vm.seq < seen {
		return nil, nil, fmt.Errorf("manifest %d, this device has seen %d: %w", vm.seq, seen, ErrVaultRollback)
	}
	m, err := ParseManifest(vm.engine)
	if err != nil {
		// Authentic but unparsable: made by a broken or newer Ferry.
		return nil, nil, err
	}
	return vm, m, nil
}

// DescribeBackup returns what backup id holds (counts and digest), read from
// its sealed manifest with the backup key this home keeps. The relay knows
// only sizes and times; the counts exist only on the device.
func DescribeBackup(ctx context.Context, conn VaultConn, home string, id [16]byte) (chatstore.Stats, error) {
	st, err := loadVaultState(home)
	if err != nil {
		return chatstore.Stats{}, err
	}
	key, ok := st.key()
	if !ok {
		return chatstore.Stats{}, ErrNoKey
	}
	defer key.Wipe()
	vk, err := deriveVaultKeys(key)
	if err != nil {
		return chatstore.Stats{}, err
	}
	if vk.id != id {
		return chatstore.Stats{}, fmt.Errorf("describe backup: made with another key: %w", ErrNoKey)
	}
	_, m, err := fetchVaultManifest(ctx, conn, vk, id, st)
	if err != nil {
		return chatstore.Stats{}, fmt.Errorf("describe backup: %w", err)
	}
	return m.Stats, nil
}
