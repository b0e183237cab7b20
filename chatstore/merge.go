package chatstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/ferryhq/ferry/internal/atomicfile"
)

// openSnapshotRO opens a standalone database file read-only and checks that
// it is a Ferry history database this code can read, with exactly Ferry's
// schema for its version (see schema.go), before any other query runs on it.
func openSnapshotRO(ctx context.Context, path string) (*sql.DB, error) {
	return openSnapshot(ctx, path, readFile)
}

// openSnapshot is openSnapshotRO with the access a.
func openSnapshot(ctx context.Context, path string, a access) (*sql.DB, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("chatstore: open snapshot: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("chatstore: open snapshot %s: not a file: %w", path, ErrNotAStore)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("chatstore: open snapshot: %w", err)
	}
	// Nothing else writes a snapshot file: waiting on a lock would only
	// stall on a hostile file (one claiming WAL mode, say).
	db, err := openSQLAccess(abs, a, snapshotBusyMillis)
	if err != nil {
		return nil, err
	}
	ver, err := checkHeader(ctx, db, false)
	if err == nil {
		err = checkSchema(ctx, db, "main", ver)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("chatstore: open snapshot: %w", err)
	}
	return db, nil
}

// CheckFile checks, without reading any row, that the database file at
// path is a Ferry history database of a version this code knows, with
// exactly Ferry's schema for that version: nil, or an error wrapping
// ErrNotAStore, ErrTooNew or ErrForeignSchema (see schema.go). It opens
// the file read-only.
func CheckFile(ctx context.Context, path string) error {
	db, err := openSnapshotRO(ctx, path)
	if err != nil {
		return err
	}
	return db.Close()
}

// validateSnapshot checks a snapshot file before it is merged or adopted:
// a Ferry database of a schema version we know, with exactly Ferry's schema,
// that passes integrity_check. Unlike quick_check, integrity_check also
// proves every index holds exactly its table's rows: an adopted file's
// indexes become the store's, and queries trust them.
func validateSnapshot(ctx context.Context, path string) error {
	// Not read-only: integrity_check skips CHECK constraints on a file
	// opened read-only. Query-only, so nothing is written.
	db, err := openSnapshot(ctx, path, queryFile)
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return dbErr("check snapshot", err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return dbErr("check snapshot", err)
		}
		if s != "ok" {
			problems = append(problems, s)
		}
	}
	if err := rows.Err(); err != nil {
		return dbErr("check snapshot", err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("chatstore: check snapshot: %s: %w", strings.Join(problems, "; "), ErrCorrupt)
	}
	return nil
}

// Checked is a database file from elsewhere that passed the checks Merge
// and Adopt make of one, as the file was when it passed them.
type Checked struct {
	path string
	fi   os.FileInfo
}

// CheckSnapshot makes the checks of a database file from elsewhere that
// Merge and Adopt make (its schema, integrity_check: a second or more at a
// million messages), so that a caller can run them ahead, while other work
// goes on; MergeChecked and AdoptChecked then skip them while the file is
// still the one checked.
func CheckSnapshot(ctx context.Context, path string) (Checked, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return Checked{}, fmt.Errorf("chatstore: check snapshot: %w", err)
	}
	if err := validateSnapshot(ctx, path); err != nil {
		return Checked{}, err
	}
	return Checked{path: path, fi: fi}, nil
}

// recheck checks c's file (again) unless it is still the file checked: the
// same file (device and inode), size and modification time. A Checked of
// a path alone (Merge's and Adopt's) was never checked.
func (c Checked) recheck(ctx context.Context) error {
	if c.fi != nil {
		if fi, err := os.Stat(c.path); err == nil && os.SameFile(fi, c.fi) && fi.Size() == c.fi.Size() && fi.ModTime().Equal(c.fi.ModTime()) {
			return nil
		}
	}
	return validateSnapshot(ctx, c.path)
}

// attached runs f on one connection that has snapshot attached read-only as
// schema "snap".
func (s *Store) attached(ctx context.Context, snapshot string, f func(*sql.Conn) error) error {
	return s.attachedConn(ctx, snapshot, false, f)
}

