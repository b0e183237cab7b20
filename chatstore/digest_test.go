package chatstore

import (
	"bufio"
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
