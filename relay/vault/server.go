package vault

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/ferryhq/ferry/internal/wire"
	"github.com/ferryhq/ferry/relay/vaultstore"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// MaxFails is the number of wrong password proofs in a row that lock a
// backup.
const MaxFails = 10

// Config configures a vault server. Store is required; every other zero
// field takes the default named in its comment.
type Config struct {
	// Store keeps the objects (see package vaultstore).
	Store vaultstore.Store
	// Quota is the number of stored bytes one account may hold across its
	// backups. Default 10 GiB.
	Quota int64
	// MaxBackupSize is the largest backup accepted. Default 8 GiB.
	MaxBackupSize int64
	// MaxBackups is the number of backups one account may hold. Default 16.
	MaxBackups int
	// TTL is how long a backup lives after it was last written (manifest,
	// key slot or chunks). Default 180 days.
	TTL time.Duration
	// MaxStreams bounds the requests served at once (reading and writing
	// the store). Others wait. Default 64.
	MaxStreams int
	// AccountStreams bounds the requests of one account served at once,
	// so that one device cannot take every one of MaxStreams. Others of
	// that account wait. Default 8.
	AccountStreams int
	// AccountRate and AccountBurst limit the requests of one account
	// (requests per second on the wall clock, bucket size); a request
	// over the limit waits for its turn. Default 1000/s, burst 2000; a
	// negative AccountRate means no limit.
	AccountRate  float64
	AccountBurst int
	// MaxTotal is the number of bytes the vault holds for all accounts
	// together (chunks and manifests, counted at the first write and again
	// at each sweep, kept up to date in between); a write that would pass
	// it is refused with ErrFull. Default 100 GiB.
	MaxTotal int64
	// Allow, if set, decides whether a peer may use the vault at all;
	// others are answered ErrNoAccess. The relay allows the peers that
	// hold a reservation (of which one IP address gets a bounded number).
	Allow func(peer.ID) bool
	// IPStreams bounds the vault streams open at once from one IP address
	// (IPv4, or IPv6 /56); more are answered ErrBusy. Default 256.
	IPStreams int
	// IPRequests bounds the requests of one IP address served at once, of
	// MaxStreams. Others wait. Default MaxStreams/2.
	IPRequests int
	// IPMemory bounds the bytes of the requests being read from one IP
	// address at once; a request past it is refused. Default 256 MiB.
	IPMemory int64
	// IPNewBackups is the number of new backups one IP address may create
	// a day (a token bucket of that size). Default 64.
	IPNewBackups int
	// SweepEvery is how often expired backups are looked for, while
	// requests arrive. Default 1 hour.
	SweepEvery time.Duration
	// Logger receives log lines (never secrets). Nil discards them.
	Logger *slog.Logger
	// Now is the clock of TTLs. Nil means time.Now.
	Now func() time.Time
}

func (c *Config) setDefaults() {
	c.Quota = cmp.Or(c.Quota, 10<<30)
	c.MaxBackupSize = cmp.Or(c.MaxBackupSize, 8<<30)
	c.MaxBackups = cmp.Or(c.MaxBackups, 16)
	c.TTL = cmp.Or(c.TTL, 180*24*time.Hour)
	c.SweepEvery = cmp.Or(c.SweepEvery, time.Hour)
	c.MaxStreams = cmp.Or(c.MaxStreams, 64)
	c.AccountStreams = min(cmp.Or(c.AccountStreams, 8), c.MaxStreams)
	c.AccountRate = cmp.Or(c.AccountRate, 1000)
	c.AccountBurst = cmp.Or(c.AccountBurst, 2000)
	c.MaxTotal = cmp.Or(c.MaxTotal, 100<<30)
	c.IPStreams = cmp.Or(c.IPStreams, 256)
	c.IPRequests = min(cmp.Or(c.IPRequests, max(c.MaxStreams/2, 1)), c.MaxStreams)
	c.IPMemory = cmp.Or(c.IPMemory, 256<<20)
	c.IPNewBackups = cmp.Or(c.IPNewBackups, 64)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

func (c *Config) validate() error {
	switch {
	case c.Store == nil:
		return errors.New("vault: no store configured")
	case c.Quota < 0 || c.MaxBackupSize < 0 || c.MaxBackups < 0 || c.TTL < 0 || c.MaxStreams < 0 ||
		c.AccountStreams < 0 || c.AccountBurst < 0 || c.SweepEvery < 0 || c.MaxTotal < 0 ||
		c.IPStreams < 0 || c.IPRequests < 0 || c.IPMemory < 0 || c.IPNewBackups < 0:
		return errors.New("vault: negative limit configured")
	}
	return nil
}

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
	backups  map[[IDSize]byte]*live    // guarded by mu
	accounts map[string][][IDSize]byte // guarded by mu
	writing  map[string]chan struct{}  // guarded by mu: chunk keys being stored, closed when done
	peers    map[string]*peerState     // guarded by mu: admission of accounts with requests
	ips      map[string]*ipState       // guarded by mu: admission of IP addresses with streams
	total    int64                     // guarded by mu: bytes stored (see Config.MaxTotal), once totalOK
	totalOK  bool                      // guarded by mu
	countMu  sync.Mutex                // held while the vault's bytes are counted (before mu)

	// onHeader, if set (tests), is called once a request's header is read
	// and checked, before its body is.
	onHeader func(t wire.Type, n int)

	sweepMu   sync.Mutex          // held while sweeping
	lastSweep time.Time           // guarded by sweepMu: start of the last round
	sweepTodo []vaultstore.Object // guarded by sweepMu: markers the round has yet to look at
}

