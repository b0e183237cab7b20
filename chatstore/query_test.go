package chatstore

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// queryFixture is a small history with the cases the readers must show.
type queryFixture struct {
	f                                  *fixture
	me, alice, bob                     ID
	family1, family2, book, band, solo ID
	equipe, empty                      ID
}

func newQueryFixture(t *testing.T) *queryFixture {
	f := newFixture(t)
	q := &queryFixture{f: f}
	q.me, q.alice, q.bob = f.contact("Me"), f.contact("Alice"), f.contact("Bob")
	q.family1 = f.conv(Group, "Family", q.me, q.alice, q.bob)
	q.family2 = f.conv(Group, "Family", q.me, q.bob)
	q.book = f.conv(Group, "Book club 📚", q.me, q.alice)
	q.band = f.conv(Group, "Band practice", q.me, q.bob)
	q.solo = f.conv(Direct, "Alice", q.me, q.alice)
	q.equipe = f.conv(Group, "Équipe", q.me, q.alice)
	q.empty = f.conv(Group, "Nobody talks here", q.me)
	f.msg(q.family1, q.alice, 10, "old family news")
	f.msg(q.family2, q.bob, 50, "newer family news")
	f.msg(q.book, q.alice, 30, "chapter three")
	f.msg(q.band, q.bob, 20, "rehearsal at 8")
	f.msg(q.solo, q.me, 40, "hi Alice")
	f.msg(q.equipe, q.alice, 5, "salut")
	return q
}

func TestConversations(t *testing.T) {
	q := newQueryFixture(t)
	got, err := q.f.s.Conversations(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		title string
		kind  Kind
		n     int64
		last  int // minutes after fixtureEpoch, -1 for none
	}
	want := []row{
		{"Family", Group, 1, 50}, {"Alice", Direct, 1, 40}, {"Book club 📚", Group, 1, 30},
		{"Band practice", Group, 1, 20}, {"Family", Group, 1, 10}, {"Équipe", Group, 1, 5},
		{"Nobody talks here", Group, 0, -1},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d conversations, want %d", len(got), len(want))
	}
	for i, w := range want {
		c := got[i]
		wantLast := time.Time{}
		if w.last >= 0 {
			wantLast = fixtureEpoch.Add(time.Duration(w.last) * time.Minute)
		}
		if c.Title != w.title || c.Kind != w.kind || c.Messages != w.n || !c.Last.Equal(wantLast) {
			t.Errorf("conversation %d: got %q %s %d %s, want %q %s %d %s", i, c.Title, c.Kind, c.Messages, c.Last, w.title, w.kind, w.n, wantLast)
		}
	}
}

func TestFindConversation(t *testing.T) {
	q := newQueryFixture(t)
	ctx := context.Background()
	tests := []struct {
		ref       string
		want      ID
		ambiguous int // number of matches listed
		none      bool
	}{
		{ref: "Book club 📚", want: q.book},
		{ref: "book", want: q.book},
		{ref: "  BAND  ", want: q.band},
		{ref: "alice", want: q.solo},
		{ref: "équipe", want: q.equipe},
		{ref: "ÉQUIPE", want: q.equipe},
		{ref: "Équipe", want: q.equipe},
		{ref: q.family2.String(), want: q.family2},
		{ref: strings.ToUpper(q.family1.String()), want: q.family1},
		{ref: "family", ambiguous: 2},
		{ref: "b", ambiguous: 2},
		{ref: "nope", none: true},
		{ref: "", none: true},
		{ref: "00000000000000000000000000000000", none: true},
	}
	for _, tt := range tests {
		c, err := q.f.s.FindConversation(ctx, tt.ref)
		var amb *AmbiguousError
		switch {
		case tt.none:
			if !errors.Is(err, ErrNoConversation) {
				t.Errorf("%q: got %v, %v; want ErrNoConversation", tt.ref, c.Title, err)
			}
		case tt.ambiguous > 0:
			if !errors.As(err, &amb) || len(amb.Matches) != tt.ambiguous {
				t.Errorf("%q: got %v, %v; want %d matches listed", tt.ref, c.Title, err, tt.ambiguous)
				continue
			}
			for _, m := range amb.Matches {
				if !strings.Contains(err.Error(), m.ID.String()) {
					t.Errorf("%q: error %q does not name %s", tt.ref, err, m.ID)
				}
			}
		case err != nil:
			t.Errorf("%q: %v", tt.ref, err)
		case c.ID != tt.want:
			t.Errorf("%q: got %q (%s), want %s", tt.ref, c.Title, c.ID, tt.want)
		}
	}
}