// attachedConn is attached; with discard, the connection is closed after
// it, not given back to the pool.
func (s *Store) attachedConn(ctx context.Context, snapshot string, discard bool, f func(*sql.Conn) error) error {
	db, err := s.handle()
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(snapshot)
	if err != nil {
		return err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return dbErr("connect", err)
	}
	defer conn.Close()
	p := filepath.ToSlash(abs)
	if filepath.VolumeName(abs) != "" {
		p = "/" + p
	}
	u := url.URL{Scheme: "file", Path: p, RawQuery: "mode=ro"}
	if _, err := conn.ExecContext(ctx, "ATTACH DATABASE ? AS snap", u.String()); err != nil {
		return dbErr("attach snapshot", err)
	}
	ferr := checkAttached(ctx, conn)
	if ferr == nil {
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA snap.cache_size=-%d", cacheKiB)); err != nil {
			ferr = dbErr("attach snapshot", err)
		}
	}
	if ferr == nil {
		ferr = f(conn)
	}
	// Use a fresh context: the connection must be detached even when ctx is done.
	if _, err := conn.ExecContext(context.Background(), "DETACH DATABASE snap"); err != nil {
		discard = true
		if ferr == nil {
			ferr = dbErr("detach snapshot", err)
		}
	}
	if discard {
		conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	return ferr
}

// checkAttached checks the database attached as snap on conn, as the file
// it is now: Ferry's, of a version we know, with exactly Ferry's schema.
// (validateSnapshot checked it by path before; this closes the gap between
// the two opens.)
func checkAttached(ctx context.Context, conn *sql.Conn) error {
	var app, ver int64
	err := conn.QueryRowContext(ctx, "PRAGMA snap.application_id").Scan(&app)
	if err == nil {
		err = conn.QueryRowContext(ctx, "PRAGMA snap.user_version").Scan(&ver)
	}
	switch {
	case err != nil:
		return dbErr("attach snapshot", err)
	case app != ApplicationID || ver < 1:
		return fmt.Errorf("chatstore: attach snapshot: application_id %#x, version %d: %w", app, ver, ErrNotAStore)
	case ver > int64(schemaVersion()):
		return fmt.Errorf("chatstore: attach snapshot: schema version %d: %w", ver, ErrTooNew)
	}
	if err := checkSchema(ctx, conn, "snap", int(ver)); err != nil {
		return fmt.Errorf("chatstore: attach snapshot: %w", err)
	}
	return nil
}

// The upsert clause of each table with mutable columns: the merge rules.
// Merge and Writer both use them, so rows of one import and rows of two
// stores combine alike. Immutable columns keep the target's value; mutable
// ones take the newer version (ties broken by content, so merging is
// commutative); deletions, the owner mark, omitted counts and a
// conversation's kind (direct, then group) only grow; a
// reply_to that one side lacks (an export that did not hold the message
// answered) is filled from the other.
const (
	contactNewer  = `(excluded.updated, excluded.name, excluded.phone) > (contacts.updated, contacts.name, contacts.phone)`
	contactUpsert = ` ON CONFLICT (id) DO UPDATE SET
		name = iif(` + contactNewer + `, excluded.name, contacts.name),
		phone = iif(` + contactNewer + `, excluded.phone, contacts.phone),
		updated = iif(` + contactNewer + `, excluded.updated, contacts.updated),
		self = max(excluded.self, contacts.self)
	WHERE ` + contactNewer + ` OR excluded.self > contacts.self`
	conversationNewer  = `(excluded.updated, excluded.title) > (conversations.updated, conversations.title)`
	conversationUpsert = ` ON CONFLICT (id) DO UPDATE SET
		title = iif(` + conversationNewer + `, excluded.title, conversations.title),
		updated = iif(` + conversationNewer + `, excluded.updated, conversations.updated),
		kind = max(excluded.kind, conversations.kind)
	WHERE ` + conversationNewer + ` OR excluded.kind > conversations.kind`
	messageNewer  = `(excluded.edited, excluded.body) > (messages.edited, messages.body)`
	messageUpsert = ` ON CONFLICT (id) DO UPDATE SET
		body = iif(` + messageNewer + `, excluded.body, messages.body),
		edited = max(excluded.edited, messages.edited),
		deleted = max(excluded.deleted, messages.deleted),
		omitted = max(excluded.omitted, messages.omitted),
		reply_to = coalesce(messages.reply_to, excluded.reply_to)
	WHERE ` + messageNewer + ` OR excluded.deleted > messages.deleted OR excluded.omitted > messages.omitted
		OR (messages.reply_to IS NULL AND excluded.reply_to IS NOT NULL)`
)