// live is what the server knows of a backup that exists. A removal drops
// it from Server.backups, so a writer that kept the pointer can tell that
// its backup went away meanwhile.
type live struct {
	meta     meta
	metaOK   bool  // meta is what the store holds (false after a failed write)
	pending  int64 // chunk bytes stored or being stored that meta.Size does not count
	inflight int64 // of pending, the bytes still being written
	counted  bool  // pending includes what earlier relay processes left
}

// peerState is one account's admission: its share of the request slots
// and its token bucket.
type peerState struct {
	slots chan struct{}
	lim   *rate.Limiter
	refs  int // requests holding or waiting for this state; guarded by Server.mu
}

// New returns a server for cfg. Register it on a host, or call Serve.
func New(cfg Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	s := &Server{cfg: cfg, store: cfg.Store, log: cfg.Logger, slots: make(chan struct{}, cfg.MaxStreams),
		backups: make(map[[IDSize]byte]*live), accounts: make(map[string][][IDSize]byte),
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
	h.SetStreamHandler(ProtocolID, s.Serve)
	return s, nil
}

// requestTimeout bounds one request, read to answer, waits included.
const requestTimeout = 2 * time.Minute

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
		if max := maxBody(t); n > max {
			return fmt.Errorf("%w: a request of type %#x and %d bytes", errBadRequest, byte(t), n)
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
			case errors.Is(err, errBadRequest) || errors.Is(err, ErrBusy) || errors.Is(err, wire.ErrMalformed):
				code := codeBadRequest
				if errors.Is(err, ErrBusy) {
					code = codeBusy
				}
				r.Reset()
				refuse(st, code, err.Error())
			default:
				st.Reset()
			}
			return
		}
		st.SetDeadline(time.Now().Add(requestTimeout))
		ctx, cancel := context.WithTimeout(withIP(context.Background(), ip), requestTimeout)
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

// maxPeers is how many accounts' admission states are kept before idle
// ones are dropped.
const maxPeers = 4096

// ipCtxKey carries the IP address state of a request in its context.
type ipCtxKey struct{}

func withIP(ctx context.Context, ip *ipState) context.Context {
	return context.WithValue(ctx, ipCtxKey{}, ip)
}

// ipOf is the IP address state of the request ctx belongs to, nil for a
// request that came on no stream (tests).
func ipOf(ctx context.Context) *ipState {
	ip, _ := ctx.Value(ipCtxKey{}).(*ipState)
	return ip
}

// dropIdlePeersLocked forgets the accounts with no request whose bucket is
// full again: forgetting them loses nothing. Caller holds mu.
func (s *Server) dropIdlePeersLocked() {
	now := time.Now()
	for k, p := range s.peers {
		if p.refs == 0 && (p.lim.Limit() == rate.Inf || p.lim.TokensAt(now) >= float64(p.lim.Burst())) {
			delete(s.peers, k)
		}
	}
}

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
		code, msg := codeOf(err), err.Error()
		var later *TryLaterError
		if errors.As(err, &later) {
			msg = tryLaterMessage(later.After)
		}
		if code == codeInternal {
			// The cause stays in the relay's log, not on the wire.
			s.log.Error("vault request failed", "op", byte(t), "peer", from, "err", err)
			msg = ErrRelay.Error()
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
	req, err := parseRequest(t, body)
	if err != nil {
		return result{}, err
	}
	acct := sess.from.String()
	switch req.op {
	case opPutChunk:
		return result{t: rAck}, s.putChunk(ctx, acct, req.id, req.name, req.data)
	case opHasChunks:
		b, err := s.hasChunks(ctx, acct, req.id, req.names)
		return result{t: rBitmap, b: b}, err
	case opGetChunk:
		rc, n, err := s.getObject(ctx, req.id, chunkKey(req.id, req.name), MaxChunk)
		return result{t: rData, rc: rc, n: n}, err
	case opPutManifest:
		return result{t: rAck}, s.putManifest(ctx, acct, req.id, req.names, req.data)
	case opGetManifest:
		rc, n, err := s.getObject(ctx, req.id, backupKey(req.id, "manifest"), MaxManifest)
		return result{t: rData, rc: rc, n: n}, err
	case opList:
		list, err := s.List(ctx, acct)
		return result{t: rBackups, b: appendBackups(nil, list)}, err
	case opDelete:
		return result{t: rAck}, s.delete(ctx, acct, req.id)
	case opPutKeySlot:
		return result{t: rAck}, s.putKeySlot(ctx, acct, req.id, req.slot)
	case opGetKeyParams:
		b, err := s.keyParams(ctx, sess, req.id)
		return result{t: rKeyParams, b: b}, err
	case opGetKeySlot:
		w, err := s.unwrap(ctx, sess, req.id, req.sig)
		return result{t: rWrapped, b: w}, err
	}
	return result{}, fmt.Errorf("%w: type %#x", errBadRequest, byte(t))
}

