package chatstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// The hook through which every change of history reaches the search index.
// A function that inserts or changes messages (Merge, Seed, an importer)
// brackets its transaction on conn with it:
//
//	ch := s.trackChanges(ctx, conn)
//	defer ch.done(ctx)
//	tx, err := conn.BeginTx(ctx, nil)
//	...
//
// trackChanges first counts a change under way in the index file (durably,
// before the history transaction can commit: a crash after that commit
// leaves the count, and the index is then rebuilt), then installs TEMP
// triggers on conn that record the ID of every message row inserted or
// updated in temp.ferry_changed. TEMP objects live in the connection only:
// the history file, its snapshots and its digest never see them. done hands
// the IDs to the index's pending list (or, past maxQueued, schedules a
// rebuild, which costs less than indexing most of the history twice) and
// takes the change off the count, in one index transaction; a rolled-back
// change recorded nothing. No indexing happens here: the commit never waits
// for it. Failing to reach the index never fails the change: the index is
// then removed, to be rebuilt.

// maxQueued is the largest change whose messages are queued one by one.
const maxQueued = 100_000

// trackSQL installs the recording on a connection; untrackSQL removes it.
var (
	trackSQL = []string{
		`CREATE TEMP TABLE IF NOT EXISTS ferry_changed (id BLOB PRIMARY KEY) WITHOUT ROWID`,
		`DELETE FROM temp.ferry_changed`,
		`CREATE TEMP TRIGGER IF NOT EXISTS ferry_changed_insert AFTER INSERT ON main.messages
			BEGIN INSERT OR IGNORE INTO temp.ferry_changed (id) VALUES (new.id); END`,
		`CREATE TEMP TRIGGER IF NOT EXISTS ferry_changed_update AFTER UPDATE ON main.messages
			BEGIN INSERT OR IGNORE INTO temp.ferry_changed (id) VALUES (new.id); END`,
	}
	untrackSQL = []string{
		`DROP TRIGGER IF EXISTS temp.ferry_changed_insert`,
		`DROP TRIGGER IF EXISTS temp.ferry_changed_update`,
		`DELETE FROM temp.ferry_changed`,
	}
)

// fullSQL says whether temp.ferry_changed holds more than maxQueued IDs.
var fullSQL = fmt.Sprintf(`SELECT EXISTS (SELECT 1 FROM temp.ferry_changed LIMIT 1 OFFSET %d)`, maxQueued)

// change is one change of history being tracked for the index.
type change struct {
	conn  *sql.Conn
	index string  // the index file
	db    *sql.DB // the index; nil when it could not be reached
}

// trackChanges starts tracking a change made on conn; see above.
func (s *Store) trackChanges(ctx context.Context, conn *sql.Conn) *change {
	ch := &change{conn: conn, index: filepath.Join(s.home, IndexName)}
	db, err := openIndexDB(ctx, ch.index)
	if err == nil {
		db.SetMaxOpenConns(1) // so that the pragma below stays with it
		// This write must reach the disk before the history commits.
		_, err = db.ExecContext(ctx, `UPDATE meta SET v = v + 1 WHERE k = 'changing'`)
		if err != nil {
			db.Close()
		}
	}
	if err != nil {
		if ctx.Err() == nil { // a cancelled change does not happen
			removeIndex(ch.index)
		}
		return ch
	}
	ch.db = db
	for _, q := range trackSQL {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			// Untracked, the change would leave the index behind
			// without knowing it.
			ch.rebuild(ctx)
			return ch
		}
	}
	return ch
}

// done ends the tracking after the change committed or rolled back.
func (ch *change) done(ctx context.Context) {
	RemoveSendCache(filepath.Dir(ch.index))
	if ch.db == nil {
		return
	}
	defer ch.db.Close()
	ctx = context.WithoutCancel(ctx)
	// More than maxQueued: the IDs are not read (a merge of new history
	// records a hundred thousand and more).
	var (
		full bool
		ids  [][]byte
	)
	err := ch.conn.QueryRowContext(ctx, fullSQL).Scan(&full)
	if err == nil && !full {
		ids, err = ch.changed(ctx)
	}
	for _, q := range untrackSQL {
		ch.conn.ExecContext(ctx, q)
	}
	// What follows need not reach the disk at once: lost in a power cut,
	// it leaves the change counted, and the index is rebuilt.
	ch.db.ExecContext(ctx, "PRAGMA synchronous=NORMAL")
	if err != nil || full || len(ids) > maxQueued {
		ch.rebuild(ctx)
		return
	}
	if err := ch.queue(ctx, ids); err != nil {
		removeIndex(ch.index)
	}
}

// changed reads the IDs recorded, or more than maxQueued of them when the
// change was larger.
func (ch *change) changed(ctx context.Context) ([][]byte, error) {
	rows, err := ch.conn.QueryContext(ctx, `SELECT id FROM temp.ferry_changed ORDER BY id LIMIT ?`, maxQueued+1)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids [][]byte
	for rows.Next() {
		var id []byte
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// queue adds ids to the index's pending list and ends the change.
func (ch *change) queue(ctx context.Context, ids [][]byte) error {
	tx, err := ch.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	const rows = 500
	for len(ids) > 0 {
		n := min(rows, len(ids))
		args := make([]any, n)
		for i := range args {
			args[i] = ids[i]
		}
		ids = ids[n:]
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO pending (id) VALUES `+rowPlaceholders(n), args...); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE meta SET v = v - 1 WHERE k = 'changing' AND v > 0`); err != nil {
		return err
	}
	return tx.Commit()
}

// rebuild schedules a rebuild of the index and ends the change.
func (ch *change) rebuild(ctx context.Context) {
	resetIndex(ctx, ch.db, ch.index, `UPDATE meta SET v = v - 1 WHERE k = 'changing' AND v > 0`)
}

// historyReplaced is Adopt's hook: the history is a new file, so the index
// starts over (a cheap reset: the store was empty).
func (s *Store) historyReplaced(ctx context.Context) {
	RemoveSendCache(s.home)
	path := filepath.Join(s.home, IndexName)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return // the first search builds one
	}
	db, err := openIndexDB(ctx, path)
	if err != nil {
		removeIndex(path)
		return
	}
	defer db.Close()
	resetIndex(ctx, db, path)
}

// resetIndex schedules a rebuild of the index in db, running the extra
// statements in the same transaction; if it cannot, it removes the file.
func resetIndex(ctx context.Context, db *sql.DB, path string, extra ...string) {
	tx, err := db.BeginTx(ctx, nil)
	if err == nil {
		defer tx.Rollback()
		for _, q := range slices.Concat(resetSQL, extra) {
			if _, err = tx.ExecContext(ctx, q); err != nil {
				break
			}
		}
		if err == nil {
			err = tx.Commit()
		}
	}
	if err != nil {
		removeIndex(path)
	}
}

func rowPlaceholders(n int) string {
	b := make([]byte, 0, 4*n)
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, "(?)"...)
	}
	return string(b)
}
