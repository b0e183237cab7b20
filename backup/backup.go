package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"time"

	"github.com/klauspost/compress/s2"
	"lukechampine.com/blake3"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/internal/archive"
	"github.com/ferryhq/ferry/transfer"
)

// Options control Upload. The zero value backs up with the key the
// home already uses for the vault, or a new random key the first time.
type Options struct {
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

// Result reports a backup.
type Result struct {
	// ID names the backup on the relay (FormatID shows it).
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
	// Previous, when not nil, is the backup this home made before with
	// another key: this backup switched between a password and a
	// recovery key (or was given Options.Key). It stays on the relay as
	// it was, and the home keeps its key, so that Known lists it with its
	// counts and Delete removes it.
	Previous *Previous
	// OwnerKey says the relay keeps the backup's owner key, so that a
	// device that holds the backup key can list and delete it; false for
	// a relay of a version that keeps none.
	OwnerKey bool
}

// Previous is the backup a home switched away from.
type Previous struct {
	ID       [16]byte
	Password bool // it was locked with a password (else it has a recovery key)
}

// Upload uploads a snapshot of store to the vault: only the chunks the
// vault lacks, then the sealed manifest. An interrupted backup leaves the
// chunks it sent, and the next Upload of the same home skips them.
func Upload(ctx context.Context, store transfer.History, conn Conn, opts Options) (Result, error) {
	var res Result
	start := time.Now()
	if opts.Key != nil && len(opts.Password) > 0 {
		return res, errors.New("backup: give a key or a password, not both")
	}
	home := store.Home()
	st, err := loadState(home)
	if err != nil {
		return res, fmt.Errorf("backup: %w", err)
	}
	password := len(opts.Password) > 0
	key, ok := st.key()
	old, oldID, oldPassword := key, st.ID, st.Password
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
	defer old.Wipe()
	vk, err := deriveKeys(key)
	if err != nil {
		return res, fmt.Errorf("backup: %w", err)
	}
	defer vk.wipe()
	if id, err := ParseID(oldID); err == nil && ok && key != old {
		// A switch: the backup of the old key stays, and so does its key.
		st.keepKey(id, old)
		if st.Seen[oldID] > 0 {
			res.Previous = &Previous{ID: id, Password: oldPassword}
		}
	}
	delete(st.Keys, FormatID(vk.id))
	st.ID, st.Key, st.Password = FormatID(vk.id), formatKey(key), password
	// Keep the key before anything goes up: an interrupted first backup
	// continues with it.
	if err := st.save(home); err != nil {
		return res, fmt.Errorf("backup: %w", err)
	}
	res.ID, res.Key, res.New = vk.id, key, !st.Done

	// The owner key first: a backup on the relay can be listed and
	// deleted with its key from its start.
	switch err := conn.PutOwnerKey(ctx, vk.id, vk.ownerPublic()); {
	case err == nil:
		res.OwnerKey = true
	case !errors.Is(err, errors.ErrUnsupported):
		return res, fmt.Errorf("backup: %w", err)
	}

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
		cs = transfer.DefaultChunkSize
	}
	snap, err := transfer.SnapshotWith(ctx, store, transfer.SnapshotOptions{WorkDir: opts.WorkDir, ChunkSize: cs})
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
	vm := manifest{version: manifestVersion, id: vk.id, seq: res.Seq, time: time.Now().UnixNano(), engine: enc, packs: pk.packs, pieces: pieces, media: media}
	sealed, err := vk.sealManifest(vm.marshal())
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

// backupDB cuts the database into pieces. A piece that the previous
// manifest holds stays where it is; the others go into packs.
func backupDB(ctx context.Context, snap *transfer.Snap, pk *packer) ([]dbPiece, error) {
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
func previousManifest(ctx context.Context, conn Conn, vk *keys, st *state) (*manifest, error) {
	if st.Seen[FormatID(vk.id)] == 0 {
		return nil, nil // this home never finished a backup with this key
	}
	vm, _, err := fetchManifest(ctx, conn, vk, vk.id, st)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errOldManifest) {
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
func reusable(vm *manifest, have []bool) ([]dbPiece, []mediaRef) {
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
func backupMedia(ctx context.Context, snap *transfer.Snap, pk *packer) ([]mediaRef, error) {
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
		if c.Kind != transfer.KindMedia || seen[c.Hash] {
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
