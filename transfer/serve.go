package transfer

import (
	"context"
	"encoding/json"
	"errors"
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
	return ServeWith(ctx, rw, ServeOptions{Version: 1, Source: func(context.Context) (ServeSource, error) { return src, nil },
		Served: served, Done: done})
}

// ServeOptions control ServeWith.
type ServeOptions struct {
	// Version is the stream's protocol: 1 (/ferry/transfer/1) or 2
	// (/ferry/transfer/2, which adds early media); 0 means 2.
	Version int
	// Source gives the snapshot, waiting until it is ready; it is called
	// for every request that needs it (the manifest, a chunk). An error
	// refuses the stream: "the sender could not take a snapshot of its
	// history".
	Source func(context.Context) (ServeSource, error)
	// Early is the media served before the snapshot is ready (version 2);
	// nil lists none.
	Early *EarlyMedia
	// Served, if set, is called with the size of every chunk or piece sent.
	Served func(int64)
	// Done, if set, is called with the receiver's report when it says it
	// has committed.
	Done func(Report)
}

// ServeWith answers the requests of one transfer stream until the client
// closes it, as opts says.
func ServeWith(ctx context.Context, rw io.ReadWriter, opts ServeOptions) error {
	r := wire.NewReader(rw)
	v2 := opts.Version != 1
	var buf []byte
	source := func() (ServeSource, error) {
		src, err := opts.Source(ctx)
		if err != nil {
			if ctx.Err() == nil {
				_ = Refuse(rw, CodeInternal, "the sender could not take a snapshot of its history")
			}
			return nil, fmt.Errorf("snapshot: %w", err)
		}
		return src, nil
	}
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
		switch {
		case typ == msgGetManifest:
			src, err := source()
			if err != nil {
				return err
			}
			b, err := src.Manifest().Marshal()
			if err != nil {
				_ = Refuse(rw, CodeInternal, "cannot encode the manifest")
				return fmt.Errorf("marshal manifest: %w", err)
			}
			if err := wire.Write(rw, msgManifest, b); err != nil {
				return err
			}
		case typ == msgGetChunk:
			src, err := source()
			if err != nil {
				return err
			}
			i, rest, err := index(body)
			if err != nil || len(rest) != 0 || i >= uint64(src.Manifest().NumChunks()) {
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
			if opts.Served != nil {
				opts.Served(int64(len(data)))
			}
		case typ == msgGetMedia && v2:
			list := encodeEarly(nil)
			if opts.Early != nil {
				list = opts.Early.enc
			}
			if err := wire.Write(rw, msgMedia, list); err != nil {
				return err
			}
		case typ == msgGetPiece && v2:
			h, off, err := piece(body)
			if err == nil && opts.Early == nil {
				err = errBadPiece
			}
			var data []byte
			if err == nil {
				data, err = opts.Early.readPiece(h, off, buf[:0])
			}
			if errors.Is(err, errBadPiece) || errors.Is(err, wire.ErrMalformed) {
				_ = Refuse(rw, CodeBadRequest, "no such media piece")
				return fmt.Errorf("bad piece request: %w", err)
			}
			if err != nil {
				_ = Refuse(rw, CodeInternal, "the sender could not read its media")
				return fmt.Errorf("read media %s at %d: %w", h, off, err)
			}
			buf = data
			if err := wire.Write(rw, msgPiece, data); err != nil {
				return err
			}
			if opts.Served != nil {
				opts.Served(int64(len(data)))
			}
		case typ == msgDone:
			var rep Report
			if err := json.Unmarshal(body, &rep); err != nil {
				_ = Refuse(rw, CodeBadRequest, "bad report")
				return fmt.Errorf("parse report: %w", err)
			}
			if err := wire.Write(rw, msgAck); err != nil {
				return err
			}
			if opts.Done != nil {
				opts.Done(rep)
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
