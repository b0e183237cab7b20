package chatstore

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// smallDB builds a small valid history database (1 KiB pages, rollback
// journal) from a seeded store and returns its bytes and stats.
func smallDB(t testing.TB) ([]byte, Stats) {
	ctx := context.Background()
	src, want := seeded(t, seedOptions{Messages: 40, MediaBytes: 64 << 10, Seed: 1})
	snap := snapshot(t, src)
	p := filepath.Join(t.TempDir(), "small.db")
	db, err := openSQL(p, false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "PRAGMA page_size=1024"); err != nil {
		t.Fatal(err)
	}
	if err := migrate(ctx, conn, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "ATTACH DATABASE ? AS snap", snap); err != nil {
		t.Fatal(err)
	}
	for _, q := range digestQueries {
		if _, err := conn.ExecContext(ctx, "INSERT INTO main."+q.table+" SELECT * FROM snap."+q.table); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.ExecContext(ctx, "DETACH DATABASE snap"); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	db.Close()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b, want
}

// FuzzStatsOf feeds mutated database files to every function that reads a
// database file from disk: each must return cleanly, never panic, and a
// valid file must give back the stats of the store it came from.
func FuzzStatsOf(f *testing.F) {
	valid, want := smallDB(f)
	f.Add(valid)
	f.Add(valid[:len(valid)/2])
	f.Add(valid[:100])
	f.Add([]byte("SQLite format 3\x00"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		home := t.TempDir()
		p := filepath.Join(home, DBName)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		st, err := StatsOf(ctx, p)
		if string(data) == string(valid) && (err != nil || st != want) {
			t.Fatalf("valid file: got %+v, %v; want %+v", st, err, want)
		}
		ListAttachments(ctx, p)
		validateSnapshot(ctx, p)
		if err != nil {
			// Opening it as a home would fail the same way, only after
			// waiting out its longer lock timeout.
			return
		}
		if s, err := Open(ctx, home, Options{ReadOnly: true}); err == nil {
			s.Stats(ctx)
			s.Close()
		}
	})
}

// hostileOps are edits a modified sender could make to its own history.db
// before sending it: schema objects of its own, rows that break Ferry's
// constraints, a header that lies. Each takes one argument byte.
var hostileOps = []func(a byte) string{
	func(a byte) string {
		return fmt.Sprintf(`CREATE TRIGGER t%d AFTER INSERT ON %s BEGIN DELETE FROM messages; END`, a, hostileTables[int(a)%len(hostileTables)])
	},
	func(a byte) string {
		return fmt.Sprintf(`CREATE VIEW v%d AS SELECT * FROM %s`, a, hostileTables[int(a)%len(hostileTables)])
	},
	func(a byte) string { return fmt.Sprintf(`CREATE INDEX i%d ON messages (body, sent)`, a) },
	func(a byte) string { return fmt.Sprintf(`CREATE VIRTUAL TABLE f%d USING fts5(body)`, a) },
	func(a byte) string {
		return []string{`DROP INDEX messages_by_conversation`, `DROP INDEX attachments_by_message`, `DROP INDEX attachments_by_hash`}[a%3]
	},
	func(byte) string { return `ANALYZE` },
	func(a byte) string { return fmt.Sprintf(`CREATE TABLE x%d (y)`, a) },
	func(a byte) string {
		return fmt.Sprintf(`PRAGMA writable_schema = ON; UPDATE sqlite_schema SET sql = replace(sql, '= 16', '= %d') WHERE name = '%s'`,
			a%20, hostileTables[int(a)%len(hostileTables)])
	},
	func(a byte) string {
		return fmt.Sprintf(`PRAGMA ignore_check_constraints = ON; INSERT OR REPLACE INTO messages
			(id, conversation, sender, sent, received, body) VALUES (randomblob(%d), randomblob(16), randomblob(16), %d, 0, 'x')`, a%20, a)
	},
	func(a byte) string {
		return fmt.Sprintf(`UPDATE messages SET body = hex(%d), edited = %d`, a, int(a)*1000)
	},
	func(a byte) string { return `DELETE FROM ` + hostileTables[int(a)%len(hostileTables)] },
	func(a byte) string { return fmt.Sprintf(`PRAGMA user_version = %d`, a%4) },
	func(a byte) string {
		if a%2 == 1 {
			return fmt.Sprintf(`PRAGMA application_id = %d`, ApplicationID)
		}
		return fmt.Sprintf(`PRAGMA application_id = %d`, a)
	},
	func(a byte) string {
		return fmt.Sprintf(`PRAGMA ignore_check_constraints = ON; INSERT INTO attachments (id, message, hash, size, mime, name)
			VALUES (randomblob(16), randomblob(16), randomblob(%d), %d, 'x', 'y')`, a%40, -int(a))
	},
	func(a byte) string {
		return fmt.Sprintf(`UPDATE contacts SET updated = %d, name = hex(randomblob(%d))`, a, a)
	},
	func(a byte) string {
		return `PRAGMA writable_schema = ON; UPDATE sqlite_schema SET tbl_name = 'contacts' WHERE type = 'index'`
	},
	func(a byte) string {
		return fmt.Sprintf(`PRAGMA writable_schema = ON; UPDATE sqlite_schema SET rootpage = %d WHERE name = 'attachments_by_hash'`, a)
	},
	func(a byte) string {
		return fmt.Sprintf(`INSERT OR IGNORE INTO reactions VALUES (randomblob(16), randomblob(16), '%c')`, 'a'+a%26)
	},
}

var hostileTables = []string{"messages", "contacts", "conversations", "participants", "reactions", "attachments"}

// FuzzMergeHostile merges hostile databases: a small valid history changed
// by a program of hostileOps (two bytes an op), then bytes of the file
// overwritten (flips: three bytes each, a 16-bit offset and a value). Merge
// into a non-empty store and Adopt into an empty one must each either
// succeed, leaving Ferry's schema and a file that passes integrity_check,
// or fail, leaving the target exactly as it was (and its schema Ferry's).
func FuzzMergeHostile(f *testing.F) {
	ctx := context.Background()
	valid, _ := smallDB(f)
	tmpl := func() []byte {
		s, _ := seeded(f, seedOptions{Messages: 30, Seed: 2})
		p := s.DBPath()
		s.Close()
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}()
	f.Add([]byte{}, []byte{})
	for i := range hostileOps {
		f.Add([]byte{byte(i), 7}, []byte{})
	}
	f.Add([]byte{8, 3, 9, 1}, []byte{0, 40, 0xff})
	f.Fuzz(func(t *testing.T, prog, flips []byte) {
		if len(prog) > 32 || len(flips) > 30 {
			return
		}
		dir := t.TempDir()
		snap := filepath.Join(dir, "snap.db")
		if err := os.WriteFile(snap, valid, 0o600); err != nil {
			t.Fatal(err)
		}
		// A plain path, not a file: URI: t.TempDir of a seed is named
		// FuzzMergeHostile/seed#N, and # would end a URI's path.
		if db, err := sql.Open("sqlite", snap); err == nil {
			db.SetMaxOpenConns(1)
			for i := 0; i+1 < len(prog); i += 2 {
				db.Exec(hostileOps[int(prog[i])%len(hostileOps)](prog[i+1])) // an op may fail: fine
			}
			db.Close()
		}
		if b, err := os.ReadFile(snap); err == nil {
			for i := 0; i+2 < len(flips); i += 3 {
				if off := int(flips[i])<<8 | int(flips[i+1]); off < len(b) {
					b[off] = flips[i+2]
				}
			}
			os.WriteFile(snap, b, 0o600)
		}
		os.Remove(snap + "-wal")
		os.Remove(snap + "-shm")

		home := filepath.Join(dir, "home")
		if err := os.Mkdir(home, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(home, DBName), tmpl, 0o600); err != nil {
			t.Fatal(err)
		}
		dst, err := Open(ctx, home, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer dst.Close()
		before := mustStats(t, dst)
		_, merr := dst.Merge(ctx, snap)
		if merr != nil {
			if got := mustStats(t, dst); got != before {
				t.Fatalf("failed merge (%v) changed the target: %+v, want %+v", merr, got, before)
			}
		}
		sound(t, dst, "after merge")

		empty := newStore(t)
		staged := filepath.Join(dir, "staged.db")
		copyFile(t, snap, staged)
		if err := empty.Adopt(ctx, staged); err != nil {
			if e, ierr := empty.IsEmpty(ctx); ierr != nil || !e {
				t.Fatalf("failed adopt (%v) changed the target: empty %v, %v", err, e, ierr)
			}
		}
		sound(t, empty, "after adopt")
	})
}

// sound fails t unless s holds exactly Ferry's schema and passes
// integrity_check.
func sound(t *testing.T, s *Store, what string) {
	t.Helper()
	ctx := context.Background()
	if err := checkSchema(ctx, s.db, "main", schemaVersion()); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	var res string
	if err := s.db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&res); err != nil || res != "ok" {
		t.Fatalf("%s: integrity_check %q, %v", what, res, err)
	}
}
