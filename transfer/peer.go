package transfer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/ferryhq/ferry/internal/wire"
)

// FetchManifest asks the sender for its manifest on rw.
func FetchManifest(rw io.ReadWriter) (*Manifest, error) {
	if err := wire.Write(rw, msgGetManifest); err != nil {
		return nil, fmt.Errorf("ask for manifest: %w", err)
	}
	body, err := answer(wire.NewReader(rw), msgManifest)
	if err != nil {
		return nil, err
	}
	return ParseManifest(body)
}

// FetchChunk asks the sender for chunk i on rw and returns its stored
// bytes, unchecked (Receiver.Put checks them).
func FetchChunk(rw io.ReadWriter, i int) ([]byte, error) {
	return fetchChunk(rw, wire.NewReader(rw), i)
}

func fetchChunk(w io.Writer, r *wire.Reader, i int) ([]byte, error) {
	if err := wire.Write(w, msgGetChunk, putIndex(uint64(i))); err != nil {
		return nil, fmt.Errorf("ask for chunk %d: %w", i, err)
	}
	body, err := answer(r, msgChunk)
	if err != nil {
		return nil, fmt.Errorf("chunk %d: %w", i, err)
	}
	got, data, err := index(body)
	if err != nil || got != uint64(i) {
		return nil, fmt.Errorf("chunk %d: answer for another chunk: %w", i, wire.ErrMalformed)
	}
	return data, nil
}

// SendReport tells the sender the migration is committed and waits for
// its Ack.
func SendReport(rw io.ReadWriter, rep Report) error {
	b, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	if err := wire.Write(rw, msgDone, b); err != nil {
		return fmt.Errorf("send report: %w", err)
	}
	_, err = answer(wire.NewReader(rw), msgAck)
	return err
}

// Refusal returns the code of the sender's Error answer that err carries
// (one of the Code constants), and whether it carries one.
func Refusal(err error) (byte, bool) {
	var re *wire.RemoteError
	if !errors.As(err, &re) {
		return 0, false
	}
	return re.Code, true
}

// StreamOpener opens a new /ferry/transfer/1 stream to the sender.
type StreamOpener func(ctx context.Context) (io.ReadWriteCloser, error)

// PeerSource is the network's ChunkSource: a sender's snapshot, asked for
// chunk by chunk on up to parallel streams at once. A stream carries one
// request at a time and its chunk is staged before the next is asked for,
// so a slow disk slows the sender down instead of filling memory on either
// side. Close it when done with it.
type PeerSource struct {
	open     StreamOpener
	parallel int
	idle     chan *peerStream // streams between fetches
}

// peerStream is a transfer stream with the reader of its answers.
type peerStream struct {
	io.ReadWriteCloser
	r *wire.Reader
}

var _ ChunkSource = (*PeerSource)(nil)

// NewPeerSource returns a source that opens its streams with open and
// uses up to parallel of them at once (at least 1).
func NewPeerSource(open StreamOpener, parallel int) *PeerSource {
	parallel = max(parallel, 1)
	return &PeerSource{open: open, parallel: parallel, idle: make(chan *peerStream, parallel)}
}

// Plan is one fetch per chunk, parallel at once.
func (p *PeerSource) Plan(want []int) Plan {
	plan := Plan{Parallel: p.parallel, Fetches: make([]Fetch, len(want))}
	for k, i := range want {
		plan.Fetches[k] = func(ctx context.Context, sink Sink) error { return p.fetch(ctx, i, sink) }
	}
	return plan
}

// fetch asks for chunk i on an idle stream (or a new one) and stages it.
// A stream that failed, or was cut by ctx, is closed; a good one waits
// for the next fetch.
func (p *PeerSource) fetch(ctx context.Context, i int, sink Sink) error {
	var st *peerStream
	select {
	case st = <-p.idle:
	default:
		s, err := p.open(ctx)
		if err != nil {
			return err
		}
		st = &peerStream{ReadWriteCloser: s, r: wire.NewReader(s)}
	}
	// A stream blocked reading an answer stops when ctx does.
	stop := context.AfterFunc(ctx, func() { st.Close() })
	data, err := fetchChunk(st, st.r, i)
	if err == nil {
		if err = sink.Put(i, data); err != nil {
			err = fmt.Errorf("stage chunk %d: %w", i, err)
		}
	}
	if !stop() || err != nil {
		st.Close()
		if err == nil {
			err = ctx.Err()
		}
		return err
	}
	p.keep(st)
	return nil
}

// keep puts st among the idle streams, or closes it when there are
// enough (or p is nil).
func (p *PeerSource) keep(st *peerStream) {
	if p == nil {
		st.Close()
		return
	}
	select {
	case p.idle <- st:
	default:
		st.Close()
	}
}

// Close closes the streams kept between fetches. The source stays usable.
func (p *PeerSource) Close() error {
	for {
		select {
		case st := <-p.idle:
			st.Close()
		default:
			return nil
		}
	}
}
