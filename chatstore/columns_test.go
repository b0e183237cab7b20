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

// TestMergeImportedColumns: the owner mark and the omitted count only grow,
// whichever side is newer, and the result does not depend on the direction.
func TestMergeImportedColumns(t *testing.T) {
	ctx := context.Background()
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
			var digests []string
			for _, dir := range [][2]importedRow{{tt.target, tt.source}, {tt.source, tt.target}} {
				dst := importedStore(t, dir[0])
				snap := snapshot(t, importedStore(t, dir[1]))
				if _, err := dst.Merge(ctx, snap); err != nil {
					t.Fatal(err)
				}
				var got importedRow
				if err := dst.db.QueryRow(`SELECT updated, name, self, (SELECT omitted FROM messages) FROM contacts`).
					Scan(&got.updated, &got.name, &got.self, &got.omitted); err != nil {
					t.Fatal(err)
				}
				if got != tt.want {
					t.Errorf("got %+v, want %+v", got, tt.want)
				}
				if err := dst.CheckContains(ctx, snap); err != nil {
					t.Errorf("CheckContains: %v", err)
				}
				digests = append(digests, mustStats(t, dst).Digest)
			}
			if digests[0] != digests[1] {
				t.Errorf("merge not commutative: %s vs %s", digests[0], digests[1])
			}
		})
	}
}

// TestMergeGroupWins: a conversation one side holds as direct and the
// other as a group is a group after a merge either way.
func TestMergeGroupWins(t *testing.T) {
	ctx := context.Background()
	with := func(kind int) *Store {
		s := importedStore(t, importedRow{5, "Ann", 0, 0})
		if _, err := s.db.Exec(`UPDATE conversations SET kind = ?`, kind); err != nil {
			t.Fatal(err)
		}
		return s
	}
	var digests []string
	for _, dir := range [][2]int{{1, 2}, {2, 1}} {
		dst := with(dir[0])
		snap := snapshot(t, with(dir[1]))
		if _, err := dst.Merge(ctx, snap); err != nil {
			t.Fatal(err)
		}
		var kind int
		if err := dst.db.QueryRow(`SELECT kind FROM conversations`).Scan(&kind); err != nil || kind != 2 {
			t.Errorf("after merge %v: kind %d (%v), want 2", dir, kind, err)
		}
		if err := dst.CheckContains(ctx, snap); err != nil {
			t.Errorf("CheckContains: %v", err)
		}
		digests = append(digests, mustStats(t, dst).Digest)
	}
	if digests[0] != digests[1] {
		t.Errorf("merge not commutative: %s vs %s", digests[0], digests[1])
	}
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
	ctx := context.Background()
	with := func(reply bool) *Store {
		s := importedStore(t, importedRow{5, "Ann", 0, 0})
		if reply {
			if _, err := s.db.Exec(`UPDATE messages SET reply_to = ?`, make([]byte, 16)); err != nil {
				t.Fatal(err)
			}
		}
		return s
	}
	var digests []string
	for _, dir := range [][2]bool{{false, true}, {true, false}} {
		dst := with(dir[0])
		snap := snapshot(t, with(dir[1]))
		if _, err := dst.Merge(ctx, snap); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := dst.db.QueryRow(`SELECT count(*) FROM messages WHERE reply_to IS NOT NULL`).Scan(&n); err != nil || n != 1 {
			t.Errorf("after merge %v: %d replies (%v), want 1", dir, n, err)
		}
		if err := dst.CheckContains(ctx, snap); err != nil {
			t.Errorf("CheckContains: %v", err)
		}
		digests = append(digests, mustStats(t, dst).Digest)
	}
	if digests[0] != digests[1] {
		t.Errorf("merge not commutative: %s vs %s", digests[0], digests[1])
	}
	if err := with(false).CheckContains(ctx, snapshot(t, with(true))); err == nil {
		t.Error("a store without the reply contains the one with it")
	}
}
