package chatstore

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// hostileSQL opens path as a hostile sender would: plain SQLite, none of
// Ferry's settings (no defensive mode), and runs qs on it.
func hostileSQL(t testing.TB, path string, qs ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", path) // a plain path: a file: URI would end at a # in it
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for _, q := range qs {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// hostileCopy copies snap and runs qs on the copy.
func hostileCopy(t testing.TB, snap string, qs ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "hostile.db")
	copyFile(t, snap, p)
	hostileSQL(t, p, qs...)
	return p
}

// evilTrigger is the attack: every message merged later is
// rewritten, with an edit time that makes the rewrite "win" the
// containment check.
const evilTrigger = `CREATE TRIGGER evil AFTER INSERT ON messages BEGIN
	UPDATE messages SET body = 'pwned', edited = new.edited + 1 WHERE id = new.id; END`

// hostileSchemas are schema changes a sender could make to its own history.db.
var hostileSchemas = []struct {
	name string
	qs   []string
	want string // in the error
}{
	{"trigger", []string{evilTrigger}, `trigger "evil" on "messages" is not part of Ferry's schema`},
	{"view", []string{`CREATE VIEW recent AS SELECT * FROM messages`}, `view "recent"`},
	{"extra index", []string{`CREATE INDEX by_body ON messages (body)`}, `index "by_body" on "messages"`},
	{"virtual table", []string{`CREATE VIRTUAL TABLE search USING fts5(body)`}, `"search"`},
	{"table rebuilt without its checks", []string{
		`CREATE TABLE c2 AS SELECT * FROM contacts`, `DROP TABLE contacts`, `ALTER TABLE c2 RENAME TO contacts`,
	}, `table "contacts" differs from Ferry's definition`},
	{"table replaced by a view", []string{
		`DROP TABLE reactions`, `CREATE VIEW reactions AS SELECT id AS message, sender AS reactor, body AS emoji FROM messages`,
	}, `table "reactions" is missing`},
	{"dropped index", []string{`DROP INDEX attachments_by_hash`}, `index "attachments_by_hash" on "attachments" is missing`},
	{"statistics", []string{`ANALYZE`}, `"sqlite_stat1"`},
	{"extra table", []string{`CREATE TABLE notes (x)`}, `table "notes"`},
	{"schema text edited", []string{`PRAGMA writable_schema = ON`,
		`UPDATE sqlite_schema SET sql = replace(sql, 'size >= 0', 'size >= -1') WHERE name = 'attachments'`},
		`table "attachments" differs`},
}

func TestCanonicalSchema(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if err := checkSchema(ctx, s.db, "main", schemaVersion()); err != nil {
		t.Fatalf("a new store: %v", err)
	}
	want, err := canonicalSchema(ctx, migrations(), schemaVersion())
	if err != nil {
		t.Fatal(err)
	}
	if len(want) == 0 {
		t.Fatal("canonical schema is empty")
	}
	// A seeded, snapshotted, adopted history keeps exactly that schema.
	src, _ := seeded(t, seedOptions{Messages: 300, MediaBytes: 64 << 10, Seed: 1})
	snap := snapshot(t, src)
	db, err := openSnapshotRO(ctx, snap)
	if err != nil {
		t.Fatalf("snapshot of a seeded store: %v", err)
	}
	db.Close()
	if err := s.Adopt(ctx, copied(t, snap)); err != nil {
		t.Fatal(err)
	}
	if err := checkSchema(ctx, s.db, "main", schemaVersion()); err != nil {
		t.Fatalf("after adopt: %v", err)
	}
}

// TestSchemaCheckFollowsMigrations adds a second migration of its own (new
// tables, columns, an index, an FTS5 table and the trigger that keeps it
// current): a database made by migrations 1..2 passes against version 2
// with no edit to the check, fails against version 1, and an extra trigger
// on top of version 2 still fails.
func TestSchemaCheckFollowsMigrations(t *testing.T) {
	ctx := context.Background()
	ms := append(migrations(), migration{len(migrations()) + 1, `
		ALTER TABLE messages ADD COLUMN test_flag INTEGER NOT NULL DEFAULT 0;
		CREATE TABLE chats_meta (id BLOB PRIMARY KEY CHECK (length(id) = 16), origin TEXT NOT NULL) WITHOUT ROWID;
		CREATE INDEX messages_by_sender ON messages (sender, sent);
		CREATE VIRTUAL TABLE messages_fts USING fts5(body, content='');
		CREATE TRIGGER messages_fts_ins AFTER INSERT ON messages BEGIN
			INSERT INTO messages_fts (body) VALUES (new.body); END;`})
	v := len(ms)
	p := filepath.Join(t.TempDir(), "v2.db")
	db, err := openSQL(p, false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := applyMigrations(ctx, db, ms, 0); err != nil {
		t.Fatal(err)
	}
	if err := checkSchemaOf(ctx, db, "main", ms, v); err != nil {
		t.Errorf("version %d made by its migrations: %v", v, err)
	}
	if err := checkSchemaOf(ctx, db, "main", ms, v-1); !errors.Is(err, ErrForeignSchema) {
		t.Errorf("version %d checked as %d: got %v, want ErrForeignSchema", v, v-1, err)
	}
	// The FTS trigger works under trusted_schema=OFF: FTS5 is innocuous.
	if _, err := db.Exec(`INSERT INTO messages (id, conversation, sender, sent, received, body)
		VALUES (zeroblob(16), zeroblob(16), zeroblob(16), 1, 1, 'hello')`); err != nil {
		t.Fatalf("insert with the migration's trigger: %v", err)
	}
	if _, err := db.Exec(evilTrigger); err != nil {
		t.Fatal(err)
	}
	if err := checkSchemaOf(ctx, db, "main", ms, v); !errors.Is(err, ErrForeignSchema) || !strings.Contains(err.Error(), `"evil"`) {
		t.Errorf("version %d plus a trigger: got %v, want ErrForeignSchema naming it", v, err)
	}
}

// TestHostileSchemaRefused: a snapshot whose schema a sender changed is
// refused by every function that reads a snapshot, by Adopt into an empty
// store and by Merge into a non-empty one, which stay exactly as they were.
func TestHostileSchemaRefused(t *testing.T) {
	ctx := context.Background()
	src, _ := seeded(t, seedOptions{Messages: 300, MediaBytes: 64 << 10, Seed: 1})
	snap := snapshot(t, src)
	dst, _ := seeded(t, seedOptions{Messages: 200, Seed: 2})
	before := mustStats(t, dst)
	empty := newStore(t)
	for _, tt := range hostileSchemas {
		t.Run(tt.name, func(t *testing.T) {
			bad := hostileCopy(t, snap, tt.qs...)
			check := func(what string, err error) {
				t.Helper()
				if !errors.Is(err, ErrForeignSchema) || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("%s: got %v, want ErrForeignSchema saying %q", what, err, tt.want)
				}
			}
			_, err := StatsOf(ctx, bad)
			check("StatsOf", err)
			_, err = ListAttachments(ctx, bad)
			check("ListAttachments", err)
			_, err = dst.Merge(ctx, bad)
			check("Merge", err)
			check("CheckContains", dst.CheckContains(ctx, bad))
			check("Adopt", empty.Adopt(ctx, copied(t, bad)))
			if got := mustStats(t, dst); got != before {
				t.Errorf("target after the refused merge: %+v, want %+v", got, before)
			}
			if e, err := empty.IsEmpty(ctx); err != nil || !e {
				t.Errorf("empty store after the refused adopt: empty %v, %v", e, err)
			}
			for _, s := range []*Store{dst, empty} {
				if err := checkSchema(ctx, s.db, "main", schemaVersion()); err != nil {
					t.Errorf("target schema after the refusal: %v", err)
				}
			}
		})
	}
}

// TestTriggerCannotRewriteLaterMerges is the scenario end to end: a
// sender's trigger must not get into the target, so a later honest merge
// keeps every message as sent. And a home whose database already holds a
// foreign trigger (adopted by an older Ferry) is refused when opened, before
// anything can fire it.
func TestTriggerCannotRewriteLaterMerges(t *testing.T) {
	ctx := context.Background()
	hostile, _ := seeded(t, seedOptions{Messages: 200, Seed: 1})
	honest, _ := seeded(t, seedOptions{Messages: 200, Seed: 2})
	dst := newStore(t)
	if err := dst.Adopt(ctx, hostileCopy(t, snapshot(t, hostile), evilTrigger)); !errors.Is(err, ErrForeignSchema) {
		t.Fatalf("Adopt of a snapshot with a trigger: got %v, want ErrForeignSchema", err)
	}
	if err := dst.Adopt(ctx, copied(t, snapshot(t, hostile))); err != nil {
		t.Fatal(err)
	}
	honestSnap := snapshot(t, honest)
	if _, err := dst.Merge(ctx, honestSnap); err != nil {
		t.Fatal(err)
	}
	var pwned int
	if err := dst.db.QueryRow(`SELECT count(*) FROM messages WHERE body = 'pwned'`).Scan(&pwned); err != nil || pwned != 0 {
		t.Fatalf("%d messages rewritten (%v), want none", pwned, err)
	}
	if err := dst.CheckContains(ctx, honestSnap); err != nil {
		t.Fatal(err)
	}

	// A home poisoned before this check existed.
	home := dst.Home()
	if _, err := dst.db.Exec(evilTrigger); err != nil {
		t.Fatal(err)
	}
	dst.Close()
	dbBefore := fileState(t, filepath.Join(home, DBName))
	for _, opts := range []Options{{}, {ReadOnly: true}} {
		s, err := Open(ctx, home, opts)
		if err == nil {
			s.Close()
		}
		if !errors.Is(err, ErrForeignSchema) || !strings.Contains(err.Error(), `"evil"`) {
			t.Errorf("Open(%+v) of a home with a foreign trigger: got %v, want ErrForeignSchema", opts, err)
		}
	}
	if got := fileState(t, filepath.Join(home, DBName)); got != dbBefore {
		t.Errorf("the refused open changed history.db")
	}
}

// TestUTF16Refused: the text encoding is part of what a file must match.
func TestUTF16Refused(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "utf16.db")
	qs := []string{`PRAGMA encoding = 'UTF-16le'`}
	for _, m := range migrations() {
		qs = append(qs, m.sql)
	}
	qs = append(qs, "PRAGMA application_id = 1179800153", "PRAGMA user_version = 1")
	hostileSQL(t, p, qs...)
	if _, err := StatsOf(ctx, p); !errors.Is(err, ErrForeignSchema) {
		t.Errorf("StatsOf of a UTF-16 database: got %v, want ErrForeignSchema", err)
	}
}

