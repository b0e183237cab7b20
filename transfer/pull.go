package transfer

import (
	"context"
	"errors"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/ferryhq/ferry/chatstore"
)

// ChunkSource is where the chunks of a transfer come from: a sender over
// the network (PeerSource), an archive (Import), a relay's vault (package
// backup), a local snapshot (ReadSource). Plan turns the chunks a Receiver
// lacks into fetches; Pull runs them, verifies and stages what they
// deliver, and commits.
type ChunkSource interface {
	// Plan returns the fetches that deliver the chunks in want (ascending,
	// every one the Receiver lacks; maybe none: a source that must read its
	// input to its end, as an archive must, still gets to). A fetch may
	// deliver several chunks: a vault's pack holds many pieces, and an
	// archive's one fetch reads all its frames in order.
	Plan(want []int) Plan
}

// Plan is a source's fetches.
type Plan struct {
	// Fetches deliver the chunks; they start in this order (a source puts
	// the database first, so that its digest check runs while the media
	// still arrive).
	Fetches []Fetch
	// Parallel is how many fetches may run at once; less than 1 means 1.
	Parallel int
	// Total is what the fetches deliver in the bytes Progress counts (the
	// stored size of a chunk handed to Put, the length of a PutDB range);
	// 0 means the stored size of the chunks wanted.
	Total int64
}

// Fetch delivers one or more chunks to sink and returns once they are
// staged, or with the first error.
type Fetch func(ctx context.Context, sink Sink) error

// Sink takes what a fetch delivers: the Receiver's Put (a chunk's stored
// bytes, which it checks against the manifest) and PutDB (raw database
// bytes that the source checked). Both are safe for concurrent use and
// keep nothing of the slice they are given.
type Sink interface {
	Put(i int, data []byte) error
	PutDB(off int64, raw []byte) error
}

var _ Sink = (*Receiver)(nil)

// Progress is reported by Pull after each delivery.
type Progress struct {
	Bytes, TotalBytes int64 // delivered in this call / to deliver (see Plan.Total)
	Items, TotalItems int   // chunks staged in this call / wanted
}

// PullOptions control Pull.
type PullOptions struct {
	// Progress, if set, is called after each delivery, one call at a time.
	Progress func(Progress)
	// Committing, if set, is called once every chunk is staged, before the
	// commit starts.
	Committing func()
}

// Pull is the one path by which a history arrives, whatever its source:
// it fetches from src every chunk recv lacks (src plans how), has recv
// verify and stage each delivery, commits (Receiver.Commit: digest check,
// media installs, adopt or merge), and after a failure keeps or removes
// what is staged by one rule, Discard's: kept when retrying the same
// transfer can use it (a lost connection, a cancel, a truncated input, a
// store in use), removed when the source's data is damaged or incomplete,
// the history it makes is refused, or the disk is full. recv is finished
// when Pull returns.
func Pull(ctx context.Context, src ChunkSource, recv *Receiver, opts PullOptions) (Result, error) {
	err := fetch(ctx, src, recv, opts.Progress)
	var res Result
	if err == nil {
		if opts.Committing != nil {
			opts.Committing()
		}
		res, err = recv.Commit(ctx)
	}
	if err != nil {
		if Discard(err) {
			recv.Abort()
		} else {
			recv.Close()
		}
		return res, err
	}
	return res, nil
}

// Discard is the rule that says, after a failed transfer, whether what is
// staged is useless: the source's data is damaged or incomplete
// (ErrCorrupt, ErrChunkCorrupt, or a source's own error that matches
// ErrSourceDamaged: see SourceError), the history it makes is refused
// (ErrDigestMismatch, ErrForeignSchema, a staged database that is not one
// or fails its integrity check, or comes from a newer Ferry), or the disk
// is full (ErrNoSpace: the space goes back at once). After any other error
// (a lost connection, a cancel, a truncated input, a store in use)
// staging is kept, and the next transfer of the same snapshot resumes
// from it. Pull and Receiver.Commit apply it; nothing else decides.
func Discard(err error) bool {
	for _, e := range []error{ErrCorrupt, ErrChunkCorrupt, ErrSourceDamaged, ErrDigestMismatch, ErrNoSpace,
		ErrForeignSchema, chatstore.ErrCorrupt, chatstore.ErrNotAStore, chatstore.ErrTooNew} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// fetch runs src's plan for what recv lacks, up to the plan's Parallel
// fetches at once, and stops at the first error. It does not commit: what
// was staged stays staged.
func fetch(ctx context.Context, src ChunkSource, recv *Receiver, progress func(Progress)) error {
	want := recv.Missing()
	plan := src.Plan(want)
	sink := &countingSink{Receiver: recv, progress: progress, base: recv.putChunks.Load()}
	sink.p.TotalItems = len(want)
	sink.p.TotalBytes = plan.Total
	if sink.p.TotalBytes == 0 {
		for _, i := range want {
			sink.p.TotalBytes += int64(recv.m.Chunk(i).Size)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(plan.Parallel, 1))
	for _, f := range plan.Fetches {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error { return f(gctx, sink) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}

// countingSink is a Receiver that reports progress after each delivery.
type countingSink struct {
	*Receiver
	progress func(Progress)
	base     int64 // the Receiver's staged count when the fetches began

	mu sync.Mutex // guards p and calls of progress
	p  Progress
}

func (s *countingSink) Put(i int, data []byte) error {
	if err := s.Receiver.Put(i, data); err != nil {
		return err
	}
	s.delivered(len(data))
	return nil
}

func (s *countingSink) PutDB(off int64, raw []byte) error {
	if err := s.Receiver.PutDB(off, raw); err != nil {
		return err
	}
	s.delivered(len(raw))
	return nil
}

func (s *countingSink) delivered(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.p.Bytes += int64(n)
	s.p.Items = int(s.Receiver.putChunks.Load() - s.base)
	if s.progress != nil {
		s.progress(s.p)
	}
}

// ChunkReader reads the stored bytes of chunk i of one manifest, into buf
// when it is large enough; it is safe for concurrent use. A Snap is one:
// what a sender serves from (Serve), and what a local migration reads
// (ReadSource).
type ChunkReader interface {
	ReadChunk(ctx context.Context, i int, buf []byte) ([]byte, error)
}

var _ ChunkReader = (*Snap)(nil)

// ReadSource is a ChunkSource that reads each chunk from r, parallel
// chunks at once (at least 1): an in-process migration from a snapshot.
func ReadSource(r ChunkReader, parallel int) ChunkSource {
	return &readSource{r: r, parallel: parallel}
}

type readSource struct {
	r        ChunkReader
	parallel int
	bufs     sync.Pool // *[]byte, reused across chunks
}

func (s *readSource) Plan(want []int) Plan {
	p := Plan{Parallel: s.parallel, Fetches: make([]Fetch, len(want))}
	for k, i := range want {
		p.Fetches[k] = func(ctx context.Context, sink Sink) error {
			bp, _ := s.bufs.Get().(*[]byte)
			if bp == nil {
				bp = new([]byte)
			}
			defer s.bufs.Put(bp)
			data, err := s.r.ReadChunk(ctx, i, *bp)
			if err != nil {
				return err
			}
			*bp = data[:0]
			return sink.Put(i, data)
		}
	}
	return p
}
