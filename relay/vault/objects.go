package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/ferryhq/ferry/relay/vaultproto"
	"github.com/ferryhq/ferry/relay/vaultstore"
)

func (s *Server) putChunk(ctx context.Context, acct string, id [vaultproto.IDSize]byte, name [vaultproto.NameSize]byte, data []byte) error {
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
		err = fmt.Errorf("backup removed while a chunk was written: %w", vaultproto.ErrNotFound)
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

// hasChunksByList is the number of names from which HasChunks lists the
// backup's chunks (one S3 request per 1000) rather than asking for each.
const hasChunksByList = 64

func (s *Server) hasChunks(ctx context.Context, acct string, id [vaultproto.IDSize]byte, names [][vaultproto.NameSize]byte) ([]byte, error) {
	bits := make([]byte, (len(names)+7)/8)
	m, err := s.loadMeta(ctx, id)
	if errors.Is(err, vaultproto.ErrNotFound) {
		return bits, nil // a new backup holds nothing yet
	}
	if err != nil {
		return nil, err
	}
	if m.Owner != acct {
		return nil, vaultproto.ErrForbidden
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
func (s *Server) storedChunks(ctx context.Context, id [vaultproto.IDSize]byte) (map[[vaultproto.NameSize]byte]int64, error) {
	objs, err := s.store.List(ctx, backupDir(id)+"/c/")
	if err != nil {
		return nil, fmt.Errorf("list chunks: %w", err)
	}
	stored := make(map[[vaultproto.NameSize]byte]int64, len(objs))
	for _, o := range objs {
		var n [vaultproto.NameSize]byte
		if lastKeyHex(n[:], o.Key) {
			stored[n] = o.Size
		}
	}
	return stored, nil
}

// getObject opens an object of a live backup; anyone who knows the ID may.
func (s *Server) getObject(ctx context.Context, id [vaultproto.IDSize]byte, key string, max int64) (io.ReadCloser, int64, error) {
	if _, err := s.loadMeta(ctx, id); err != nil {
		return nil, 0, err
	}
	return s.open(ctx, key, max)
}

func (s *Server) putManifest(ctx context.Context, acct string, id [vaultproto.IDSize]byte, names [][vaultproto.NameSize]byte, blob []byte) error {
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
			return fmt.Errorf("chunk %x: %w", n[:8], vaultproto.ErrMissingChunks)
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
		return vaultproto.ErrTooLarge
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
		return vaultproto.ErrQuota
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
		if _, found := slices.BinarySearchFunc(names, n, func(a, b [vaultproto.NameSize]byte) int { return bytes.Compare(a[:], b[:]) }); !found {
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
func (s *Server) List(ctx context.Context, acct string) ([]vaultproto.Backup, error) {
	defer s.lockAccount(acct)()
	ids, err := s.accountBackups(ctx, acct)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(ids, func(a, b [vaultproto.IDSize]byte) int { return bytes.Compare(a[:], b[:]) })
	var out []vaultproto.Backup
	for _, id := range ids {
		m, err := s.loadMeta(ctx, id)
		if errors.Is(err, vaultproto.ErrNotFound) || err == nil && m.Owner != acct {
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
		out = append(out, vaultproto.Backup{ID: id, Updated: max(m.Updated, m.Created), Size: m.Size + pending})
	}
	return out, nil
}

func (s *Server) delete(ctx context.Context, acct string, id [vaultproto.IDSize]byte) error {
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
func (s *Server) removeLocked(ctx context.Context, id [vaultproto.IDSize]byte, owner string) error {
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
		s.accounts[owner] = slices.DeleteFunc(ids, func(x [vaultproto.IDSize]byte) bool { return x == id })
	}
	s.mu.Unlock()
	if err := s.store.Delete(ctx, markerKey(owner, id)); err != nil {
		// The backup is gone; List or the sweep drops the marker.
		s.log.Warn("vault: delete account entry", "err", err)
	}
	return nil
}