// Object keys.
func backupDir(id [IDSize]byte) string { return "v1/b/" + hex.EncodeToString(id[:]) }
func backupKey(id [IDSize]byte, f string) string {
	return backupDir(id) + "/" + f
}
func chunkKey(id [IDSize]byte, n [NameSize]byte) string {
	return backupDir(id) + "/c/" + hex.EncodeToString(n[:])
}
func accountDir(acct string) string { return "v1/a/" + acct + "/" }
func markerKey(acct string, id [IDSize]byte) string {
	return accountDir(acct) + hex.EncodeToString(id[:])
}

// lastKeyHex decodes the hex of a key's last segment into dst.
func lastKeyHex(dst []byte, key string) bool {
	h := key[strings.LastIndexByte(key, '/')+1:]
	if len(h) != 2*len(dst) {
		return false // and hex.Decode would write past dst
	}
	_, err := hex.Decode(dst, []byte(h))
	return err == nil
}

// meta is a backup's bookkeeping, kept as JSON next to it.
type meta struct {
	Owner   string `json:"owner"`
	Created int64  `json:"created"`
	Updated int64  `json:"updated"`           // last manifest
	Touched int64  `json:"touched,omitempty"` // last write of chunks or key slot, roughly
	Size    int64  `json:"size"`
	// Fails and Locked are the lockout of relays before the guard (see
	// lockout.go): a backup they locked stays locked until its owner's
	// next key slot; nothing writes them now but that reset.
	Fails  int  `json:"fails"`
	Locked bool `json:"locked"`
}

// maxMeta bounds a stored record.
const maxMeta = 1 << 16

func parseMeta(b []byte) (meta, error) {
	var m meta
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&m); err != nil {
		return meta{}, fmt.Errorf("vault: backup record: %w", err)
	}
	if d.More() || m.Owner == "" || m.Size < 0 || m.Fails < 0 || m.Fails > MaxFails {
		return meta{}, errors.New("vault: backup record: out of range")
	}
	return m, nil
}

// lastWrite is when the backup was last written, as far as its TTL goes.
func (m meta) lastWrite() int64 { return max(m.Updated, m.Created, m.Touched) }

func (s *Server) readAll(ctx context.Context, key string, max int64) ([]byte, error) {
	rc, n, err := s.open(ctx, key, max)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b := make([]byte, n)
	if _, err := io.ReadFull(rc, b); err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	return b, nil
}

// open opens an object of at most max bytes.
func (s *Server) open(ctx context.Context, key string, max int64) (io.ReadCloser, int64, error) {
	rc, n, err := s.store.Get(ctx, key)
	if errors.Is(err, vaultstore.ErrNotFound) {
		return nil, 0, ErrNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read %s: %w", key, err)
	}
	if n < 0 || n > max {
		rc.Close()
		return nil, 0, fmt.Errorf("read %s: size %d above %d", key, n, max)
	}
	return rc, n, nil
}

func (s *Server) put(ctx context.Context, key string, b []byte) error {
	if err := s.store.Put(ctx, key, bytes.NewReader(b), int64(len(b))); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}

func (s *Server) lockBackup(id [IDSize]byte) (unlock func()) {
	return s.backupLocks.lock(string(id[:]))
}
func (s *Server) lockAccount(acct string) (unlock func()) { return s.accountLocks.lock(acct) }

// cached returns a backup's record if it is loaded.
func (s *Server) cached(id [IDSize]byte) (meta, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.backups[id]; l != nil && l.metaOK {
		return l.meta, true
	}
	return meta{}, false
}

// loadMeta returns the record of a live backup; ErrNotFound when there is
// none or it expired (then it is removed).
func (s *Server) loadMeta(ctx context.Context, id [IDSize]byte) (meta, error) {
	if m, ok := s.cached(id); ok && !s.expired(m) {
		return m, nil
	}
	defer s.lockBackup(id)()
	return s.loadMetaLocked(ctx, id)
}

// errExpired is the ErrNotFound of a backup that expired just now.
var errExpired = fmt.Errorf("backup expired: %w", ErrNotFound)

