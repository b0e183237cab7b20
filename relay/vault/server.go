package vault

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"

	"github.com/ferryhq/ferry/internal/wire"
	"github.com/ferryhq/ferry/relay/vaultproto"
	"github.com/ferryhq/ferry/relay/vaultstore"
)

// Server answers vault requests from one store.
//
// Locks, taken in this order: an account's lock (accountLocks) serialises
// the decisions on its quota (creating a backup, reserving room for a
// chunk, a manifest, a removal by the owner); a backup's lock (backupLocks)
// serialises the read-modify-write of its record; mu guards the maps below
// and is never held while the store is read or written. No one holding a
// backup's lock takes another lock but mu.
type Server struct {
	// constant after construction
	cfg   Config
	store vaultstore.Store
	log   *slog.Logger
	slots chan struct{} // one per request being served
	bufs  sync.Pool     // *[]byte of copyBufSize: answers read from the store

	accountLocks keyedMutex
	backupLocks  keyedMutex

	mu sync.Mutex
	// Caches of the store, which this server alone writes: backups whose
	// record is loaded, and backups by account (filled on first use).
	backups  map[[vaultproto.IDSize]byte]*live    // guarded by mu
	accounts map[string][][vaultproto.IDSize]byte // guarded by mu
	writing  map[string]chan struct{}             // guarded by mu: chunk keys being stored, closed when done
	peers    map[string]*peerState                // guarded by mu: admission of accounts with requests
	ips      map[string]*ipState                  // guarded by mu: admission of IP addresses with streams
	total    int64                                // guarded by mu: bytes stored (see Config.MaxTotal), once totalOK
	totalOK  bool                                 // guarded by mu
	countMu  sync.Mutex                           // held while the vault's bytes are counted (before mu)

	// onHeader, if set (tests), is called once a request's header is read
	// and checked, before its body is.
	onHeader func(t wire.Type, n int)

	sweepMu   sync.Mutex          // held while sweeping
	lastSweep time.Time           // guarded by sweepMu: start of the last round
	sweepTodo []vaultstore.Object // guarded by sweepMu: markers the round has yet to look at
}

// New returns a server for cfg. Register it on a host, or call Serve.
func New(cfg Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	s := &Server{cfg: cfg, store: cfg.Store, log: cfg.Logger, slots: make(chan struct{}, cfg.MaxStreams),
		backups: make(map[[vaultproto.IDSize]byte]*live), accounts: make(map[string][][vaultproto.IDSize]byte),
		writing: make(map[string]chan struct{}), peers: make(map[string]*peerState), ips: make(map[string]*ipState)}
	s.bufs.New = func() any { b := make([]byte, copyBufSize); return &b }
	return s, nil
}

// Register serves the vault protocol on h from cfg.Store.
func Register(h host.Host, cfg Config) (*Server, error) {
	s, err := New(cfg)
	if err != nil {
		return nil, err
	}
	h.SetStreamHandler(vaultproto.ProtocolID, s.Serve)
	return s, nil
}

// idleTimeout is how long a stream may wait for its next request.
const idleTimeout = time.Minute

// readAhead is the read-ahead buffer of a vault stream.
const readAhead = 4 << 10

