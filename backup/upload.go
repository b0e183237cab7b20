package backup

import (
	"context"
	"fmt"
	"sync"

	"github.com/ferryhq/ferry/transfer"
)

// workers upload or download chunks in parallel.
const workers = 4

// uploader seals and sends objects with a few workers; the first error
// stops it.
type uploader struct {
	ctx      context.Context
	cancel   context.CancelFunc
	conn     Conn
	vk       *keys
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

func newUploader(ctx context.Context, conn Conn, vk *keys, progress func(done, total int64)) *uploader {
	ctx, cancel := context.WithCancel(ctx)
	u := &uploader{ctx: ctx, cancel: cancel, conn: conn, vk: vk, jobs: make(chan upJob, workers), progress: progress}
	for range workers {
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
func dbStored(m *transfer.Manifest) int64 {
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
