package vault

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/subtle"
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
	// TTL is how long a backup lives after its last manifest (or key slot)
	// was written. Default 180 days.
	TTL time.Duration
	// MaxStreams bounds the requests served at once (reading and writing
	// the store). Others wait. Default 64.
	MaxStreams int
	// SweepEvery is how often expired backups are looked for, while
	// requests arrive. Default 1 hour.
	SweepEvery time.Duration
	// Logger receives log lines (never secrets). Nil discards them.
	Logger *slog.Logger
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

func (c *Config) setDefaults() {
	c.Quota = cmp.Or(c.Quota, 10<<30)
	c.MaxBackupSize = cmp.Or(c.MaxBackupSize, 8<<30)
	c.TTL = cmp.Or(c.TTL, 180*24*time.Hour)
	c.SweepEvery = cmp.Or(c.SweepEvery, time.Hour)
	c.MaxStreams = cmp.Or(c.MaxStreams, 64)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Server answers vault requests from one store.
type Server struct {
	// constant after construction
	cfg   Config
	store vaultstore.Store
	log   *slog.Logger
	slots chan struct{} // one per request being served

	// mu serialises every read-modify-write of a backup's bookkeeping.
	mu      sync.Mutex
	pending map[[IDSize]byte]int64 // guarded by mu: chunk bytes put since the last manifest
	counted map[[IDSize]byte]bool  // guarded by mu: pending includes what earlier processes left
	// Caches of the store, which this server alone writes: records by
	// backup, and backups by account (filled on first use).
	metas    map[[IDSize]byte]meta     // guarded by mu
	accounts map[string][][IDSize]byte // guarded by mu

	sweepMu   sync.Mutex // held while sweeping
	lastSweep time.Time  // guarded by sweepMu
}

// New returns a server for cfg. Register it on a host, or call Serve.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("vault: no store configured")
	}
	cfg.setDefaults()
	return &Server{cfg: cfg, store: cfg.Store, log: cfg.Logger, slots: make(chan struct{}, cfg.MaxStreams),
		pending: make(map[[IDSize]byte]int64), counted: make(map[[IDSize]byte]bool),
		metas: make(map[[IDSize]byte]meta), accounts: make(map[string][][IDSize]byte)}, nil
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

// requestTimeout bounds one request, read to answer.
const requestTimeout = 2 * time.Minute

// idleTimeout is how long a stream may wait for its next request.
const idleTimeout = time.Minute

// Serve answers the requests of one stream until the client closes it.
func (s *Server) Serve(st network.Stream) {
	from := st.Conn().RemotePeer()
	r := wire.NewReader(st)
	for {
		st.SetDeadline(time.Now().Add(idleTimeout))
		t, body, err := r.Next()
		if err == io.EOF {
			st.Close()
			return
		}
		if err != nil {
			st.Reset()
			return
		}
		st.SetDeadline(time.Now().Add(requestTimeout))
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		select {
		case s.slots <- struct{}{}:
		case <-ctx.Done():
			cancel()
			st.Reset()
			return
		}
		s.maybeSweep(ctx)
		err = s.answer(ctx, st, from, t, body)
		<-s.slots
		cancel()
		if err != nil {
			st.Reset()
			return
		}
	}
}

// answer serves one request and writes its answer to w; an error is one
// of writing, after which the stream is useless.
func (s *Server) answer(ctx context.Context, w io.Writer, from peer.ID, t wire.Type, body []byte) error {
	rt, rb, err := s.handle(ctx, from, t, body)
	if err != nil {
		code, msg := codeOf(err), err.Error()
		if code == codeInternal {
			// The cause stays in the relay's log, not on the wire.
			s.log.Error("vault request failed", "op", byte(t), "peer", from, "err", err)
			msg = ErrRelay.Error()
		}
		return wire.WriteError(w, code, msg)
	}
	return wire.Write(w, rt, rb)
}

