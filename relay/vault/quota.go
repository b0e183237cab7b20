package vault

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ferryhq/ferry/relay/vaultproto"
	"github.com/ferryhq/ferry/relay/vaultstore"
)

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
		if errors.Is(err, vaultproto.ErrNotFound) {
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
func (s *Server) pending(ctx context.Context, id [vaultproto.IDSize]byte, m meta) (int64, error) {
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
func (s *Server) accountBackups(ctx context.Context, acct string) ([][vaultproto.IDSize]byte, error) {
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
		var id [vaultproto.IDSize]byte
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
func (s *Server) dropMarker(ctx context.Context, acct string, id [vaultproto.IDSize]byte) error {
	s.mu.Lock()
	if ids, ok := s.accounts[acct]; ok {
		s.accounts[acct] = slices.DeleteFunc(ids, func(x [vaultproto.IDSize]byte) bool { return x == id })
	}
	s.mu.Unlock()
	if err := s.store.Delete(ctx, markerKey(acct, id)); err != nil {
		return fmt.Errorf("delete account entry: %w", err)
	}
	return nil
}

// reserve checks that acct may put n bytes under key in backup id (created
// if new) and counts them as pending. It returns nil, nil when key is
// stored already (names are keyed hashes of content: the same bytes).
// Otherwise key is marked as being written: the caller must release it.
func (s *Server) reserve(ctx context.Context, acct string, id [vaultproto.IDSize]byte, key string, n int64) (*live, error) {
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
		return nil, vaultproto.ErrQuota
	}
	if m.Size+pending+n > s.cfg.MaxBackupSize {
		return nil, vaultproto.ErrTooLarge
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

// The vault's total (Config.MaxTotal): the bytes under v1/b/ as one
// listing counts them, at the first write and again at each sweep round,
// kept up to date in between by this process's writes and removals
// (chunks, reserved when their upload is admitted; manifests). Other relay
// processes on the same store are seen at the next count.

// ensureTotal counts the vault's bytes if they are not counted yet (once:
// the first writes after a start wait for one count).
func (s *Server) ensureTotal(ctx context.Context) error {
	s.countMu.Lock()
	defer s.countMu.Unlock()
	s.mu.Lock()
	ok := s.totalOK
	s.mu.Unlock()
	if ok {
		return nil
	}
	return s.countTotal(ctx)
}

// recountBudget bounds the count of a sweep round: a store too large to
// list in that time keeps the total this process keeps up to date.
const recountBudget = 5 * time.Second

// recount counts the vault's bytes anew, within recountBudget, unless a
// count is under way.
func (s *Server) recount(ctx context.Context) {
	if !s.countMu.TryLock() {
		return
	}
	defer s.countMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, recountBudget)
	defer cancel()
	if err := s.countTotal(ctx); err != nil {
		s.log.Warn("vault: count the vault's bytes", "err", err)
	}
}

// countTotal counts the vault's bytes anew: what the store lists, and the
// chunks being written. Caller holds countMu.
func (s *Server) countTotal(ctx context.Context) error {
	objs, err := s.store.List(ctx, "v1/b/")
	if err != nil {
		return fmt.Errorf("count the vault: %w", err)
	}
	var n int64
	for _, o := range objs {
		n += o.Size
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.backups {
		n += l.inflight
	}
	s.total, s.totalOK = n, true
	return nil
}

// takeTotal counts n more bytes, unless that passes MaxTotal (ErrFull).
func (s *Server) takeTotal(n int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n > 0 && s.total+n > s.cfg.MaxTotal {
		return fmt.Errorf("%d of %d bytes held: %w", s.total, s.cfg.MaxTotal, vaultproto.ErrFull)
	}
	s.total += n
	return nil
}

// addTotal counts n more (or, negative, fewer) bytes.
func (s *Server) addTotal(n int64) {
	s.mu.Lock()
	s.total = max(s.total+n, 0)
	s.mu.Unlock()
}
