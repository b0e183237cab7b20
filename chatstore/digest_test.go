package chatstore

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// kaID is a 16-byte ID: a millisecond time in the first 6 bytes and n last.
func kaID(ms int64, n byte) []byte {
	b := make([]byte, 16)
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	b[15] = n
	return b
}

// kaHistory is a small fixed history of every table, in schema version 1's
// columns: its digest is frozen in testdata/digest-kat.txt.
var kaHistory = []struct {
	q    string
	args []any
}{
	{`INSERT INTO contacts (id, name, phone, updated) VALUES (?, 'Me', '', 0)`, []any{kaID(0, 1)}},
	{`INSERT INTO contacts (id, name, phone, updated) VALUES (?, 'Zoë Ünal', '+49 170 1234567', 1700000000000)`, []any{kaID(1700000000000, 2)}},
	{`INSERT INTO conversations (id, kind, title, created, updated) VALUES (?, 1, 'Zoë Ünal', 1700000000000, 1700000000000)`, []any{kaID(1700000000000, 3)}},
	{`INSERT INTO conversations (id, kind, title, created, updated) VALUES (?, 2, '家族 👪', 1700000001000, 1700000500000)`, []any{kaID(1700000001000, 4)}},
	{`INSERT INTO participants (conversation, contact) VALUES (?, ?)`, []any{kaID(1700000000000, 3), kaID(0, 1)}},
	{`INSERT INTO participants (conversation, contact) VALUES (?, ?)`, []any{kaID(1700000000000, 3), kaID(1700000000000, 2)}},
	{`INSERT INTO participants (conversation, contact) VALUES (?, ?)`, []any{kaID(1700000001000, 4), kaID(1700000000000, 2)}},
	{`INSERT INTO messages (id, conversation, sender, sent, received, body, reply_to, edited, deleted) VALUES (?, ?, ?, 1700000002000, 1700000002500, 'hello', NULL, 0, 0)`,
		[]any{kaID(1700000002000, 5), kaID(1700000000000, 3), kaID(1700000000000, 2)}},
	{`INSERT INTO messages (id, conversation, sender, sent, received, body, reply_to, edited, deleted) VALUES (?, ?, ?, 1700000003000, 1700000003000, 'hi! ¿qué tal? 😀', ?, 1700000009000, 0)`,
		[]any{kaID(1700000003000, 6), kaID(1700000000000, 3), kaID(0, 1), kaID(1700000002000, 5)}},
	{`INSERT INTO messages (id, conversation, sender, sent, received, body, reply_to, edited, deleted) VALUES (?, ?, ?, 1700000004000, 1700000004100, '', NULL, 0, 1700000008000)`,
		[]any{kaID(1700000004000, 7), kaID(1700000001000, 4), kaID(1700000000000, 2)}},
	{`INSERT INTO reactions (message, reactor, emoji) VALUES (?, ?, '❤️')`, []any{kaID(1700000002000, 5), kaID(0, 1)}},
	{`INSERT INTO attachments (id, message, hash, size, mime, name) VALUES (?, ?, ?, 3, 'image/jpeg', 'IMG-20231114-WA0001.jpg')`,
		[]any{kaID(1700000003000, 8), kaID(1700000003000, 6), make([]byte, 32)}},
}

// kaStore makes a store holding kaHistory.
func kaStore(t *testing.T) *Store {
	t.Helper()
	s := newStore(t)
	for _, r := range kaHistory {
		if _, err := s.db.Exec(r.q, r.args...); err != nil {
			t.Fatalf("%s: %v", r.q, err)
		}
	}
	return s
}

// readKAT reads name = value lines from testdata/digest-kat.txt.
func readKAT(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "digest-kat.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	kat := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("bad line %q", line)
		}
		kat[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return kat
}

// TestDigestKnownAnswer freezes the digest of a history made of schema
// version 1's columns only: every later schema must give it the same value.
func TestDigestKnownAnswer(t *testing.T) {
	s := kaStore(t)
	got := mustStats(t, s)
	want := readKAT(t)["v1"]
	t.Logf("digest %s", got.Digest)
	if got.Digest != want {
		t.Fatalf("digest %s, want %s", got.Digest, want)
	}
}

