package chatstore

import (
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/text/unicode/norm"
)

// This file holds the read queries that the CLI, the HTML export and the
// browser app share: conversations with their counts, a conversation's
// messages one page at a time (keyset pagination on (sent, id), so a page
// costs the same wherever it is in a history of millions), and the lookup
// of a conversation by title or ID. Search is in search.go.

// ID is a 16-byte global ID: 6 bytes of milliseconds since the Unix epoch,
// big endian, then 10 random (or derived) bytes.
type ID [16]byte

// String is the ID as 32 lowercase hex digits.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Time is the timestamp at the start of the ID.
func (id ID) Time() time.Time { return time.UnixMilli(idTime(id[:])).UTC() }

// idTime is the millisecond timestamp at the start of a global ID.
func idTime(id []byte) int64 {
	var b [8]byte
	copy(b[2:], id[:6])
	return int64(binary.BigEndian.Uint64(b[:]))
}

// ParseID reads an ID written as 32 hex digits.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 2*len(id) {
		return ID{}, fmt.Errorf("chatstore: an ID has %d hex digits, not %d", 2*len(id), len(s))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return ID{}, fmt.Errorf("chatstore: an ID is written in hex digits: %w", err)
	}
	return id, nil
}

// Kind says whether a conversation is between two people or a group.
type Kind int

// Conversation kinds, as stored.
const (
	Direct Kind = 1
	Group  Kind = 2
)

func (k Kind) String() string {
	switch k {
	case Direct:
		return "direct"
	case Group:
		return "group"
	}
	return fmt.Sprintf("kind %d", int(k))
}

// Conversation is one conversation with its message count and the time of
// its last message (zero when it has none).
type Conversation struct {
	ID       ID
	Kind     Kind
	Title    string
	Created  time.Time
	Messages int64
	Last     time.Time
}

// Message is one message as a reader sees it. Body is empty for a deleted
// message: what a person deleted is not shown (nor found by search), though
// the store keeps the row so that the deletion merges everywhere.
type Message struct {
	ID                ID
	Conversation      ID
	ConversationTitle string
	Sender            ID
	SenderName        string // empty when the sender is not among the contacts
	Sent, Received    time.Time
	Body              string
	ReplyTo           *Reply    // nil when the message answers none
	Edited            time.Time // zero when never edited
	Deleted           time.Time // zero when not deleted
	Attachments       []AttachedFile
	Reactions         []Reaction
	// System marks an event, not a message a person wrote: the encryption
	// notice, "Alice added Bob", a group created or renamed, a call. Body
	// is the event's text; Sender is who did it when the export says so,
	// else the zero ID.
	System bool
	// Omitted counts the attachments the export named but did not carry
	// (WhatsApp's "<Media omitted>", Telegram's "File not included") and
	// no later import brought.
	Omitted int
}

// Cursor is the message's position in its conversation, for paging.
func (m *Message) Cursor() Cursor { return Cursor{Sent: m.Sent, ID: m.ID} }

// Reply describes the message that a message answers.
type Reply struct {
	ID         ID
	Missing    bool   // the message answered is not in this history
	SenderName string // empty when missing or the sender is unknown
	Body       string // the first 200 characters; empty when deleted
	Deleted    bool
}

// AttachedFile is one attachment of a message. Name comes from the sender
// and may be anything: never use it as a path.
type AttachedFile struct {
	ID   ID
	Name string
	MIME string
	Size int64
	Hash Hash // the media file is Store.MediaPath(Hash)
}

// Reaction is one emoji reaction to a message.
type Reaction struct {
	Emoji       string
	Reactor     ID
	ReactorName string
}

// Cursor is a position in a conversation: messages sort by (Sent, ID).
// A Cursor with a zero ID stands just before every message sent at Sent.
type Cursor struct {
	Sent time.Time
	ID   ID
}

// MessageQuery selects one page of a conversation's messages.
type MessageQuery struct {
	// Before, when set, asks for the newest Limit messages before it; After
	// for the oldest Limit messages after it. With neither, the page holds
	// the conversation's newest messages. Setting both is an error.
	Before, After *Cursor
	// Limit is the page size: 1 to MaxPage, 0 means DefaultPage.
	Limit int
}

// Page sizes of Messages.
const (
	DefaultPage = 50
	MaxPage     = 1000
)

// MessagePage is one page of messages, oldest first. More says whether
// further messages lie beyond the page in the direction asked (older for
// Before or no cursor, newer for After).
type MessagePage struct {
	Messages []Message
	More     bool
}

var (
	// ErrNoConversation means no conversation matches a title or ID.
	ErrNoConversation = errors.New("chatstore: no such conversation")
	// ErrBadQuery means a query's arguments are out of range.
	ErrBadQuery = errors.New("chatstore: bad query")
)

