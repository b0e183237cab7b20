package chatstore

import (
	"context"
	"testing"
)

// importedRow is the part of schema version 2 that a merge may change.
type importedRow struct {
	updated int64
	name    string
	self    int64
	omitted int64
}

// importedStore makes a store with one imported contact, conversation and
// message at version v.
func importedStore(t *testing.T, v importedRow) *Store {
	t.Helper()
	s := newStore(t)
	id := func(n byte) []byte { b := make([]byte, 16); b[15] = n; return b }
	for _, q := range []struct {
		q    string
		args []any
	}{
		{`INSERT INTO contacts (id, name, phone, updated, source, native, self) VALUES (?, ?, '', ?, 'telegram', 'user7', ?)`, []any{id(2), v.name, v.updated, v.self}},
		{`INSERT INTO conversations (id, kind, title, created, updated, source, native) VALUES (?, 1, 'Ann', 0, 5, 'telegram', '7')`, []any{id(3)}},
		{`INSERT INTO messages (id, conversation, sender, sent, received, body, reply_to, edited, deleted, kind, native, omitted)
			VALUES (?, ?, ?, 10, 10, '', NULL, 0, 0, 0, '1', ?)`, []any{id(1), id(3), id(2), v.omitted}},
	} {
		if _, err := s.db.Exec(q.q, q.args...); err != nil {
			t.Fatalf("%s: %v", q.q, err)
		}
	}
	return s
}

// mergeBothWays merges a into b and b into a (each made fresh by its
// function), runs check on each result, requires the merged store to
// contain what it merged, and the two results to have one digest.
func mergeBothWays(t *testing.T, a, b func() *Store, check func(merged *Store)) {
	t.Helper()
	ctx := context.Background()
	var digests []string
	for _, dir := range [][2]func() *Store{{a, b}, {b, a}} {
		dst := dir[0]()
		snap := snapshot(t, dir[1]())
		if _, err := dst.Merge(ctx, snap); err != nil {
			t.Fatal(err)
		}
		check(dst)
		if err := dst.CheckContains(ctx, snap); err != nil {
			t.Errorf("CheckContains: %v", err)
		}
		digests = append(digests, mustStats(t, dst).Digest)
	}
	if digests[0] != digests[1] {
		t.Errorf("merge not commutative: %s vs %s", digests[0], digests[1])
	}
}

// TestMergeImportedColumns: the owner mark and the omitted count only grow,
// whichever side is newer, and the result does not depend on the direction.
func TestMergeImportedColumns(t *testing.T) {
	tests := []struct {
		name           string
		target, source importedRow
		want           importedRow
	}{
		{"owner marked in source", importedRow{5, "Ann", 0, 0}, importedRow{5, "Ann", 1, 0}, importedRow{5, "Ann", 1, 0}},
		{"owner marked in the older version", importedRow{9, "Ann B", 0, 0}, importedRow{5, "Ann", 1, 0}, importedRow{9, "Ann B", 1, 0}},
		{"newer name, owner in target", importedRow{5, "Ann", 1, 0}, importedRow{9, "Ann B", 0, 0}, importedRow{9, "Ann B", 1, 0}},
		{"media omitted in one export", importedRow{5, "Ann", 0, 0}, importedRow{5, "Ann", 0, 2}, importedRow{5, "Ann", 0, 2}},
		{"same", importedRow{5, "Ann", 1, 1}, importedRow{5, "Ann", 1, 1}, importedRow{5, "Ann", 1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mergeBothWays(t, func() *Store { return importedStore(t, tt.target) }, func() *Store { return importedStore(t, tt.source) },
				func(dst *Store) {
					var got importedRow
					if err := dst.db.QueryRow(`SELECT updated, name, self, (SELECT omitted FROM messages) FROM contacts`).
						Scan(&got.updated, &got.name, &got.self, &got.omitted); err != nil {
						t.Fatal(err)
					}
					if got != tt.want {
						t.Errorf("got %+v, want %+v", got, tt.want)
					}
				})
		})
	}
}

// TestMergeGroupWins: a conversation one side holds as direct and the
// other as a group is a group after a merge either way.
func TestMergeGroupWins(t *testing.T) {
	with := func(kind int) func() *Store {
		return func() *Store {
			s := importedStore(t, importedRow{5, "Ann", 0, 0})
			if _, err := s.db.Exec(`UPDATE conversations SET kind = ?`, kind); err != nil {
				t.Fatal(err)
			}
			return s
		}
	}
	mergeBothWays(t, with(1), with(2), func(dst *Store) {
		var kind int
		if err := dst.db.QueryRow(`SELECT kind FROM conversations`).Scan(&kind); err != nil || kind != 2 {
			t.Errorf("kind %d (%v), want 2", kind, err)
		}
	})
}

func TestCheckContainsSeesImportedColumns(t *testing.T) {
	ctx := context.Background()
	dst := importedStore(t, importedRow{5, "Ann", 0, 0})
	for _, src := range []importedRow{{5, "Ann", 1, 0}, {5, "Ann", 0, 1}} {
		if err := dst.CheckContains(ctx, snapshot(t, importedStore(t, src))); err == nil {
			t.Errorf("store without %+v contains it", src)
		}
	}
}

// TestMergeFillsMissingReply: a message whose reply_to one side lacks takes
// the other side's, in both directions, and the side without it is
// contained in the side with it.
func TestMergeFillsMissingReply(t *testing.T) {
	with := func(reply bool) func() *Store {
		return func() *Store {
			s := importedStore(t, importedRow{5, "Ann", 0, 0})
			if reply {
				if _, err := s.db.Exec(`UPDATE messages SET reply_to = ?`, make([]byte, 16)); err != nil {
					t.Fatal(err)
				}
			}
			return s
		}
	}
	mergeBothWays(t, with(false), with(true), func(dst *Store) {
		var n int
		if err := dst.db.QueryRow(`SELECT count(*) FROM messages WHERE reply_to IS NOT NULL`).Scan(&n); err != nil || n != 1 {
			t.Errorf("%d replies (%v), want 1", n, err)
		}
	})
	if err := with(false)().CheckContains(context.Background(), snapshot(t, with(true)())); err == nil {
		t.Error("a store without the reply contains the one with it")
	}
}
