package chatstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
)

// The search index's file: its schema, opening and checking it, and the
// state it keeps (see the package doc, "Search index"). Catching up is in
// indexupdate.go, searching in search.go, and the hook through which every
// change of history reaches it in change.go.

const (
	// IndexName is the search index's file in a home. It is derived from
	// history.db and never leaves the device.
	IndexName = "index.db"
	// indexAppID is the index's PRAGMA application_id ("FRYX").
	indexAppID = 0x46525958
	// indexFormat is its PRAGMA user_version; another value is rebuilt.
	indexFormat = 1
	// indexBatch is how many messages one catch-up transaction indexes:
	// small enough that a writer of the index never waits long.
	indexBatch = 2000
	// indexCacheKiB is the index connections' page cache.
	indexCacheKiB = 8 << 10
)

// indexSchema creates an empty index. meta holds three rows:
//
//	history   the identity of the history.db file indexed (fileIdentity)
//	walk      1 while a rebuild walks the messages, else 0
//	cursor    the last message ID the walk indexed (x'' before the first)
//	changing  changes of history under way (see change.go)
//
// docs numbers the indexed messages (FTS5 rows are numbered by integers,
// messages by 16-byte IDs); pending lists messages to index again.
var indexSchema = []string{
	`CREATE TABLE meta (k TEXT PRIMARY KEY, v) WITHOUT ROWID`,
	`CREATE TABLE docs (n INTEGER PRIMARY KEY, id BLOB NOT NULL UNIQUE)`,
	`CREATE TABLE pending (id BLOB PRIMARY KEY) WITHOUT ROWID`,
	`CREATE VIRTUAL TABLE fts USING fts5(body, content='', contentless_delete=1, tokenize="` + searchTokenizer + `")`,
	`INSERT INTO meta (k, v) VALUES ('history', ''), ('walk', 1), ('cursor', x''), ('changing', 0)`,
}

// errBadIndex marks an index file that is not exactly what indexSchema makes.
var errBadIndex = errors.New("chatstore: search index is not one of ours")

// Index is the full-text search index of a store's messages. It is safe for
// concurrent use. Searches bring it up to date first (see Update).
type Index struct {
	// Constant after OpenIndex.
	st   *Store
	path string

	mu       sync.Mutex // guards db, fileID, attached, closed
	db       *sql.DB
	fileID   string // identity of index.db when db was opened
	attached string // identity of history.db when db was opened
	closed   bool
}

// OpenIndex opens the search index of st's home, creating it (empty, to be
// built by the first Update) when missing and replacing it when it is
// damaged or not exactly an index of this version. It works on read-only
// stores too: the index is not the history, and reading may build it.
func OpenIndex(ctx context.Context, st *Store) (*Index, error) {
	ix := &Index{st: st, path: filepath.Join(st.Home(), IndexName)}
	if _, _, err := ix.handle(ctx); err != nil {
		return nil, err
	}
	return ix, nil
}

// Close releases the index. It is idempotent.
func (ix *Index) Close() error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.closed = true
	if ix.db == nil {
		return nil
	}
	err := ix.db.Close()
	ix.db = nil
	if err != nil {
		return fmt.Errorf("chatstore: close search index: %w", err)
	}
	return nil
}

// handle returns the index's pool, (re)opening it when the file on disk,
// or the history file it reads, is no longer the one the pool has open
// (another process replaced it, or Adopt swapped the history).
func (ix *Index) handle(ctx context.Context) (*sql.DB, string, error) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.closed {
		return nil, "", fmt.Errorf("chatstore: search index: %w", errClosed)
	}
	hist, err := fileIdentity(ix.st.DBPath())
	if err != nil {
		return nil, "", fmt.Errorf("chatstore: search index: %w", err)
	}
	if ix.db != nil {
		if id, err := fileIdentity(ix.path); err == nil && id == ix.fileID && hist == ix.attached {
			return ix.db, hist, nil
		}
		ix.db.Close()
		ix.db = nil
	}
	db, err := openIndexDB(ctx, ix.path)
	if err != nil {
		return nil, "", err
	}
	id, err := fileIdentity(ix.path)
	if err != nil {
		db.Close()
		return nil, "", fmt.Errorf("chatstore: search index: %w", err)
	}
	ix.db, ix.fileID, ix.attached = db, id, hist
	return db, hist, nil
}

// discard closes the pool and removes the index file, so that the next
// handle starts a new one.
func (ix *Index) discard() {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.db != nil {
		ix.db.Close()
		ix.db = nil
	}
	removeIndex(ix.path)
}