// Column lists, in schema order.
const (
	contactCols      = "id, name, phone, updated, source, native, self"
	conversationCols = "id, kind, title, created, updated, source, native"
	participantCols  = "conversation, contact"
	messageCols      = "id, conversation, sender, sent, received, body, reply_to, edited, deleted, kind, native, omitted"
	reactionCols     = "message, reactor, emoji"
	attachmentCols   = "id, message, hash, size, mime, name"
)

// mergeSQL merges schema snap, of schema version v, into main. Each
// statement is a set operation; all run in one transaction.
func mergeSQL(v int) []string {
	c := func(table, name string) string { return colIn(v, "", table, name) }
	return []string{
		`INSERT INTO main.contacts (` + contactCols + `)
	SELECT id, name, phone, updated, ` + c("contacts", "source") + `, ` + c("contacts", "native") + `, ` + c("contacts", "self") + `
	FROM snap.contacts WHERE true` + contactUpsert,

		`INSERT INTO main.conversations (` + conversationCols + `)
	SELECT id, kind, title, created, updated, ` + c("conversations", "source") + `, ` + c("conversations", "native") + `
	FROM snap.conversations WHERE true` + conversationUpsert,

		`INSERT OR IGNORE INTO main.participants (` + participantCols + `)
	SELECT conversation, contact FROM snap.participants`,

		`INSERT INTO main.messages (` + messageCols + `)
	SELECT id, conversation, sender, sent, received, body, reply_to, edited, deleted, ` +
			c("messages", "kind") + `, ` + c("messages", "native") + `, ` + c("messages", "omitted") + `
	FROM snap.messages WHERE true` + messageUpsert,

		`INSERT OR IGNORE INTO main.reactions (` + reactionCols + `)
	SELECT message, reactor, emoji FROM snap.reactions`,

		`INSERT OR IGNORE INTO main.attachments (` + attachmentCols + `)
	SELECT id, message, hash, size, mime, name FROM snap.attachments`,
	}
}

// Merge adds the history in the snapshot file to the store: idempotent
// (merging twice changes nothing the second time), atomic (one transaction),
// and done inside SQLite with set operations. The newer version of an edited
// message wins; deletions and reactions merge as unions. The caller installs
// the media first (see ListAttachments, InstallMedia).
func (s *Store) Merge(ctx context.Context, snapshot string) (MergeResult, error) {
	return s.MergeChecked(ctx, Checked{path: snapshot})
}

// MergeChecked is Merge of a file that CheckSnapshot checked.
func (s *Store) MergeChecked(ctx context.Context, c Checked) (MergeResult, error) {
	if s.readOnly {
		return MergeResult{}, fmt.Errorf("chatstore: merge: store is read-only")
	}
	if err := c.recheck(ctx); err != nil {
		return MergeResult{}, err
	}
	return s.merge(ctx, c.path)
}

// MergeWritten merges the database that w wrote (and closed) like Merge,
// without the checks Merge makes of a file from elsewhere: this process made
// it with the current schema.
func (s *Store) MergeWritten(ctx context.Context, w *Writer) (MergeResult, error) {
	if s.readOnly {
		return MergeResult{}, fmt.Errorf("chatstore: merge: store is read-only")
	}
	p, err := w.written()
	if err != nil {
		return MergeResult{}, err
	}
	return s.merge(ctx, p)
}

func (s *Store) merge(ctx context.Context, snapshot string) (MergeResult, error) {
	var res MergeResult
	// The merge's connection is closed when it is done, not given back to
	// the pool: SQLite reads several times slower on it afterwards
	// (measured: the containment check right after a merge of 500,000 new
	// messages into 500,000 took 9 s on the pool's connections, 2 s on
	// fresh ones).
	err := s.attachedConn(ctx, snapshot, true, func(conn *sql.Conn) error {
		// The connection's own page cache (cacheKiB): 32 MiB made a merge
		// of 500,000 new messages into 500,000 no faster (5.6 s against
		// 5.0–5.1 s) and took the import's peak RSS from 193 to 211 MiB.
		ch := s.trackChanges(ctx, conn)
		defer ch.done(ctx)
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return dbErr("begin merge", err)
		}
		defer tx.Rollback()
		v, err := schemaVersionOf(ctx, tx, "snap")
		if err != nil {
			return err
		}
		var c0, m0, a0, c1, m1, a1 int64
		const count = `SELECT (SELECT count(*) FROM main.conversations), (SELECT count(*) FROM main.messages),
			(SELECT count(*) FROM main.attachments)`
		if err := tx.QueryRowContext(ctx, count).Scan(&c0, &m0, &a0); err != nil {
			return dbErr("merge", err)
		}
		for _, q := range mergeSQL(v) {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return dbErr("merge", err)
			}
		}
		if err := tx.QueryRowContext(ctx, count).Scan(&c1, &m1, &a1); err != nil {
			return dbErr("merge", err)
		}
		if err := tx.Commit(); err != nil {
			return dbErr("commit merge", err)
		}
		res = MergeResult{Conversations: c1 - c0, Messages: m1 - m0, Attachments: a1 - a0}
		return nil
	})
	if err != nil {
		return MergeResult{}, err
	}
	return res, nil
}

