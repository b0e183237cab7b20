package vault

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"
	"time"

	"github.com/ferryhq/ferry/internal/archive"
	"github.com/ferryhq/ferry/internal/wire"
	"github.com/ferryhq/ferry/p2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
)

// Client speaks the vault protocol to one relay as the device h. Calls may
// run in parallel; each takes an idle stream or opens one, and a call after
// the relay came back reconnects. It is safe for concurrent use.
type Client struct {
	h     host.Host
	relay peer.ID
	// Timeout bounds one attempt of a call (request to answer). Default 2
	// minutes.
	Timeout time.Duration
	// Retry is how long a call keeps trying once the connection to the
	// relay is lost (the relay restarted, the network dropped): it waits,
	// redials and sends the request again, for every request that may be
	// repeated (all but Delete and GetKeySlot). Zero gives up at once.
	Retry time.Duration
	// OnRetry, if set, is called before each new attempt with the failure
	// that prompted it. Calls may come from several goroutines at once.
	OnRetry func(err error)

	mu   sync.Mutex
	idle []*stream // guarded by mu: streams between calls
}

// stream is a vault stream with the reader of its answers, kept together
// so that its buffer serves every call on the stream.
type stream struct {
	network.Stream
	rd *wire.Reader
}

// maxIdle is how many streams a Client keeps open between calls.
const maxIdle = 8

// Dial connects h to the relay at relayAddr (a multiaddr ending in /p2p/ID).
func Dial(ctx context.Context, h host.Host, relayAddr string) (*Client, error) {
	info, err := p2p.ConnectRelay(ctx, h, relayAddr)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	return &Client{h: h, relay: info.ID}, nil
}

// Close closes the idle streams. The Client stays usable.
func (c *Client) Close() error {
	c.mu.Lock()
	idle := c.idle
	c.idle = nil
	c.mu.Unlock()
	for _, st := range idle {
		st.Close()
	}
	return nil
}

// stream returns an idle stream (reused) or a new one.
func (c *Client) stream(ctx context.Context, fresh bool) (*stream, bool, error) {
	if !fresh {
		c.mu.Lock()
		if n := len(c.idle); n > 0 {
			st := c.idle[n-1]
			c.idle = c.idle[:n-1]
			c.mu.Unlock()
			return st, true, nil
		}
		c.mu.Unlock()
	}
	st, err := c.h.NewStream(ctx, c.relay, ProtocolID)
	if err != nil {
		return nil, false, err
	}
	return &stream{Stream: st, rd: wire.NewReader(st)}, false, nil
}

func (c *Client) putIdle(st *stream) {
	c.mu.Lock()
	if len(c.idle) < maxIdle {
		c.idle = append(c.idle, st)
		st = nil
	}
	c.mu.Unlock()
	if st != nil {
		st.Close()
	}
}

// Waits between attempts of a call after the connection was lost.
const (
	retryFirst = 250 * time.Millisecond
	retryMax   = 4 * time.Second
)