// AmbiguousError says that a title matches several conversations.
type AmbiguousError struct {
	Ref     string
	Matches []Conversation
}

func (e *AmbiguousError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%q matches %d conversations:", e.Ref, len(e.Matches))
	for i, c := range e.Matches {
		if i > 0 {
			b.WriteString(";")
		}
		fmt.Fprintf(&b, " %q (%s, %d messages", c.Title, c.Kind, c.Messages)
		if !c.Last.IsZero() {
			fmt.Fprintf(&b, ", last %s", c.Last.Format("2006-01-02"))
		}
		fmt.Fprintf(&b, ", ID %s)", c.ID)
	}
	b.WriteString("; give more of the title, or the ID")
	return b.String()
}

// conversationSQL selects conversations with their counts; callers add a
// WHERE clause on c.
const conversationSQL = `SELECT c.id, c.kind, c.title, c.created,
	(SELECT count(*) FROM messages m WHERE m.conversation = c.id),
	(SELECT max(m.sent) FROM messages m WHERE m.conversation = c.id)
	FROM conversations c`

// Conversations lists every conversation, the most recently active first
// (then by title). Counting costs one scan of the index of messages by
// conversation.
func (s *Store) Conversations(ctx context.Context) ([]Conversation, error) {
	var out []Conversation
	err := s.readTx(ctx, "list conversations", func(tx *sql.Tx) error {
		var err error
		out, err = scanConversations(ctx, tx, conversationSQL)
		return err
	})
	if err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if !a.Last.Equal(b.Last) {
			return a.Last.After(b.Last)
		}
		if a.Title != b.Title {
			return a.Title < b.Title
		}
		return string(a.ID[:]) < string(b.ID[:])
	})
	return out, nil
}