// TestConnectionsDistrustSchemas: every connection runs with
// trusted_schema=OFF and in defensive mode.
func TestConnectionsDistrustSchemas(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	conn, err := s.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var trusted int
	if err := conn.QueryRowContext(ctx, "PRAGMA trusted_schema").Scan(&trusted); err != nil || trusted != 0 {
		t.Errorf("trusted_schema = %d (%v), want 0", trusted, err)
	}
	// Defensive mode: writable_schema has no effect, so the schema table
	// cannot be written.
	conn.ExecContext(ctx, "PRAGMA writable_schema = ON")
	if _, err := conn.ExecContext(ctx, `UPDATE sqlite_schema SET sql = sql WHERE name = 'messages'`); err == nil {
		t.Error("wrote sqlite_schema: defensive mode is off")
	}
	if _, err := conn.ExecContext(ctx, `CREATE VIRTUAL TABLE f USING fts5(x)`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, `INSERT INTO f_data VALUES (99, x'00')`); err == nil {
		t.Error("wrote an FTS5 shadow table: defensive mode is off")
	}
}

// TestCheckedFileSwappedIsCheckedAgain: a file that passed CheckSnapshot
// and was then replaced (here by one with a trigger) is checked again by
// AdoptChecked and MergeChecked, and refused; the file as checked is taken.
// (Only recheck guards the adopt; a merge would also meet the schema check
// of the attached file.)
func TestCheckedFileSwappedIsCheckedAgain(t *testing.T) {
	ctx := context.Background()
	src, want := seeded(t, seedOptions{Messages: 200, Seed: 1})
	snap := snapshot(t, src)
	dst, _ := seeded(t, seedOptions{Messages: 100, Seed: 2})
	before := mustStats(t, dst)
	empty := newStore(t)
	for _, what := range []string{"adopt", "merge"} {
		p := copied(t, snap)
		c, err := CheckSnapshot(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		hostile := hostileCopy(t, snap, evilTrigger)
		if err := os.Rename(hostile, p); err != nil {
			t.Fatal(err)
		}
		if what == "adopt" {
			err = empty.AdoptChecked(ctx, c)
		} else {
			_, err = dst.MergeChecked(ctx, c)
		}
		if !errors.Is(err, ErrForeignSchema) {
			t.Errorf("%s of a checked file swapped for a hostile one: %v, want ErrForeignSchema", what, err)
		}
	}
	if e, err := empty.IsEmpty(ctx); err != nil || !e || mustStats(t, dst) != before {
		t.Fatalf("a refused swap changed a store (empty %v, %v)", e, err)
	}
	c, err := CheckSnapshot(ctx, copied(t, snap))
	if err != nil {
		t.Fatal(err)
	}
	if err := empty.AdoptChecked(ctx, c); err != nil || mustStats(t, empty) != want {
		t.Errorf("AdoptChecked of the file as checked: %v", err)
	}
}
