package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ferryhq/ferry/relay/vaultproto"
)

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

func (s *Server) lockBackup(id [vaultproto.IDSize]byte) (unlock func()) {
	return s.backupLocks.lock(string(id[:]))
}

func (s *Server) lockAccount(acct string) (unlock func()) { return s.accountLocks.lock(acct) }

// cached returns a backup's record if it is loaded.
func (s *Server) cached(id [vaultproto.IDSize]byte) (meta, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.backups[id]; l != nil && l.metaOK {
		return l.meta, true
	}
	return meta{}, false
}

// loadMeta returns the record of a live backup; ErrNotFound when there is
// none or it expired (then it is removed).
func (s *Server) loadMeta(ctx context.Context, id [vaultproto.IDSize]byte) (meta, error) {
	if m, ok := s.cached(id); ok && !s.expired(m) {
		return m, nil
	}
	defer s.lockBackup(id)()
	return s.loadMetaLocked(ctx, id)
}

// errExpired is the ErrNotFound of a backup that expired just now.
var errExpired = fmt.Errorf("backup expired: %w", vaultproto.ErrNotFound)

// loadMetaLocked is loadMeta for a caller that holds id's backup lock.
func (s *Server) loadMetaLocked(ctx context.Context, id [vaultproto.IDSize]byte) (meta, error) {
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
func (s *Server) touch(ctx context.Context, id [vaultproto.IDSize]byte, m meta) error {
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
func (s *Server) touchLocked(ctx context.Context, id [vaultproto.IDSize]byte, m meta) error {
	if !s.stale(m) {
		return nil
	}
	m.Touched = s.cfg.Now().Unix()
	return s.saveMetaLocked(ctx, id, m)
}

// saveMetaLocked writes a backup's record. Caller holds id's backup lock.
func (s *Server) saveMetaLocked(ctx context.Context, id [vaultproto.IDSize]byte, m meta) error {
	m.Version = metaVersion
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
func (s *Server) ownedLocked(ctx context.Context, acct string, id [vaultproto.IDSize]byte, backups int) (m meta, created bool, err error) {
	m, err = s.loadMetaLocked(ctx, id)
	switch {
	case err == nil:
		if m.Owner != acct {
			return meta{}, false, vaultproto.ErrForbidden
		}
		return m, false, nil
	case !errors.Is(err, vaultproto.ErrNotFound) || backups < 0:
		return meta{}, false, err
	case backups >= s.cfg.MaxBackups:
		return meta{}, false, fmt.Errorf("%d backups, the most one device may keep: %w", backups, vaultproto.ErrQuota)
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

// withOwned runs fn with the record of backup id, which acct owns (it is
// created for acct if new, within MaxBackups), holding acct's lock and
// id's.
func (s *Server) withOwned(ctx context.Context, acct string, id [vaultproto.IDSize]byte, fn func(m meta) error) error {
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
	return fn(m)
}
