package chatstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Catching up: how the index follows the history. See the package doc,
// "Search index", for the rule; change.go for how changes are recorded.

// applySQL indexes the messages listed in temp.ix_batch again from their
// current rows: the old entry goes, and a new one comes for a message that
// is there, not deleted and not empty.
var applySQL = []string{
	`DELETE FROM main.fts WHERE rowid IN (SELECT d.n FROM temp.ix_batch b CROSS JOIN main.docs d ON d.id = b.id)`,
	`DELETE FROM main.docs WHERE id IN (SELECT id FROM temp.ix_batch)`,
	// CROSS JOIN keeps the batch (in ID order) as the outer loop: the
	// planner would otherwise walk all of h.messages to avoid a sort.
	`INSERT INTO main.docs (id) SELECT m.id FROM temp.ix_batch b CROSS JOIN h.messages m ON m.id = b.id
		WHERE m.deleted = 0 AND m.body != ''`,
	`INSERT INTO main.fts (rowid, body) SELECT d.n, ` + searchTextFunc + `(m.body)
		FROM temp.ix_batch b CROSS JOIN main.docs d ON d.id = b.id CROSS JOIN h.messages m ON m.id = b.id`,
	`DELETE FROM temp.ix_batch`,
}

// resetSQL empties the index and starts a walk over every message.
var resetSQL = []string{
	`DELETE FROM main.docs`,
	`DELETE FROM main.pending`,
	`INSERT INTO main.fts (fts) VALUES ('delete-all')`,
	`UPDATE main.meta SET v = 1 WHERE k = 'walk'`,
	`UPDATE main.meta SET v = x'' WHERE k = 'cursor'`,
}

// indexState is what the index knows about itself.
type indexState struct {
	history  string // identity of the history.db file it was built from
	walk     bool
	changing int64
	pending  bool
}