// kaImported is what an import adds to kaHistory: every column of schema
// version 2 away from its default. Its digest is frozen as "v2".
var kaImported = []struct {
	q    string
	args []any
}{
	{`INSERT INTO contacts (id, name, phone, updated, source, native, self) VALUES (?, 'Ana', '', 1700000100000, 'telegram', 'user42', 1)`, []any{kaID(0, 9)}},
	{`INSERT INTO conversations (id, kind, title, created, updated, source, native) VALUES (?, 2, 'Trip', 0, 1700000100000, 'telegram', '-100123')`, []any{kaID(0, 10)}},
	{`INSERT INTO messages (id, conversation, sender, sent, received, body, reply_to, edited, deleted, kind, native, omitted)
		VALUES (?, ?, ?, 1700000100000, 1700000100000, 'Ana created the group “Trip”', NULL, 0, 0, 1, '1', 0)`,
		[]any{kaID(1700000100000, 11), kaID(0, 10), kaID(0, 9)}},
	{`INSERT INTO messages (id, conversation, sender, sent, received, body, reply_to, edited, deleted, kind, native, omitted)
		VALUES (?, ?, ?, 1700000101000, 1700000101000, '', NULL, 0, 0, 0, '', 2)`,
		[]any{kaID(1700000101000, 12), kaID(0, 10), kaID(0, 9)}},
}

func TestDigestKnownAnswerImported(t *testing.T) {
	s := kaStore(t)
	for _, r := range kaImported {
		if _, err := s.db.Exec(r.q, r.args...); err != nil {
			t.Fatalf("%s: %v", r.q, err)
		}
	}
	got := mustStats(t, s)
	want := readKAT(t)["v2"]
	t.Logf("digest %s", got.Digest)
	if got.Digest != want {
		t.Fatalf("digest %s, want %s", got.Digest, want)
	}
}

// versionOneDB writes a database of schema version 1 (the first migration
// only) holding kaHistory, as a Ferry of that version would have.
func versionOneDB(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "v1.db")
	db, err := openSQL(p, false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stmts := []string{migrations()[0].sql, "PRAGMA user_version=1", fmt.Sprintf("PRAGMA application_id=%d", ApplicationID)}
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%.40s: %v", q, err)
		}
	}
	for _, r := range kaHistory {
		if _, err := db.Exec(r.q, r.args...); err != nil {
			t.Fatalf("%s: %v", r.q, err)
		}
	}
	return p
}

// TestVersionOneSnapshot: a database from a Ferry of schema version 1 has
// the same digest read as it is and once migrated, and merges into a
// current store (whose containment check then passes).
func TestVersionOneSnapshot(t *testing.T) {
	ctx := context.Background()
	old := versionOneDB(t)
	want := readKAT(t)["v1"]
	st, err := StatsOf(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	if st.Digest != want {
		t.Fatalf("version-1 file: digest %s, want %s", st.Digest, want)
	}
	dst := newStore(t)
	for _, r := range kaImported {
		if _, err := dst.db.Exec(r.q, r.args...); err != nil {
			t.Fatal(err)
		}
	}
	res, err := dst.Merge(ctx, old)
	if err != nil {
		t.Fatalf("Merge of a version-1 snapshot: %v", err)
	}
	if res.Messages != 3 || res.Conversations != 2 || res.Attachments != 1 {
		t.Fatalf("merge added %+v, want 2 conversations, 3 messages, 1 attachment", res)
	}
	// kaHistory's attachment names 3 bytes of hash 0.
	if err := os.MkdirAll(filepath.Dir(dst.MediaPath(Hash{})), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst.MediaPath(Hash{}), []byte("abc"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := dst.CheckContains(ctx, old); err != nil {
		t.Fatalf("CheckContains: %v", err)
	}
	if got := mustStats(t, dst).Digest; got != readKAT(t)["v2"] {
		t.Fatalf("merged digest %s, want the v2 known answer", got)
	}
	// Opened for writing, the file is migrated in place; its digest stays.
	home := filepath.Join(t.TempDir(), "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	copyFile(t, old, filepath.Join(home, DBName))
	s, err := Open(ctx, home, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, _ := schemaVersionOf(ctx, s.db, "main"); v != schemaVersion() {
		t.Fatalf("migrated to version %d, want %d", v, schemaVersion())
	}
	if got := mustStats(t, s).Digest; got != want {
		t.Fatalf("migrated: digest %s, want %s", got, want)
	}
}
