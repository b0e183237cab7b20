package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/ferryhq/ferry/internal/wire"
	"github.com/ferryhq/ferry/transfer"
)

// TransferProtocol is the libp2p protocol ID of the chunk transfer.
const TransferProtocol = "/ferry/transfer/1"

// chunkSource is what the sending side serves from: a snapshot.
type chunkSource interface {
	Manifest() *transfer.Manifest
	ReadChunk(ctx context.Context, i int, buf []byte) ([]byte, error)
}

// chunkSink is what the receiving side stages into.
type chunkSink interface {
	Put(i int, data []byte) error
}

// Report is what a receiver tells the sender after it committed and verified:
// both sides then print the same figures.
type Report struct {
	Messages     int64  `json:"messages"`
	Attachments  int64  `json:"attachments"`
	Bytes        int64  `json:"bytes"` // fetched in this run
	SourceDigest string `json:"source_digest"`
	TargetDigest string `json:"target_digest"`
	// The receiving device, as the sender's trust store names it (its peer
	// ID authenticated by the connection), or as it names itself.
	Receiver   string `json:"receiver,omitempty"`
	ReceiverID string `json:"receiver_id,omitempty"`
}

// serveTransfer answers requests on one stream until the client closes it.
// served (if not nil) is called with the size of every chunk sent; done is
// called with the receiver's report when it says it has committed.
func serveTransfer(ctx context.Context, rw io.ReadWriter, src chunkSource, served func(int64), done func(Report)) error {
	r := wire.NewReader(rw)
	m := src.Manifest()
	var buf []byte
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		typ, body, err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read request: %w", err)
		}
		switch typ {
		case wire.GetManifest:
			b, err := m.Marshal()
			if err != nil {
				_ = wire.WriteError(rw, wire.CodeInternal, "cannot encode the manifest")
				return fmt.Errorf("marshal manifest: %w", err)
			}
			if err := wire.Write(rw, wire.Manifest, b); err != nil {
				return err
			}
		case wire.GetChunk:
			i, rest, err := wire.Index(body)
			if err != nil || len(rest) != 0 || i >= uint64(m.NumChunks()) {
				_ = wire.WriteError(rw, wire.CodeBadRequest, "no such chunk")
				return fmt.Errorf("bad chunk request")
			}
			data, err := src.ReadChunk(ctx, int(i), buf[:0])
			if err != nil {
				_ = wire.WriteError(rw, wire.CodeInternal, "the sender could not read its history")
				return fmt.Errorf("read chunk %d: %w", i, err)
			}
			buf = data
			if err := wire.Write(rw, wire.Chunk, wire.PutIndex(i), data); err != nil {
				return err
			}
			if served != nil {
				served(int64(len(data)))
			}
		case wire.Done:
			var rep Report
			if err := json.Unmarshal(body, &rep); err != nil {
				_ = wire.WriteError(rw, wire.CodeBadRequest, "bad report")
				return fmt.Errorf("parse report: %w", err)
			}
			if err := wire.Write(rw, wire.Ack); err != nil {
				return err
			}
			if done != nil {
				done(rep)
			}
		default:
			_ = wire.WriteError(rw, wire.CodeBadRequest, "unknown request")
			return fmt.Errorf("unknown request type %#x", typ)
		}
	}
}

// answer reads one answer frame and turns an Error message into an error.
func answer(r *wire.Reader, want wire.Type) ([]byte, error) {
	typ, body, err := r.Next()
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read answer: %w", err)
	}
	if typ == wire.Error {
		return nil, wire.ParseError(body)
	}
	if typ != want {
		return nil, fmt.Errorf("answer type %#x, want %#x: %w", typ, want, wire.ErrMalformed)
	}
	return body, nil
}

// fetchManifest asks for the manifest on rw.
func fetchManifest(rw io.ReadWriter) (*transfer.Manifest, error) {
	if err := wire.Write(rw, wire.GetManifest); err != nil {
		return nil, fmt.Errorf("ask for manifest: %w", err)
	}
	body, err := answer(wire.NewReader(rw), wire.Manifest)
	if err != nil {
		return nil, err
	}
	return transfer.ParseManifest(body)
}

// sendReport tells the sender the migration is committed and waits for its ack.
func sendReport(rw io.ReadWriter, rep Report) error {
	b, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	if err := wire.Write(rw, wire.Done, b); err != nil {
		return fmt.Errorf("send report: %w", err)
	}
	_, err = answer(wire.NewReader(rw), wire.Ack)
	return err
}

// streamOpener opens a new transfer stream to the sender.
type streamOpener func(ctx context.Context) (io.ReadWriteCloser, error)

// fetchChunks pulls the chunks in want over up to parallel streams and hands
// each to sink, which verifies it before staging. Each stream asks for one
// chunk at a time and stages it before asking for the next, so a slow disk
// slows the sender down instead of filling memory on either side. progress
// is called with the stored size of every staged chunk.
func fetchChunks(ctx context.Context, open streamOpener, sink chunkSink, want []int, parallel int, progress func(n int64)) error {
	if parallel < 1 {
		parallel = 1
	}
	if parallel > len(want) {
		parallel = len(want)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	for w := 0; w < parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := open(ctx)
			if err != nil {
				fail(err)
				return
			}
			defer s.Close()
			stop := context.AfterFunc(ctx, func() { s.Close() })
			defer stop()
			r := wire.NewReader(s)
			for {
				k := int(next.Add(1) - 1)
				if k >= len(want) || ctx.Err() != nil {
					return
				}
				i := want[k]
				if err := wire.Write(s, wire.GetChunk, wire.PutIndex(uint64(i))); err != nil {
					fail(fmt.Errorf("ask for chunk %d: %w", i, err))
					return
				}
				body, err := answer(r, wire.Chunk)
				if err != nil {
					fail(fmt.Errorf("chunk %d: %w", i, err))
					return
				}
				got, data, err := wire.Index(body)
				if err != nil || got != uint64(i) {
					fail(fmt.Errorf("chunk %d: answer for another chunk: %w", i, wire.ErrMalformed))
					return
				}
				if err := sink.Put(i, data); err != nil {
					fail(fmt.Errorf("stage chunk %d: %w", i, err))
					return
				}
				if progress != nil {
					progress(int64(len(data)))
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}
