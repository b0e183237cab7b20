package transfer

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// ChunkSource serves the chunks of one manifest: a local Snap, or later a
// peer over the network. ReadChunk returns chunk i's stored bytes, in buf
// when it is large enough; it must be safe for concurrent use.
type ChunkSource interface {
	ReadChunk(ctx context.Context, i int, buf []byte) ([]byte, error)
}

var _ ChunkSource = (*Snap)(nil)

// Progress is reported by Migrate after each chunk.
type Progress struct {
	Bytes, TotalBytes int64 // stored bytes moved in this call / to move
	Items, TotalItems int   // chunks moved in this call / to move
}

// Migrate moves every chunk recv is missing from src to recv with parallel
// workers (at least 1), calling progress (if not nil, from one goroutine at
// a time) after each chunk. It stops at the first error and returns it;
// what was staged stays staged, so calling Migrate again continues. It does
// not commit.
func Migrate(ctx context.Context, src ChunkSource, recv *Receiver, parallel int, progress func(Progress)) error {
	missing := recv.Missing()
	var p Progress
	p.TotalItems = len(missing)
	for _, i := range missing {
		p.TotalBytes += int64(recv.m.Chunk(i).Size)
	}
	if parallel < 1 {
		parallel = 1
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		mu       sync.Mutex // guards p, firstErr and calls of progress
		firstErr error
	)
	for w := 0; w < min(parallel, len(missing)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for {
				k := int(next.Add(1)) - 1
				if k >= len(missing) || ctx.Err() != nil {
					return
				}
				i := missing[k]
				data, err := src.ReadChunk(ctx, i, buf)
				if err == nil {
					buf = data[:cap(data)]
					err = recv.Put(i, data)
				}
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					cancel()
					return
				}
				p.Items++
				p.Bytes += int64(len(data))
				if progress != nil {
					progress(p)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return fmt.Errorf("migrate: %w", firstErr)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}
