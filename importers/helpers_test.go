package importers

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lukechampine.com/blake3"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/internal/exportgen"
)

// newHome opens a store in a fresh temporary home.
func newHome(t testing.TB) *chatstore.Store {
	t.Helper()
	st, err := chatstore.Open(context.Background(), filepath.Join(t.TempDir(), "home"), chatstore.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// zipDir zips the files under dir into a new zip named name in a
// temporary directory.
func zipDir(t testing.TB, dir, name string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name)
	if err := exportgen.ZipFolder(out, dir); err != nil {
		t.Fatal(err)
	}
	return out
}

// dump renders what a home holds, for the .want files: every
// conversation with its people and its messages in order.
func dump(t testing.TB, st *chatstore.Store) string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+st.DBPath()+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var b strings.Builder
	q := func(query string, args ...any) *sql.Rows {
		t.Helper()
		rows, err := db.Query(query, args...)
		if err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		return rows
	}
	convs := q(`SELECT id, kind, title, created, updated, source, native FROM conversations ORDER BY source, title`)
	type conv struct {
		id                    []byte
		kind                  int
		title, source, native string
		created, updated      int64
	}
	var cs []conv
	for convs.Next() {
		var c conv
		if err := convs.Scan(&c.id, &c.kind, &c.title, &c.created, &c.updated, &c.source, &c.native); err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	convs.Close()
	ms := func(v int64) string { return time.UnixMilli(v).UTC().Format("2006-01-02 15:04:05") }
	for _, c := range cs {
		kind := map[int]string{1: "direct", 2: "group"}[c.kind]
		fmt.Fprintf(&b, "conversation %q %s source=%s native=%q created=%d updated=%s\n", c.title, kind, c.source, c.native, c.created, ms(c.updated))
		people := q(`SELECT k.name, k.self, k.native, k.phone FROM participants p JOIN contacts k ON k.id = p.contact WHERE p.conversation = ? ORDER BY k.name`, c.id)
		var names []string
		for people.Next() {
			var name, native, phone string
			var self int
			people.Scan(&name, &self, &native, &phone)
			if native != "" {
				name += " [" + native + "]"
			}
			if phone != "" {
				name += " tel " + phone
			}
			if self == 1 {
				name += " (owner)"
			}
			names = append(names, name)
		}
		people.Close()
		fmt.Fprintf(&b, "  people: %s\n", strings.Join(names, ", "))
		msgs := q(`SELECT m.id, m.sent, m.received, coalesce(k.name, ''), m.kind, m.body, m.edited, m.deleted, m.omitted, m.native,
			(SELECT substr(r.body, 1, 24) FROM messages r WHERE r.id = m.reply_to), m.reply_to IS NOT NULL
			FROM messages m LEFT JOIN contacts k ON k.id = m.sender WHERE m.conversation = ? ORDER BY m.sent, m.native, m.body, m.id`, c.id)
		type msg struct {
			id                              []byte
			sent, received, edited, deleted int64
			sender, body, native            string
			kind, omitted                   int
			reply                           sql.NullString
			hasReply                        bool
		}
		var list []msg
		for msgs.Next() {
			var m msg
			if err := msgs.Scan(&m.id, &m.sent, &m.received, &m.sender, &m.kind, &m.body, &m.edited, &m.deleted, &m.omitted, &m.native, &m.reply, &m.hasReply); err != nil {
				t.Fatal(err)
			}
			list = append(list, m)
		}
		msgs.Close()
		for _, m := range list {
			who := m.sender + ":"
			if m.kind == 1 {
				who = "event"
				if m.sender != "" {
					who += " by " + m.sender
				}
				who += ":"
			}
			if m.native != "" {
				who = "#" + m.native + " " + who
			}
			fmt.Fprintf(&b, "  %s %s %q\n", ms(m.sent), who, m.body)
			if got := idTime([16]byte(m.id)); got != m.sent {
				t.Errorf("message %x: ID time %d, sent %d", m.id, got, m.sent)
			}
			if m.received != m.sent {
				fmt.Fprintf(&b, "    received %s\n", ms(m.received))
			}
			if m.edited != 0 {
				fmt.Fprintf(&b, "    edited %s\n", ms(m.edited))
			}
			if m.deleted != 0 {
				fmt.Fprintf(&b, "    deleted %s\n", ms(m.deleted))
			}
			if m.omitted != 0 {
				fmt.Fprintf(&b, "    %d attachment(s) not in the export\n", m.omitted)
			}
			if m.hasReply {
				if m.reply.Valid {
					fmt.Fprintf(&b, "    reply to %q\n", m.reply.String)
				} else {
					fmt.Fprintf(&b, "    reply to a message not in the home\n")
				}
			}
			atts := q(`SELECT name, mime, size, hex(hash) FROM attachments WHERE message = ? ORDER BY name`, m.id)
			for atts.Next() {
				var name, mime, hash string
				var size int64
				atts.Scan(&name, &mime, &size, &hash)
				fmt.Fprintf(&b, "    attachment %s %s %d bytes blake3 %s\n", name, mime, size, strings.ToLower(hash[:16]))
				var h chatstore.Hash
				if _, err := hex.Decode(h[:], []byte(hash)); err != nil {
					t.Fatal(err)
				}
				if !st.HasMedia(h, size) {
					t.Errorf("media of %s is not in the home", name)
				}
			}
			atts.Close()
			rs := q(`SELECT r.emoji, k.name FROM reactions r JOIN contacts k ON k.id = r.reactor WHERE r.message = ? ORDER BY k.name`, m.id)
			for rs.Next() {
				var e, name string
				rs.Scan(&e, &name)
				fmt.Fprintf(&b, "    reaction %s by %s\n", e, name)
			}
			rs.Close()
		}
	}
	return b.String()
}

// dumpResult renders a Result without its timing.
func dumpResult(r Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "format %s, %d chats, %d read, owner %q\n", r.Format, r.Chats, r.Read, r.Owner)
	fmt.Fprintf(&b, "added %d conversations, %d messages, %d attachments, %d media bytes\n",
		r.Added.Conversations, r.Added.Messages, r.Added.Attachments, r.Added.MediaBytes)
	fmt.Fprintf(&b, "%d unreadable\n", r.Unreadable)
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "  %s %s: %s: %q\n", p.File, p.Where, p.Reason, p.Text)
	}
	return b.String()
}

// homeFiles lists every file under a home with its size and content hash,
// for before/after comparisons.
func homeFiles(t testing.TB, home string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.Walk(home, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(home, p)
		if fi.IsDir() {
			out[rel+"/"] = "dir"
			return nil
		}
		if strings.HasSuffix(rel, "-shm") || strings.HasSuffix(rel, "-wal") || rel == ".lock" {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h := blake3.New(32, nil)
		io.Copy(h, f)
		out[rel] = fmt.Sprintf("%d %x", fi.Size(), h.Sum(nil))
		return nil
	})
	return out
}