// FindConversation resolves what a person typed: a conversation's ID (32
// hex digits), its title, or the start of its title, compared without
// regard to case. A title that several conversations share, or a start
// that several titles share, is an *AmbiguousError listing them; no match
// is ErrNoConversation.
func (s *Store) FindConversation(ctx context.Context, ref string) (Conversation, error) {
	if id, err := ParseID(ref); err == nil {
		cs, err := s.conversationsByID(ctx, []ID{id})
		if err != nil {
			return Conversation{}, err
		}
		if len(cs) == 1 {
			return cs[0], nil
		}
	}
	want := foldTitle(ref)
	if want == "" {
		return Conversation{}, fmt.Errorf("chatstore: find conversation: empty title: %w", ErrNoConversation)
	}
	var exact, prefix []ID
	err := s.readTx(ctx, "find conversation", func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, title FROM conversations`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var idb []byte
			var title string
			if err := rows.Scan(&idb, &title); err != nil {
				return err
			}
			id, err := idFrom(idb)
			if err != nil {
				return err
			}
			switch t := foldTitle(title); {
			case t == want:
				exact = append(exact, id)
			case strings.HasPrefix(t, want):
				prefix = append(prefix, id)
			}
		}
		return rows.Err()
	})
	if err != nil {
		return Conversation{}, err
	}
	ids := exact
	if len(ids) == 0 {
		ids = prefix
	}
	if len(ids) == 0 {
		return Conversation{}, fmt.Errorf("chatstore: no conversation is called %q or has a title starting with it: %w", ref, ErrNoConversation)
	}
	cs, err := s.conversationsByID(ctx, ids)
	if err != nil {
		return Conversation{}, err
	}
	if len(cs) == 1 {
		return cs[0], nil
	}
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].Title != cs[j].Title {
			return cs[i].Title < cs[j].Title
		}
		return cs[i].Last.After(cs[j].Last)
	})
	return Conversation{}, &AmbiguousError{Ref: ref, Matches: cs}
}

// foldTitle is the form titles are compared in: NFC, lower case, trimmed.
func foldTitle(s string) string {
	return strings.ToLower(norm.NFC.String(strings.TrimSpace(s)))
}

// conversationsByID reads the conversations with the given IDs (those that exist).
func (s *Store) conversationsByID(ctx context.Context, ids []ID) ([]Conversation, error) {
	var out []Conversation
	err := s.readTx(ctx, "read conversations", func(tx *sql.Tx) error {
		for chunk := range slices.Chunk(ids, MaxPage) {
			cs, err := scanConversations(ctx, tx, conversationSQL+" WHERE c.id IN ("+placeholders(len(chunk))+")", idArgs(chunk)...)
			if err != nil {
				return err
			}
			out = append(out, cs...)
		}
		return nil
	})
	return out, err
}

func scanConversations(ctx context.Context, tx *sql.Tx, q string, args ...any) ([]Conversation, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Conversation
	for rows.Next() {
		var (
			idb     []byte
			c       Conversation
			created int64
			last    sql.NullInt64
		)
		if err := rows.Scan(&idb, &c.Kind, &c.Title, &created, &c.Messages, &last); err != nil {
			return nil, err
		}
		if c.ID, err = idFrom(idb); err != nil {
			return nil, err
		}
		c.Created = msTime(created)
		if last.Valid {
			c.Last = msTime(last.Int64)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// messageSQL selects messages with what a reader needs beside them (the
// conversation's title, the sender's name, the message answered); callers
// add WHERE, ORDER BY and LIMIT on m.
const messageSQL = `SELECT m.id, m.conversation, coalesce(c.title, ''), m.sender, coalesce(k.name, ''),
	m.sent, m.received, m.body, m.edited, m.deleted, m.reply_to, m.kind, m.omitted,
	r.id IS NOT NULL, coalesce(rk.name, ''), coalesce(substr(r.body, 1, 200), ''), coalesce(r.deleted, 0)
	FROM messages m
	LEFT JOIN conversations c ON c.id = m.conversation
	LEFT JOIN contacts k ON k.id = m.sender
	LEFT JOIN messages r ON r.id = m.reply_to
	LEFT JOIN contacts rk ON rk.id = r.sender`

// Messages returns one page of the conversation's messages, oldest first;
// see MessageQuery. A page reads only its own rows (and their attachments
// and reactions) from the index of messages by (conversation, sent, id),
// never the whole table, wherever it lies in the history.
func (s *Store) Messages(ctx context.Context, conv ID, q MessageQuery) (MessagePage, error) {
	limit := q.Limit
	switch {
	case limit == 0:
		limit = DefaultPage
	case limit < 0 || limit > MaxPage:
		return MessagePage{}, fmt.Errorf("chatstore: messages: a page holds 1 to %d messages, not %d: %w", MaxPage, q.Limit, ErrBadQuery)
	}
	if q.Before != nil && q.After != nil {
		return MessagePage{}, fmt.Errorf("chatstore: messages: give a cursor to page before or after, not both: %w", ErrBadQuery)
	}
	query, args := pageQuery(conv, q, limit+1)
	var page MessagePage
	err := s.readTx(ctx, "read messages", func(tx *sql.Tx) error {
		msgs, err := scanMessages(ctx, tx, query, args...)
		if err != nil {
			return err
		}
		if len(msgs) > limit {
			page.More = true
			msgs = msgs[:limit]
		}
		if q.After == nil {
			for i, j := 0, len(msgs)-1; i < j; i, j = i+1, j-1 {
				msgs[i], msgs[j] = msgs[j], msgs[i]
			}
		}
		if err := addDetails(ctx, tx, msgs); err != nil {
			return err
		}
		page.Messages = msgs
		return nil
	})
	if err != nil {
		return MessagePage{}, err
	}
	return page, nil
}

// pageQuery is the SQL of one page of a conversation: at most limit rows
// from the cursor on, in the order they are read.
func pageQuery(conv ID, q MessageQuery, limit int) (string, []any) {
	where, order := ` WHERE m.conversation = ?`, ` ORDER BY m.sent DESC, m.id DESC`
	args := []any{conv[:]}
	switch {
	case q.Before != nil:
		where += ` AND (m.sent, m.id) < (?, ?)`
		args = append(args, q.Before.Sent.UnixMilli(), q.Before.ID[:])
	case q.After != nil:
		where += ` AND (m.sent, m.id) > (?, ?)`
		order = ` ORDER BY m.sent, m.id`
		args = append(args, q.After.Sent.UnixMilli(), q.After.ID[:])
	}
	return messageSQL + where + order + ` LIMIT ?`, append(args, limit)
}

// MessagesByID reads the messages with the given IDs, in the order given;
// IDs not in the store are left out.
func (s *Store) MessagesByID(ctx context.Context, ids []ID) ([]Message, error) {
	var out []Message
	err := s.readTx(ctx, "read messages", func(tx *sql.Tx) error {
		byID := make(map[ID]Message, len(ids))
		for chunk := range slices.Chunk(ids, MaxPage) {
			msgs, err := scanMessages(ctx, tx, messageSQL+` WHERE m.id IN (`+placeholders(len(chunk))+`)`, idArgs(chunk)...)
			if err != nil {
				return err
			}
			if err := addDetails(ctx, tx, msgs); err != nil {
				return err
			}
			for _, m := range msgs {
				byID[m.ID] = m
			}
		}
		for _, id := range ids {
			if m, ok := byID[id]; ok {
				out = append(out, m)
			}
		}
		return nil
	})
	return out, err
}

func scanMessages(ctx context.Context, tx *sql.Tx, q string, args ...any) ([]Message, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Message
	for rows.Next() {
		var (
			m                               Message
			idb, convb, senderb, replyb     []byte
			sent, received, edited, deleted int64
			replyFound                      bool
			replyName, replyBody            string
			replyDeleted, kind              int64
		)
		if err := rows.Scan(&idb, &convb, &m.ConversationTitle, &senderb, &m.SenderName,
			&sent, &received, &m.Body, &edited, &deleted, &replyb, &kind, &m.Omitted,
			&replyFound, &replyName, &replyBody, &replyDeleted); err != nil {
			return nil, err
		}
		if m.ID, err = idFrom(idb); err != nil {
			return nil, err
		}
		if m.Conversation, err = idFrom(convb); err != nil {
			return nil, err
		}
		if m.Sender, err = idFrom(senderb); err != nil {
			return nil, err
		}
		m.Sent, m.Received = msTime(sent), msTime(received)
		m.System = kind == 1
		if edited != 0 {
			m.Edited = msTime(edited)
		}
		if deleted != 0 {
			m.Deleted = msTime(deleted)
			m.Body = ""
		}
		if replyb != nil {
			rid, err := idFrom(replyb)
			if err != nil {
				return nil, err
			}
			m.ReplyTo = &Reply{ID: rid, Missing: !replyFound, SenderName: replyName, Body: replyBody, Deleted: replyDeleted != 0}
			if m.ReplyTo.Deleted {
				m.ReplyTo.Body = ""
			}
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// addDetails fills in the attachments and reactions of msgs (at most
// MaxPage of them).
func addDetails(ctx context.Context, tx *sql.Tx, msgs []Message) error {
	if len(msgs) == 0 {
		return nil
	}
	at := make(map[ID]int, len(msgs))
	ids := make([]any, len(msgs))
	for i := range msgs {
		at[msgs[i].ID] = i
		ids[i] = msgs[i].ID[:]
	}
	in := placeholders(len(ids))
	rows, err := tx.QueryContext(ctx, `SELECT message, id, name, mime, size, hash FROM attachments
		WHERE message IN (`+in+`) ORDER BY message, id`, ids...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			msgb, idb, hash []byte
			f               AttachedFile
		)
		if err := rows.Scan(&msgb, &idb, &f.Name, &f.MIME, &f.Size, &hash); err != nil {
			return err
		}
		mid, err := idFrom(msgb)
		if err != nil {
			return err
		}
		if f.ID, err = idFrom(idb); err != nil {
			return err
		}
		if len(hash) != len(f.Hash) {
			return fmt.Errorf("attachment %s: hash of %d bytes: %w", f.ID, len(hash), ErrCorrupt)
		}
		copy(f.Hash[:], hash)
		m := &msgs[at[mid]]
		m.Attachments = append(m.Attachments, f)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rows.Close()
	rows, err = tx.QueryContext(ctx, `SELECT r.message, r.emoji, r.reactor, coalesce(k.name, '') FROM reactions r
		LEFT JOIN contacts k ON k.id = r.reactor
		WHERE r.message IN (`+in+`) ORDER BY r.message, r.emoji, r.reactor`, ids...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			msgb, who []byte
			r         Reaction
		)
		if err := rows.Scan(&msgb, &r.Emoji, &who, &r.ReactorName); err != nil {
			return err
		}
		mid, err := idFrom(msgb)
		if err != nil {
			return err
		}
		if r.Reactor, err = idFrom(who); err != nil {
			return err
		}
		m := &msgs[at[mid]]
		m.Reactions = append(m.Reactions, r)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	// The count stored is what the export named; what a later export
	// carried is among the attachments now.
	for i := range msgs {
		msgs[i].Omitted = max(msgs[i].Omitted-len(msgs[i].Attachments), 0)
	}
	return nil
}

// readTx runs f in one read transaction, so that a page and its details
// come from the same state of the history.
func (s *Store) readTx(ctx context.Context, op string, f func(*sql.Tx) error) error {
	db, err := s.handle()
	if err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return dbErr(op, err)
	}
	defer tx.Rollback()
	if err := f(tx); err != nil {
		if errors.Is(err, ErrCorrupt) || errors.Is(err, ErrBadQuery) {
			return fmt.Errorf("chatstore: %s: %w", op, err)
		}
		return dbErr(op, err)
	}
	return nil
}

// idFrom checks that a column holds a 16-byte ID.
func idFrom(b []byte) (ID, error) {
	var id ID
	if len(b) != len(id) {
		return ID{}, fmt.Errorf("an ID of %d bytes: %w", len(b), ErrCorrupt)
	}
	copy(id[:], b)
	return id, nil
}

func msTime(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

func idArgs(ids []ID) []any {
	out := make([]any, len(ids))
	for i := range ids {
		out[i] = ids[i][:]
	}
	return out
}
