package chatstore

import (
	"context"
	"database/sql"
	"encoding/binary"
	"path/filepath"
	"testing"
	"time"
)

// fixture builds a small history by hand in a store of its own; snapshot
// hands it to another store the way a migration does (Merge or Adopt), so
// that the index learns of it through the real hook.
type fixture struct {
	t  testing.TB
	s  *Store
	db *sql.DB
	n  uint32 // makes IDs unique
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	s := newStore(t)
	db, err := s.handle()
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, s: s, db: db}
}

// fixtureEpoch is the time of the fixture's first message.
var fixtureEpoch = time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)

// id makes an ID at time at, unique within the fixture.
func (f *fixture) id(at time.Time) ID {
	var id ID
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(at.UnixMilli()))
	copy(id[:6], b[2:])
	f.n++
	binary.BigEndian.PutUint32(id[12:], f.n)
	id[6] = 0xf1 // apart from seeded IDs
	return id
}

func (f *fixture) exec(q string, args ...any) {
	f.t.Helper()
	if _, err := f.db.Exec(q, args...); err != nil {
		f.t.Fatalf("%s: %v", q, err)
	}
}

func (f *fixture) contact(name string) ID {
	id := f.id(fixtureEpoch.Add(-time.Hour))
	f.exec(`INSERT INTO contacts (id, name, phone, updated) VALUES (?, ?, '', 1)`, id[:], name)
	return id
}

func (f *fixture) conv(kind Kind, title string, members ...ID) ID {
	id := f.id(fixtureEpoch.Add(-time.Hour))
	f.exec(`INSERT INTO conversations (id, kind, title, created, updated) VALUES (?, ?, ?, ?, 1)`,
		id[:], int(kind), title, fixtureEpoch.Add(-time.Hour).UnixMilli())
	for _, m := range members {
		f.exec(`INSERT INTO participants (conversation, contact) VALUES (?, ?)`, id[:], m[:])
	}
	return id
}

// msg adds a message sent at fixtureEpoch + minute minutes.
func (f *fixture) msg(conv, sender ID, minute int, body string) ID {
	at := fixtureEpoch.Add(time.Duration(minute) * time.Minute)
	id := f.id(at)
	f.exec(`INSERT INTO messages (id, conversation, sender, sent, received, body) VALUES (?, ?, ?, ?, ?, ?)`,
		id[:], conv[:], sender[:], at.UnixMilli(), at.UnixMilli()+500, body)
	return id
}

// snapshot writes the fixture's history to a snapshot file.
func (f *fixture) snapshot() string {
	f.t.Helper()
	p := filepath.Join(f.t.TempDir(), "fixture.db")
	if err := f.s.Snapshot(context.Background(), p); err != nil {
		f.t.Fatal(err)
	}
	return p
}

// into merges the fixture into s.
func (f *fixture) into(s *Store) {
	f.t.Helper()
	if _, err := s.Merge(context.Background(), f.snapshot()); err != nil {
		f.t.Fatalf("Merge: %v", err)
	}
}

// openIndex opens s's index for the test.
func openIndex(t testing.TB, s *Store) *Index {
	t.Helper()
	ix, err := OpenIndex(context.Background(), s)
	if err != nil {
		t.Fatalf("OpenIndex: %v", err)
	}
	t.Cleanup(func() { ix.Close() })
	return ix
}

// search returns the bodies found for q.
func search(t testing.TB, ix *Index, q string) []string {
	t.Helper()
	hits, err := ix.Search(context.Background(), q, SearchOptions{Limit: MaxPage})
	if err != nil {
		t.Fatalf("Search(%q): %v", q, err)
	}
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.Body
	}
	return out
}
