package chatstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// writeRows writes one imported conversation through a Writer: a contact
// written twice (an older name last), a message written twice (the edited
// version first) and the rest once, and returns the file.
func writeRows(t *testing.T, n int) string {
	t.Helper()
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "staged.db")
	w, err := NewWriter(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	ann := ContactRow{ID: [16]byte{15: 2}, Name: "Ann", Updated: 20, Source: "whatsapp"}
	conv := ConversationRow{ID: [16]byte{15: 3}, Title: "Ann", Updated: 20, Source: "whatsapp"}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.AddContact(ctx, ann))
	old := ann
	old.Name, old.Updated = "A.", 10
	must(w.AddContact(ctx, old))
	must(w.AddConversation(ctx, conv))
	must(w.AddParticipant(ctx, ParticipantRow{conv.ID, ann.ID}))
	must(w.AddParticipant(ctx, ParticipantRow{conv.ID, ann.ID}))
	for i := range n {
		m := MessageRow{ID: [16]byte{0, 0, 0, 0, byte(i >> 8), byte(i), 15: 9}, Conversation: conv.ID, Sender: ann.ID,
			Sent: int64(i), Received: int64(i), Body: "hi", Omitted: i % 2}
		if i == 0 {
			m.Event = true
		}
		if i == 1 {
			edited := m
			edited.Body, edited.Edited = "hi!", 30
			must(w.AddMessage(ctx, edited))
			m.ReplyTo = [16]byte{15: 9}
		}
		must(w.AddMessage(ctx, m))
	}
	must(w.AddAttachment(ctx, AttachmentRow{ID: [16]byte{15: 4}, Message: [16]byte{15: 9}, Size: 3, MIME: "image/jpeg", Name: "a.jpg"}))
	must(w.AddReaction(ctx, ReactionRow{Message: [16]byte{15: 9}, Reactor: ann.ID, Emoji: "👍"}))
	res, err := w.Close(ctx)
	must(err)
	if want := (MergeResult{Conversations: 1, Messages: int64(n), Attachments: 1}); res != want {
		t.Fatalf("Close: got %+v, want %+v", res, want)
	}
	if _, err := w.Close(ctx); !errors.Is(err, errWriterDone) {
		t.Fatalf("second Close: %v", err)
	}
	return p
}

func TestWriter(t *testing.T) {
	ctx := context.Background()
	const n = 300 // several full batches and a partial one
	p := writeRows(t, n)
	if err := validateSnapshot(ctx, p); err != nil {
		t.Fatalf("written file: %v", err)
	}
	st, err := StatsOf(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	db, err := openSnapshotRO(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var name, body string
	var self, events, omitted, replies int64
	err = db.QueryRow(`SELECT (SELECT name FROM contacts), (SELECT self FROM contacts),
		(SELECT body FROM messages WHERE sent = 1), (SELECT count(*) FROM messages WHERE kind = 1),
		(SELECT sum(omitted) FROM messages), (SELECT count(*) FROM messages WHERE reply_to IS NOT NULL)`).
		Scan(&name, &self, &body, &events, &omitted, &replies)
	if err != nil {
		t.Fatal(err)
	}
	if name != "Ann" || self != 0 || body != "hi!" || events != 1 || omitted != n/2 || replies != 1 {
		t.Fatalf("got name %q self %d, body %q, %d events, %d omitted, %d replies; want the merge rules' result",
			name, self, body, events, omitted, replies)
	}
	// The file is a snapshot like any other: adopted, or merged.
	dst := newStore(t)
	if _, err := dst.Merge(ctx, p); err != nil {
		t.Fatal(err)
	}
	if got := mustStats(t, dst); got != st {
		t.Fatalf("merged: %+v, want %+v", got, st)
	}
	adopted := newStore(t)
	cp := filepath.Join(t.TempDir(), "copy.db")
	copyFile(t, p, cp)
	if err := adopted.Adopt(ctx, cp); err != nil {
		t.Fatal(err)
	}
	if got := mustStats(t, adopted); got != st {
		t.Fatalf("adopted: %+v, want %+v", got, st)
	}
}

func TestWriterAbort(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "staged.db")
	w, err := NewWriter(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.AddContact(ctx, ContactRow{ID: [16]byte{1}, Name: "x"}); err != nil {
		t.Fatal(err)
	}
	w.Abort()
	w.Abort()
	if err := w.AddContact(ctx, ContactRow{ID: [16]byte{2}}); !errors.Is(err, errWriterDone) {
		t.Fatalf("add after Abort: %v", err)
	}
	if _, err := NewWriter(ctx, p); !errors.Is(err, os.ErrExist) {
		t.Fatalf("NewWriter over an existing file: %v", err)
	}
}

// TestAdoptMergeWritten: a Writer's closed file is merged or adopted
// without a copy; a writer that did not complete is refused.
func TestAdoptMergeWritten(t *testing.T) {
	ctx := context.Background()
	mk := func() *Writer {
		w, err := NewWriter(ctx, filepath.Join(t.TempDir(), "w.db"))
		if err != nil {
			t.Fatal(err)
		}
		if err := w.AddContact(ctx, ContactRow{ID: [16]byte{15: 7}, Name: "Ann", Source: "whatsapp"}); err != nil {
			t.Fatal(err)
		}
		return w
	}
	open := mk()
	dst := newStore(t)
	if err := dst.AdoptWritten(ctx, open); err == nil {
		t.Fatal("adopted an open writer's file")
	}
	open.Abort()
	if _, err := dst.MergeWritten(ctx, open); err == nil {
		t.Fatal("merged an aborted writer's file")
	}
	w := mk()
	if _, err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := dst.AdoptWritten(ctx, w); err != nil {
		t.Fatal(err)
	}
	w2 := mk()
	if _, err := w2.Close(ctx); err != nil {
		t.Fatal(err)
	}
	other := newStore(t)
	if _, err := other.MergeWritten(ctx, w2); err != nil {
		t.Fatal(err)
	}
	if a, b := mustStats(t, dst), mustStats(t, other); a != b {
		t.Fatalf("adopted %+v, merged %+v", a, b)
	}
}