// containsSQL counts, per table, rows of schema snap (of schema version v)
// that main lacks or holds with other content (a newer version of a
// mutable row counts as present).
func containsSQL(v int) []struct{ table, query string } {
	c := func(table, name string) string { return colIn(v, "s.", table, name) }
	return []struct{ table, query string }{
		{"contacts", `SELECT count(*) FROM snap.contacts s WHERE NOT EXISTS (SELECT 1 FROM main.contacts m
		WHERE m.id = s.id AND (m.updated, m.name, m.phone) >= (s.updated, s.name, s.phone)
		AND m.source = ` + c("contacts", "source") + ` AND m.native = ` + c("contacts", "native") + `
		AND m.self >= ` + c("contacts", "self") + `)`},
		{"conversations", `SELECT count(*) FROM snap.conversations s WHERE NOT EXISTS (SELECT 1 FROM main.conversations m
		WHERE m.id = s.id AND m.kind >= s.kind AND m.created = s.created AND (m.updated, m.title) >= (s.updated, s.title)
		AND m.source = ` + c("conversations", "source") + ` AND m.native = ` + c("conversations", "native") + `)`},
		{"participants", `SELECT count(*) FROM snap.participants s WHERE NOT EXISTS (SELECT 1 FROM main.participants m
		WHERE m.conversation = s.conversation AND m.contact = s.contact)`},
		{"messages", `SELECT count(*) FROM snap.messages s WHERE NOT EXISTS (SELECT 1 FROM main.messages m
		WHERE m.id = s.id AND m.conversation = s.conversation AND m.sender = s.sender AND m.sent = s.sent
		AND m.received = s.received AND (m.reply_to IS s.reply_to OR s.reply_to IS NULL)
		AND (m.edited, m.body) >= (s.edited, s.body) AND m.deleted >= s.deleted
		AND m.kind = ` + c("messages", "kind") + ` AND m.native = ` + c("messages", "native") + `
		AND m.omitted >= ` + c("messages", "omitted") + `)`},
		{"reactions", `SELECT count(*) FROM snap.reactions s WHERE NOT EXISTS (SELECT 1 FROM main.reactions m
		WHERE m.message = s.message AND m.reactor = s.reactor AND m.emoji = s.emoji)`},
		{"attachments", `SELECT count(*) FROM snap.attachments s WHERE NOT EXISTS (SELECT 1 FROM main.attachments m
		WHERE m.id = s.id AND m.message = s.message AND m.hash = s.hash AND m.size = s.size
		AND m.mime = s.mime AND m.name = s.name)`},
	}
}