// call sends one request and reads its answer, which must be of type want,
// into buf when it fits (see wire.Reader.NextInto). A request that failed on
// a reused stream (the relay may have dropped it while idle) is sent once
// more on a new one at once; after that, a failure of the connection is
// retried for up to c.Retry (see Client.Retry). GetKeySlot always takes a
// new stream and is never repeated: a repeated wrong proof would count
// twice.
func (c *Client) call(ctx context.Context, op string, req request, want wire.Type, buf []byte) ([]byte, error) {
	t, body := req.encodeParts()
	fresh := req.op == opGetKeySlot
	repeatable := req.op != opGetKeySlot && req.op != opDelete
	var lost time.Time // when the connection was found lost
	wait := retryFirst
	for {
		rt, rb, reused, err := c.attempt(ctx, op, fresh, t, body, buf)
		if err == nil {
			if rt == wire.Error {
				return nil, fmt.Errorf("vault %s: %w", op, remoteErr(wire.ParseError(rb)))
			}
			if rt != want {
				return nil, fmt.Errorf("vault %s: answer type %#x: %w", op, byte(rt), ErrProtocol)
			}
			return rb, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("vault %s: %w", op, ctx.Err())
		}
		if reused && !fresh {
			fresh = true // a stale idle stream: try a new one at once
			continue
		}
		if errors.Is(err, wire.ErrMalformed) || errors.Is(err, wire.ErrFrameTooLarge) {
			return nil, fmt.Errorf("%w: %w", err, ErrProtocol) // not the connection: the relay
		}
		if lost.IsZero() {
			lost = time.Now()
		}
		left := c.Retry - time.Since(lost)
		if !repeatable || left <= 0 {
			return nil, connLost{err}
		}
		c.Close() // the idle streams went with the connection
		if c.OnRetry != nil {
			c.OnRetry(err)
		}
		select {
		case <-time.After(min(wait, left)):
		case <-ctx.Done():
			return nil, fmt.Errorf("vault %s: %w", op, ctx.Err())
		}
		wait = min(2*wait, retryMax)
		if sw, ok := c.h.Network().(*swarm.Swarm); ok {
			sw.Backoff().Clear(c.relay) // dial now, not when the backoff ends
		}
		fresh = true
	}
}

// attempt makes one try of a call within c.Timeout: reused says the stream
// had served an earlier call.
func (c *Client) attempt(ctx context.Context, op string, fresh bool, t wire.Type, body [][]byte, buf []byte) (wire.Type, []byte, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, cmp.Or(c.Timeout, requestTimeout))
	defer cancel()
	st, reused, err := c.stream(ctx, fresh)
	if err != nil {
		return 0, nil, false, fmt.Errorf("vault %s: open stream: %w", op, err)
	}
	rt, rb, err := exchange(ctx, st, t, body, buf)
	if err != nil {
		st.Reset()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return 0, nil, reused, fmt.Errorf("vault %s: %w", op, err)
	}
	c.putIdle(st)
	return rt, rb, reused, nil
}

// exchange writes one request on st and reads one answer into buf if it fits.
func exchange(ctx context.Context, st *stream, t wire.Type, body [][]byte, buf []byte) (wire.Type, []byte, error) {
	if d, ok := ctx.Deadline(); ok {
		st.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { st.Reset() })
	defer stop()
	if err := wire.Write(st, t, body...); err != nil {
		return 0, nil, fmt.Errorf("send: %w", err)
	}
	rt, rb, err := st.rd.NextInto(buf)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return 0, nil, fmt.Errorf("read answer: %w", err)
	}
	if !stop() {
		return 0, nil, ctx.Err()
	}
	st.SetDeadline(time.Time{})
	return rt, rb, nil
}

// PutChunk stores a sealed chunk under name in backup id.
func (c *Client) PutChunk(ctx context.Context, id [IDSize]byte, name [NameSize]byte, sealed []byte) error {
	b, err := c.call(ctx, "put chunk", request{op: opPutChunk, id: id, name: name, data: sealed}, rAck, nil)
	return ackErr(b, err)
}

// HasChunks says which of names backup id holds.
func (c *Client) HasChunks(ctx context.Context, id [IDSize]byte, names [][NameSize]byte) ([]bool, error) {
	out := make([]bool, 0, len(names))
	for len(names) > 0 {
		n := min(len(names), MaxNames)
		b, err := c.call(ctx, "has chunks", request{op: opHasChunks, id: id, names: names[:n]}, rBitmap, nil)
		if err != nil {
			return nil, err
		}
		if len(b) != (n+7)/8 {
			return nil, fmt.Errorf("vault has chunks: bitmap of %d bytes for %d names: %w", len(b), n, ErrProtocol)
		}
		for i := range n {
			out = append(out, b[i/8]&(1<<(i%8)) != 0)
		}
		names = names[n:]
	}
	return out, nil
}

