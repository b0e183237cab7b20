package chatstore

import (
	"context"
	"database/sql"
)

// wouldAddSQL counts the conversations, messages and attachments of schema
// snap whose IDs main lacks: the rows a merge inserts (mergeSQL upserts by
// ID, so a row whose ID main holds only updates it).
const wouldAddSQL = `SELECT
	(SELECT count(*) FROM snap.conversations s WHERE NOT EXISTS (SELECT 1 FROM main.conversations m WHERE m.id = s.id)),
	(SELECT count(*) FROM snap.messages s WHERE NOT EXISTS (SELECT 1 FROM main.messages m WHERE m.id = s.id)),
	(SELECT count(*) FROM snap.attachments s WHERE NOT EXISTS (SELECT 1 FROM main.attachments m WHERE m.id = s.id))`

// WouldAdd counts what MergeWritten(ctx, w) would add to the store now
// (its MergeResult), without changing anything: the database w wrote (and
// closed) is attached read-only and compared with the store's by ID, in
// one read transaction. It works on a read-only store too.
func (s *Store) WouldAdd(ctx context.Context, w *Writer) (MergeResult, error) {
	p, err := w.written()
	if err != nil {
		return MergeResult{}, err
	}
	var res MergeResult
	err = s.attached(ctx, p, func(conn *sql.Conn) error {
		tx, err := conn.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			return dbErr("count what a merge would add", err)
		}
		defer tx.Rollback()
		if err := tx.QueryRowContext(ctx, wouldAddSQL).Scan(&res.Conversations, &res.Messages, &res.Attachments); err != nil {
			return dbErr("count what a merge would add", err)
		}
		return nil
	})
	if err != nil {
		return MergeResult{}, err
	}
	return res, nil
}
