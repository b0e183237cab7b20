package chatstore

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestMigrations(t *testing.T) {
	ms := migrations()
	if got, want := len(ms), schemaVersion(); got != want || got < 1 {
		t.Fatalf("got %d migrations, schema version %d", got, want)
	}
}

// copyReversed builds a store holding the rows of snap inserted in reverse order.
func copyReversed(t *testing.T, snap string) *Store {
	t.Helper()
	ctx := context.Background()
	s := newStore(t)
	err := s.attached(ctx, snap, func(conn *sql.Conn) error {
		for _, q := range []string{
			`INSERT INTO attachments SELECT * FROM snap.attachments ORDER BY id DESC`,
			`INSERT INTO reactions SELECT * FROM snap.reactions ORDER BY message DESC, reactor DESC`,
			`INSERT INTO messages SELECT * FROM snap.messages ORDER BY id DESC`,
			`INSERT INTO participants SELECT * FROM snap.participants ORDER BY contact DESC`,
			`INSERT INTO conversations SELECT * FROM snap.conversations ORDER BY id DESC`,
			`INSERT INTO contacts SELECT * FROM snap.contacts ORDER BY id DESC`,
		} {
			if _, err := conn.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("copy: %v", err)
	}
	return s
}

func TestDigestOrderIndependent(t *testing.T) {
	src, want := seeded(t, seedOptions{Messages: 2000, MediaBytes: 1 << 20, Seed: 3})
	rev := copyReversed(t, snapshot(t, src))
	if got := mustStats(t, rev); got != want {
		t.Fatalf("reverse-order copy: got %+v, want %+v", got, want)
	}
	st, err := StatsOf(context.Background(), snapshot(t, src))
	if err != nil {
		t.Fatal(err)
	}
	if st != want {
		t.Fatalf("StatsOf snapshot: got %+v, want %+v", st, want)
	}
}

// mutate copies snap, runs q on the copy and returns its path.
func mutate(t *testing.T, snap, q string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "mut.db")
	copyFile(t, snap, p)
	db, err := openSQL(p, false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.Exec(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("%s: changed %d rows, want 1", q, n)
	}
	return p
}

func TestDigestDetectsChange(t *testing.T) {
	src, want := seeded(t, seedOptions{Messages: 2000, MediaBytes: 1 << 20, Seed: 4})
	snap := snapshot(t, src)
	tests := []struct{ name, q string }{
		{"one byte of one body", `UPDATE messages SET body = 'X' || substr(body, 2) WHERE id = (SELECT min(id) FROM messages WHERE body GLOB '[a-z]*')`},
		{"edit time", `UPDATE messages SET edited = edited + 1 WHERE id = (SELECT min(id) FROM messages)`},
		{"deletion", `UPDATE messages SET deleted = 1 WHERE id = (SELECT min(id) FROM messages WHERE deleted = 0)`},
		{"reply", `UPDATE messages SET reply_to = NULL WHERE id = (SELECT min(id) FROM messages WHERE reply_to IS NOT NULL)`},
		{"reaction", `DELETE FROM reactions WHERE message = (SELECT min(message) FROM reactions) AND reactor = (SELECT min(reactor) FROM reactions WHERE message = (SELECT min(message) FROM reactions))`},
		{"attachment hash", `UPDATE attachments SET hash = unhex(iif(substr(hex(hash), 1, 2) = '00', '01', '00') || substr(hex(hash), 3)) WHERE id = (SELECT min(id) FROM attachments)`},
		{"attachment name", `UPDATE attachments SET name = name || '_' WHERE id = (SELECT min(id) FROM attachments)`},
		{"contact name", `UPDATE contacts SET name = name || '.' WHERE id = (SELECT max(id) FROM contacts)`},
		{"conversation title", `UPDATE conversations SET title = title || '.' WHERE id = (SELECT max(id) FROM conversations)`},
		{"participant", `DELETE FROM participants WHERE conversation = (SELECT min(conversation) FROM participants) AND contact = (SELECT min(contact) FROM participants WHERE conversation = (SELECT min(conversation) FROM participants))`},
		{"text vs blob", `UPDATE messages SET body = CAST(body AS BLOB) WHERE id = (SELECT min(id) FROM messages)`},
		{"contact source", `UPDATE contacts SET source = 'whatsapp' WHERE id = (SELECT max(id) FROM contacts)`},
		{"contact native", `UPDATE contacts SET native = 'user1' WHERE id = (SELECT max(id) FROM contacts)`},
		{"contact self", `UPDATE contacts SET self = 1 WHERE id = (SELECT max(id) FROM contacts)`},
		{"conversation source", `UPDATE conversations SET source = 'telegram' WHERE id = (SELECT max(id) FROM conversations)`},
		{"conversation native", `UPDATE conversations SET native = '12' WHERE id = (SELECT max(id) FROM conversations)`},
		{"message kind", `UPDATE messages SET kind = 1 WHERE id = (SELECT min(id) FROM messages)`},
		{"message native", `UPDATE messages SET native = '7' WHERE id = (SELECT min(id) FROM messages)`},
		{"message omitted", `UPDATE messages SET omitted = 1 WHERE id = (SELECT min(id) FROM messages)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := StatsOf(context.Background(), mutate(t, snap, tt.q))
			if err != nil {
				t.Fatal(err)
			}
			if got.Digest == want.Digest {
				t.Fatalf("digest unchanged after %s", tt.name)
			}
		})
	}
}

func TestMergeIdempotentAndCommutative(t *testing.T) {
	ctx := context.Background()
	a, sa := seeded(t, seedOptions{Messages: 2000, MediaBytes: 1 << 20, Seed: 1})
	b, sb := seeded(t, seedOptions{Messages: 1500, MediaBytes: 1 << 20, Seed: 2})
	snapA, snapB := snapshot(t, a), snapshot(t, b)

	ab := newStore(t)
	if err := ab.Adopt(ctx, copied(t, snapA)); err != nil {
		t.Fatalf("Adopt: %v", err)
	}
	if err := ab.CheckContains(ctx, snapB); !errors.Is(err, ErrMissing) {
		t.Fatalf("CheckContains before merge: got %v, want ErrMissing", err)
	}
	installAll(t, ab, a)
	installAll(t, ab, b)
	res, err := ab.Merge(ctx, snapB)
	if err != nil {
		t.Fatalf("Merge: %v", err)
	}
	if got, want := res, (MergeResult{Conversations: sb.Conversations, Messages: sb.Messages, Attachments: sb.Attachments}); got != want {
		t.Fatalf("first merge: got %+v, want %+v", got, want)
	}
	once := mustStats(t, ab)
	if got, want := once.Messages, sa.Messages+sb.Messages; got != want {
		t.Fatalf("got %d messages, want %d", got, want)
	}
	res, err = ab.Merge(ctx, snapB)
	if err != nil {
		t.Fatalf("second Merge: %v", err)
	}
	if res != (MergeResult{}) {
		t.Fatalf("second merge added %+v, want nothing", res)
	}
	if got := mustStats(t, ab); got != once {
		t.Fatalf("after second merge got %+v, want %+v", got, once)
	}
	for _, snap := range []string{snapA, snapB} {
		if err := ab.CheckContains(ctx, snap); err != nil {
			t.Fatalf("CheckContains: %v", err)
		}
	}
	if err := ab.Verify(ctx); err != nil {
		t.Fatalf("Verify: %v", err)
	}

	ba := newStore(t)
	if err := ba.Adopt(ctx, copied(t, snapB)); err != nil {
		t.Fatalf("Adopt: %v", err)
	}
	if _, err := ba.Merge(ctx, snapA); err != nil {
		t.Fatalf("Merge: %v", err)
	}
	if got := mustStats(t, ba); got.Digest != once.Digest {
		t.Fatalf("B+A digest %s, A+B digest %s", got.Digest, once.Digest)
	}
}

// copied copies a file into a fresh temporary directory.
func copied(t *testing.T, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "staged.db")
	copyFile(t, src, p)
	return p
}

// installAll installs from's media into s, as the transfer engine would.
func installAll(t *testing.T, s, from *Store) {
	t.Helper()
	atts, err := ListAttachments(context.Background(), from.DBPath())
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range atts {
		staged := filepath.Join(s.Home(), "staged-media")
		copyFile(t, from.MediaPath(a.Hash), staged)
		if err := s.InstallMedia(a.Hash, staged); err != nil {
			t.Fatal(err)
		}
	}
}

func TestMergePartialOverlap(t *testing.T) {
	ctx := context.Background()
	src, _ := seeded(t, seedOptions{Messages: 2000, Seed: 1})
	old := snapshot(t, src)
	full, err := addSeed(ctx, src, seedOptions{Messages: 700, MediaBytes: 300 << 10, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	dst := newStore(t)
	if err := dst.Adopt(ctx, copied(t, old)); err != nil {
		t.Fatal(err)
	}
	installAll(t, dst, src)
	snap := snapshot(t, src)
	res, err := dst.Merge(ctx, snap)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Messages, int64(700); got != want {
		t.Errorf("merge added %d messages, want %d", got, want)
	}
	if got := mustStats(t, dst); got != full {
		t.Errorf("got %+v, want %+v", got, full)
	}
	if err := dst.CheckContains(ctx, snap); err != nil {
		t.Errorf("CheckContains: %v", err)
	}
}

// msgVersion is the mutable part of a message.
type msgVersion struct {
	edited  int64
	body    string
	deleted int64
}

// oneMessageStore makes a store with one conversation and message 1 at version v,
// plus the given reaction emoji.
func oneMessageStore(t *testing.T, v msgVersion, emoji string) *Store {
	t.Helper()
	s := newStore(t)
	id := func(n byte) []byte { b := make([]byte, 16); b[15] = n; return b }
	for _, q := range []struct {
		q    string
		args []any
	}{
		{`INSERT INTO contacts (id, name, phone, updated) VALUES (?, 'Ann', '+1', 5)`, []any{id(2)}},
		{`INSERT INTO conversations (id, kind, title, created, updated) VALUES (?, 1, 'Ann', 5, 5)`, []any{id(3)}},
		{`INSERT INTO participants VALUES (?, ?)`, []any{id(3), id(2)}},
		{`INSERT INTO messages (id, conversation, sender, sent, received, body, reply_to, edited, deleted) VALUES (?, ?, ?, 10, 11, ?, NULL, ?, ?)`, []any{id(1), id(3), id(2), v.body, v.edited, v.deleted}},
		{`INSERT INTO reactions VALUES (?, ?, ?)`, []any{id(1), id(2), emoji}},
	} {
		if _, err := s.db.Exec(q.q, q.args...); err != nil {
			t.Fatalf("%s: %v", q.q, err)
		}
	}
	return s
}

func TestMergeNewerEditWins(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name           string
		target, source msgVersion
		want           msgVersion
	}{
		{"source edited", msgVersion{0, "hi", 0}, msgVersion{20, "hi!", 0}, msgVersion{20, "hi!", 0}},
		{"target newer", msgVersion{30, "hey", 0}, msgVersion{20, "hi!", 0}, msgVersion{30, "hey", 0}},
		{"tie broken by body", msgVersion{20, "a", 0}, msgVersion{20, "b", 0}, msgVersion{20, "b", 0}},
		{"deleted in source", msgVersion{30, "hey", 0}, msgVersion{20, "hi!", 40}, msgVersion{30, "hey", 40}},
		{"deleted in target", msgVersion{0, "hi", 50}, msgVersion{20, "hi!", 0}, msgVersion{20, "hi!", 50}},
		{"same", msgVersion{0, "hi", 0}, msgVersion{0, "hi", 0}, msgVersion{0, "hi", 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var digests []string
			// Merge both ways: the result must not depend on the direction.
			for _, dir := range [][2]msgVersion{{tt.target, tt.source}, {tt.source, tt.target}} {
				dst := oneMessageStore(t, dir[0], "👍")
				src := oneMessageStore(t, dir[1], "❤️")
				snap := snapshot(t, src)
				if _, err := dst.Merge(ctx, snap); err != nil {
					t.Fatal(err)
				}
				var got msgVersion
				if err := dst.db.QueryRow(`SELECT edited, body, deleted FROM messages`).Scan(&got.edited, &got.body, &got.deleted); err != nil {
					t.Fatal(err)
				}
				if got != tt.want {
					t.Errorf("got %+v, want %+v", got, tt.want)
				}
				var reactions int
				dst.db.QueryRow(`SELECT count(*) FROM reactions`).Scan(&reactions)
				if reactions != 2 {
					t.Errorf("got %d reactions, want the union of 2", reactions)
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

func TestCheckContainsDetectsOlderVersion(t *testing.T) {
	ctx := context.Background()
	dst := oneMessageStore(t, msgVersion{10, "old", 0}, "👍")
	src := oneMessageStore(t, msgVersion{20, "new", 0}, "👍")
	if err := dst.CheckContains(ctx, snapshot(t, src)); !errors.Is(err, ErrMissing) {
		t.Fatalf("got %v, want ErrMissing", err)
	}
	if err := src.CheckContains(ctx, snapshot(t, dst)); err != nil {
		t.Fatalf("newer version should contain older: %v", err)
	}
}

func TestMergeAtomic(t *testing.T) {
	ctx := context.Background()
	dst, _ := seeded(t, seedOptions{Messages: 1000, MediaBytes: 1 << 20, Seed: 1})
	src, _ := seeded(t, seedOptions{Messages: 1000, MediaBytes: 1 << 20, Seed: 2})
	// Attachments merge last: a trigger makes the merge fail after the
	// messages went in.
	if _, err := dst.db.Exec(`CREATE TRIGGER boom BEFORE INSERT ON attachments WHEN NEW.name = 'boom'
		BEGIN SELECT RAISE(ABORT, 'boom'); END`); err != nil {
		t.Fatal(err)
	}
	before := mustStats(t, dst)
	snap := mutate(t, snapshot(t, src), `UPDATE attachments SET name = 'boom' WHERE id = (SELECT max(id) FROM attachments)`)
	if _, err := dst.Merge(ctx, snap); err == nil {
		t.Fatal("Merge succeeded, want the trigger's error")
	}
	if got := mustStats(t, dst); got != before {
		t.Fatalf("after failed merge got %+v, want %+v", got, before)
	}
	if _, err := dst.db.Exec(`DROP TRIGGER boom`); err != nil {
		t.Fatal(err)
	}
	if _, err := dst.Merge(ctx, snap); err != nil {
		t.Fatalf("Merge after the failure: %v", err)
	}
}

func TestAdopt(t *testing.T) {
	ctx := context.Background()
	src, want := seeded(t, seedOptions{Messages: 2000, MediaBytes: 1 << 20, Seed: 5})
	snap := snapshot(t, src)
	dst := newStore(t)
	if empty, err := dst.IsEmpty(ctx); err != nil || !empty {
		t.Fatalf("IsEmpty = %v, %v; want true", empty, err)
	}
	staged := copied(t, snap)
	if err := dst.Adopt(ctx, staged); err != nil {
		t.Fatalf("Adopt: %v", err)
	}
	if _, err := os.Stat(staged); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("staged file still there: %v", err)
	}
	if got := mustStats(t, dst); got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if empty, _ := dst.IsEmpty(ctx); empty {
		t.Fatal("IsEmpty after adopt")
	}
	if err := dst.Adopt(ctx, copied(t, snap)); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("second Adopt: got %v, want ErrNotEmpty", err)
	}
	// Still usable: seed more, close, reopen.
	more, err := addSeed(ctx, dst, seedOptions{Messages: 100, Seed: 1})
	if err != nil {
		t.Fatalf("Seed after adopt: %v", err)
	}
	home := dst.Home()
	dst.Close()
	re, err := Open(ctx, home, Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer re.Close()
	if got := mustStats(t, re); got != more {
		t.Fatalf("after reopen got %+v, want %+v", got, more)
	}
	var mode string
	re.db.QueryRow("PRAGMA journal_mode").Scan(&mode)
	if mode != "wal" {
		t.Errorf("journal_mode %q after adopt, want wal", mode)
	}
}

func TestAdoptRejectsBadSnapshot(t *testing.T) {
	ctx := context.Background()
	dst := newStore(t)
	junk := filepath.Join(t.TempDir(), "junk.db")
	os.WriteFile(junk, bytes.Repeat([]byte("not a database "), 1000), 0o600)
	if err := dst.Adopt(ctx, junk); !errors.Is(err, ErrNotAStore) {
		t.Fatalf("got %v, want ErrNotAStore", err)
	}
	if empty, err := dst.IsEmpty(ctx); err != nil || !empty {
		t.Fatalf("after rejected adopt: IsEmpty %v, %v", empty, err)
	}
}

func TestSnapshotWhileWriting(t *testing.T) {
	ctx := context.Background()
	home := filepath.Join(t.TempDir(), "home")
	w, err := Open(ctx, home, Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r, err := Open(ctx, home, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	const batch = 50
	started, stop := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		seq := int64(0)
		for i := 0; ; i++ {
			// A failure before the first batch commits must still let
			// the test go on (and report it) instead of hanging.
			fail := func(err error) {
				done <- err
				if i == 0 {
					close(started)
				}
			}
			tx, err := w.db.Begin()
			if err != nil {
				fail(err)
				return
			}
			for range batch {
				seq++
				id := binary.BigEndian.AppendUint64(make([]byte, 0, 16), uint64(seq)<<16)
				id = append(id, make([]byte, 8)...)
				if _, err := tx.Exec(`INSERT INTO messages (id, conversation, sender, sent, received, body, reply_to, edited, deleted) VALUES (?, ?, ?, ?, ?, 'x', NULL, 0, 0)`, id, id, id, seq, seq); err != nil {
					tx.Rollback()
					fail(err)
					return
				}
			}
			if err := tx.Commit(); err != nil {
				fail(err)
				return
			}
			if i == 0 {
				close(started)
			}
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
		}
	}()
	<-started
	snap := filepath.Join(t.TempDir(), "snap.db")
	serr := r.Snapshot(ctx, snap)
	live, lerr := r.Stats(ctx) // one read transaction on a read-only store
	close(stop)
	if err := <-done; err != nil {
		t.Fatalf("writer: %v", err)
	}
	if serr != nil {
		t.Fatalf("Snapshot: %v", serr)
	}
	if lerr != nil {
		t.Fatalf("Stats: %v", lerr)
	}
	if live.Messages == 0 || live.Messages%batch != 0 {
		t.Fatalf("live Stats counted %d messages, want whole batches of %d", live.Messages, batch)
	}
	if err := validateSnapshot(ctx, snap); err != nil {
		t.Fatalf("snapshot invalid: %v", err)
	}
	db, err := openSnapshotRO(ctx, snap)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n, lo, hi int64
	if err := db.QueryRow(`SELECT count(*), coalesce(min(sent), 0), coalesce(max(sent), 0) FROM messages`).Scan(&n, &lo, &hi); err != nil {
		t.Fatal(err)
	}
	if n == 0 || n%batch != 0 || lo != 1 || hi != n {
		t.Fatalf("snapshot holds %d messages, sent %d..%d; want a prefix of whole batches of %d", n, lo, hi, batch)
	}
	total := mustStats(t, w).Messages
	if total < n {
		t.Fatalf("store has %d messages, snapshot %d", total, n)
	}
	t.Logf("snapshot %d of %d messages", n, total)
}

func TestLocked(t *testing.T) {
	ctx := context.Background()
	home := filepath.Join(t.TempDir(), "home")
	s, err := Open(ctx, home, Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, home, Options{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: got %v, want ErrLocked", err)
	}
	ro, err := Open(ctx, home, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only Open while locked: %v", err)
	}
	ro.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.Stats(ctx); err == nil {
		t.Fatal("Stats after Close succeeded")
	}
	s2, err := Open(ctx, home, Options{})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	s2.Close()
}

func TestLockedAcrossProcesses(t *testing.T) {
	if os.Getenv("FERRY_LOCK_HELPER") != "" {
		// The helper process: hold the store until stdin closes.
		s, err := Open(context.Background(), os.Getenv("FERRY_LOCK_HELPER"), Options{Create: true})
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("locked")
		bufio.NewReader(os.Stdin).ReadString('\n')
		s.Close()
		os.Exit(0)
	}
	ctx := context.Background()
	home := filepath.Join(t.TempDir(), "home")
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockedAcrossProcesses$")
	cmd.Env = append(os.Environ(), "FERRY_LOCK_HELPER="+home)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if line != "locked\n" {
		stdin.Close()
		cmd.Wait()
		t.Fatalf("helper said %q", line)
	}
	_, err := Open(ctx, home, Options{})
	stdin.Close()
	if werr := cmd.Wait(); werr != nil {
		t.Fatalf("helper: %v", werr)
	}
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("Open while another process holds it: got %v, want ErrLocked", err)
	}
	s, err := Open(ctx, home, Options{})
	if err != nil {
		t.Fatalf("Open after the other process exited: %v", err)
	}
	s.Close()
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	mkHome := func(name string, db []byte) string {
		h := filepath.Join(dir, name)
		os.Mkdir(h, 0o700)
		if db != nil {
			os.WriteFile(filepath.Join(h, DBName), db, 0o600)
		}
		return h
	}
	rawDB := func(name string, qs ...string) string {
		h := mkHome(name, nil)
		db, err := openSQL(filepath.Join(h, DBName), false)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		for _, q := range qs {
			if _, err := db.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		return h
	}
	tooNew := func() string {
		h := filepath.Join(dir, "toonew")
		s, err := Open(ctx, h, Options{Create: true})
		if err != nil {
			t.Fatal(err)
		}
		s.db.Exec("PRAGMA user_version = 99")
		s.Close()
		return h
	}()
	truncated := func() string {
		h := filepath.Join(dir, "truncated")
		s, err := Open(ctx, h, Options{Create: true})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		db := filepath.Join(h, DBName)
		fi, err := os.Stat(db)
		if err != nil || fi.Size() < 3*4096 {
			t.Fatalf("a new history is %v bytes (%v): too small to cut", fi.Size(), err)
		}
		if err := os.Truncate(db, fi.Size()/2/4096*4096); err != nil {
			t.Fatal(err)
		}
		return h
	}()
	os.WriteFile(filepath.Join(dir, "file"), []byte("x"), 0o600)
	random := make([]byte, 8192)
	for i := range random {
		random[i] = byte(i*7 + i>>8)
	}
	tests := []struct {
		name string
		home string
		opts Options
		want error
	}{
		{"missing home", filepath.Join(dir, "nope"), Options{}, ErrNoHome},
		{"missing home read-only", filepath.Join(dir, "nope"), Options{ReadOnly: true}, ErrNoHome},
		{"missing parent", filepath.Join(dir, "nope", "home"), Options{Create: true}, ErrNoHome},
		{"home is a file", filepath.Join(dir, "file"), Options{}, ErrNoHome},
		{"random bytes", mkHome("random", random), Options{}, ErrNotAStore},
		{"random bytes read-only", mkHome("random", nil), Options{ReadOnly: true}, ErrNotAStore},
		{"no database read-only", mkHome("empty", nil), Options{ReadOnly: true}, ErrNotAStore},
		{"other application", rawDB("other", "PRAGMA application_id = 7", "CREATE TABLE t (x)"), Options{}, ErrNotAStore},
		{"foreign tables", rawDB("foreign", "CREATE TABLE t (x)"), Options{}, ErrNotAStore},
		{"truncated", truncated, Options{}, ErrCorrupt},
		{"truncated read-only", truncated, Options{ReadOnly: true}, ErrCorrupt},
		{"too new", tooNew, Options{}, ErrTooNew},
		{"too new read-only", tooNew, Options{ReadOnly: true}, ErrTooNew},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(ctx, tt.home, tt.opts)
			if err == nil {
				s.Close()
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("merge too new", func(t *testing.T) {
		dst := newStore(t)
		if _, err := dst.Merge(ctx, filepath.Join(tooNew, DBName)); !errors.Is(err, ErrTooNew) {
			t.Fatalf("got %v, want ErrTooNew", err)
		}
	})
	t.Run("stats of random file", func(t *testing.T) {
		if _, err := StatsOf(ctx, filepath.Join(dir, "random", DBName)); !errors.Is(err, ErrNotAStore) {
			t.Fatalf("got %v, want ErrNotAStore", err)
		}
	})
}

func fileState(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return "absent"
	}
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(p)
	return fmt.Sprintf("%x %v", sha256.Sum256(b), fi.ModTime())
}

func TestSourceNeverModified(t *testing.T) {
	ctx := context.Background()
	w, _ := seeded(t, seedOptions{Messages: 2000, MediaBytes: 1 << 20, Seed: 1})
	home := w.Home()
	w.Close()
	files := []string{filepath.Join(home, DBName), filepath.Join(home, DBName+"-wal")}
	var before []string
	for _, f := range files {
		before = append(before, fileState(t, f))
	}
	r, err := Open(ctx, home, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Stats(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Snapshot(ctx, filepath.Join(t.TempDir(), "s.db")); err != nil {
		t.Fatal(err)
	}
	if _, err := ListAttachments(ctx, r.DBPath()); err != nil {
		t.Fatal(err)
	}
	if err := r.Verify(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Merge(ctx, filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("Merge on a read-only store succeeded")
	}
	r.Close()
	for i, f := range files {
		got := fileState(t, f)
		if fi, err := os.Stat(f); before[i] == "absent" && err == nil && fi.Size() == 0 {
			continue // SQLite's WAL reader protocol may leave an empty -wal behind
		}
		if got != before[i] {
			t.Errorf("%s changed: %s -> %s", filepath.Base(f), before[i], got)
		}
	}
}

func TestMedia(t *testing.T) {
	ctx := context.Background()
	s, st := seeded(t, seedOptions{Messages: 500, MediaBytes: 2 << 20, Seed: 1})
	atts, err := ListAttachments(ctx, s.DBPath())
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for i, a := range atts {
		sum += a.Size
		if i > 0 && bytes.Compare(atts[i-1].Hash[:], a.Hash[:]) >= 0 {
			t.Fatalf("attachments not sorted and distinct at %d", i)
		}
		if !s.HasMedia(a.Hash, a.Size) {
			t.Fatalf("HasMedia(%s) = false", a.Hash)
		}
	}
	if sum != st.MediaBytes {
		t.Fatalf("listed %d bytes, stats say %d", sum, st.MediaBytes)
	}
	if err := s.Verify(ctx); err != nil {
		t.Fatalf("Verify: %v", err)
	}

	// Install into another store.
	d := newStore(t)
	a := atts[0]
	staged := filepath.Join(d.Home(), "staged")
	copyFile(t, s.MediaPath(a.Hash), staged)
	if d.HasMedia(a.Hash, a.Size) {
		t.Fatal("HasMedia before install")
	}
	if err := d.InstallMedia(a.Hash, staged); err != nil {
		t.Fatal(err)
	}
	if !d.HasMedia(a.Hash, a.Size) || d.HasMedia(a.Hash, a.Size+1) {
		t.Fatal("HasMedia wrong after install")
	}
	copyFile(t, s.MediaPath(a.Hash), staged)
	if err := d.InstallMedia(a.Hash, staged); err != nil {
		t.Fatalf("second install: %v", err)
	}

	// Damage: one flipped byte, then a missing file.
	p := s.MediaPath(atts[len(atts)-1].Hash)
	b, _ := os.ReadFile(p)
	b[len(b)/2] ^= 1
	os.WriteFile(p, b, 0o600)
	if err := s.Verify(ctx); !errors.Is(err, ErrMediaDamaged) {
		t.Fatalf("Verify after flip: got %v, want ErrMediaDamaged", err)
	}
	os.Remove(p)
	if err := s.Verify(ctx); !errors.Is(err, ErrMediaDamaged) {
		t.Fatalf("Verify after remove: got %v, want ErrMediaDamaged", err)
	}
	if err := s.CheckContains(ctx, snapshot(t, s)); !errors.Is(err, ErrMissing) {
		t.Fatalf("CheckContains with a missing file: got %v, want ErrMissing", err)
	}
}