// loadMetaLocked is loadMeta for a caller that holds id's backup lock.
func (s *Server) loadMetaLocked(ctx context.Context, id [IDSize]byte) (meta, error) {
	m, ok := s.cached(id)
	if !ok {
		b, err := s.readAll(ctx, backupKey(id, "meta"), maxMeta)
		if err != nil {
			return meta{}, err
		}
		if m, err = parseMeta(b); err != nil {
			return meta{}, fmt.Errorf("backup %x: %w", id, err)
		}
		s.mu.Lock()
		l := s.backups[id]
		if l == nil {
			l = &live{}
			s.backups[id] = l
		}
		l.meta, l.metaOK = m, true
		s.mu.Unlock()
	}
	if s.expired(m) {
		if err := s.removeLocked(ctx, id, m.Owner); err != nil {
			return meta{}, err
		}
		return meta{}, errExpired
	}
	return m, nil
}

func (s *Server) expired(m meta) bool {
	return s.cfg.Now().After(time.Unix(m.lastWrite(), 0).Add(s.cfg.TTL))
}

// touchEvery is how stale a backup's last write may get before a write of
// chunks records a new one: a backup being written never expires, at the
// cost of one record write per backup and touchEvery.
func (s *Server) touchEvery() time.Duration { return min(s.cfg.TTL/8, time.Hour) }

// touch records a write to backup id (whose record was m) if the last one
// recorded is older than touchEvery.
func (s *Server) touch(ctx context.Context, id [IDSize]byte, m meta) error {
	if !s.stale(m) {
		return nil
	}
	defer s.lockBackup(id)()
	m, err := s.loadMetaLocked(ctx, id)
	if err != nil {
		return err
	}
	return s.touchLocked(ctx, id, m)
}

func (s *Server) stale(m meta) bool {
	return s.cfg.Now().Sub(time.Unix(m.lastWrite(), 0)) >= s.touchEvery()
}

// touchLocked is touch for a caller that holds id's backup lock and has
// just loaded m.
func (s *Server) touchLocked(ctx context.Context, id [IDSize]byte, m meta) error {
	if !s.stale(m) {
		return nil
	}
	m.Touched = s.cfg.Now().Unix()
	return s.saveMetaLocked(ctx, id, m)
}

// saveMetaLocked writes a backup's record. Caller holds id's backup lock.
func (s *Server) saveMetaLocked(ctx context.Context, id [IDSize]byte, m meta) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("backup record: %w", err)
	}
	err = s.put(ctx, backupKey(id, "meta"), b)
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.backups[id]
	if l == nil {
		l = &live{}
		s.backups[id] = l
	}
	// After a failed write the store may hold either version: read it again.
	l.meta, l.metaOK = m, err == nil
	return err
}

// ownedLocked returns the record of a backup acct owns. A backup that does
// not exist is created for acct when backups >= 0 (the number acct holds:
// creating one more must stay within MaxBackups), else ErrNotFound.
// created says it was created now. Caller holds acct's lock and id's.
func (s *Server) ownedLocked(ctx context.Context, acct string, id [IDSize]byte, backups int) (m meta, created bool, err error) {
	m, err = s.loadMetaLocked(ctx, id)
	switch {
	case err == nil:
		if m.Owner != acct {
			return meta{}, false, ErrForbidden
		}
		return m, false, nil
	case !errors.Is(err, ErrNotFound) || backups < 0:
		return meta{}, false, err
	case backups >= s.cfg.MaxBackups:
		return meta{}, false, fmt.Errorf("%d backups, the most one device may keep: %w", backups, ErrQuota)
	}
	if err := s.mayCreate(ipOf(ctx)); err != nil {
		return meta{}, false, err
	}
	// The account's marker first: a record without one would be neither
	// listed nor swept, whereas a marker without a record is dropped.
	if err := s.put(ctx, markerKey(acct, id), nil); err != nil {
		return meta{}, false, err
	}
	now := s.cfg.Now().Unix()
	m = meta{Owner: acct, Created: now}
	if err := s.saveMetaLocked(ctx, id, m); err != nil {
		return meta{}, false, err
	}
	s.mu.Lock()
	if ids, ok := s.accounts[acct]; ok && !slices.Contains(ids, id) {
		s.accounts[acct] = append(ids, id)
	}
	s.mu.Unlock()
	return m, true, nil
}

// usage is what acct stores in all (recorded sizes plus chunks no
// manifest accounts for yet) and how many backups it holds. Caller holds
// acct's lock, and no backup's.
func (s *Server) usage(ctx context.Context, acct string) (bytes int64, backups int, err error) {
	ids, err := s.accountBackups(ctx, acct)
	if err != nil {
		return 0, 0, err
	}
	for _, id := range ids {
		m, err := s.loadMeta(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return 0, 0, err
		}
		if m.Owner != acct {
			continue
		}
		pending, err := s.pending(ctx, id, m)
		if err != nil {
			return 0, 0, err
		}
		bytes += m.Size + pending
		backups++
	}
	return bytes, backups, nil
}

