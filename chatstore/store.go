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
	"syscall"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Connection settings. The page cache is bounded per connection so that the
// process stays small whatever the size of the history.
const (
	cacheKiB         = 16 << 10 // PRAGMA cache_size per connection, in KiB
	snapshotCacheKiB = 2 << 10  // cache_size while writing a snapshot
	busyMillis       = 5000
	// snapshotBusyMillis is the busy timeout of read-only opens of
	// standalone database files (snapshots, staged copies).
	snapshotBusyMillis = 100
	readBusyMillis     = 1000 // read-only opens of a home
	maxConns           = 3
	lockName           = ".lock"
	pageSize           = 16384
)

// querier is what *sql.DB and *sql.Conn have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}

// Store is an open Ferry home: the history database and the media folder.
// A Store is safe for concurrent use.
type Store struct {
	// Constant after Open.
	home     string
	readOnly bool
	lock     *os.File // nil for read-only stores

	mu     sync.RWMutex // guards db and closed; held for writing only while Adopt swaps the file
	db     *sql.DB
	closed bool
}

// Open opens the store in home. See Options for creating a missing home and
// for read-only access. A writable open holds an exclusive lock on the home
// until Close; a second writer gets ErrLocked.
//
// Open writes nothing into a folder that is not a Ferry home (ErrNotAHome,
// see PrepareHome), and makes a home that other users could read private
// first (or refuses it, ErrHomeExposed). A writable open of a home that
// cannot be written fails with ErrReadOnlyHome.
func Open(ctx context.Context, home string, opts Options) (*Store, error) {
	abs, err := filepath.Abs(home)
	if err != nil {
		return nil, fmt.Errorf("chatstore: open %s: %w", home, err)
	}
	fi, err := os.Stat(abs)
	switch {
	case errors.Is(err, os.ErrNotExist) && opts.Create && !opts.ReadOnly:
		err := os.Mkdir(abs, 0o700)
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("chatstore: create home %s: parent missing: %w", home, ErrNoHome)
		}
		if err != nil && !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("chatstore: create home: %w", writeErr(abs, err))
		}
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("chatstore: open %s: %w", home, ErrNoHome)
	case err != nil:
		return nil, fmt.Errorf("chatstore: open %s: %w", home, err)
	case !fi.IsDir():
		return nil, fmt.Errorf("chatstore: open %s: not a directory: %w", home, ErrNoHome)
	}
	if err := PrepareHome(abs); err != nil {
		return nil, err
	}
	s := &Store{home: abs, readOnly: opts.ReadOnly}
	if opts.ReadOnly {
		if _, err := os.Stat(s.DBPath()); err != nil {
			return nil, fmt.Errorf("chatstore: open %s: no %s: %w", home, DBName, ErrNotAStore)
		}
	} else {
		if err := createDBFile(s.DBPath()); err != nil {
			return nil, fmt.Errorf("chatstore: create %s: %w", DBName, writeErr(abs, err))
		}
		f, err := os.OpenFile(filepath.Join(abs, lockName), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("chatstore: open lock: %w", writeErr(abs, err))
		}
		if err := lockFile(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("chatstore: lock %s: %w", home, err)
		}
		s.lock = f
	}
	if err := s.openDB(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if !opts.ReadOnly {
		if err := os.MkdirAll(filepath.Join(abs, MediaDir), 0o700); err != nil {
			s.Close()
			return nil, fmt.Errorf("chatstore: create media dir: %w", writeErr(abs, err))
		}
	}
	return s, nil
}

// writeErr marks an error of writing into home that says it cannot be
// written (read-only file system, no permission) with ErrReadOnlyHome.
func writeErr(home string, err error) error {
	if errors.Is(err, syscall.EROFS) || errors.Is(err, os.ErrPermission) {
		return fmt.Errorf("%s: %w: %w", home, ErrReadOnlyHome, err)
	}
	return err
}

// openDB opens s.db, creating, validating and migrating the schema as needed.
func (s *Store) openDB(ctx context.Context) error {
	busy := busyMillis
	if s.readOnly {
		// Readers of a WAL database wait only for brief recovery locks.
		busy = readBusyMillis
	}
	db, err := openSQLBusy(s.DBPath(), s.readOnly, busy)
	if err != nil {
		return err
	}
	if s.readOnly {
		ver, err := checkHeader(ctx, db, false)
		if cantOpen(err) && s.frozen() {
			// A WAL database on a read-only file system: SQLite cannot make
			// the -shm file its readers need. With no -wal there is no
			// writer, and there can be none: the file is immutable.
			db.Close()
			if db, err = openSQLAccess(s.DBPath(), frozenFile, busy); err != nil {
				return err
			}
			ver, err = checkHeader(ctx, db, false)
		}
		if err == nil {
			err = checkSchema(ctx, db, "main", ver)
		}
		if err != nil {
			db.Close()
			return fmt.Errorf("chatstore: open %s: %w", s.DBPath(), err)
		}
	} else if err := initSchema(ctx, db); err != nil {
		db.Close()
		return err
	}
	s.db = db
	return nil
}