// CheckContains returns an error wrapping ErrMissing unless every row of the
// snapshot is in the store with equal content (or a newer edit) and every
// media file it references is in place with the right size. The messages are
// checked in two key ranges on two connections at once.
func (s *Store) CheckContains(ctx context.Context, snapshot string) error {
	atts, err := ListAttachments(ctx, snapshot)
	if err != nil {
		return err
	}
	var (
		mid     []byte
		queries []struct{ table, query string }
	)
	err = s.attached(ctx, snapshot, func(conn *sql.Conn) error {
		v, err := schemaVersionOf(ctx, conn, "snap")
		if err != nil {
			return err
		}
		queries = containsSQL(v)
		var lo, hi []byte
		err = conn.QueryRowContext(ctx, `SELECT (SELECT min(id) FROM snap.messages), (SELECT max(id) FROM snap.messages)`).Scan(&lo, &hi)
		mid = midKey(lo, hi)
		return err
	})
	if err != nil {
		return dbErr("check", err)
	}
	counts := make([]int64, len(queries)+1)
	check := func(which []int) func() error {
		return func() error {
			return s.attached(ctx, snapshot, func(conn *sql.Conn) error {
				tx, err := conn.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
				if err != nil {
					return dbErr("check", err)
				}
				defer tx.Rollback()
				for _, i := range which {
					var q string
					var args []any
					switch {
					case i == len(queries):
						q, args = queries[3].query+" AND s.id >= ?", []any{mid}
					case queries[i].table == "messages":
						q, args = queries[i].query+" AND s.id < ?", []any{mid}
					default:
						q = queries[i].query
					}
					if err := tx.QueryRowContext(ctx, q, args...).Scan(&counts[i]); err != nil {
						return dbErr("check", err)
					}
				}
				return nil
			})
		}
	}
	g, _ := errgroup.WithContext(ctx)
	g.Go(check([]int{len(queries)}))
	g.Go(check([]int{0, 1, 2, 3, 4, 5}))
	if err := g.Wait(); err != nil {
		return err
	}
	counts[3] += counts[len(queries)]
	var missing []string
	for i, c := range queries {
		if counts[i] > 0 {
			missing = append(missing, fmt.Sprintf("%d %s", counts[i], c.table))
		}
	}
	var files int
	for _, a := range atts {
		if !s.HasMedia(a.Hash, a.Size) {
			files++
		}
	}
	if files > 0 {
		missing = append(missing, fmt.Sprintf("%d media files", files))
	}
	if len(missing) > 0 {
		return fmt.Errorf("chatstore: check: store lacks %s: %w", strings.Join(missing, ", "), ErrMissing)
	}
	return nil
}

// Adopt makes the (validated) snapshot file the store's database, replacing
// an empty one by an atomic rename; the snapshot file is consumed. The store
// stays open. It must be on the same file system as the home.
func (s *Store) Adopt(ctx context.Context, snapshot string) error {
	return s.AdoptChecked(ctx, Checked{path: snapshot})
}

// AdoptChecked is Adopt of a file that CheckSnapshot checked.
func (s *Store) AdoptChecked(ctx context.Context, c Checked) error {
	if s.readOnly {
		return fmt.Errorf("chatstore: adopt: store is read-only")
	}
	if err := c.recheck(ctx); err != nil {
		return err
	}
	return s.adopt(ctx, c.path)
}

// AdoptWritten adopts the database that w wrote (and closed) like Adopt,
// without the checks Adopt makes of a file from elsewhere: this process made
// it with the current schema. The file must be on the home's file system.
func (s *Store) AdoptWritten(ctx context.Context, w *Writer) error {
	if s.readOnly {
		return fmt.Errorf("chatstore: adopt: store is read-only")
	}
	p, err := w.written()
	if err != nil {
		return err
	}
	return s.adopt(ctx, p)
}

func (s *Store) adopt(ctx context.Context, snapshot string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	var n int64
	err := s.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM messages) OR EXISTS (SELECT 1 FROM conversations)
		OR EXISTS (SELECT 1 FROM contacts) OR EXISTS (SELECT 1 FROM attachments)`).Scan(&n)
	if err != nil {
		return dbErr("adopt", err)
	}
	if n != 0 {
		return fmt.Errorf("chatstore: adopt: %w", ErrNotEmpty)
	}
	// Fold the WAL into the (empty) database so that no WAL content can
	// outlive the file it belongs to, then let go of every connection.
	if _, err := s.db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		return dbErr("adopt: checkpoint", err)
	}
	if err := s.db.Close(); err != nil {
		return dbErr("adopt: close", err)
	}
	s.db = nil
	err = s.swapDB(snapshot)
	// Reopen whatever is in place now: the adopted file, or the old one.
	if oerr := s.openDB(ctx); oerr != nil {
		s.closed = true
		if s.lock != nil {
			s.lock.Close()
		}
		return errors.Join(err, oerr)
	}
	if err == nil {
		s.historyReplaced(ctx)
	}
	return err
}

// swapDB renames snapshot over the database file durably. Called with no
// connection open.
func (s *Store) swapDB(snapshot string) error {
	// The adopted file is the history: its owner's only, and so are the
	// -wal and -shm files SQLite makes beside it with its mode.
	if err := os.Chmod(snapshot, 0o600); err != nil {
		return fmt.Errorf("chatstore: adopt: %w", err)
	}
	dbPath := s.DBPath()
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Remove(dbPath + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("chatstore: adopt: %w", err)
		}
		os.Remove(snapshot + suffix) // a read-only open may have left an empty one
	}
	if err := atomicfile.Rename(snapshot, dbPath); err != nil {
		return fmt.Errorf("chatstore: adopt: %w", err)
	}
	return nil
}