// Serve answers the requests of one stream until the client closes it.
// The stream is admitted first, and each request is read in full before
// it waits for a slot (see admission.go).
func (s *Server) Serve(st network.Stream) {
	ip, err := s.admitStream(st)
	if err != nil {
		// Said at once: the client reads it as the answer to its first
		// request.
		code, msg := refusal(err)
		refuse(st, code, msg)
		return
	}
	defer s.closeIP(ip)
	sess := &session{from: st.Conn().RemotePeer(), relay: st.Conn().LocalPeer(), ip: ip}
	acct := sess.from.String()
	r := wire.NewReaderSize(st, readAhead)
	r.Memory = &requestMemory{s: s, scope: st.Scope(), ip: ip}
	defer r.Reset()
	r.Check = func(t wire.Type, n int) error {
		if max := vaultproto.MaxBody(t); n > max {
			return fmt.Errorf("%w: a request of type %#x and %d bytes", vaultproto.ErrBadRequest, byte(t), n)
		}
		st.SetReadDeadline(time.Now().Add(bodyTimeout(n)))
		if s.onHeader != nil {
			s.onHeader(t, n)
		}
		return nil
	}
	for {
		st.SetDeadline(time.Now().Add(idleTimeout))
		t, body, err := r.Next()
		if err != nil {
			switch {
			case err == io.EOF:
				st.Close()
			case errors.Is(err, vaultproto.ErrBadRequest) || errors.Is(err, vaultproto.ErrBusy) || errors.Is(err, wire.ErrMalformed):
				code := vaultproto.CodeBadRequest
				if errors.Is(err, vaultproto.ErrBusy) {
					code = vaultproto.CodeBusy
				}
				r.Reset()
				refuse(st, code, err.Error())
			default:
				st.Reset()
			}
			return
		}
		st.SetDeadline(time.Now().Add(vaultproto.RequestTimeout))
		ctx, cancel := context.WithTimeout(withIP(context.Background(), ip), vaultproto.RequestTimeout)
		s.maybeSweep(ctx)
		release, err := s.admit(ctx, acct, ip)
		if err != nil {
			cancel()
			st.Reset()
			return
		}
		err = s.answer(ctx, st, sess, t, body)
		release()
		cancel()
		if err != nil {
			st.Reset()
			return
		}
		if len(body) > maxKeptBody {
			// The reader keeps a buffer of its largest frame; a stream
			// idle after an upload must not hold up to MaxChunk bytes for
			// its idle minute.
			r.Reset()
		}
	}
}

// refuse answers a request the relay will not serve with an Error and
// ends the stream. The request's body may still be on its way: it is read
// and dropped (for up to refuseDrain), so that the client's write ends and
// it reads the answer instead of a reset.
func refuse(st network.Stream, code byte, msg string) {
	st.SetDeadline(time.Now().Add(refuseDrain))
	if err := wire.WriteError(st, code, msg); err != nil {
		st.Reset()
		return
	}
	st.CloseWrite()
	var buf [4 << 10]byte
	if _, err := io.CopyBuffer(io.Discard, io.LimitReader(onlyReader{st}, wire.MaxFrame+16), buf[:]); err != nil {
		st.Reset()
		return
	}
	st.Close()
}

// refuseDrain bounds how long a refused stream is drained.
const refuseDrain = 10 * time.Second

// onlyReader hides a stream's WriteTo, so that io.CopyBuffer uses its
// buffer.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// maxKeptBody is the largest request buffer a stream keeps between
// requests.
const maxKeptBody = 1 << 20

// copyBufSize is the buffer an object is copied through from the store to
// the stream, so that answering a chunk of up to MaxChunk bytes costs no
// allocation of its size.
const copyBufSize = 256 << 10

// result is a successful answer: a body in memory, or n bytes to copy
// from rc.
type result struct {
	t  wire.Type
	b  []byte
	rc io.ReadCloser
	n  int64
}