// frozen reports whether nothing can write the home's database now: this
// process cannot write into the home (a read-only file system), and no -wal
// file says a writer was at work.
func (s *Store) frozen() bool {
	if _, err := os.Lstat(s.DBPath() + "-wal"); !errors.Is(err, os.ErrNotExist) {
		return false
	}
	return !canWrite(s.home)
}

// cantOpen reports whether err is SQLite's SQLITE_CANTOPEN.
func cantOpen(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_CANTOPEN
}

// openSQL opens a connection pool on path with Ferry's pragmas.
func openSQL(path string, readOnly bool) (*sql.DB, error) {
	return openSQLBusy(path, readOnly, busyMillis)
}

// openSQLBusy is openSQL with its own busy timeout, in milliseconds.
func openSQLBusy(path string, readOnly bool, busy int) (*sql.DB, error) {
	a := readWrite
	if readOnly {
		a = readFile
	}
	return openSQLAccess(path, a, busy)
}

// access is what a connection may do with its database file.
type access int

const (
	readWrite access = iota
	// readFile opens the file read-only (mode=ro) and query-only.
	readFile
	// queryFile opens the file for writing but query-only: for
	// integrity_check, which skips CHECK constraints on a file opened
	// read-only.
	queryFile
	// frozenFile is readFile for a file nothing can change (a read-only
	// file system): SQLite takes no locks and needs no -shm.
	frozenFile
)

// openSQLAccess opens a connection pool on path with Ferry's pragmas.
func openSQLAccess(path string, a access, busy int) (*sql.DB, error) {
	db, err := sql.Open("sqlite", dsn(path, a, busy))
	if err != nil {
		return nil, fmt.Errorf("chatstore: open database: %w", err)
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	return db, nil
}

// dsn is the modernc.org/sqlite data source name for path.
func dsn(path string, a access, busy int) string {
	p := filepath.ToSlash(path)
	if filepath.VolumeName(path) != "" {
		p = "/" + p
	}
	u := url.URL{Scheme: "file", Path: p, RawQuery: connParams(a, busy).Encode()}
	return u.String()
}

// memoryDSN is the data source name of a private in-memory database with
// the same settings as every other connection.
func memoryDSN() string { return "file::memory:?" + connParams(readWrite, busyMillis).Encode() }

// connParams are the connection settings of every database Ferry opens.
func connParams(a access, busy int) url.Values {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy))
	q.Add("_pragma", fmt.Sprintf("cache_size(-%d)", cacheKiB))
	q.Add("_pragma", "mmap_size(0)")
	q.Add("_pragma", "temp_store(FILE)")
	q.Add("_pragma", "foreign_keys(0)")
	// Every database Ferry opens may have come from someone else (a
	// sender, an archive, a backup): no function with side effects may run
	// from its schema, and SQL may not corrupt the file on purpose
	// (writable_schema, shadow tables of virtual tables, journal_mode=OFF).
	// An attached database shares its connection's settings.
	q.Add("_pragma", "trusted_schema(0)")
	q.Set("_defensive", "1")
	switch a {
	case readFile, frozenFile:
		q.Set("mode", "ro")
		q.Add("_pragma", "query_only(1)")
		if a == frozenFile {
			q.Set("immutable", "1")
		}
	case queryFile:
		q.Add("_pragma", "query_only(1)")
	default:
		q.Add("_pragma", "synchronous(FULL)")
		q.Set("_txlock", "immediate")
	}
	return q
}

// initSchema brings a writable database to the current schema version.
func initSchema(ctx context.Context, db *sql.DB) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return dbErr("open database", err)
	}
	defer conn.Close()
	ver, err := checkHeader(ctx, conn, true)
	if err != nil {
		return err
	}
	// A database from an older Ferry, or one a hostile sender's schema got
	// into before this check existed: nothing of it may run, not even
	// during a migration.
	if ver > 0 {
		if err := checkSchema(ctx, conn, "main", ver); err != nil {
			return fmt.Errorf("chatstore: open database: %w", err)
		}
	}
	if ver == 0 {
		// Larger pages: fewer b-tree levels and fewer reads per scan.
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA page_size=%d", pageSize)); err != nil {
			return dbErr("set page_size", err)
		}
	}
	if _, err := conn.ExecContext(ctx, "PRAGMA journal_mode=WAL"); err != nil {
		return dbErr("set journal_mode", err)
	}
	if ver < schemaVersion() {
		if err := migrate(ctx, conn, ver); err != nil {
			return err
		}
	}
	return nil
}

