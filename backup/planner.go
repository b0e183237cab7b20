package backup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/s2"
	"lukechampine.com/blake3"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/internal/usererr"
	"github.com/ferryhq/ferry/transfer"
)

// restorePlan is what a restore fetches: the pieces covering the database
// chunks recv lacks, and the media chunks it lacks.
type restorePlan struct {
	pieces []int   // the vault pieces that cover them, in order
	offs   []int64 // offs[k]: where piece k starts in the database
	media  []int   // media chunks to fetch

	progress func(done, total int64) // may be nil
	total    int64                   // raw bytes of the pieces and media chunks to fetch
	mu       sync.Mutex              // serialises calls of progress
	done     int64                   // guarded by mu
}

func planRestore(recv *transfer.Receiver, pieces []dbPiece, progress func(done, total int64)) *restorePlan {
	m := recv.Manifest()
	p := &restorePlan{progress: progress, offs: make([]int64, len(pieces)+1)}
	for k, pc := range pieces {
		p.offs[k+1] = p.offs[k] + int64(pc.size)
	}
	want := make([]bool, len(pieces))
	for _, i := range recv.Missing() {
		c := m.Chunk(i)
		if c.Kind == transfer.KindMedia {
			p.media = append(p.media, i)
			p.total += int64(c.Size)
			continue
		}
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
// as Upload makes them).
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
// hold), then the other packs and the media chunks stored alone. The database
// comes first so that its digest check runs while the media still
// download (see Receiver.startVerify).
func download(ctx context.Context, conn Conn, vk *keys, recv *transfer.Receiver, vm *manifest, plan *restorePlan) error {
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

	bufs := make([][]byte, workers) // per worker, reused: sealed objects
	raws := make([][]byte, workers) // and decoded pieces, staged chunks
	putMedia := func(i int, data []byte) error {
		// Put checks the bytes against the manifest's hash.
		if err := recv.Put(i, data); err != nil {
			if errors.Is(err, transfer.ErrChunkCorrupt) {
				err = usererr.As(ErrCorrupt, err)
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
				return fmt.Errorf("database piece %d: %w", k, ErrCorrupt)
			}
			// A piece that overlaps a chunk staged before writes the same
			// bytes again: both are the database the manifest describes.
			// The Receiver journals each chunk the pieces complete.
			if err := recv.PutDB(plan.offs[k], raw); err != nil {
				return err
			}
			plan.fetched(p.size)
		}
		for _, i := range work[pk].media {
			r := where[m.Chunk(i).Hash]
			if r.off+r.n > len(plain) {
				return fmt.Errorf("pack %d: %w", pk, ErrCorrupt)
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
func fetch(ctx context.Context, conn Conn, vk *keys, n [32]byte, buf *[]byte) ([]byte, error) {
	sealed, err := conn.GetChunk(ctx, vk.id, n, *buf)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, usererr.As(ErrIncomplete, err)
	}
	if err != nil {
		return nil, err
	}
	*buf = sealed[:0]
	return open(vk.chunk, sealed, vk.chunkAD(n))
}

// parallel runs fn for k = 0..n-1 on workers goroutines (w is the
// worker, 0 ≤ w < workers) and returns the first error, after which no
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
	for w := range min(workers, n) {
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
