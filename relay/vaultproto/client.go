package vaultproto

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	msmux "github.com/multiformats/go-multistream"

	"github.com/ferryhq/ferry/internal/archive"
	"github.com/ferryhq/ferry/internal/wire"
	"github.com/ferryhq/ferry/p2p"
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

// Dial connects h to the relay at relayAddr (a multiaddr ending in /p2p/ID)
// and reserves a slot on it: a relay serves its vault only to devices that
// hold one. A reservation refused now is asked for again when the relay
// answers that it is needed (also after the relay restarted).
func Dial(ctx context.Context, h host.Host, relayAddr string) (*Client, error) {
	info, err := p2p.ConnectRelay(ctx, h, relayAddr)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	c := &Client{h: h, relay: info.ID}
	_ = c.reserve(ctx) // the relay may need none; a call that needs it asks again
	return c, nil
}

// reserve reserves a slot on the relay.
func (c *Client) reserve(ctx context.Context) error {
	if _, err := client.Reserve(ctx, c.h, peer.AddrInfo{ID: c.relay}); err != nil {
		return fmt.Errorf("vault: reserve a slot on the relay: %v: %w", err, ErrNoAccess)
	}
	return nil
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
	if errors.As(err, new(msmux.ErrNotSupported[protocol.ID])) {
		return nil, false, fmt.Errorf("%w (%v)", ErrNoVault, err)
	}
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
// retried for up to c.Retry (see Client.Retry). An answer that the device
// needs a reservation gets one, and the request is sent again once. A
// password proof does not go through call (see UnlockKey).
func (c *Client) call(ctx context.Context, op string, req Request, want wire.Type, buf []byte) ([]byte, error) {
	t, body := req.encodeParts()
	fresh := false
	repeatable := req.Op != OpDelete
	reserved := false
	var lost time.Time // when the connection was found lost
	wait := retryFirst
	for {
		rt, rb, reused, err := c.attempt(ctx, op, fresh, t, body, buf)
		if err == nil {
			if rt == wire.Error {
				rerr := ErrorOf(wire.ParseError(rb))
				if errors.Is(rerr, ErrNoAccess) && !reserved {
					// The relay lost the reservation (it restarted, or
					// it expired) or never had one: ask for one, once.
					reserved = true
					if err := c.reserve(ctx); err != nil {
						return nil, fmt.Errorf("vault %s: %w", op, err)
					}
					fresh = true
					continue
				}
				if errors.Is(rerr, ErrBusy) && repeatable {
					err = fmt.Errorf("vault %s: %w", op, rerr) // retried below, as a lost connection is
				} else {
					return nil, fmt.Errorf("vault %s: %w", op, rerr)
				}
			} else {
				if rt != want {
					return nil, fmt.Errorf("vault %s: answer type %#x: %w", op, byte(rt), ErrProtocol)
				}
				return rb, nil
			}
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
		if errors.Is(err, ErrNoVault) {
			return nil, err
		}
		if lost.IsZero() {
			lost = time.Now()
		}
		left := c.Retry - time.Since(lost)
		if !repeatable || left <= 0 {
			if errors.Is(err, ErrBusy) {
				return nil, err
			}
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
		// A relay that restarted lost the reservation: ask for one on the
		// new connection (a relay that answers without one is asked again).
		_ = c.reserve(ctx)
		fresh, reserved = true, false
	}
}

// attempt makes one try of a call within c.Timeout: reused says the stream
// had served an earlier call.
func (c *Client) attempt(ctx context.Context, op string, fresh bool, t wire.Type, body [][]byte, buf []byte) (wire.Type, []byte, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, cmp.Or(c.Timeout, RequestTimeout))
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
	b, err := c.call(ctx, "put chunk", Request{Op: OpPutChunk, ID: id, Name: name, Data: sealed}, AnswerAck, nil)
	return ackErr(b, err)
}

// HasChunks says which of names backup id holds.
func (c *Client) HasChunks(ctx context.Context, id [IDSize]byte, names [][NameSize]byte) ([]bool, error) {
	out := make([]bool, 0, len(names))
	for len(names) > 0 {
		n := min(len(names), MaxNames)
		b, err := c.call(ctx, "has chunks", Request{Op: OpHasChunks, ID: id, Names: names[:n]}, AnswerBitmap, nil)
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
	b, err := c.call(ctx, "get chunk", Request{Op: OpGetChunk, ID: id, Name: name}, AnswerData, buf)
	if errors.Is(err, ErrNotFound) {
		err = fmt.Errorf("vault get chunk: %w", ErrChunkMissing)
	}
	return b, err
}

// PutManifest replaces backup id's manifest; names (ascending, no
// duplicates) are the chunks it refers to, all already stored.
func (c *Client) PutManifest(ctx context.Context, id [IDSize]byte, names [][NameSize]byte, sealed []byte) error {
	b, err := c.call(ctx, "put manifest", Request{Op: OpPutManifest, ID: id, Names: names, Data: sealed}, AnswerAck, nil)
	return ackErr(b, err)
}

// GetManifest fetches backup id's sealed manifest. Its error for a backup
// the vault does not hold matches both ErrNotFound and fs.ErrNotExist.
func (c *Client) GetManifest(ctx context.Context, id [IDSize]byte) ([]byte, error) {
	b, err := c.call(ctx, "get manifest", Request{Op: OpGetManifest, ID: id}, AnswerData, nil)
	if errors.Is(err, ErrNotFound) {
		err = fmt.Errorf("%w (%w)", err, fs.ErrNotExist)
	}
	return b, err
}

// List returns this device's backups.
func (c *Client) List(ctx context.Context) ([]Backup, error) {
	b, err := c.call(ctx, "list", Request{Op: OpList}, AnswerBackups, nil)
	if err != nil {
		return nil, err
	}
	list, err := ParseBackups(b)
	if err != nil {
		return nil, fmt.Errorf("vault list: %v: %w", err, ErrProtocol)
	}
	return list, nil
}

// Delete removes one of this device's backups.
func (c *Client) Delete(ctx context.Context, id [IDSize]byte) error {
	b, err := c.call(ctx, "delete", Request{Op: OpDelete, ID: id}, AnswerAck, nil)
	return ackErr(b, err)
}

// PutKeySlot stores the key slot of a password backup: the Argon2id
// parameters and salt, the Ed25519 public key that checks its proofs, and
// the wrapped key.
func (c *Client) PutKeySlot(ctx context.Context, id [IDSize]byte, p archive.Params, salt, public [32]byte, wrapped [WrappedSize]byte) error {
	k := KeySlot{Version: KeySlotV2, Params: p, Salt: salt, Verifier: public, Wrapped: wrapped}
	b, err := c.call(ctx, "put key slot", Request{Op: OpPutKeySlot, ID: id, Slot: k}, AnswerAck, nil)
	return ackErr(b, err)
}

// UnlockKey fetches the wrapped key of a password backup. On a new stream
// it asks for the key slot's Argon2id parameters, salt and a fresh
// challenge (bounded by archive.Params.Validate), has prove sign the
// challenge, and sends the signature, which the relay checks against the
// slot's public key. prove signs msg (see ProofMessage) with the key the
// password derives with p and salt, once it has checked that p costs as
// much as it requires; its error ends UnlockKey before anything is sent. A relay that answers with a slot of the first version
// gets ErrOldKeySlot: its fixed proof is not sent. The proof is never sent
// twice (each counts as an attempt): a lost connection ends the call.
func (c *Client) UnlockKey(ctx context.Context, id [IDSize]byte, prove func(p archive.Params, salt [SaltSize]byte, msg []byte) ([SignatureSize]byte, error)) ([WrappedSize]byte, error) {
	var w [WrappedSize]byte
	st, body, err := c.keyParams(ctx, id)
	if err != nil {
		return w, err
	}
	defer st.Reset() // one challenge, one proof: the stream is not reused
	v, p, salt, challenge, err := ParseKeyParams(body)
	if err != nil {
		return w, fmt.Errorf("vault get key parameters: %v: %w", err, ErrProtocol)
	}
	if v != KeySlotV2 {
		return w, fmt.Errorf("vault get key parameters: key slot version %d: %w", v, ErrOldKeySlot)
	}
	sig, err := prove(p, salt, ProofMessage(id, challenge, c.relay, c.h.ID()))
	if err != nil {
		return w, err
	}
	defer clear(sig[:])
	rb, err := c.proved(ctx, st, "get key slot", Request{Op: OpGetKeySlot, ID: id, Sig: sig}, AnswerWrapped)
	if err != nil {
		return w, err
	}
	if len(rb) != WrappedSize {
		return w, fmt.Errorf("vault get key slot: answer of %d bytes: %w", len(rb), ErrProtocol)
	}
	copy(w[:], rb)
	return w, nil
}

// proved sends req, which carries a proof, on st, the stream that got its
// challenge, and returns the answer's body, which must be of type want.
// It is sent once: a lost connection ends the call.
func (c *Client) proved(ctx context.Context, st *stream, op string, req Request, want wire.Type) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, cmp.Or(c.Timeout, RequestTimeout))
	defer cancel()
	t, b := req.Encode()
	rt, rb, err := exchange(ctx, st, t, [][]byte{b}, nil)
	if err != nil {
		return nil, connLost{fmt.Errorf("vault %s: %w", op, err)}
	}
	switch {
	case rt == wire.Error:
		return nil, fmt.Errorf("vault %s: %w", op, ErrorOf(wire.ParseError(rb)))
	case rt != want:
		return nil, fmt.Errorf("vault %s: answer type %#x: %w", op, byte(rt), ErrProtocol)
	}
	return rb, nil
}

// keyParams opens a new stream and asks for backup id's key parameters
// on it, getting a reservation if the relay needs one. It returns the
// stream, which the proof must use, and the answer's body.
func (c *Client) keyParams(ctx context.Context, id [IDSize]byte) (*stream, []byte, error) {
	return c.challenge(ctx, "get key parameters", Request{Op: OpGetKeyParams, ID: id}, AnswerKeyParams)
}

// challenge opens a new stream and sends req, which asks for a challenge,
// on it, getting a reservation if the relay needs one. It returns the
// stream, which the proof must use, and the answer's body, of type want.
func (c *Client) challenge(ctx context.Context, op string, req Request, want wire.Type) (*stream, []byte, error) {
	t, b := req.Encode()
	for reserved := false; ; reserved = true {
		actx, cancel := context.WithTimeout(ctx, cmp.Or(c.Timeout, RequestTimeout))
		st, _, err := c.stream(actx, true)
		if err != nil {
			cancel()
			if errors.Is(err, ErrNoVault) {
				return nil, nil, fmt.Errorf("vault %s: %w", op, err)
			}
			return nil, nil, connLost{fmt.Errorf("vault %s: open stream: %w", op, err)}
		}
		rt, rb, err := exchange(actx, st, t, [][]byte{b}, nil)
		cancel()
		if err != nil {
			st.Reset()
			return nil, nil, connLost{fmt.Errorf("vault %s: %w", op, err)}
		}
		if rt == want {
			return st, rb, nil
		}
		st.Reset()
		if rt != wire.Error {
			return nil, nil, fmt.Errorf("vault %s: answer type %#x: %w", op, byte(rt), ErrProtocol)
		}
		rerr := ErrorOf(wire.ParseError(rb))
		if !errors.Is(rerr, ErrNoAccess) || reserved {
			return nil, nil, fmt.Errorf("vault %s: %w", op, rerr)
		}
		if err := c.reserve(ctx); err != nil {
			return nil, nil, fmt.Errorf("vault %s: %w", op, err)
		}
	}
}

// PutOwnerKey stores the owner key of backup id, the Ed25519 public key
// that checks a proof of the backup key (see ListWithKey). A relay of a
// version that keeps none answers ErrOwnerKeysUnsupported.
func (c *Client) PutOwnerKey(ctx context.Context, id [IDSize]byte, public [OwnerKeySize]byte) error {
	b, err := c.call(ctx, "put owner key", Request{Op: OpPutOwnerKey, ID: id, Owner: public}, AnswerAck, nil)
	if errors.Is(err, ErrProtocol) {
		// An older relay refuses the request's type as malformed.
		return fmt.Errorf("%w (%w)", ErrOwnerKeysUnsupported, err)
	}
	return ackErr(b, err)
}

// ListWithKey returns backup id as List would, whatever device made it,
// for a proof of its key: on a new stream it asks for a challenge, has
// sign sign msg (see OwnerProofMessage) with the owner key, and sends the
// signature. Its error for a backup the vault does not hold matches both
// ErrNotFound and fs.ErrNotExist; a proof that the owner key does not
// check is ErrForbidden.
func (c *Client) ListWithKey(ctx context.Context, id [IDSize]byte, sign func(msg []byte) [SignatureSize]byte) (updated, size int64, err error) {
	b, err := c.withKey(ctx, "list with key", OpListWithKey, AnswerBackups, id, sign)
	if err != nil {
		return 0, 0, err
	}
	list, err := ParseBackups(b)
	if err == nil && (len(list) != 1 || list[0].ID != id) {
		err = fmt.Errorf("%d backups for one ID", len(list))
	}
	if err != nil {
		return 0, 0, fmt.Errorf("vault list with key: %v: %w", err, ErrProtocol)
	}
	return list[0].Updated, list[0].Size, nil
}

// DeleteWithKey removes backup id, whatever device made it, for a proof
// of its key (as ListWithKey).
func (c *Client) DeleteWithKey(ctx context.Context, id [IDSize]byte, sign func(msg []byte) [SignatureSize]byte) error {
	b, err := c.withKey(ctx, "delete with key", OpDeleteWithKey, AnswerAck, id, sign)
	return ackErr(b, err)
}

// withKey asks for an owner challenge for backup id on a new stream and
// sends request op with sign's signature on it.
func (c *Client) withKey(ctx context.Context, op string, t wire.Type, want wire.Type, id [IDSize]byte, sign func(msg []byte) [SignatureSize]byte) ([]byte, error) {
	st, body, err := c.challenge(ctx, op, Request{Op: OpOwnerChallenge, ID: id}, AnswerChallenge)
	switch {
	case errors.Is(err, ErrNotFound):
		err = fmt.Errorf("%w (%w)", err, fs.ErrNotExist)
	case errors.Is(err, ErrProtocol):
		// An older relay refuses the request's type as malformed.
		err = fmt.Errorf("%w (%w)", ErrOwnerKeysUnsupported, err)
	}
	if err != nil {
		return nil, err
	}
	defer st.Reset() // one challenge, one proof: the stream is not reused
	if len(body) != ChallengeSize {
		return nil, fmt.Errorf("vault %s: challenge of %d bytes: %w", op, len(body), ErrProtocol)
	}
	var challenge [ChallengeSize]byte
	copy(challenge[:], body)
	sig := sign(OwnerProofMessage(id, challenge, c.relay, c.h.ID()))
	return c.proved(ctx, st, op, Request{Op: t, ID: id, Sig: sig}, want)
}

func ackErr(b []byte, err error) error {
	if err == nil && len(b) != 0 {
		return fmt.Errorf("vault: non-empty ack: %w", ErrProtocol)
	}
	return err
}
