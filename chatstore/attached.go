package chatstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ErrNoAttachment means no attachment has the ID asked for.
var ErrNoAttachment = errors.New("chatstore: no such attachment")

// AttachedFile reads one attachment by its ID: how a reader that lists a
// message's files (the browser app) fetches one of them again. The file's
// bytes are at MediaPath(Hash); its Name and MIME came from the sender.
func (s *Store) AttachedFile(ctx context.Context, id ID) (AttachedFile, error) {
	var f AttachedFile
	err := s.readTx(ctx, "read attachment", func(tx *sql.Tx) error {
		var idb, hash []byte
		err := tx.QueryRowContext(ctx, `SELECT id, name, mime, size, hash FROM attachments WHERE id = ?`, id[:]).
			Scan(&idb, &f.Name, &f.MIME, &f.Size, &hash)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("attachment %s: %w", id, ErrNoAttachment)
		}
		if err != nil {
			return err
		}
		if f.ID, err = idFrom(idb); err != nil {
			return err
		}
		if len(hash) != len(f.Hash) || f.Size < 0 {
			return fmt.Errorf("attachment %s: bad row: %w", id, ErrCorrupt)
		}
		copy(f.Hash[:], hash)
		return nil
	})
	if err != nil {
		return AttachedFile{}, err
	}
	return f, nil
}