// TestMessagesPaging pages through a conversation both ways, with messages
// sharing a timestamp at the page boundaries, and checks every message
// comes once, in (sent, id) order.
func TestMessagesPaging(t *testing.T) {
	f := newFixture(t)
	me, bob := f.contact("Me"), f.contact("Bob")
	conv := f.conv(Direct, "Bob", me, bob)
	other := f.conv(Direct, "Other", me)
	var want []ID
	for i := range 23 {
		minute := i
		if i >= 9 && i <= 12 {
			minute = 9 // four messages in the same millisecond
		}
		want = append(want, f.msg(conv, []ID{me, bob}[i%2], minute, "message "+strings.Repeat("x", i)))
		f.msg(other, me, i, "elsewhere")
	}
	ctx := context.Background()
	for _, limit := range []int{1, 4, 5, 10, 23, 50} {
		// Newest first, going back.
		var got []ID
		var before *Cursor
		for pages := 0; ; pages++ {
			p, err := f.s.Messages(ctx, conv, MessageQuery{Before: before, Limit: limit})
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Messages) > limit || pages > 30 {
				t.Fatalf("limit %d: page of %d", limit, len(p.Messages))
			}
			got = append(idsOf(p.Messages), got...)
			if !p.More {
				break
			}
			c := p.Messages[0].Cursor()
			before = &c
		}
		if !slices.Equal(got, want) {
			t.Errorf("limit %d, backwards: got %d messages %v, want %v", limit, len(got), got, want)
		}
		// Oldest first, going forward.
		got = nil
		after := &Cursor{}
		for {
			p, err := f.s.Messages(ctx, conv, MessageQuery{After: after, Limit: limit})
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, idsOf(p.Messages)...)
			if !p.More {
				break
			}
			c := p.Messages[len(p.Messages)-1].Cursor()
			after = &c
		}
		if !slices.Equal(got, want) {
			t.Errorf("limit %d, forwards: got %v, want %v", limit, got, want)
		}
	}
	// Before a time: strictly earlier messages.
	p, err := f.s.Messages(ctx, conv, MessageQuery{Before: &Cursor{Sent: fixtureEpoch.Add(9 * time.Minute)}})
	if err != nil {
		t.Fatal(err)
	}
	if got := idsOf(p.Messages); !slices.Equal(got, want[:9]) || p.More {
		t.Errorf("before minute 9: got %v (more %v), want %v", got, p.More, want[:9])
	}
	for _, bad := range []MessageQuery{{Limit: -1}, {Limit: MaxPage + 1}, {Before: &Cursor{}, After: &Cursor{}}} {
		if _, err := f.s.Messages(ctx, conv, bad); !errors.Is(err, ErrBadQuery) {
			t.Errorf("%+v: got %v, want ErrBadQuery", bad, err)
		}
	}
	if p, err := f.s.Messages(ctx, conv, MessageQuery{}); err != nil || len(p.Messages) != 23 || p.More {
		t.Errorf("default page: %d messages, more %v, %v; want all 23", len(p.Messages), p.More, err)
	}
}