// GetChunk fetches a sealed chunk of backup id, into buf when it fits (a
// caller fetching many chunks in turn passes the same buffer each time).
func (c *Client) GetChunk(ctx context.Context, id [IDSize]byte, name [NameSize]byte, buf []byte) ([]byte, error) {
	b, err := c.call(ctx, "get chunk", request{op: opGetChunk, id: id, name: name}, rData, buf)
	if errors.Is(err, ErrNotFound) {
		err = fmt.Errorf("vault get chunk: %w", ErrChunkMissing)
	}
	return b, err
}

// PutManifest replaces backup id's manifest; names (ascending, no
// duplicates) are the chunks it refers to, all already stored.
func (c *Client) PutManifest(ctx context.Context, id [IDSize]byte, names [][NameSize]byte, sealed []byte) error {
	b, err := c.call(ctx, "put manifest", request{op: opPutManifest, id: id, names: names, data: sealed}, rAck, nil)
	return ackErr(b, err)
}

// GetManifest fetches backup id's sealed manifest. Its error for a backup
// the vault does not hold matches both ErrNotFound and fs.ErrNotExist.
func (c *Client) GetManifest(ctx context.Context, id [IDSize]byte) ([]byte, error) {
	b, err := c.call(ctx, "get manifest", request{op: opGetManifest, id: id}, rData, nil)
	if errors.Is(err, ErrNotFound) {
		err = fmt.Errorf("%w (%w)", err, fs.ErrNotExist)
	}
	return b, err
}

// List returns this device's backups.
func (c *Client) List(ctx context.Context) ([]Backup, error) {
	b, err := c.call(ctx, "list", request{op: opList}, rBackups, nil)
	if err != nil {
		return nil, err
	}
	list, err := parseBackups(b)
	if err != nil {
		return nil, fmt.Errorf("vault list: %v: %w", err, ErrProtocol)
	}
	return list, nil
}

// Delete removes one of this device's backups.
func (c *Client) Delete(ctx context.Context, id [IDSize]byte) error {
	b, err := c.call(ctx, "delete", request{op: opDelete, id: id}, rAck, nil)
	return ackErr(b, err)
}

// PutKeySlot stores the key slot of a password backup.
func (c *Client) PutKeySlot(ctx context.Context, id [IDSize]byte, p archive.Params, salt, verifier [32]byte, wrapped [WrappedSize]byte) error {
	k := KeySlot{Params: p, Salt: salt, Verifier: verifier, Wrapped: wrapped}
	b, err := c.call(ctx, "put key slot", request{op: opPutKeySlot, id: id, slot: k}, rAck, nil)
	return ackErr(b, err)
}

// KeyParams fetches the Argon2id parameters and salt of a password backup.
func (c *Client) KeyParams(ctx context.Context, id [IDSize]byte) (archive.Params, [32]byte, error) {
	b, err := c.call(ctx, "get key parameters", request{op: opGetKeyParams, id: id}, rKeyParams, nil)
	if err != nil {
		return archive.Params{}, [32]byte{}, err
	}
	p, salt, err := parseKeyParams(b)
	if err != nil {
		return archive.Params{}, [32]byte{}, fmt.Errorf("vault get key parameters: %v: %w", err, ErrProtocol)
	}
	return p, salt, nil
}

// KeySlot fetches the wrapped key of a password backup, proving knowledge
// of the password with proof.
func (c *Client) KeySlot(ctx context.Context, id [IDSize]byte, proof [32]byte) ([WrappedSize]byte, error) {
	var w [WrappedSize]byte
	b, err := c.call(ctx, "get key slot", request{op: opGetKeySlot, id: id, name: proof}, rWrapped, nil)
	if err != nil {
		return w, err
	}
	if len(b) != WrappedSize {
		return w, fmt.Errorf("vault get key slot: %d bytes: %w", len(b), ErrProtocol)
	}
	copy(w[:], b)
	return w, nil
}

func ackErr(b []byte, err error) error {
	if err == nil && len(b) != 0 {
		return fmt.Errorf("vault: non-empty ack: %w", ErrProtocol)
	}
	return err
}