// pending returns the bytes of backup id that its recorded size does not
// count: chunks put since its last manifest, including, once per process,
// those an earlier relay process stored (uploads cut off by a restart), so
// that a restart does not reset quotas.
func (s *Server) pending(ctx context.Context, id [IDSize]byte, m meta) (int64, error) {
	s.mu.Lock()
	if l := s.backups[id]; l != nil && l.counted {
		defer s.mu.Unlock()
		return l.pending, nil
	}
	s.mu.Unlock()
	objs, err := s.store.List(ctx, backupDir(id)+"/")
	if err != nil {
		return 0, fmt.Errorf("count backup: %w", err)
	}
	var total int64
	for _, o := range objs {
		if o.Key != backupKey(id, "meta") && o.Key != backupKey(id, "guard") {
			total += o.Size
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.backups[id]
	if l == nil {
		return 0, nil // removed meanwhile
	}
	l.pending = max(l.pending, total-m.Size)
	l.counted = true
	return l.pending, nil
}

// accountBackups lists the backup IDs acct has markers for. Caller holds
// acct's lock.
func (s *Server) accountBackups(ctx context.Context, acct string) ([][IDSize]byte, error) {
	s.mu.Lock()
	ids, ok := s.accounts[acct]
	s.mu.Unlock()
	if ok {
		return slices.Clone(ids), nil
	}
	objs, err := s.store.List(ctx, accountDir(acct))
	if err != nil {
		return nil, fmt.Errorf("list account: %w", err)
	}
	for _, o := range objs {
		var id [IDSize]byte
		if lastKeyHex(id[:], o.Key) {
			ids = append(ids, id)
		}
	}
	s.mu.Lock()
	s.accounts[acct] = slices.Clone(ids)
	s.mu.Unlock()
	return ids, nil
}

// dropMarker forgets that acct holds id. Caller holds acct's lock.
func (s *Server) dropMarker(ctx context.Context, acct string, id [IDSize]byte) error {
	s.mu.Lock()
	if ids, ok := s.accounts[acct]; ok {
		s.accounts[acct] = slices.DeleteFunc(ids, func(x [IDSize]byte) bool { return x == id })
	}
	s.mu.Unlock()
	if err := s.store.Delete(ctx, markerKey(acct, id)); err != nil {
		return fmt.Errorf("delete account entry: %w", err)
	}
	return nil
}

func (s *Server) putChunk(ctx context.Context, acct string, id [IDSize]byte, name [NameSize]byte, data []byte) error {
	key := chunkKey(id, name)
	n := int64(len(data))
	l, err := s.reserve(ctx, acct, id, key, n)
	if err != nil || l == nil {
		return err
	}
	err = s.put(ctx, key, data)
	s.mu.Lock()
	gone := s.backups[id] != l
	s.mu.Unlock()
	if err == nil && gone {
		// The backup was deleted (or expired) while the chunk was being
		// written, after the removal listed its chunks: the chunk must
		// not outlive it. The key is still ours (s.writing).
		if derr := s.store.Delete(ctx, key); derr != nil {
			s.log.Warn("vault: chunk of a removed backup left behind", "key", key, "err", derr)
		}
		err = fmt.Errorf("backup removed while a chunk was written: %w", ErrNotFound)
	}
	if err != nil {
		s.addTotal(-n)
	}
	s.mu.Lock()
	if !gone {
		l.inflight -= n
		if err != nil {
			l.pending -= n
		}
	}
	close(s.writing[key])
	delete(s.writing, key)
	s.mu.Unlock()
	return err
}

// reserve checks that acct may put n bytes under key in backup id (created
// if new) and counts them as pending. It returns nil, nil when key is
// stored already (names are keyed hashes of content: the same bytes).
// Otherwise key is marked as being written: the caller must release it.
func (s *Server) reserve(ctx context.Context, acct string, id [IDSize]byte, key string, n int64) (*live, error) {
	unlock := s.lockAccount(acct)
	for {
		s.mu.Lock()
		busy := s.writing[key]
		s.mu.Unlock()
		if busy == nil {
			break
		}
		// The same chunk is being written by another request of acct
		// (only the owner writes to a backup): wait for it, then look.
		unlock()
		select {
		case <-busy:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		unlock = s.lockAccount(acct)
	}
	defer unlock()
	used, backups, err := s.usage(ctx, acct)
	if err != nil {
		return nil, err
	}
	defer s.lockBackup(id)()
	m, created, err := s.ownedLocked(ctx, acct, id, backups)
	if err != nil {
		return nil, err
	}
	switch _, err := s.store.Stat(ctx, key); {
	case err == nil:
		return nil, nil
	case !errors.Is(err, vaultstore.ErrNotFound):
		return nil, fmt.Errorf("stat chunk: %w", err)
	}
	pending, err := s.pending(ctx, id, m)
	if err != nil {
		return nil, err
	}
	if created {
		used += pending // leftovers of an earlier backup of this ID
	}
	if used+n > s.cfg.Quota {
		return nil, ErrQuota
	}
	if m.Size+pending+n > s.cfg.MaxBackupSize {
		return nil, ErrTooLarge
	}
	if err := s.ensureTotal(ctx); err != nil {
		return nil, err
	}
	if err := s.takeTotal(n); err != nil {
		return nil, err
	}
	if err := s.touchLocked(ctx, id, m); err != nil {
		s.addTotal(-n)
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.backups[id]
	l.pending += n
	l.inflight += n
	s.writing[key] = make(chan struct{})
	return l, nil
}

// hasChunksByList is the number of names from which HasChunks lists the
// backup's chunks (one S3 request per 1000) rather than asking for each.
const hasChunksByList = 64

func (s *Server) hasChunks(ctx context.Context, acct string, id [IDSize]byte, names [][NameSize]byte) ([]byte, error) {
	bits := make([]byte, (len(names)+7)/8)
	m, err := s.loadMeta(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return bits, nil // a new backup holds nothing yet
	}
	if err != nil {
		return nil, err
	}
	if m.Owner != acct {
		return nil, ErrForbidden
	}
	// The owner is about to write: the backup must not expire meanwhile.
	if err := s.touch(ctx, id, m); err != nil {
		return nil, err
	}
	if len(names) >= hasChunksByList {
		stored, err := s.storedChunks(ctx, id)
		if err != nil {
			return nil, err
		}
		for i, n := range names {
			if _, ok := stored[n]; ok {
				bits[i/8] |= 1 << (i % 8)
			}
		}
		return bits, nil
	}
	for i, n := range names {
		_, err := s.store.Stat(ctx, chunkKey(id, n))
		switch {
		case err == nil:
			bits[i/8] |= 1 << (i % 8)
		case !errors.Is(err, vaultstore.ErrNotFound):
			return nil, fmt.Errorf("stat chunk: %w", err)
		}
	}
	return bits, nil
}

// storedChunks lists a backup's chunks with their sizes.
func (s *Server) storedChunks(ctx context.Context, id [IDSize]byte) (map[[NameSize]byte]int64, error) {
	objs, err := s.store.List(ctx, backupDir(id)+"/c/")
	if err != nil {
		return nil, fmt.Errorf("list chunks: %w", err)
	}
	stored := make(map[[NameSize]byte]int64, len(objs))
	for _, o := range objs {
		var n [NameSize]byte
		if lastKeyHex(n[:], o.Key) {
			stored[n] = o.Size
		}
	}
	return stored, nil
}

// getObject opens an object of a live backup; anyone who knows the ID may.
func (s *Server) getObject(ctx context.Context, id [IDSize]byte, key string, max int64) (io.ReadCloser, int64, error) {
	if _, err := s.loadMeta(ctx, id); err != nil {
		return nil, 0, err
	}
	return s.open(ctx, key, max)
}

func (s *Server) putManifest(ctx context.Context, acct string, id [IDSize]byte, names [][NameSize]byte, blob []byte) error {
	defer s.lockAccount(acct)()
	used, backups, err := s.usage(ctx, acct)
	if err != nil {
		return err
	}
	defer s.lockBackup(id)()
	m, created, err := s.ownedLocked(ctx, acct, id, backups)
	if err != nil {
		return err
	}
	stored, err := s.storedChunks(ctx, id)
	if err != nil {
		return err
	}
	size := int64(len(blob))
	for _, n := range names {
		sz, ok := stored[n]
		if !ok {
			return fmt.Errorf("chunk %x: %w", n[:8], ErrMissingChunks)
		}
		size += sz
	}
	switch sz, err := s.store.Stat(ctx, backupKey(id, "keyslot")); {
	case err == nil:
		size += sz
	case !errors.Is(err, vaultstore.ErrNotFound):
		return fmt.Errorf("stat key slot: %w", err)
	}
	if size > s.cfg.MaxBackupSize {
		return ErrTooLarge
	}
	pending, err := s.pending(ctx, id, m)
	if err != nil {
		return err
	}
	s.mu.Lock()
	inflight := s.backups[id].inflight
	s.mu.Unlock()
	// What acct will hold: this backup's new size (and chunks still being
	// written) in place of its old size and pending chunks.
	if !created {
		used -= m.Size + pending
	}
	if used+size+inflight > s.cfg.Quota {
		return ErrQuota
	}
	var oldManifest int64
	switch sz, err := s.store.Stat(ctx, backupKey(id, "manifest")); {
	case err == nil:
		oldManifest = sz
	case !errors.Is(err, vaultstore.ErrNotFound):
		return fmt.Errorf("stat manifest: %w", err)
	}
	if err := s.ensureTotal(ctx); err != nil {
		return err
	}
	if err := s.takeTotal(int64(len(blob)) - oldManifest); err != nil {
		return err
	}
	if err := s.put(ctx, backupKey(id, "manifest"), blob); err != nil {
		s.addTotal(oldManifest - int64(len(blob)))
		return err
	}
	m.Size, m.Updated = size, s.cfg.Now().Unix()
	if err := s.saveMetaLocked(ctx, id, m); err != nil {
		return err
	}
	s.mu.Lock()
	l := s.backups[id]
	l.pending, l.counted = l.inflight, true
	s.mu.Unlock()
	// Chunks the new manifest does not name are garbage now. A chunk
	// stored since the listing is not touched: it counts as pending.
	for n := range stored {
		if _, found := slices.BinarySearchFunc(names, n, func(a, b [NameSize]byte) int { return bytes.Compare(a[:], b[:]) }); !found {
			if err := s.store.Delete(ctx, chunkKey(id, n)); err != nil {
				// The manifest is in; the next one collects it.
				s.log.Warn("vault: delete unused chunk", "err", err)
			} else {
				s.addTotal(-stored[n])
			}
		}
	}
	return nil
}

// List returns acct's backups, ordered by ID.
func (s *Server) List(ctx context.Context, acct string) ([]Backup, error) {
	defer s.lockAccount(acct)()
	ids, err := s.accountBackups(ctx, acct)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(ids, func(a, b [IDSize]byte) int { return bytes.Compare(a[:], b[:]) })
	var out []Backup
	for _, id := range ids {
		m, err := s.loadMeta(ctx, id)
		if errors.Is(err, ErrNotFound) || err == nil && m.Owner != acct {
			// A marker left by a cut-off removal, or of a backup that
			// expired and was made anew by another device.
			if err := s.dropMarker(ctx, acct, id); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		pending, err := s.pending(ctx, id, m)
		if err != nil {
			return nil, err
		}
		out = append(out, Backup{ID: id, Updated: max(m.Updated, m.Created), Size: m.Size + pending})
	}
	return out, nil
}

func (s *Server) delete(ctx context.Context, acct string, id [IDSize]byte) error {
	defer s.lockAccount(acct)()
	defer s.lockBackup(id)()
	m, _, err := s.ownedLocked(ctx, acct, id, -1)
	if err != nil {
		return err
	}
	return s.removeLocked(ctx, id, m.Owner)
}

// removeLocked deletes a backup. Readers lose the key slot and the
// manifest first, so a restore stops at once; the record goes last, so a
// removal cut off (by an error or a crash) stays listed and counted
// against its owner until the next one (the owner's Delete, or expiry)
// finishes it. Caller holds id's backup lock.
func (s *Server) removeLocked(ctx context.Context, id [IDSize]byte, owner string) error {
	// Writers of chunks that started before see that the backup went,
	// and delete what they stored after the listing below.
	s.mu.Lock()
	delete(s.backups, id)
	s.mu.Unlock()
	all, err := s.store.List(ctx, backupDir(id)+"/")
	errs := []error{
		err,
		s.store.Delete(ctx, backupKey(id, "keyslot")),
		s.store.Delete(ctx, backupKey(id, "manifest")),
		s.store.Delete(ctx, backupKey(id, "guard")),
	}
	var freed int64
	for _, o := range all {
		if o.Key == backupKey(id, "meta") {
			continue
		}
		if strings.HasPrefix(o.Key, backupDir(id)+"/c/") {
			errs = append(errs, s.store.Delete(ctx, o.Key))
		}
		freed += o.Size
	}
	s.addTotal(-freed)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("delete backup: %w", err)
	}
	if err := s.store.Delete(ctx, backupKey(id, "meta")); err != nil {
		return fmt.Errorf("delete backup: %w", err)
	}
	s.mu.Lock()
	if ids, ok := s.accounts[owner]; ok {
		s.accounts[owner] = slices.DeleteFunc(ids, func(x [IDSize]byte) bool { return x == id })
	}
	s.mu.Unlock()
	if err := s.store.Delete(ctx, markerKey(owner, id)); err != nil {
		// The backup is gone; List or the sweep drops the marker.
		s.log.Warn("vault: delete account entry", "err", err)
	}
	return nil
}

func (s *Server) putKeySlot(ctx context.Context, acct string, id [IDSize]byte, k KeySlot) error {
	defer s.lockAccount(acct)()
	_, backups, err := s.usage(ctx, acct)
	if err != nil {
		return err
	}
	defer s.lockBackup(id)()
	m, _, err := s.ownedLocked(ctx, acct, id, backups)
	if err != nil {
		return err
	}
	if err := s.put(ctx, backupKey(id, "keyslot"), k.append(nil)); err != nil {
		return err
	}
	m.Fails, m.Locked, m.Touched = 0, false, s.cfg.Now().Unix()
	return s.saveMetaLocked(ctx, id, m)
}

// keySlot returns a live backup's key slot and its stored bytes.
func (s *Server) keySlot(ctx context.Context, id [IDSize]byte) (KeySlot, []byte, error) {
	m, err := s.loadMeta(ctx, id)
	if err != nil {
		return KeySlot{}, nil, err
	}
	if m.Locked {
		return KeySlot{}, nil, ErrLocked
	}
	b, err := s.readAll(ctx, backupKey(id, "keyslot"), maxKeySlot)
	if err != nil {
		return KeySlot{}, nil, err
	}
	k, err := parseKeySlot(b)
	if err != nil {
		return KeySlot{}, nil, fmt.Errorf("stored key slot: %w", err)
	}
	return k, b, nil
}

// maxKeySlot bounds a stored key slot.
const maxKeySlot = 1 << 10

// sweepBudget bounds the time one request spends sweeping: a round over
// many backups (after a restart, each record is read from the store) is
// spread over many requests instead of stalling one past its deadline.
const sweepBudget = 250 * time.Millisecond

// maybeSweep goes on with the current sweep round, or starts one when the
// last started SweepEvery ago, unless another request is sweeping.
func (s *Server) maybeSweep(ctx context.Context) {
	if !s.sweepMu.TryLock() {
		return
	}
	defer s.sweepMu.Unlock()
	if len(s.sweepTodo) == 0 {
		now := s.cfg.Now()
		if now.Sub(s.lastSweep) < s.cfg.SweepEvery {
			return
		}
		s.lastSweep = now
		s.recount(ctx)
		todo, err := s.store.List(ctx, "v1/a/")
		if err != nil {
			s.log.Warn("vault: sweep", "err", err)
			return
		}
		s.sweepTodo = todo
	}
	ctx, cancel := context.WithTimeout(ctx, sweepBudget)
	defer cancel()
	n, err := s.sweepSomeLocked(ctx)
	if err != nil {
		s.log.Warn("vault: sweep", "err", err)
	}
	if n > 0 {
		s.log.Info("vault: expired backups deleted", "count", n)
	}
}

// Sweep deletes every expired backup and returns how many it deleted.
func (s *Server) Sweep(ctx context.Context) (int, error) {
	s.sweepMu.Lock()
	defer s.sweepMu.Unlock()
	s.lastSweep = s.cfg.Now()
	todo, err := s.store.List(ctx, "v1/a/")
	if err != nil {
		return 0, fmt.Errorf("sweep: %w", err)
	}
	s.sweepTodo = todo
	return s.sweepSomeLocked(ctx)
}

// sweepSomeLocked looks at the account markers of the round in turn until
// none is left or ctx is done, deleting expired backups and markers that
// lead nowhere. Caller holds sweepMu.
func (s *Server) sweepSomeLocked(ctx context.Context) (int, error) {
	n := 0
	var errs []error
	for len(s.sweepTodo) > 0 && ctx.Err() == nil {
		key := s.sweepTodo[0].Key
		s.sweepTodo = s.sweepTodo[1:]
		var id [IDSize]byte
		if !lastKeyHex(id[:], key) {
			continue
		}
		acct := strings.TrimPrefix(key[:strings.LastIndexByte(key, '/')], "v1/a/")
		unlock := s.lockBackup(id)
		m, err := s.loadMetaLocked(ctx, id)
		switch {
		case errors.Is(err, errExpired):
			n++
		case err != nil && ctx.Err() != nil:
			// Out of time: this marker waits for the next turn.
			s.sweepTodo = slices.Insert(s.sweepTodo, 0, vaultstore.Object{Key: key})
		case errors.Is(err, ErrNotFound) || err == nil && m.Owner != acct:
			// A marker left by a cut-off removal: no record, or that of
			// a new backup of the ID by another device. Dropped under
			// the backup's lock, which a device making the backup holds
			// from writing its marker to writing its record.
			s.mu.Lock()
			if ids, ok := s.accounts[acct]; ok {
				s.accounts[acct] = slices.DeleteFunc(ids, func(x [IDSize]byte) bool { return x == id })
			}
			s.mu.Unlock()
			errs = append(errs, s.store.Delete(ctx, key))
		case err != nil:
			errs = append(errs, err)
		}
		unlock()
	}
	if len(s.sweepTodo) == 0 {
		s.sweepTodo = nil
	}
	if err := errors.Join(errs...); err != nil {
		return n, fmt.Errorf("sweep: %w", err)
	}
	return n, nil
}

// keyedMutex is a set of mutexes by key, each kept only while in use.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyedEntry // guarded by mu
}

type keyedEntry struct {
	mu   sync.Mutex
	refs int // guarded by keyedMutex.mu
}

// lock locks key's mutex and returns its unlock.
func (k *keyedMutex) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.m == nil {
		k.m = make(map[string]*keyedEntry)
	}
	e := k.m[key]
	if e == nil {
		e = &keyedEntry{}
		k.m[key] = e
	}
	e.refs++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}
