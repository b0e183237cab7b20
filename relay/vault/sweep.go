package vault

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ferryhq/ferry/relay/vaultproto"
	"github.com/ferryhq/ferry/relay/vaultstore"
)

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
		var id [vaultproto.IDSize]byte
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
		case errors.Is(err, vaultproto.ErrNotFound) || err == nil && m.Owner != acct:
			// A marker left by a cut-off removal: no record, or that of
			// a new backup of the ID by another device. Dropped under
			// the backup's lock, which a device making the backup holds
			// from writing its marker to writing its record.
			s.mu.Lock()
			if ids, ok := s.accounts[acct]; ok {
				s.accounts[acct] = slices.DeleteFunc(ids, func(x [vaultproto.IDSize]byte) bool { return x == id })
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