func idsOf(ms []Message) []ID {
	out := make([]ID, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

// TestMessagesPlan checks that a page is read through the index of
// messages by conversation, from the cursor on, with no sort and no scan
// of the table: what keeps a page cheap in a conversation of a million.
func TestMessagesPlan(t *testing.T) {
	s := newStore(t)
	db, _ := s.handle()
	for _, q := range []MessageQuery{{Before: &Cursor{}}, {After: &Cursor{}}, {}} {
		query, args := pageQuery(ID{}, q, 10)
		rows, err := db.Query("EXPLAIN QUERY PLAN "+query, args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		p := strings.Join(plan, "\n")
		if !strings.Contains(p, "SEARCH m USING INDEX messages_by_conversation (conversation=?") || strings.Contains(p, "TEMP B-TREE") || strings.Contains(p, "SCAN") {
			t.Errorf("plan for %+v:\n%s\nwant a search of messages_by_conversation, no sort, no scan", q, p)
		}
	}
}

func TestMessageDetails(t *testing.T) {
	f := newFixture(t)
	me, alice := f.contact("Me"), f.contact("Alice")
	stranger := f.id(fixtureEpoch) // not a contact
	conv := f.conv(Group, "Details", me, alice)
	first := f.msg(conv, alice, 1, "the first")
	gone := f.msg(conv, alice, 2, "a secret I took back")
	reply := f.msg(conv, me, 3, "answer")
	toGone := f.msg(conv, me, 4, "answer to the deleted one")
	orphan := f.msg(conv, stranger, 5, "answer to something we never had")
	edited := f.msg(conv, me, 6, "fixed typo")
	missing := f.id(fixtureEpoch)
	f.exec(`UPDATE messages SET reply_to = ? WHERE id = ?`, first[:], reply[:])
	f.exec(`UPDATE messages SET reply_to = ? WHERE id = ?`, gone[:], toGone[:])
	f.exec(`UPDATE messages SET reply_to = ? WHERE id = ?`, missing[:], orphan[:])
	f.exec(`UPDATE messages SET deleted = ? WHERE id = ?`, fixtureEpoch.Add(time.Hour).UnixMilli(), gone[:])
	f.exec(`UPDATE messages SET edited = ? WHERE id = ?`, fixtureEpoch.Add(7*time.Minute).UnixMilli(), edited[:])
	var h Hash
	h[0] = 7
	a1, a2 := f.id(fixtureEpoch), f.id(fixtureEpoch)
	f.exec(`INSERT INTO attachments (id, message, hash, size, mime, name) VALUES (?, ?, ?, 1234, 'image/jpeg', 'IMG-1.jpg'), (?, ?, ?, 99, 'text/plain', 'b.txt')`,
		a1[:], first[:], h[:], a2[:], first[:], h[:])
	f.exec(`INSERT INTO reactions (message, reactor, emoji) VALUES (?, ?, '👍'), (?, ?, '❤️')`, first[:], me[:], first[:], alice[:])

	p, err := f.s.Messages(context.Background(), conv, MessageQuery{})
	if err != nil {
		t.Fatal(err)
	}
	by := map[ID]Message{}
	for _, m := range p.Messages {
		by[m.ID] = m
		if m.ConversationTitle != "Details" || m.Conversation != conv {
			t.Errorf("%s: conversation %q %s", m.Body, m.ConversationTitle, m.Conversation)
		}
	}
	if m := by[first]; m.SenderName != "Alice" || len(m.Attachments) != 2 || m.Attachments[0] != (AttachedFile{ID: a1, Name: "IMG-1.jpg", MIME: "image/jpeg", Size: 1234, Hash: h}) ||
		m.Attachments[1].Name != "b.txt" || len(m.Reactions) != 2 || m.ReplyTo != nil {
		t.Errorf("first: %+v", m)
	}
	if m := by[gone]; m.Body != "" || !m.Deleted.Equal(fixtureEpoch.Add(time.Hour)) {
		t.Errorf("deleted message: body %q, deleted %v; want no body and its deletion time", m.Body, m.Deleted)
	}
	if r := by[reply].ReplyTo; r == nil || *r != (Reply{ID: first, SenderName: "Alice", Body: "the first"}) {
		t.Errorf("reply: %+v", r)
	}
	if r := by[toGone].ReplyTo; r == nil || *r != (Reply{ID: gone, SenderName: "Alice", Deleted: true}) {
		t.Errorf("reply to a deleted message: %+v; want no body shown", r)
	}
	if m := by[orphan]; m.SenderName != "" || m.Sender != stranger || m.ReplyTo == nil || !m.ReplyTo.Missing {
		t.Errorf("reply to a missing message from a stranger: %+v, %+v", m, m.ReplyTo)
	}
	if m := by[edited]; !m.Edited.Equal(fixtureEpoch.Add(7*time.Minute)) || m.Body != "fixed typo" {
		t.Errorf("edited: %+v", m)
	}
	got, err := f.s.MessagesByID(context.Background(), []ID{edited, missing, first})
	if err != nil || len(got) != 2 || got[0].ID != edited || got[1].ID != first || len(got[1].Attachments) != 2 {
		t.Errorf("MessagesByID: %v, %v; want edited then first, with details", idsOf(got), err)
	}
}

func TestParseID(t *testing.T) {
	id := ID{0x01, 0x8e, 15: 0xff}
	got, err := ParseID(id.String())
	if err != nil || got != id {
		t.Errorf("ParseID(%s) = %s, %v", id, got, err)
	}
	for _, bad := range []string{"", "01", id.String() + "0", strings.Repeat("g", 32)} {
		if _, err := ParseID(bad); err == nil {
			t.Errorf("ParseID(%q) accepted", bad)
		}
	}
}