// checkHeader reads application_id and user_version. A database with neither
// and no tables is new (version 0) when allowNew; anything else that is not
// ours is ErrNotAStore, and a newer schema is ErrTooNew.
func checkHeader(ctx context.Context, db querier, allowNew bool) (int, error) {
	var app, ver, tables int64
	err := db.QueryRowContext(ctx, `SELECT (SELECT application_id FROM pragma_application_id),
		(SELECT user_version FROM pragma_user_version),
		(SELECT count(*) FROM sqlite_schema)`).Scan(&app, &ver, &tables)
	if err != nil {
		return 0, dbErr("read database header", err)
	}
	switch {
	case app == 0 && ver == 0 && tables == 0 && allowNew:
		return 0, nil
	case app != ApplicationID:
		return 0, fmt.Errorf("chatstore: application_id %#x: %w", app, ErrNotAStore)
	case ver > int64(schemaVersion()):
		return 0, fmt.Errorf("chatstore: schema version %d, this Ferry knows up to %d: %w", ver, schemaVersion(), ErrTooNew)
	case ver < 1:
		return 0, fmt.Errorf("chatstore: schema version %d: %w", ver, ErrNotAStore)
	}
	return int(ver), nil
}

// dbErr wraps a SQLite error, mapping busy/locked to ErrLocked and
// not-a-database/corruption to ErrNotAStore/ErrCorrupt.
func dbErr(op string, err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		if se.Code() == sqlite3.SQLITE_IOERR_SHORT_READ {
			// The file ends before the pages its header counts: truncated.
			return fmt.Errorf("chatstore: %s: %w: %w", op, ErrCorrupt, err)
		}
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return fmt.Errorf("chatstore: %s: %w: %w", op, ErrLocked, err)
		case sqlite3.SQLITE_NOTADB:
			return fmt.Errorf("chatstore: %s: %w: %w", op, ErrNotAStore, err)
		case sqlite3.SQLITE_CORRUPT:
			return fmt.Errorf("chatstore: %s: %w: %w", op, ErrCorrupt, err)
		}
	}
	return fmt.Errorf("chatstore: %s: %w", op, err)
}

// Close releases the database and the lock on the home. It is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var err error
	if s.db != nil {
		err = s.db.Close()
	}
	if s.lock != nil {
		if cerr := s.lock.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("chatstore: close: %w", err)
	}
	return nil
}

// handle returns the connection pool, or an error after Close.
func (s *Store) handle() (*sql.DB, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, errClosed
	}
	return s.db, nil
}

var errClosed = errors.New("chatstore: store is closed")

// Home is the absolute path of the home directory.
func (s *Store) Home() string { return s.home }

// ReadOnly reports whether s was opened with Options.ReadOnly: every call
// that would change the history fails.
func (s *Store) ReadOnly() bool { return s.readOnly }

// DBPath is the path of the history database.
func (s *Store) DBPath() string { return filepath.Join(s.home, DBName) }

// IsEmpty reports whether the store holds no history at all.
func (s *Store) IsEmpty(ctx context.Context) (bool, error) {
	db, err := s.handle()
	if err != nil {
		return false, err
	}
	var n int64
	err = db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM messages) OR EXISTS (SELECT 1 FROM conversations)
		OR EXISTS (SELECT 1 FROM contacts) OR EXISTS (SELECT 1 FROM attachments)`).Scan(&n)
	if err != nil {
		return false, dbErr("check empty", err)
	}
	return n == 0, nil
}

// Snapshot writes a consistent copy of the database to dst (which must not
// exist), while other connections and processes keep writing.
func (s *Store) Snapshot(ctx context.Context, dst string) error {
	db, err := s.handle()
	if err != nil {
		return err
	}
	// The copy is the whole history in plaintext: only its owner may read
	// it. VACUUM INTO writes into an empty file it is given (SQLite would
	// create one 0644).
	f, err := os.OpenFile(dst, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("chatstore: snapshot: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(dst)
		return fmt.Errorf("chatstore: snapshot: %w", err)
	}
	if err := s.vacuumInto(ctx, db, dst); err != nil {
		os.Remove(dst)
		return err
	}
	return nil
}

// vacuumInto writes a consistent copy of the database into the empty file dst.
func (s *Store) vacuumInto(ctx context.Context, db *sql.DB, dst string) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return dbErr("snapshot", err)
	}
	defer conn.Close()
	if s.readOnly {
		// query_only also forbids writing the snapshot file; the
		// connection is still opened with mode=ro, so the store itself
		// stays unwritable.
		if _, err := conn.ExecContext(ctx, "PRAGMA query_only=0"); err != nil {
			return dbErr("snapshot", err)
		}
		defer conn.ExecContext(context.Background(), "PRAGMA query_only=1")
	}
	// VACUUM INTO holds about as many pages of the new file in memory as the
	// source's cache allows; a small cache keeps the process small and costs
	// little, since the copy is sequential.
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA main.cache_size=-%d", snapshotCacheKiB)); err != nil {
		return dbErr("snapshot", err)
	}
	defer conn.ExecContext(context.Background(), fmt.Sprintf("PRAGMA main.cache_size=-%d", cacheKiB))
	if _, err := conn.ExecContext(ctx, "VACUUM INTO ?", dst); err != nil {
		return dbErr("snapshot", err)
	}
	return nil
}
