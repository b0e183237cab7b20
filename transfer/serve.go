package transfer

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/ferryhq/ferry/internal/wire"
)

// ServeSource is what Serve answers from: a snapshot's manifest and its
// chunks. A Snap is one.
type ServeSource interface {
	Manifest() *Manifest
	ChunkReader
}

var _ ServeSource = (*Snap)(nil)

// Serve answers the requests of one /ferry/transfer/1 stream from src until
// the client closes it: the sending side. served (if not nil) is called
// with the size of every chunk sent; done with the receiver's report when
// it says it has committed. Who may be served is the caller's decision,
// made before (see Refuse).
func Serve(ctx context.Context, rw io.ReadWriter, src ServeSource, served func(int64), done func(Report)) error {
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
		case msgGetManifest:
			b, err := m.Marshal()
			if err != nil {
				_ = Refuse(rw, CodeInternal, "cannot encode the manifest")
				return fmt.Errorf("marshal manifest: %w", err)
			}
			if err := wire.Write(rw, msgManifest, b); err != nil {
				return err
			}
		case msgGetChunk:
			i, rest, err := index(body)
			if err != nil || len(rest) != 0 || i >= uint64(m.NumChunks()) {
				_ = Refuse(rw, CodeBadRequest, "no such chunk")
				return fmt.Errorf("bad chunk request")
			}
			data, err := src.ReadChunk(ctx, int(i), buf[:0])
			if err != nil {
				_ = Refuse(rw, CodeInternal, "the sender could not read its history")
				return fmt.Errorf("read chunk %d: %w", i, err)
			}
			buf = data
			if err := wire.Write(rw, msgChunk, putIndex(i), data); err != nil {
				return err
			}
			if served != nil {
				served(int64(len(data)))
			}
		case msgDone:
			var rep Report
			if err := json.Unmarshal(body, &rep); err != nil {
				_ = Refuse(rw, CodeBadRequest, "bad report")
				return fmt.Errorf("parse report: %w", err)
			}
			if err := wire.Write(rw, msgAck); err != nil {
				return err
			}
			if done != nil {
				done(rep)
			}
		default:
			_ = Refuse(rw, CodeBadRequest, "unknown request")
			return fmt.Errorf("unknown request type %#x", typ)
		}
	}
}

// Refuse answers a request with an Error of code and msg (a sentence the
// receiver's user reads): the sender does not serve this stream.
func Refuse(w io.Writer, code byte, msg string) error { return wire.WriteError(w, code, msg) }
