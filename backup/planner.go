package backup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sync"

	"github.com/klauspost/compress/s2"
	"lukechampine.com/blake3"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/internal/usererr"
	"github.com/ferryhq/ferry/transfer"
)

// source is a backup on the relay as a transfer.ChunkSource: transfer.Pull
// fetches from it what a home lacks, each object once, and stages the
// database pieces (Receiver.PutDB, checked here against the manifest's
// piece hashes) and media chunks (Receiver.Put, checked against the engine
// manifest's hashes) they hold.
type source struct {
	conn Conn
	vk   *keys
	vm   *manifest
	m    *transfer.Manifest
	offs []int64 // offs[k]: where piece k starts in the database

	sealed sync.Pool // *[]byte: sealed objects as they arrive, reused
	raw    sync.Pool // *[]byte: decoded pieces, reused
}

var _ transfer.ChunkSource = (*source)(nil)

func newSource(conn Conn, vk *keys, vm *manifest, m *transfer.Manifest) *source {
	s := &source{conn: conn, vk: vk, vm: vm, m: m, offs: make([]int64, len(vm.pieces)+1)}
	for k, pc := range vm.pieces {
		s.offs[k+1] = s.offs[k] + int64(pc.size)
	}
	return s
}

// packWork is what one pack holds of a plan: pieces (indexes into the
// manifest's pieces) and media chunks (indexes into the engine manifest).
type packWork struct{ pieces, media []int }

// Plan fetches the pieces that cover the database chunks the home lacks,
// and the media chunks it lacks: first the packs holding pieces (with the
// media chunks of the plan they also hold), then the other packs, then
// the media chunks stored alone. The database comes first so that its
// digest check runs while the media still download (see
// Receiver.startVerify). Progress counts raw bytes: the pieces,
// uncompressed, and the media chunks.
func (s *source) Plan(want []int) transfer.Plan {
	plan := transfer.Plan{Parallel: workers}
	where := make(map[chatstore.Hash]mediaRef, len(s.vm.media))
	for _, r := range s.vm.media {
		where[r.hash] = r
	}
	needPiece := make([]bool, len(s.vm.pieces))
	var media []int
	for _, i := range want {
		c := s.m.Chunk(i)
		if c.Kind == transfer.KindMedia {
			media = append(media, i)
			plan.Total += int64(c.Size)
			continue
		}
		k, _ := slices.BinarySearch(s.offs, c.Offset+1)
		for k--; k < len(s.vm.pieces) && s.offs[k] < c.Offset+int64(c.RawSize); k++ {
			needPiece[k] = true
		}
	}
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
	for k, need := range needPiece {
		if need {
			w := in(s.vm.pieces[k].pack, &dbPacks)
			w.pieces = append(w.pieces, k)
			plan.Total += int64(s.vm.pieces[k].size)
		}
	}
	for _, i := range media {
		r, ok := where[s.m.Chunk(i).Hash]
		if !ok {
			alone = append(alone, i)
			continue
		}
		w := in(r.pack, &mediaPacks)
		w.media = append(w.media, i)
	}
	for _, pk := range append(dbPacks, mediaPacks...) {
		plan.Fetches = append(plan.Fetches, func(ctx context.Context, sink transfer.Sink) error {
			return s.pack(ctx, pk, work[pk], where, sink)
		})
	}
	for _, i := range alone {
		plan.Fetches = append(plan.Fetches, func(ctx context.Context, sink transfer.Sink) error {
			return s.media(ctx, i, sink)
		})
	}
	return plan
}

// pack fetches pack pk and stages what w needs of it.
func (s *source) pack(ctx context.Context, pk int, w *packWork, where map[chatstore.Hash]mediaRef, sink transfer.Sink) error {
	bp := s.buf(&s.sealed)
	defer s.sealed.Put(bp)
	plain, err := s.fetch(ctx, s.vk.name(objPack, s.vm.packs[pk].hash), bp)
	if err != nil {
		return fmt.Errorf("pack %d: %w", pk, err)
	}
	if len(w.pieces) > 0 {
		rp := s.buf(&s.raw)
		defer s.raw.Put(rp)
		for _, k := range w.pieces {
			raw, err := s.piece(k, plain, rp)
			if err != nil {
				return err
			}
			// A piece that overlaps a chunk staged before writes the
			// same bytes again: both are the database the manifest
			// describes. The Receiver journals each chunk the pieces
			// complete.
			if err := sink.PutDB(s.offs[k], raw); err != nil {
				return err
			}
		}
	}
	for _, i := range w.media {
		r := where[s.m.Chunk(i).Hash]
		if r.off+r.n > len(plain) {
			return fmt.Errorf("pack %d: %w", pk, ErrCorrupt)
		}
		if err := putMedia(sink, i, plain[r.off:r.off+r.n]); err != nil {
			return err
		}
	}
	return nil
}

// piece decodes piece k from its pack's plaintext into *rp and checks it
// against the manifest's hash.
func (s *source) piece(k int, plain []byte, rp *[]byte) ([]byte, error) {
	p := s.vm.pieces[k]
	var raw []byte
	if p.off+p.n <= len(plain) {
		z := plain[p.off : p.off+p.n]
		if n, err := s2.DecodedLen(z); err == nil && n == p.size {
			if cap(*rp) < n {
				*rp = make([]byte, pieceMax)
			}
			if raw, err = s2.Decode((*rp)[:n], z); err != nil {
				raw = nil
			}
		}
	}
	if len(raw) != p.size || blake3.Sum256(raw) != p.hash {
		return nil, fmt.Errorf("database piece %d: %w", k, ErrCorrupt)
	}
	return raw, nil
}

// media fetches media chunk i, stored as an object of its own, and stages it.
func (s *source) media(ctx context.Context, i int, sink transfer.Sink) error {
	bp := s.buf(&s.sealed)
	defer s.sealed.Put(bp)
	data, err := s.fetch(ctx, s.vk.name(objMedia, s.m.Chunk(i).Hash), bp)
	if err != nil {
		return fmt.Errorf("chunk %d: %w", i, err)
	}
	return putMedia(sink, i, data)
}

// putMedia stages media chunk i; Put checks the bytes against the engine
// manifest's hash, and a chunk that fails it is the vault's damage.
func putMedia(sink transfer.Sink, i int, data []byte) error {
	if err := sink.Put(i, data); err != nil {
		if errors.Is(err, transfer.ErrChunkCorrupt) {
			err = usererr.As(ErrCorrupt, err)
		}
		return err
	}
	return nil
}

// buf takes a buffer from pool.
func (s *source) buf(pool *sync.Pool) *[]byte {
	if bp, ok := pool.Get().(*[]byte); ok {
		return bp
	}
	return new([]byte)
}

// fetch gets and opens one object, reading it into *buf (kept for the
// next call); the plaintext returned lies in *buf.
func (s *source) fetch(ctx context.Context, n [32]byte, buf *[]byte) ([]byte, error) {
	sealed, err := s.conn.GetChunk(ctx, s.vk.id, n, *buf)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, usererr.As(ErrIncomplete, err)
	}
	if err != nil {
		return nil, err
	}
	*buf = sealed[:0]
	return s.vk.openChunk(n, sealed)
}