func readIndexState(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (indexState, error) {
	var st indexState
	err := q.QueryRowContext(ctx, `SELECT (SELECT v FROM main.meta WHERE k = 'history'),
		(SELECT v FROM main.meta WHERE k = 'walk'), (SELECT v FROM main.meta WHERE k = 'changing'),
		EXISTS (SELECT 1 FROM main.pending)`).Scan(&st.history, &st.walk, &st.changing, &st.pending)
	if err != nil {
		return indexState{}, dbErr("read search index state", err)
	}
	return st, nil
}

// Update brings the index up to date with the history: it indexes the
// messages recorded as changed since it was last current, and builds the
// index from scratch when it is new, was damaged, describes another
// history file, or a change of history ended without telling it. Work is
// done in small transactions, so an interrupted Update keeps what it did
// and the next one goes on from there; progress, when not nil, is called
// after each with the messages indexed so far and the total expected.
// Several processes may update at once: they share the work.
func (ix *Index) Update(ctx context.Context, progress func(done, total int64)) error {
	err := ix.update(ctx, progress)
	if errors.Is(err, ErrCorrupt) || errors.Is(err, ErrNotAStore) || errors.Is(err, errBadIndex) {
		// The index is rebuilt from the history, so a damaged one
		// is simply replaced (if the history is what is damaged, the
		// second attempt says so).
		ix.discard()
		err = ix.update(ctx, progress)
	}
	if err != nil {
		return fmt.Errorf("chatstore: update search index: %w", err)
	}
	return nil
}

// Behind counts the messages the next Update will index: none when the
// index is current. It costs a count of the messages not yet walked.
func (ix *Index) Behind(ctx context.Context) (int64, error) {
	conn, hist, err := ix.conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if err := ix.checkState(ctx, conn, hist); err != nil {
		return 0, err
	}
	return behind(ctx, conn)
}

func behind(ctx context.Context, conn *sql.Conn) (int64, error) {
	var n int64
	err := conn.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM main.pending) +
		CASE (SELECT v FROM main.meta WHERE k = 'walk') WHEN 1 THEN
			(SELECT count(*) FROM h.messages WHERE id > (SELECT v FROM main.meta WHERE k = 'cursor'))
		ELSE 0 END`).Scan(&n)
	if err != nil {
		return 0, dbErr("search index: count work", err)
	}
	return n, nil
}

func (ix *Index) update(ctx context.Context, progress func(done, total int64)) error {
	conn, hist, err := ix.conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := ix.checkState(ctx, conn, hist); err != nil {
		return err
	}
	st, err := readIndexState(ctx, conn)
	if err != nil {
		return err
	}
	if !st.walk && !st.pending {
		return nil
	}
	var total, done int64
	if progress != nil {
		if total, err = behind(ctx, conn); err != nil {
			return err
		}
		progress(0, total)
	}
	for {
		n, err := indexBatchOnce(ctx, conn)
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		done += n
		if progress != nil {
			progress(done, max(total, done))
		}
	}
}

// checkState starts a rebuild when the index describes another history
// file than hist, or records a change of history under way while no
// process holds the home's write lock (its writer stopped between its
// commit and telling the index what it changed).
func (ix *Index) checkState(ctx context.Context, conn *sql.Conn, hist string) error {
	st, err := readIndexState(ctx, conn)
	if err != nil {
		return err
	}
	home := ix.st.Home()
	if st.history == hist && (st.changing == 0 || writerActive(home)) {
		return nil
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return dbErr("search index: begin", err)
	}
	defer tx.Rollback()
	if st, err = readIndexState(ctx, tx); err != nil {
		return err
	}
	crashed := st.changing > 0 && !writerActive(home)
	if st.history == hist && !crashed {
		return nil // another process saw to it
	}
	for _, q := range resetSQL {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return dbErr("search index: reset", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE main.meta SET v = ? WHERE k = 'history'`, hist); err != nil {
		return dbErr("search index: reset", err)
	}
	if crashed {
		if _, err := tx.ExecContext(ctx, `UPDATE main.meta SET v = 0 WHERE k = 'changing'`); err != nil {
			return dbErr("search index: reset", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return dbErr("search index: reset", err)
	}
	return nil
}

// indexBatchOnce indexes up to indexBatch messages in one transaction: the
// pending ones first, then the next of the walk. It returns how many it
// took on; 0 means there is nothing left to do.
func indexBatchOnce(ctx context.Context, conn *sql.Conn) (int64, error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return 0, dbErr("search index: begin", err)
	}
	defer tx.Rollback()
	exec := func(q string, args ...any) (int64, error) {
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return 0, dbErr("search index: update", err)
		}
		return res.RowsAffected()
	}
	n, err := exec(`INSERT INTO temp.ix_batch (id) SELECT id FROM main.pending ORDER BY id LIMIT ?`, indexBatch)
	if err != nil {
		return 0, err
	}
	if n > 0 {
		if _, err := exec(`DELETE FROM main.pending WHERE id IN (SELECT id FROM temp.ix_batch)`); err != nil {
			return 0, err
		}
	} else {
		var walk bool
		if err := tx.QueryRowContext(ctx, `SELECT v FROM main.meta WHERE k = 'walk'`).Scan(&walk); err != nil {
			return 0, dbErr("search index: update", err)
		}
		if !walk {
			return 0, nil
		}
		if n, err = exec(`INSERT INTO temp.ix_batch (id) SELECT id FROM h.messages
			WHERE id > (SELECT v FROM main.meta WHERE k = 'cursor') ORDER BY id LIMIT ?`, indexBatch); err != nil {
			return 0, err
		}
		if _, err := exec(`UPDATE main.meta SET v = coalesce((SELECT max(id) FROM temp.ix_batch), v) WHERE k = 'cursor'`); err != nil {
			return 0, err
		}
		if n < indexBatch {
			if _, err := exec(`UPDATE main.meta SET v = 0 WHERE k = 'walk'`); err != nil {
				return 0, err
			}
		}
	}
	for _, q := range applySQL {
		if _, err := exec(q); err != nil {
			return 0, err
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, dbErr("search index: commit", err)
	}
	return n, nil
}