// answer serves one request and writes its answer to w; an error is one
// of writing (or of reading an object once its answer has begun), after
// which the stream is useless.
func (s *Server) answer(ctx context.Context, w io.Writer, sess *session, t wire.Type, body []byte) error {
	from := sess.from
	res, err := s.handle(ctx, sess, t, body)
	bp := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(bp)
	if err != nil {
		code, msg := vaultproto.CodeOf(err), err.Error()
		var later *vaultproto.TryLaterError
		if errors.As(err, &later) {
			msg = vaultproto.TryLaterMessage(later.After)
		}
		if code == vaultproto.CodeInternal {
			// The cause stays in the relay's log, not on the wire.
			s.log.Error("vault request failed", "op", byte(t), "peer", from, "err", err)
			msg = vaultproto.ErrRelay.Error()
		}
		res = result{t: wire.Error, b: append([]byte{code}, msg...)}
	}
	// A frame (see package wire) goes out in one write when it fits the
	// buffer: a header apart costs a stream frame and a TLS record.
	buf := binary.AppendUvarint((*bp)[:0], uint64(len(res.b))+1)
	if res.rc != nil {
		buf = binary.AppendUvarint((*bp)[:0], uint64(res.n)+1)
	}
	buf = append(buf, byte(res.t))
	if res.rc == nil {
		if len(buf)+len(res.b) > cap(buf) {
			return wire.Write(w, res.t, res.b)
		}
		_, err := w.Write(append(buf, res.b...))
		return err
	}
	defer res.rc.Close()
	// An object's first bytes go with the header, the rest in pieces of
	// copyBufSize.
	left := res.n
	for {
		k, err := io.ReadFull(res.rc, buf[len(buf):min(int64(cap(buf)), int64(len(buf))+left)])
		left -= int64(k)
		buf = buf[:len(buf)+k]
		if err != nil && left > 0 {
			s.log.Error("vault: read object", "op", byte(t), "peer", from, "err", err)
			return fmt.Errorf("vault: read object: %w", err)
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
		if left == 0 {
			return nil
		}
		buf = buf[:0]
	}
}

// handle answers one request from account from.
func (s *Server) handle(ctx context.Context, sess *session, t wire.Type, body []byte) (result, error) {
	req, err := vaultproto.ParseRequest(t, body)
	if err != nil {
		return result{}, err
	}
	acct := sess.from.String()
	switch req.Op {
	case vaultproto.OpPutChunk:
		return result{t: vaultproto.AnswerAck}, s.putChunk(ctx, acct, req.ID, req.Name, req.Data)
	case vaultproto.OpHasChunks:
		b, err := s.hasChunks(ctx, acct, req.ID, req.Names)
		return result{t: vaultproto.AnswerBitmap, b: b}, err
	case vaultproto.OpGetChunk:
		rc, n, err := s.getObject(ctx, req.ID, chunkKey(req.ID, req.Name), vaultproto.MaxChunk)
		return result{t: vaultproto.AnswerData, rc: rc, n: n}, err
	case vaultproto.OpPutManifest:
		return result{t: vaultproto.AnswerAck}, s.putManifest(ctx, acct, req.ID, req.Names, req.Data)
	case vaultproto.OpGetManifest:
		rc, n, err := s.getObject(ctx, req.ID, backupKey(req.ID, "manifest"), vaultproto.MaxManifest)
		return result{t: vaultproto.AnswerData, rc: rc, n: n}, err
	case vaultproto.OpList:
		list, err := s.List(ctx, acct)
		return result{t: vaultproto.AnswerBackups, b: vaultproto.AppendBackups(nil, list)}, err
	case vaultproto.OpDelete:
		return result{t: vaultproto.AnswerAck}, s.delete(ctx, acct, req.ID)
	case vaultproto.OpPutKeySlot:
		return result{t: vaultproto.AnswerAck}, s.putKeySlot(ctx, acct, req.ID, req.Slot)
	case vaultproto.OpGetKeyParams:
		b, err := s.keyParams(ctx, sess, req.ID)
		return result{t: vaultproto.AnswerKeyParams, b: b}, err
	case vaultproto.OpGetKeySlot:
		w, err := s.unwrap(ctx, sess, req.ID, req.Sig)
		return result{t: vaultproto.AnswerWrapped, b: w}, err
	case vaultproto.OpPutOwnerKey:
		return result{t: vaultproto.AnswerAck}, s.putOwnerKey(ctx, acct, req.ID, req.Owner)
	case vaultproto.OpOwnerChallenge:
		b, err := s.ownerChallenge(ctx, sess, req.ID)
		return result{t: vaultproto.AnswerChallenge, b: b}, err
	case vaultproto.OpListWithKey:
		b, err := s.listWithKey(ctx, sess, req.ID, req.Sig)
		return result{t: vaultproto.AnswerBackups, b: b}, err
	case vaultproto.OpDeleteWithKey:
		return result{t: vaultproto.AnswerAck}, s.deleteWithKey(ctx, sess, req.ID, req.Sig)
	}
	return result{}, fmt.Errorf("%w: type %#x", vaultproto.ErrBadRequest, byte(t))
}
