package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/chatstore"
)

// runCLI runs a ferry command in this process, as main does. A command
// still running after two minutes (one that should have been refused, say)
// is cancelled.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	err = run(ctx, args, strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), err
}

func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, errs, err := runCLI(t, args...)
	if err != nil {
		t.Fatalf("ferry %s: %v (%s)\nstderr: %s", strings.Join(args, " "), err, userMessage(err), errs)
	}
	return out
}

// jsonOf decodes a command's --json output.
func jsonOf[T any](t *testing.T, out string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	return v
}

type convOut struct {
	ID, Title, Kind string
	Messages        int64
	Last            *string
}

type fileOut struct {
	Name, MIME string
	Size       int64
}

type msgOut struct {
	ID, Conversation, Sender, Sent, Body string
	ConversationID                       string `json:"conversation_id"`
	Attachments                          []fileOut
	Deleted                              *string
	Score                                float64
	System                               bool
	Omitted                              int
}

// addMessage writes a message straight into a home's database (no ferry
// process holds it): content a seed would never make.
func addMessage(t *testing.T, home, conv, body string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(home, chatstore.DBName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = db.Exec(`INSERT INTO messages (id, conversation, sender, sent, received, body)
		SELECT x'01900000000000000000000000000001', id, x'00000000000000000000000000000001', 1719000000000, 1719000000000, ?
		FROM conversations WHERE hex(id) = upper(?)`, body, conv)
	if err != nil {
		t.Fatal(err)
	}
}

func TestHistoryReadCommands(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	mustCLI(t, "--home", home, "history", "seed", "--messages", "2000", "--media-mb", "2")
	convs := jsonOf[[]convOut](t, mustCLI(t, "--home", home, "--json", "history", "conversations"))
	var total int64
	for i, c := range convs {
		total += c.Messages
		if c.Kind != "direct" && c.Kind != "group" || c.Last == nil || c.ID == "" || c.Title == "" {
			t.Errorf("conversation %+v", c)
		}
		if i > 0 && *c.Last > *convs[i-1].Last {
			t.Errorf("conversations not in order of their last message: %s after %s", *c.Last, *convs[i-1].Last)
		}
	}
	if total != 2000 || len(convs) < 2 {
		t.Fatalf("%d conversations holding %d messages, want 2000", len(convs), total)
	}
	human := mustCLI(t, "--home", home, "history", "conversations")
	if !strings.Contains(human, convs[0].Title) || strings.Count(human, "\n") != len(convs)+1 {
		t.Errorf("conversations:\n%s", human)
	}

	// show: the latest page, then the one before it, by message ID.
	c := convs[0]
	page := jsonOf[[]msgOut](t, mustCLI(t, "--home", home, "--json", "history", "show", c.ID, "--limit", "7"))
	if len(page) != 7 {
		t.Fatalf("show --limit 7: %d messages", len(page))
	}
	for i, m := range page {
		sent, err := time.Parse(time.RFC3339, m.Sent)
		if err != nil || m.Conversation != c.Title || m.ConversationID != c.ID || m.Sender == "" || m.Attachments == nil {
			t.Errorf("message %+v (%v)", m, err)
		}
		if i > 0 && m.Sent < page[i-1].Sent {
			t.Errorf("messages out of order: %s after %s", m.Sent, page[i-1].Sent)
		}
		if i == len(page)-1 && m.Sent != *c.Last {
			t.Errorf("the last message shown was sent %s (%v), the conversation's last at %s", m.Sent, sent, *c.Last)
		}
	}
	older := jsonOf[[]msgOut](t, mustCLI(t, "--home", home, "--json", "history", "show", c.Title, "--limit", "7", "--before", page[0].ID))
	if len(older) != 7 || older[6].Sent > page[0].Sent || older[6].ID == page[0].ID {
		t.Errorf("the page before %s: %+v", page[0].ID, older)
	}
	byTime := jsonOf[[]msgOut](t, mustCLI(t, "--home", home, "--json", "history", "show", strings.ToUpper(string([]rune(c.Title)[:len([]rune(c.Title))-1])), "--before", page[0].Sent, "--limit", "7"))
	if len(byTime) != 7 || byTime[6].Sent >= page[0].Sent {
		t.Errorf("--before %s: %+v", page[0].Sent, byTime)
	}

	// CONVERSATION that matches nothing, or several.
	addConversation(t, home, c.Title)
	for ref, want := range map[string]string{
		"no such chat": "no conversation is called",
		c.Title:        "matches 2 conversations",
	} {
		_, _, err := runCLI(t, "--home", home, "history", "show", ref)
		if err == nil || !strings.Contains(userMessage(err), want) || strings.Contains(userMessage(err), "\n") {
			t.Errorf("show %q: %v; want one line saying %q", ref, err, want)
		}
	}
	for _, args := range [][]string{{"show", c.ID, "--limit", "0"}, {"show", c.ID, "--before", "yesterday-ish"}, {"search", "--limit", "5000", "x"}, {"search", "???"}} {
		_, _, err := runCLI(t, append([]string{"--home", home, "history"}, args...)...)
		var u usageError
		if !errors.As(err, &u) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}

	// search: ranked hits with their conversation and time.
	hits := jsonOf[[]msgOut](t, mustCLI(t, "--home", home, "--json", "history", "search", "lunch", "--limit", "20"))
	if len(hits) != 20 {
		t.Fatalf("search lunch: %d hits", len(hits))
	}
	for i, h := range hits {
		if !strings.Contains(strings.ToLower(h.Body), "lunch") || h.Conversation == "" || h.Sent == "" || h.Attachments == nil {
			t.Errorf("hit %+v", h)
		}
		if i > 0 && h.Score > hits[i-1].Score {
			t.Errorf("hits not ranked: %v after %v", h.Score, hits[i-1].Score)
		}
	}
	if out := mustCLI(t, "--home", home, "--json", "history", "search", "xylophonequartet"); strings.TrimSpace(out) != "[]" {
		t.Errorf("search with no hits printed %q, want []", out)
	}
	if out := mustCLI(t, "--home", home, "history", "search", "lunch", "--limit", "2"); strings.Count(out, "\n") != 2 || !strings.Contains(out, " · ") {
		t.Errorf("search lunch:\n%s", out)
	}
}

// addConversation writes one more conversation straight into a home's
// database.
func addConversation(t *testing.T, home, title string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(home, chatstore.DBName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`INSERT INTO conversations (id, kind, title, created, updated)
		VALUES (x'01900000000000000000000000000002', 2, ?, 1, 1)`, title); err != nil {
		t.Fatal(err)
	}
}

// TestShowKeepsEscapesOffTheTerminal: a hostile message's escape sequences
// are not written to the terminal.
func TestShowKeepsEscapesOffTheTerminal(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	mustCLI(t, "--home", home, "history", "seed", "--messages", "200", "--media-mb", "0")
	c := jsonOf[[]convOut](t, mustCLI(t, "--home", home, "--json", "history", "conversations"))[0]
	body := "hello\x1b[2J\x1b]0;owned\x07 there\r\nsecond line\u009b31m"
	addMessage(t, home, c.ID, body)
	out := mustCLI(t, "--home", home, "history", "show", c.ID, "--limit", "3")
	if strings.ContainsAny(out, "\x1b\x07\r\u009b") {
		t.Errorf("show wrote control characters: %q", out)
	}
	if !strings.Contains(out, "hello\uFFFD[2J") || !strings.Contains(out, "\n                  second line") {
		t.Errorf("show:\n%s", out)
	}
	page := jsonOf[[]msgOut](t, mustCLI(t, "--home", home, "--json", "history", "show", c.ID, "--limit", "1"))
	if len(page) != 1 || page[0].Body != body {
		t.Errorf("--json: %+v, want the body as it is", page)
	}
}

// TestSearchAfterArchiveImport: a home that has searched before imports an
// archive; the import catches the index up before it ends, and the new
// messages are found. Removing the index rebuilds it; the digest is the same
// with it and without it.
func TestSearchAfterArchiveImport(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	mustCLI(t, "--home", a, "history", "seed", "--messages", "1500", "--media-mb", "1", "--seed", "1")
	mustCLI(t, "--home", b, "history", "seed", "--messages", "1500", "--media-mb", "1", "--seed", "2")
	addMessage(t, a, jsonOf[[]convOut](t, mustCLI(t, "--home", a, "--json", "history", "conversations"))[0].ID, "the zanzibar plan")
	if out := mustCLI(t, "--home", b, "--json", "history", "search", "zanzibar"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("b finds zanzibar before the import: %s", out)
	}
	archive := filepath.Join(dir, "a.ferry")
	exp := jsonOf[struct {
		RecoveryKey string `json:"recovery_key"`
	}](t, mustCLI(t, "--home", a, "--json", "export", "--out", archive))
	mustCLI(t, "--home", b, "--json", "import", archive, "--key", exp.RecoveryKey)
	if n := indexBehind(t, b); n != 0 {
		t.Errorf("after the import, the index is %d messages behind; want it caught up", n)
	}
	hits := jsonOf[[]msgOut](t, mustCLI(t, "--home", b, "--json", "history", "search", "zanzibar"))
	if len(hits) != 1 || hits[0].Body != "the zanzibar plan" {
		t.Errorf("after the import, zanzibar finds %+v", hits)
	}
	before := stats(t, b)
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(filepath.Join(b, chatstore.IndexName+suffix))
	}
	if got := stats(t, b); got != before {
		t.Errorf("stats without the index %+v, with it %+v", got, before)
	}
	hits = jsonOf[[]msgOut](t, mustCLI(t, "--home", b, "--json", "history", "search", "zanzibar"))
	if len(hits) != 1 {
		t.Errorf("after removing the index, zanzibar finds %+v", hits)
	}
	// Into an empty home: the snapshot is adopted and indexed at the end.
	c := filepath.Join(dir, "c")
	mustCLI(t, "--home", c, "--json", "import", archive, "--key", exp.RecoveryKey)
	if n := indexBehind(t, c); n != 0 {
		t.Errorf("after an import into an empty home, the index is %d behind", n)
	}
}

