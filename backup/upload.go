package backup

import (
	"context"
	"fmt"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/ferryhq/ferry/transfer"
)

// workers upload or download objects in parallel.
const workers = 4

// uploader seals and sends objects, up to workers at once; the first
// error stops it.
type uploader struct {
	parent   context.Context // the caller's: its end, not the group's, is a cancel
	ctx      context.Context // the group's: done at the first error
	g        *errgroup.Group
	conn     Conn
	vk       *keys
	progress func(done, total int64)
	bufs     sync.Pool // *upBufs, reused across objects

	mu        sync.Mutex // guards the fields below and calls of progress
	sent      int
	sentBytes int64
	held      int // objects the vault already held
	done      int64
	total     int64 // set before the first job: raw database + media bytes

	mediaNames [][32]byte // set by backupMedia before wait
}

// upBufs are one upload's buffers: the object's plaintext, padded, and
// sealed.
type upBufs struct{ plain, padded, sealed []byte }

// upJob produces an object's plaintext (compressed for pieces), into buf
// when it fits, and names it. The uploader first asks the vault and sends
// it only if the vault lacks it (an interrupted backup of the same history
// stored the same packs and media).
type upJob struct {
	name [32]byte
	make func(buf []byte) ([]byte, error)
	size int64 // for progress
}

func newUploader(ctx context.Context, conn Conn, vk *keys, progress func(done, total int64)) *uploader {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	return &uploader{parent: ctx, ctx: gctx, g: g, conn: conn, vk: vk, progress: progress}
}

// send starts j once one of the workers is free; false when the uploader
// has stopped.
func (u *uploader) send(j upJob) bool {
	if u.ctx.Err() != nil {
		return false
	}
	u.g.Go(func() error { return u.upload(j) })
	return true
}

// upload sends one object unless the vault holds it.
func (u *uploader) upload(j upJob) error {
	b, _ := u.bufs.Get().(*upBufs)
	if b == nil {
		b = &upBufs{}
	}
	defer u.bufs.Put(b)
	held, err := u.has(j.name)
	if err != nil {
		return err
	}
	if !held {
		if b.plain, err = j.make(b.plain[:0]); err != nil {
			return err
		}
		if b.sealed, b.padded, err = u.vk.sealChunk(b.sealed, b.padded, j.name, b.plain); err != nil {
			return err
		}
		// PutChunk returns once the relay has stored the object: the
		// buffer is free again.
		if err := u.conn.PutChunk(u.ctx, u.vk.id, j.name, b.sealed); err != nil {
			return err
		}
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if held {
		u.held++
	} else {
		u.sent++
		u.sentBytes += int64(len(b.sealed))
	}
	u.done += j.size
	if u.progress != nil {
		u.progress(u.done, u.total)
	}
	return nil
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
func dbStored(m *transfer.Manifest) int64 {
	var n int64
	for _, c := range m.DBChunks {
		n += int64(c.Size)
	}
	return n
}

// wait ends the uploader and reports the objects it sent, their bytes, the
// objects the vault held already, and its first error.
func (u *uploader) wait() (int, int64, int, error) {
	err := u.g.Wait()
	if err == nil {
		err = u.parent.Err()
	}
	return u.sent, u.sentBytes, u.held, err
}
