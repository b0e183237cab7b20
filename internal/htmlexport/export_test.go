package htmlexport

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
	"lukechampine.com/blake3"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/chatstore/seed"
)

// seededHome makes a home with a seeded history, plus what extra adds
// straight into its database.
func seededHome(t *testing.T, messages int, mediaMB int64, extra func(t *testing.T, home string, db *sql.DB)) *chatstore.Store {
	t.Helper()
	ctx := context.Background()
	home := filepath.Join(t.TempDir(), "home")
	st, err := chatstore.Open(ctx, home, chatstore.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := seed.Add(ctx, st, seed.Options{Messages: messages, MediaBytes: mediaMB << 20, Seed: 5}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if extra != nil {
		db, err := sql.Open("sqlite", "file:"+filepath.Join(home, chatstore.DBName))
		if err != nil {
			t.Fatal(err)
		}
		extra(t, home, db)
		db.Close()
	}
	st, err = chatstore.Open(ctx, home, chatstore.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// exported is a message as read back from the HTML.
type exported struct {
	id, sender, sent, body string
	deleted                bool
	files                  []exportedFile
}

type exportedFile struct {
	name, mime, href string
	size             int64
}

// readBack parses the export in dir: the index, then each conversation's
// pages by their "newer" links. It returns the messages of each
// conversation (by ID) in page order, and every page's parsed tree.
func readBack(t *testing.T, dir string) (map[string][]exported, map[string]string, []*html.Node) {
	t.Helper()
	root := parseFile(t, filepath.Join(dir, "index.html"))
	convs := map[string][]exported{}
	titles := map[string]string{}
	docs := []*html.Node{root}
	for li := range find(root, func(n *html.Node) bool { return hasClass(n, "conv") }) {
		id := attr(li, "data-id")
		a := first(li, func(n *html.Node) bool { return n.Data == "a" })
		titles[id] = text(a)
		page := filepath.Join(dir, filepath.FromSlash(attr(a, "href")))
		for page != "" {
			doc := parseFile(t, page)
			docs = append(docs, doc)
			for art := range find(doc, func(n *html.Node) bool { return n.Data == "article" && hasClass(n, "msg") }) {
				m := exported{id: attr(art, "data-id")}
				m.sender = text(first(art, func(n *html.Node) bool { return hasClass(n, "sender") }))
				m.sent = attr(first(art, func(n *html.Node) bool { return n.Data == "time" }), "datetime")
				if b := first(art, func(n *html.Node) bool { return hasClass(n, "body") }); b != nil {
					m.body = text(b)
				}
				m.deleted = first(art, func(n *html.Node) bool { return hasClass(n, "deleted") }) != nil
				for f := range find(art, func(n *html.Node) bool { return hasClass(n, "file") }) {
					size, _ := strconv.ParseInt(attr(f, "data-size"), 10, 64)
					nm := first(f, func(n *html.Node) bool { return hasClass(n, "name") })
					m.files = append(m.files, exportedFile{name: text(nm), mime: attr(f, "data-mime"), href: attr(nm, "href"), size: size})
				}
				convs[id] = append(convs[id], m)
			}
			page = ""
			if next := first(doc, func(n *html.Node) bool { return n.Data == "a" && attr(n, "rel") == "next" }); next != nil {
				page = filepath.Join(filepath.Dir(filepath.Join(dir, "c", "x")), filepath.FromSlash(attr(next, "href")))
			}
		}
	}
	return convs, titles, docs
}

// fromStore reads every conversation's messages straight from the
// database, not through chatstore's queries, in (sent, id) order.
func fromStore(t *testing.T, st *chatstore.Store) (map[string][]exported, map[string]string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+st.DBPath()+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT hex(m.conversation), hex(m.id), coalesce(k.name, ''), m.sender, m.sent, m.body, m.deleted
		FROM messages m LEFT JOIN contacts k ON k.id = m.sender ORDER BY m.conversation, m.sent, m.id`)
	if err != nil {
		t.Fatal(err)
	}
	convs := map[string][]exported{}
	for rows.Next() {
		var conv, id, sender, body string
		var senderID []byte
		var sent, deleted int64
		if err := rows.Scan(&conv, &id, &sender, &senderID, &sent, &body, &deleted); err != nil {
			t.Fatal(err)
		}
		if sender == "" {
			sender = "unknown (" + fmt.Sprintf("%x", senderID)[:8] + ")"
		}
		m := exported{id: strings.ToLower(id), sender: sender, sent: iso(time.UnixMilli(sent)), deleted: deleted != 0}
		if !m.deleted {
			m.body = strings.ReplaceAll(body, "\r", "\n") // as HTML reads it
		}
		convs[strings.ToLower(conv)] = append(convs[strings.ToLower(conv)], m)
	}
	rows.Close()
	rows, err = db.Query(`SELECT hex(a.message), a.name, a.mime, a.size, hex(a.hash) FROM attachments a
		JOIN messages m ON m.id = a.message ORDER BY m.conversation, m.sent, m.id, a.id`)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]exportedFile{}
	for rows.Next() {
		var msg, hash string
		var f exportedFile
		if err := rows.Scan(&msg, &f.name, &f.mime, &f.size, &hash); err != nil {
			t.Fatal(err)
		}
		f.href = strings.ToLower(hash) // compared with the file the link names
		files[strings.ToLower(msg)] = append(files[strings.ToLower(msg)], f)
	}
	rows.Close()
	for _, ms := range convs {
		for i := range ms {
			ms[i].files = files[ms[i].id]
		}
	}
	titles := map[string]string{}
	rows, err = db.Query(`SELECT hex(id), title FROM conversations`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, title string
		rows.Scan(&id, &title)
		titles[strings.ToLower(id)] = title
	}
	rows.Close()
	return convs, titles
}

// TestRoundTrip exports a seeded history in small pages, parses the HTML
// back and compares every message, attachment and media file with the
// store.
func TestRoundTrip(t *testing.T) {
	st := seededHome(t, 3000, 3, nil)
	dir := filepath.Join(t.TempDir(), "export")
	res, err := Write(context.Background(), st, dir, Options{PageSize: 97, Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	stats, err := st.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Messages != stats.Messages || res.Conversations != int(stats.Conversations) || res.MissingMedia != 0 || res.MediaFiles == 0 || res.Pages <= res.Conversations {
		t.Errorf("result %+v for a history of %+v", res, stats)
	}
	got, gotTitles, _ := readBack(t, dir)
	want, wantTitles := fromStore(t, st)
	if len(got) != len(want) {
		t.Errorf("export has %d conversations, the store %d", len(got), len(want))
	}
	for id, title := range wantTitles {
		if gotTitles[id] != title {
			t.Errorf("conversation %s: title %q, want %q", id, gotTitles[id], title)
		}
	}
	var checked, files int
	for conv, wms := range want {
		gms := got[conv]
		if len(gms) != len(wms) {
			t.Errorf("conversation %s: %d messages exported, %d in the store", conv, len(gms), len(wms))
			continue
		}
		for i, w := range wms {
			g := gms[i]
			gf := g.files
			g.files, w.files = nil, nil
			if fmt.Sprint(g) != fmt.Sprint(w) {
				t.Errorf("conversation %s message %d:\ngot  %+v\nwant %+v", conv, i, g, w)
				continue
			}
			checked++
			wf := wms[i].files
			if len(gf) != len(wf) {
				t.Errorf("message %s: %d files, want %d", w.id, len(gf), len(wf))
				continue
			}
			for j := range wf {
				if gf[j].name != wf[j].name || gf[j].mime != wf[j].mime || gf[j].size != wf[j].size {
					t.Errorf("message %s file %d: got %+v, want %+v", w.id, j, gf[j], wf[j])
				}
				// The link leads to the very bytes.
				p := filepath.Join(dir, "c", filepath.FromSlash(gf[j].href))
				b, err := os.ReadFile(p)
				if err != nil {
					t.Errorf("message %s file %q: %v", w.id, gf[j].name, err)
					continue
				}
				if h := blake3.Sum256(b); fmt.Sprintf("%x", h) != wf[j].href || int64(len(b)) != wf[j].size {
					t.Errorf("message %s file %q: the linked file has other bytes", w.id, gf[j].name)
				}
				files++
			}
		}
	}
	if checked != int(stats.Messages) || files != int(stats.Attachments) {
		t.Errorf("checked %d messages and %d files, the history has %d and %d", checked, files, stats.Messages, stats.Attachments)
	}
}

// TestHostileContentStaysText exports messages, names and files made to
// break out of the HTML: every one must read back as the same text, and
// the pages must hold no script, no event handler, and no file outside
// the export or under a name from the history.
func TestHostileContentStaysText(t *testing.T) {
	body := `<img src=x onerror=alert(1)>`
	bodies := []string{body, `</p><script>alert(2)</script>`, `"><svg onload=alert(3)>`, "{{.Title}} ` ${x} <!-- -->", "line one\nline two\t<b>bold</b>"}
	htmlFile := []byte(`<script>alert("from a file")</script>`)
	fileHash := blake3.Sum256(htmlFile)
	st := seededHome(t, 50, 0, func(t *testing.T, home string, db *sql.DB) {
		exec := func(q string, args ...any) {
			if _, err := db.Exec(q, args...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		conv, who := mkID(1), mkID(2)
		exec(`INSERT INTO contacts (id, name, phone, updated) VALUES (?, ?, '', 1)`, who[:], `"><img src=x onerror=alert(4)>`)
		exec(`INSERT INTO conversations (id, kind, title, created, updated) VALUES (?, 2, ?, 1, 1)`, conv[:], `</title><script>alert(5)</script>`)
		for i, b := range bodies {
			id := mkID(10 + byte(i))
			exec(`INSERT INTO messages (id, conversation, sender, sent, received, body) VALUES (?, ?, ?, ?, ?, ?)`, id[:], conv[:], who[:], 1700000000000+int64(i), 1700000000000+int64(i), b)
		}
		msg := mkID(10)
		for i, a := range []struct{ name, mime string }{
			{"../../evil.html", "text/html"},
			{`x" onerror="alert(6).jpg`, "image/svg+xml"},
			{"/etc/passwd", "image/jpeg\" onload=\"alert(7)"},
		} {
			id := mkID(30 + byte(i))
			exec(`INSERT INTO attachments (id, message, hash, size, mime, name) VALUES (?, ?, ?, ?, ?, ?)`, id[:], msg[:], fileHash[:], len(htmlFile), a.mime, a.name)
		}
		exec(`INSERT INTO reactions (message, reactor, emoji) VALUES (?, ?, ?)`, msg[:], who[:], `<script>alert(8)</script>`)
		p := filepath.Join(home, chatstore.MediaDir, fmt.Sprintf("%x", fileHash[:1]), fmt.Sprintf("%x", fileHash))
		os.MkdirAll(filepath.Dir(p), 0o700)
		if err := os.WriteFile(p, htmlFile, 0o600); err != nil {
			t.Fatal(err)
		}
	})
	parent := t.TempDir()
	dir := filepath.Join(parent, "out", "export")
	os.Mkdir(filepath.Dir(dir), 0o700)
	if _, err := Write(context.Background(), st, dir, Options{Location: time.UTC}); err != nil {
		t.Fatal(err)
	}
	convs, titles, docs := readBack(t, dir)
	hostile := mkID(1)
	if titles[hostile.String()] != `</title><script>alert(5)</script>` {
		t.Errorf("title read back as %q", titles[hostile.String()])
	}
	var gotBodies []string
	for _, m := range convs[hostile.String()] {
		gotBodies = append(gotBodies, m.body)
		if m.sender != `"><img src=x onerror=alert(4)>` {
			t.Errorf("sender read back as %q", m.sender)
		}
		for _, f := range m.files {
			if !strings.HasPrefix(f.href, "../media/") || !strings.HasSuffix(f.href, ".bin") {
				t.Errorf("file %q (%s) linked as %q: want a .bin in media/", f.name, f.mime, f.href)
			}
		}
	}
	if !slices.Equal(gotBodies, bodies) {
		t.Errorf("bodies read back as %q, want %q", gotBodies, bodies)
	}
	for _, doc := range docs {
		for n := range find(doc, func(*html.Node) bool { return true }) {
			if n.Type != html.ElementNode {
				continue
			}
			if n.Data == "script" || n.Data == "svg" || n.Data == "iframe" || n.Data == "object" {
				t.Errorf("a <%s> element in the export", n.Data)
			}
			for _, a := range n.Attr {
				if strings.HasPrefix(strings.ToLower(a.Key), "on") {
					t.Errorf("<%s %s=%q> in the export", n.Data, a.Key, a.Val)
				}
				if (a.Key == "src" || a.Key == "href") && strings.Contains(a.Val, ":") {
					t.Errorf("<%s %s=%q>: a link out of the export", n.Data, a.Key, a.Val)
				}
			}
			if n.Data == "meta" && attr(n, "http-equiv") == "Content-Security-Policy" && !strings.Contains(attr(n, "content"), "default-src 'none'") {
				t.Errorf("CSP %q", attr(n, "content"))
			}
		}
	}
	// Every file written is inside the export, under a name of our own.
	err := filepath.WalkDir(parent, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		ok := rel == "index.html" || strings.HasPrefix(rel, "c"+string(filepath.Separator)) && strings.HasSuffix(rel, ".html") ||
			rel == filepath.Join("media", fmt.Sprintf("%x.bin", fileHash)) ||
			strings.HasPrefix(rel, "media"+string(filepath.Separator)) && !strings.Contains(rel, "evil")
		if !ok {
			t.Errorf("the export wrote %s", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func mkID(b byte) chatstore.ID {
	var id chatstore.ID
	id[0], id[1], id[15] = 0x01, 0x80, b
	return id
}

// TestWriteLeavesNothingHalfDone: an existing non-empty directory is
// refused untouched; an empty one is filled; an interrupted export leaves
// neither the directory nor its temporary twin.
func TestWriteLeavesNothingHalfDone(t *testing.T) {
	st := seededHome(t, 400, 1, nil)
	ctx := context.Background()
	parent := t.TempDir()
	full := filepath.Join(parent, "full")
	os.Mkdir(full, 0o700)
	os.WriteFile(filepath.Join(full, "keep.txt"), []byte("mine"), 0o600)
	if _, err := Write(ctx, st, full, Options{}); !errors.Is(err, ErrExists) {
		t.Errorf("into a full directory: %v, want ErrExists", err)
	}
	if ents, _ := os.ReadDir(full); len(ents) != 1 {
		t.Errorf("the full directory now holds %d entries", len(ents))
	}
	empty := filepath.Join(parent, "empty")
	os.Mkdir(empty, 0o700)
	if _, err := Write(ctx, st, empty, Options{}); err != nil {
		t.Errorf("into an empty directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(empty, "index.html")); err != nil {
		t.Error(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cut := filepath.Join(parent, "cut")
	_, err := Write(cctx, st, cut, Options{PageSize: 10, Progress: func(done, total int64) {
		if done > 50 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("interrupted: %v", err)
	}
	ents, _ := os.ReadDir(parent)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"empty", "full"}) {
		t.Errorf("after an interrupted export the parent holds %q", names)
	}
	if _, err := Write(ctx, st, filepath.Join(parent, "no", "such"), Options{}); err == nil {
		t.Error("export under a missing directory succeeded")
	}
}

// TestLinkMedia: linked media point at the home's own files.
func TestLinkMedia(t *testing.T) {
	st := seededHome(t, 300, 1, nil)
	dir := filepath.Join(t.TempDir(), "export")
	res, err := Write(context.Background(), st, dir, Options{LinkMedia: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.MediaBytes != 0 || res.MediaFiles == 0 {
		t.Errorf("result %+v: want files linked, none copied", res)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "media")); len(ents) != 0 {
		t.Errorf("media/ holds %d files", len(ents))
	}
	convs, _, _ := readBack(t, dir)
	var n int
	for _, ms := range convs {
		for _, m := range ms {
			for _, f := range m.files {
				p, err := url.PathUnescape(f.href)
				if err != nil {
					t.Fatal(err)
				}
				target := filepath.Clean(filepath.Join(dir, "c", filepath.FromSlash(p)))
				if !strings.HasPrefix(target, filepath.Join(st.Home(), chatstore.MediaDir)) {
					t.Errorf("%q links to %s, outside the home's media", f.name, target)
				}
				if _, err := os.Stat(target); err != nil {
					t.Errorf("%q: %v", f.name, err)
				}
				n++
			}
		}
	}
	if n == 0 {
		t.Error("no files")
	}
}

func parseFile(t *testing.T, path string) *html.Node {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := html.Parse(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return doc
}

// find yields the nodes under n (n included) that match, in document order.
func find(n *html.Node, match func(*html.Node) bool) func(func(*html.Node) bool) {
	return func(yield func(*html.Node) bool) {
		var walk func(*html.Node) bool
		walk = func(n *html.Node) bool {
			if match(n) && !yield(n) {
				return false
			}
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				if !walk(c) {
					return false
				}
			}
			return true
		}
		walk(n)
	}
}

func first(n *html.Node, match func(*html.Node) bool) *html.Node {
	for m := range find(n, func(x *html.Node) bool { return x.Type == html.ElementNode && match(x) }) {
		return m
	}
	return nil
}

func attr(n *html.Node, key string) string {
	if n == nil {
		return ""
	}
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasClass(n *html.Node, c string) bool {
	return n.Type == html.ElementNode && slices.Contains(strings.Fields(attr(n, "class")), c)
}

func text(n *html.Node) string {
	if n == nil {
		return ""
	}
	var b strings.Builder
	for t := range find(n, func(x *html.Node) bool { return x.Type == html.TextNode }) {
		b.WriteString(t.Data)
	}
	return b.String()
}
