package chatstore

import (
	"context"
	"path/filepath"
	"testing"
)

// TestWouldAdd: what WouldAdd counts before a merge is what the merge then
// adds, for a store that lacks everything, one that holds part of it (a
// message edited since, so present by ID) and one that holds all of it; a
// read-only store answers too, and nothing is written.
func TestWouldAdd(t *testing.T) {
	ctx := context.Background()
	conv := ConversationRow{ID: [16]byte{15: 3}, Title: "Ann", Updated: 20, Source: "whatsapp"}
	ann := ContactRow{ID: [16]byte{15: 2}, Name: "Ann", Updated: 20, Source: "whatsapp"}
	msg := func(i int) MessageRow {
		return MessageRow{ID: [16]byte{0, 0, 0, 0, 0, byte(i), 15: 9}, Conversation: conv.ID, Sender: ann.ID,
			Sent: int64(i), Received: int64(i), Body: "hi"}
	}
	// write stages messages [0, n) and an attachment on each even one.
	write := func(t *testing.T, n int, edit bool) *Writer {
		t.Helper()
		w, err := NewWriter(ctx, filepath.Join(t.TempDir(), "staged.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(w.Abort)
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(w.AddContact(ctx, ann))
		must(w.AddConversation(ctx, conv))
		must(w.AddParticipant(ctx, ParticipantRow{conv.ID, ann.ID}))
		for i := range n {
			m := msg(i)
			if edit && i == 0 {
				m.Body, m.Edited = "hi, edited", 30
			}
			must(w.AddMessage(ctx, m))
			if i%2 == 0 {
				must(w.AddAttachment(ctx, AttachmentRow{ID: [16]byte{0, 0, 0, 0, 0, byte(i), 15: 4}, Message: m.ID,
					Size: 3, MIME: "image/jpeg", Name: "a.jpg"}))
			}
		}
		if _, err := w.Close(ctx); err != nil {
			t.Fatal(err)
		}
		return w
	}
	s := newStore(t)
	for _, tc := range []struct {
		name string
		n    int
		edit bool
		want MergeResult
	}{
		{"empty store", 4, false, MergeResult{Conversations: 1, Messages: 4, Attachments: 2}},
		{"part held, one edited", 10, true, MergeResult{Messages: 6, Attachments: 3}},
		{"all held", 10, false, MergeResult{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := write(t, tc.n, tc.edit)
			before := mustStats(t, s)
			got, err := s.WouldAdd(ctx, w)
			if err != nil {
				t.Fatalf("WouldAdd: %v", err)
			}
			if got != tc.want {
				t.Errorf("WouldAdd: got %+v, want %+v", got, tc.want)
			}
			if after := mustStats(t, s); after != before {
				t.Errorf("WouldAdd changed the store: %+v, then %+v", before, after)
			}
			ro, err := Open(ctx, s.Home(), Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			rgot, err := ro.WouldAdd(ctx, w)
			ro.Close()
			if err != nil || rgot != got {
				t.Errorf("WouldAdd on a read-only store: %+v, %v; want %+v", rgot, err, got)
			}
			merged, err := s.MergeWritten(ctx, w)
			if err != nil {
				t.Fatalf("MergeWritten: %v", err)
			}
			if merged != got {
				t.Errorf("MergeWritten added %+v; WouldAdd said %+v", merged, got)
			}
		})
	}
	if _, err := s.WouldAdd(ctx, &Writer{}); err == nil {
		t.Error("WouldAdd of an unfinished writer: no error")
	}
}
