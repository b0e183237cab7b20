package chatstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// multiInsert prepares "INSERT ... VALUES (?,..),(?,..) tail" for n rows.
func multiInsert(ctx context.Context, tx *sql.Tx, head, tail string, cols, n int) (*sql.Stmt, error) {
	row := "(" + strings.TrimSuffix(strings.Repeat("?,", cols), ",") + ")"
	q := head + " VALUES " + strings.TrimSuffix(strings.Repeat(row+",", n), ",") + tail
	st, err := tx.PrepareContext(ctx, q)
	if err != nil {
		return nil, dbErr("prepare insert", err)
	}
	return st, nil
}

// batcher buffers rows and flushes them with a multi-row statement.
type batcher struct {
	tx   *sql.Tx
	head string // INSERT INTO table (columns)
	tail string // after the VALUES: an upsert clause, or nothing
	cols int
	rows int // rows per statement; 0 means writeBatch
	full *sql.Stmt
	args []any
}

func (b *batcher) add(ctx context.Context, vals ...any) error {
	if len(vals) != b.cols {
		return fmt.Errorf("chatstore: insert: %d values for %d columns", len(vals), b.cols)
	}
	rows := b.rows
	if rows == 0 {
		rows = writeBatch
	}
	b.args = append(b.args, vals...)
	if len(b.args) == b.cols*rows {
		if b.full == nil {
			st, err := multiInsert(ctx, b.tx, b.head, b.tail, b.cols, rows)
			if err != nil {
				return err
			}
			b.full = st
		}
		if _, err := b.full.ExecContext(ctx, b.args...); err != nil {
			return dbErr("insert", err)
		}
		b.args = b.args[:0]
	}
	return nil
}

// close releases the prepared statement.
func (b *batcher) close() {
	if b.full != nil {
		b.full.Close()
		b.full = nil
	}
}

func (b *batcher) flush(ctx context.Context) error {
	defer b.close()
	if len(b.args) == 0 {
		return nil
	}
	st, err := multiInsert(ctx, b.tx, b.head, b.tail, b.cols, len(b.args)/b.cols)
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.ExecContext(ctx, b.args...); err != nil {
		return dbErr("insert", err)
	}
	b.args = b.args[:0]
	return nil
}