// handle answers one request from account from.
func (s *Server) handle(ctx context.Context, from peer.ID, t wire.Type, body []byte) (wire.Type, []byte, error) {
	req, err := parseRequest(t, body)
	if err != nil {
		return 0, nil, err
	}
	acct := from.String()
	switch req.op {
	case opPutChunk:
		return rAck, nil, s.putChunk(ctx, acct, req.id, req.name, req.data)
	case opHasChunks:
		b, err := s.hasChunks(ctx, acct, req.id, req.names)
		return rBitmap, b, err
	case opGetChunk:
		b, err := s.getObject(ctx, req.id, chunkKey(req.id, req.name), MaxChunk)
		return rData, b, err
	case opPutManifest:
		return rAck, nil, s.putManifest(ctx, acct, req.id, req.names, req.data)
	case opGetManifest:
		b, err := s.getObject(ctx, req.id, backupKey(req.id, "manifest"), MaxManifest)
		return rData, b, err
	case opList:
		list, err := s.List(ctx, acct)
		return rBackups, appendBackups(nil, list), err
	case opDelete:
		return rAck, nil, s.delete(ctx, acct, req.id)
	case opPutKeySlot:
		return rAck, nil, s.putKeySlot(ctx, acct, req.id, req.slot)
	case opGetKeyParams:
		k, err := s.keySlot(ctx, req.id)
		if err != nil {
			return 0, nil, err
		}
		return rKeyParams, appendParams(nil, k.Params, k.Salt), nil
	case opGetKeySlot:
		w, err := s.unwrap(ctx, req.id, req.name)
		return rWrapped, w, err
	}
	return 0, nil, fmt.Errorf("%w: type %#x", errBadRequest, byte(t))
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

// meta is a backup's bookkeeping, kept as JSON next to it.
type meta struct {
	Owner   string `json:"owner"`
	Created int64  `json:"created"`
	Updated int64  `json:"updated"`
	Size    int64  `json:"size"`
	Fails   int    `json:"fails"`
	Locked  bool   `json:"locked"`
}

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

func (s *Server) readAll(ctx context.Context, key string, max int64) ([]byte, error) {
	rc, n, err := s.store.Get(ctx, key)
	if errors.Is(err, vaultstore.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	defer rc.Close()
	if n < 0 || n > max {
		return nil, fmt.Errorf("read %s: size %d: %w", key, n, ErrRelay)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(rc, b); err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	return b, nil
}

func (s *Server) put(ctx context.Context, key string, b []byte) error {
	if err := s.store.Put(ctx, key, bytes.NewReader(b), int64(len(b))); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}

// loadMetaLocked reads a backup's record; ErrNotFound when there is none
// or it expired (then the backup is deleted). Caller holds mu.
func (s *Server) loadMetaLocked(ctx context.Context, id [IDSize]byte) (meta, error) {
	m, ok := s.metas[id]
	if !ok {
		b, err := s.readAll(ctx, backupKey(id, "meta"), 1<<16)
		if err != nil {
			return meta{}, err
		}
		if m, err = parseMeta(b); err != nil {
			return meta{}, err
		}
		s.metas[id] = m
	}
	if s.expired(m) {
		if err := s.removeLocked(ctx, id, m.Owner); err != nil {
			return meta{}, err
		}
		return meta{}, ErrNotFound
	}
	return m, nil
}

func (s *Server) expired(m meta) bool {
	return s.cfg.Now().After(time.Unix(max(m.Updated, m.Created), 0).Add(s.cfg.TTL))
}

func (s *Server) saveMetaLocked(ctx context.Context, id [IDSize]byte, m meta) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := s.put(ctx, backupKey(id, "meta"), b); err != nil {
		delete(s.metas, id) // the store may hold either version
		return err
	}
	s.metas[id] = m
	return nil
}

// ownedLocked returns the record of a backup acct owns. A backup that does
// not exist is created for acct when create is set, else ErrNotFound.
// Caller holds mu.
func (s *Server) ownedLocked(ctx context.Context, acct string, id [IDSize]byte, create bool) (meta, error) {
	m, err := s.loadMetaLocked(ctx, id)
	switch {
	case err == nil:
		if m.Owner != acct {
			return meta{}, ErrForbidden
		}
		return m, nil
	case !errors.Is(err, ErrNotFound) || !create:
		return meta{}, err
	}
	now := s.cfg.Now().Unix()
	m = meta{Owner: acct, Created: now}
	if err := s.saveMetaLocked(ctx, id, m); err != nil {
		return meta{}, err
	}
	if err := s.put(ctx, accountDir(acct)+hex.EncodeToString(id[:]), nil); err != nil {
		return meta{}, err
	}
	if ids, ok := s.accounts[acct]; ok && !slices.Contains(ids, id) {
		s.accounts[acct] = append(ids, id)
	}
	return m, nil
}

// usageLocked is what acct stores in all: recorded sizes plus chunks put
// since each backup's last manifest. Caller holds mu.
func (s *Server) usageLocked(ctx context.Context, acct string) (int64, error) {
	ids, err := s.accountBackups(ctx, acct)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, id := range ids {
		m, err := s.loadMetaLocked(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return 0, err
		}
		if err := s.countLocked(ctx, id, m); err != nil {
			return 0, err
		}
		n += m.Size + s.pending[id]
	}
	return n, nil
}

// countLocked adds to pending, once per process and backup, the chunks no
// manifest accounts for that an earlier relay process stored (uploads cut
// off by a restart), so that a restart does not reset quotas. Caller holds
// mu.
func (s *Server) countLocked(ctx context.Context, id [IDSize]byte, m meta) error {
	if s.counted[id] {
		return nil
	}
	objs, err := s.store.List(ctx, backupDir(id)+"/")
	if err != nil {
		return fmt.Errorf("count backup: %w", err)
	}
	var total int64
	for _, o := range objs {
		if o.Key != backupKey(id, "meta") {
			total += o.Size
		}
	}
	s.pending[id] = max(s.pending[id], total-m.Size)
	s.counted[id] = true
	return nil
}

// accountBackups lists acct's backup IDs. Caller holds mu.
func (s *Server) accountBackups(ctx context.Context, acct string) ([][IDSize]byte, error) {
	if ids, ok := s.accounts[acct]; ok {
		return slices.Clone(ids), nil
	}
	objs, err := s.store.List(ctx, accountDir(acct))
	if err != nil {
		return nil, fmt.Errorf("list account: %w", err)
	}
	var ids [][IDSize]byte
	for _, o := range objs {
		var id [IDSize]byte
		h := o.Key[strings.LastIndexByte(o.Key, '/')+1:]
		if n, err := hex.Decode(id[:], []byte(h)); err != nil || n != IDSize {
			continue
		}
		ids = append(ids, id)
	}
	s.accounts[acct] = slices.Clone(ids)
	return ids, nil
}

func (s *Server) putChunk(ctx context.Context, acct string, id [IDSize]byte, name [NameSize]byte, data []byte) error {
	key := chunkKey(id, name)
	s.mu.Lock()
	m, err := s.ownedLocked(ctx, acct, id, true)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	if _, err := s.store.Stat(ctx, key); err == nil {
		s.mu.Unlock()
		return nil // already stored: content-named, so the same bytes
	}
	used, err := s.usageLocked(ctx, acct)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	n := int64(len(data))
	if used+n > s.cfg.Quota {
		s.mu.Unlock()
		return ErrQuota
	}
	if m.Size+s.pending[id]+n > s.cfg.MaxBackupSize {
		s.mu.Unlock()
		return ErrTooLarge
	}
	s.pending[id] += n
	s.mu.Unlock()
	if err := s.put(ctx, key, data); err != nil {
		s.mu.Lock()
		s.pending[id] -= n
		s.mu.Unlock()
		return err
	}
	return nil
}

func (s *Server) hasChunks(ctx context.Context, acct string, id [IDSize]byte, names [][NameSize]byte) ([]byte, error) {
	s.mu.Lock()
	_, err := s.ownedLocked(ctx, acct, id, false)
	s.mu.Unlock()
	bits := make([]byte, (len(names)+7)/8)
	if errors.Is(err, ErrNotFound) {
		return bits, nil // a new backup holds nothing yet
	}
	if err != nil {
		return nil, err
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

// getObject reads an object of a live backup; anyone who knows the ID may.
func (s *Server) getObject(ctx context.Context, id [IDSize]byte, key string, max int64) ([]byte, error) {
	s.mu.Lock()
	_, err := s.loadMetaLocked(ctx, id)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return s.readAll(ctx, key, max)
}

func (s *Server) putManifest(ctx context.Context, acct string, id [IDSize]byte, names [][NameSize]byte, blob []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.ownedLocked(ctx, acct, id, true)
	if err != nil {
		return err
	}
	size := int64(len(blob))
	for _, n := range names {
		sz, err := s.store.Stat(ctx, chunkKey(id, n))
		if errors.Is(err, vaultstore.ErrNotFound) {
			return fmt.Errorf("chunk %x: %w", n[:8], ErrMissingChunks)
		}
		if err != nil {
			return fmt.Errorf("stat chunk: %w", err)
		}
		size += sz
	}
	if sz, err := s.store.Stat(ctx, backupKey(id, "keyslot")); err == nil {
		size += sz
	}
	if size > s.cfg.MaxBackupSize {
		return ErrTooLarge
	}
	used, err := s.usageLocked(ctx, acct)
	if err != nil {
		return err
	}
	if used-m.Size-s.pending[id]+size > s.cfg.Quota {
		return ErrQuota
	}
	if err := s.put(ctx, backupKey(id, "manifest"), blob); err != nil {
		return err
	}
	m.Size, m.Updated = size, s.cfg.Now().Unix()
	if err := s.saveMetaLocked(ctx, id, m); err != nil {
		return err
	}
	delete(s.pending, id)
	// Chunks the new manifest does not name are garbage now.
	objs, err := s.store.List(ctx, backupDir(id)+"/c/")
	if err != nil {
		return nil // the manifest is in; garbage waits for the next one
	}
	for _, o := range objs {
		k := o.Key
		var n [NameSize]byte
		h := k[strings.LastIndexByte(k, '/')+1:]
		if c, err := hex.Decode(n[:], []byte(h)); err != nil || c != NameSize {
			continue
		}
		if _, found := slices.BinarySearchFunc(names, n, func(a, b [NameSize]byte) int { return bytes.Compare(a[:], b[:]) }); !found {
			s.store.Delete(ctx, k)
		}
	}
	return nil
}

// List returns acct's backups, ordered by ID.
func (s *Server) List(ctx context.Context, acct string) ([]Backup, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids, err := s.accountBackups(ctx, acct)
	if err != nil {
		return nil, err
	}
	var out []Backup
	for _, id := range ids {
		m, err := s.loadMetaLocked(ctx, id)
		if errors.Is(err, ErrNotFound) {
			s.store.Delete(ctx, accountDir(acct)+hex.EncodeToString(id[:]))
			s.accounts[acct] = slices.DeleteFunc(s.accounts[acct], func(x [IDSize]byte) bool { return x == id })
			continue
		}
		if err != nil {
			return nil, err
		}
		if m.Owner != acct {
			continue
		}
		if err := s.countLocked(ctx, id, m); err != nil {
			return nil, err
		}
		out = append(out, Backup{ID: id, Updated: max(m.Updated, m.Created), Size: m.Size + s.pending[id]})
	}
	return out, nil
}

func (s *Server) delete(ctx context.Context, acct string, id [IDSize]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.ownedLocked(ctx, acct, id, false)
	if err != nil {
		return err
	}
	return s.removeLocked(ctx, id, m.Owner)
}

// removeLocked deletes a backup: its record first, so that it is gone at
// once, then its other objects. Caller holds mu.
func (s *Server) removeLocked(ctx context.Context, id [IDSize]byte, owner string) error {
	if err := s.store.Delete(ctx, backupKey(id, "meta")); err != nil {
		return fmt.Errorf("delete backup: %w", err)
	}
	delete(s.pending, id)
	delete(s.counted, id)
	delete(s.metas, id)
	if ids, ok := s.accounts[owner]; ok {
		s.accounts[owner] = slices.DeleteFunc(ids, func(x [IDSize]byte) bool { return x == id })
	}
	var errs []error
	errs = append(errs, s.store.Delete(ctx, accountDir(owner)+hex.EncodeToString(id[:])))
	errs = append(errs, s.store.Delete(ctx, backupKey(id, "manifest")))
	errs = append(errs, s.store.Delete(ctx, backupKey(id, "keyslot")))
	objs, err := s.store.List(ctx, backupDir(id)+"/c/")
	errs = append(errs, err)
	for _, o := range objs {
		errs = append(errs, s.store.Delete(ctx, o.Key))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("delete backup: %w", err)
	}
	return nil
}

func (s *Server) putKeySlot(ctx context.Context, acct string, id [IDSize]byte, k KeySlot) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.ownedLocked(ctx, acct, id, true)
	if err != nil {
		return err
	}
	if err := s.put(ctx, backupKey(id, "keyslot"), k.append(nil)); err != nil {
		return err
	}
	m.Fails, m.Locked = 0, false
	return s.saveMetaLocked(ctx, id, m)
}

func (s *Server) keySlot(ctx context.Context, id [IDSize]byte) (KeySlot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.loadMetaLocked(ctx, id)
	if err != nil {
		return KeySlot{}, err
	}
	if m.Locked {
		return KeySlot{}, ErrLocked
	}
	return s.readKeySlot(ctx, id)
}

func (s *Server) readKeySlot(ctx context.Context, id [IDSize]byte) (KeySlot, error) {
	b, err := s.readAll(ctx, backupKey(id, "keyslot"), 1<<10)
	if err != nil {
		return KeySlot{}, err
	}
	k, err := parseKeySlot(b)
	if err != nil {
		return KeySlot{}, fmt.Errorf("stored key slot: %v: %w", err, ErrRelay)
	}
	return k, nil
}

// unwrap hands out the wrapped key for a right proof, and counts wrong ones.
func (s *Server) unwrap(ctx context.Context, id [IDSize]byte, proof [32]byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.loadMetaLocked(ctx, id)
	if err != nil {
		return nil, err
	}
	if m.Locked {
		return nil, ErrLocked
	}
	k, err := s.readKeySlot(ctx, id)
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256(proof[:])
	if subtle.ConstantTimeCompare(h[:], k.Verifier[:]) != 1 {
		m.Fails++
		m.Locked = m.Fails >= MaxFails
		if err := s.saveMetaLocked(ctx, id, m); err != nil {
			return nil, err
		}
		s.log.Warn("vault: wrong password proof", "backup", hex.EncodeToString(id[:]), "fails", m.Fails)
		return nil, ErrWrongPassword
	}
	if m.Fails != 0 {
		m.Fails = 0
		if err := s.saveMetaLocked(ctx, id, m); err != nil {
			return nil, err
		}
	}
	return k.Wrapped[:], nil
}

// maybeSweep sweeps when the last sweep is older than SweepEvery and no
// other request is sweeping.
func (s *Server) maybeSweep(ctx context.Context) {
	if !s.sweepMu.TryLock() {
		return
	}
	defer s.sweepMu.Unlock()
	now := s.cfg.Now()
	if now.Sub(s.lastSweep) < s.cfg.SweepEvery {
		return
	}
	s.lastSweep = now
	if n, err := s.sweep(ctx); err != nil {
		s.log.Warn("vault: sweep", "err", err)
	} else if n > 0 {
		s.log.Info("vault: expired backups deleted", "count", n)
	}
}

// Sweep deletes every expired backup and returns how many it deleted.
func (s *Server) Sweep(ctx context.Context) (int, error) {
	s.sweepMu.Lock()
	defer s.sweepMu.Unlock()
	s.lastSweep = s.cfg.Now()
	return s.sweep(ctx)
}

func (s *Server) sweep(ctx context.Context) (int, error) {
	objs, err := s.store.List(ctx, "v1/a/")
	if err != nil {
		return 0, fmt.Errorf("sweep: %w", err)
	}
	n := 0
	for _, o := range objs {
		k := o.Key
		var id [IDSize]byte
		h := k[strings.LastIndexByte(k, '/')+1:]
		if c, err := hex.Decode(id[:], []byte(h)); err != nil || c != IDSize {
			continue
		}
		s.mu.Lock()
		_, err := s.loadMetaLocked(ctx, id)
		if errors.Is(err, ErrNotFound) {
			s.store.Delete(ctx, k)
			n++
		}
		s.mu.Unlock()
	}
	return n, nil
}