func indexBehind(t *testing.T, home string) int64 {
	t.Helper()
	ctx := context.Background()
	st, err := chatstore.Open(ctx, home, chatstore.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ix, err := chatstore.OpenIndex(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	n, err := ix.Behind(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestExportHTMLCommand(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	mustCLI(t, "--home", home, "history", "seed", "--messages", "500", "--media-mb", "1")
	dir := filepath.Join(t.TempDir(), "pages")
	res := jsonOf[struct {
		Index         string
		Conversations int
		Messages      int64
		MediaFiles    int `json:"media_files"`
	}](t, mustCLI(t, "--home", home, "--json", "history", "export-html", dir, "--page-size", "100"))
	if res.Messages != 500 || res.Conversations == 0 || res.MediaFiles == 0 || res.Index != filepath.Join(dir, "index.html") {
		t.Errorf("export-html: %+v", res)
	}
	index, err := os.ReadFile(res.Index)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range jsonOf[[]convOut](t, mustCLI(t, "--home", home, "--json", "history", "conversations")) {
		if !bytes.Contains(index, []byte("c/"+c.ID+".html")) {
			t.Errorf("index.html does not link %q", c.Title)
		}
	}
	_, _, err = runCLI(t, "--home", home, "history", "export-html", dir)
	if err == nil || !strings.Contains(userMessage(err), "already exists") {
		t.Errorf("export-html into a full directory: %v", err)
	}
}

// TestShowImportedEvents: an imported chat's system events (the
// encryption notice) read as events, not as messages from "unknown", and
// media the export left out are shown as such, in --json too.
func TestShowImportedEvents(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	mustCLI(t, "--home", home, "history", "import", filepath.Join(exports, "whatsapp", "android-en-US", "WhatsApp Chat with Bob Smith.txt"), "--tz", "UTC", "--me", "Alice Jones")
	msgs := jsonOf[[]msgOut](t, mustCLI(t, "--home", home, "--json", "history", "show", "Bob Smith", "--limit", "100"))
	var events, omitted int
	for _, m := range msgs {
		if m.System {
			events++
			if !strings.Contains(m.Body, "end-to-end encrypted") {
				t.Errorf("event %+v", m)
			}
		}
		if m.Omitted > 0 {
			omitted++
			if m.Sender != "Bob Smith" || m.Omitted != 1 || len(m.Attachments) != 0 {
				t.Errorf("message with media omitted: %+v", m)
			}
		}
	}
	if events != 1 || omitted != 1 {
		t.Errorf("%d events and %d messages with media omitted, want 1 and 1", events, omitted)
	}
	human := mustCLI(t, "--home", home, "history", "show", "Bob Smith", "--limit", "100")
	if strings.Contains(human, "unknown (") || !strings.Contains(human, "* Messages and calls are end-to-end encrypted") ||
		!strings.Contains(human, "an attachment the export did not include") {
		t.Errorf("show:\n%s", human)
	}
	// The HTML copy says the same.
	dir := filepath.Join(t.TempDir(), "pages")
	mustCLI(t, "--home", home, "history", "export-html", dir)
	page, err := os.ReadFile(filepath.Join(dir, "c", msgs[0].ConversationID+".html"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(page, []byte("unknown (")) || !bytes.Contains(page, []byte(`class="event"`)) ||
		!bytes.Contains(page, []byte(`<div class="omitted" data-count="1">An attachment the export did not include.</div>`)) {
		t.Errorf("export-html page:\n%s", page)
	}
}