// conn returns a connection of the index with the history attached
// read-only as schema h, and the identity of that history file.
func (ix *Index) conn(ctx context.Context) (*sql.Conn, string, error) {
	db, hist, err := ix.handle(ctx)
	if err != nil {
		return nil, "", err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, "", dbErr("search index: connect", err)
	}
	var n int
	if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM pragma_database_list WHERE name = 'h'`).Scan(&n); err != nil {
		conn.Close()
		return nil, "", dbErr("search index: connect", err)
	}
	if n == 0 {
		if err := attachHistory(ctx, conn, ix.st.DBPath()); err != nil {
			conn.Close()
			return nil, "", err
		}
	}
	return conn, hist, nil
}

func attachHistory(ctx context.Context, conn *sql.Conn, dbPath string) error {
	p := filepath.ToSlash(dbPath)
	if filepath.VolumeName(dbPath) != "" {
		p = "/" + p
	}
	u := url.URL{Scheme: "file", Path: p, RawQuery: "mode=ro"}
	if _, err := conn.ExecContext(ctx, "ATTACH DATABASE ? AS h", u.String()); err != nil {
		return dbErr("search index: attach history", err)
	}
	for _, q := range []string{
		"PRAGMA trusted_schema=OFF",
		fmt.Sprintf("PRAGMA main.cache_size=-%d", indexCacheKiB),
		fmt.Sprintf("PRAGMA h.cache_size=-%d", indexCacheKiB),
		// Catching up need not reach the disk at each batch: after a
		// power loss the index is an earlier state, and redoes the rest.
		// (The count of changes under way, which must, is written with
		// synchronous=FULL by change.go's own connection.)
		"PRAGMA main.synchronous=NORMAL",
		`CREATE TEMP TABLE IF NOT EXISTS ix_batch (id BLOB PRIMARY KEY) WITHOUT ROWID`,
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return dbErr("search index: attach history", err)
		}
	}
	return nil
}

// openIndexDB opens the index file at path, making it (mode 0600) when
// missing, and replacing it once when it is not an index of ours.
func openIndexDB(ctx context.Context, path string) (*sql.DB, error) {
	for attempt := 0; ; attempt++ {
		db, err := tryOpenIndexDB(ctx, path)
		if err == nil {
			return db, nil
		}
		bad := errors.Is(err, errBadIndex) || errors.Is(err, ErrNotAStore) || errors.Is(err, ErrCorrupt)
		if !bad || attempt > 0 {
			return nil, err
		}
		if err := removeIndex(path); err != nil {
			return nil, fmt.Errorf("chatstore: replace damaged search index: %w", err)
		}
	}
}

func tryOpenIndexDB(ctx context.Context, path string) (*sql.DB, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("chatstore: open search index: %w", err)
	}
	f.Close()
	db, err := openSQLBusy(path, false, busyMillis)
	if err != nil {
		return nil, err
	}
	if err := checkIndex(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// checkIndex creates the schema in an empty file, and otherwise requires
// the file to hold exactly what indexSchema creates (so that an index file
// planted or damaged is replaced, never used).
func checkIndex(ctx context.Context, db *sql.DB) error {
	var app, ver, tables int64
	err := db.QueryRowContext(ctx, `SELECT (SELECT application_id FROM pragma_application_id),
		(SELECT user_version FROM pragma_user_version), (SELECT count(*) FROM sqlite_schema)`).Scan(&app, &ver, &tables)
	if err != nil {
		return dbErr("open search index", err)
	}
	if app == 0 && ver == 0 && tables == 0 {
		return createIndex(ctx, db)
	}
	if app != indexAppID || ver != indexFormat {
		return fmt.Errorf("chatstore: search index has application_id %#x, version %d: %w", app, ver, errBadIndex)
	}
	got, err := readSchema(ctx, db, "main")
	if err != nil {
		return err
	}
	want, err := schemaMadeBy(ctx, func(db *sql.DB) error {
		for _, q := range indexSchema {
			if _, err := db.ExecContext(ctx, q); err != nil {
				return dbErr("search index schema", err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if diff := schemaDiff(got, want); diff != "" {
		return fmt.Errorf("chatstore: search index schema differs (%s): %w", diff, errBadIndex)
	}
	var keys int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM meta WHERE k IN ('history', 'walk', 'cursor', 'changing')`).Scan(&keys); err != nil {
		return dbErr("open search index", err)
	}
	if keys != 4 {
		return fmt.Errorf("chatstore: search index state is missing: %w", errBadIndex)
	}
	return nil
}

func createIndex(ctx context.Context, db *sql.DB) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return dbErr("create search index", err)
	}
	defer conn.Close()
	// An empty index lost in a crash is simply made again: no need to
	// wait for the disk (the first write that must be durable syncs it all).
	for _, q := range []string{"PRAGMA journal_mode=WAL", "PRAGMA synchronous=OFF"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return dbErr("create search index", err)
		}
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA synchronous=FULL")
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return dbErr("create search index", err)
	}
	defer tx.Rollback()
	for _, q := range indexSchema {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return dbErr("create search index", err)
		}
	}
	for _, q := range []string{fmt.Sprintf("PRAGMA application_id=%d", indexAppID), fmt.Sprintf("PRAGMA user_version=%d", indexFormat)} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return dbErr("create search index", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return dbErr("create search index", err)
	}
	return nil
}

// removeIndex deletes an index file with its WAL and shared-memory files.
func removeIndex(path string) error {
	var first error
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) && first == nil {
			first = err
		}
	}
	return first
}

// writerActive reports whether a process holds the home's write lock. It
// takes the lock for an instant to find out, so it is only asked when the
// index records a change under way.
func writerActive(home string) bool {
	f, err := os.Open(filepath.Join(home, lockName))
	if err != nil {
		return false // never opened for writing
	}
	defer f.Close()
	return lockFile(f) != nil
}
