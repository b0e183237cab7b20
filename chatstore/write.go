package chatstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
)

// Rows that a Writer adds, one type per table; the columns are those of
// the schema (schema/*.sql), IDs are 16-byte global IDs.
type (
	ContactRow struct {
		ID             [16]byte
		Name, Phone    string
		Updated        int64 // Unix ms of this version; the newer version wins a merge
		Source, Native string
		Self           bool // the device's owner on that app
	}
	ConversationRow struct {
		ID               [16]byte
		Group            bool // false: a direct conversation
		Title            string
		Created, Updated int64 // Unix ms; Updated: of the title
		Source, Native   string
	}
	ParticipantRow struct {
		Conversation, Contact [16]byte
	}
	MessageRow struct {
		ID, Conversation, Sender [16]byte
		Sent, Received           int64 // Unix ms
		Body                     string
		ReplyTo                  [16]byte // all zero: not a reply
		Edited, Deleted          int64    // Unix ms, 0: never
		Event                    bool     // a system event, not a message from a person
		Native                   string
		Omitted                  int // attachments the export named but did not carry
	}
	ReactionRow struct {
		Message, Reactor [16]byte
		Emoji            string
	}
	AttachmentRow struct {
		ID, Message [16]byte
		Hash        Hash
		Size        int64
		MIME, Name  string
	}
)

const (
	// writeBatch is how many rows one INSERT statement of a Writer carries.
	writeBatch = 64
	// writerCacheKiB is a Writer's page cache: rows go in mostly in key
	// order, so a small cache is enough, and a larger one costs more to
	// fill and to free than it saves.
	writerCacheKiB = 4 << 10
)

// A Writer fills a new standalone history database, a file of the current
// schema that Merge or Adopt then takes in like any snapshot. Rows that
// share a key combine by the merge rules (merge.go), so writing a row twice,
// or two versions of it, gives what merging them would. All rows go in one
// transaction that Close commits.
//
// The file is scratch until then: it is written without a journal and
// without fsync (Adopt makes it durable before the rename; Merge only reads
// it). After an error or Abort, delete it.
type Writer struct {
	path  string
	db    *sql.DB
	conn  *sql.Conn
	tx    *sql.Tx
	batch [7]*batcher // contacts, conversations, participants, messages, reactions, attachments, plain messages
	done  bool
	ok    bool // Close committed: the file is complete
}

// NewWriter creates the database file path, which must not exist, and
// begins the transaction.
func NewWriter(ctx context.Context, path string) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("chatstore: new database: %w", err)
	}
	f.Close()
	w := &Writer{path: path}
	if err := w.open(ctx); err != nil {
		w.Abort()
		return nil, err
	}
	return w, nil
}

func (w *Writer) open(ctx context.Context) error {
	db, err := openSQL(w.path, false)
	if err != nil {
		return err
	}
	w.db = db
	conn, err := db.Conn(ctx)
	if err != nil {
		return dbErr("new database", err)
	}
	w.conn = conn
	for _, p := range []string{
		fmt.Sprintf("PRAGMA page_size=%d", pageSize),
		"PRAGMA journal_mode=OFF",
		"PRAGMA synchronous=OFF",
		fmt.Sprintf("PRAGMA cache_size=-%d", writerCacheKiB),
	} {
		if _, err := conn.ExecContext(ctx, p); err != nil {
			return dbErr("new database", err)
		}
	}
	if err := migrate(ctx, conn, 0); err != nil {
		return err
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return dbErr("new database: begin", err)
	}
	w.tx = tx
	heads := [...]struct {
		table, cols, upsert string
		n                   int
	}{
		{"contacts", contactCols, contactUpsert, 7},
		{"conversations", conversationCols, conversationUpsert, 7},
		{"participants", participantCols, " ON CONFLICT DO NOTHING", 2},
		{"messages", messageCols, messageUpsert, 12},
		{"reactions", reactionCols, " ON CONFLICT DO NOTHING", 3},
		{"attachments", attachmentCols, " ON CONFLICT DO NOTHING", 6},
		// Most messages are neither replies, nor edited, deleted, events
		// or short of media: they go in with fewer values to bind, the
		// other columns taking their defaults.
		{"messages", plainMessageCols, messageUpsert, 7},
	}
	for i, h := range heads {
		w.batch[i] = &batcher{tx: tx, head: "INSERT INTO " + h.table + " (" + h.cols + ")", tail: h.upsert, cols: h.n, rows: writeBatch}
	}
	return nil
}

var errWriterDone = errors.New("chatstore: writer is closed")

func (w *Writer) add(ctx context.Context, table int, vals ...any) error {
	if w.done {
		return errWriterDone
	}
	return w.batch[table].add(ctx, vals...)
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// AddContact adds or updates a contact.
func (w *Writer) AddContact(ctx context.Context, c ContactRow) error {
	return w.add(ctx, 0, c.ID[:], c.Name, c.Phone, c.Updated, c.Source, c.Native, b2i(c.Self))
}

// AddConversation adds or updates a conversation.
func (w *Writer) AddConversation(ctx context.Context, c ConversationRow) error {
	kind := int64(1)
	if c.Group {
		kind = 2
	}
	return w.add(ctx, 1, c.ID[:], kind, c.Title, c.Created, c.Updated, c.Source, c.Native)
}

// AddParticipant adds a contact to a conversation.
func (w *Writer) AddParticipant(ctx context.Context, p ParticipantRow) error {
	return w.add(ctx, 2, p.Conversation[:], p.Contact[:])
}

// plainMessageCols are the columns of a message that has none of the
// others set.
const plainMessageCols = "id, conversation, sender, sent, received, body, native"

// AddMessage adds or updates a message.
func (w *Writer) AddMessage(ctx context.Context, m MessageRow) error {
	if m.ReplyTo == ([16]byte{}) && m.Edited == 0 && m.Deleted == 0 && !m.Event && m.Omitted == 0 {
		return w.add(ctx, 6, m.ID[:], m.Conversation[:], m.Sender[:], m.Sent, m.Received, m.Body, m.Native)
	}
	var reply any
	if m.ReplyTo != ([16]byte{}) {
		reply = m.ReplyTo[:]
	}
	if m.Omitted < 0 {
		return fmt.Errorf("chatstore: add message: negative omitted count")
	}
	return w.add(ctx, 3, m.ID[:], m.Conversation[:], m.Sender[:], m.Sent, m.Received, m.Body, reply,
		m.Edited, m.Deleted, b2i(m.Event), m.Native, int64(m.Omitted))
}

// AddReaction adds a reaction.
func (w *Writer) AddReaction(ctx context.Context, r ReactionRow) error {
	return w.add(ctx, 4, r.Message[:], r.Reactor[:], r.Emoji)
}

// AddAttachment adds an attachment; its bytes are the caller's to install
// (InstallMedia) before the database is merged.
func (w *Writer) AddAttachment(ctx context.Context, a AttachmentRow) error {
	if a.Size < 0 {
		return fmt.Errorf("chatstore: add attachment: negative size")
	}
	return w.add(ctx, 5, a.ID[:], a.Message[:], a.Hash[:], a.Size, a.MIME, a.Name)
}

// Close writes what is buffered, commits, and closes the file; it returns
// how many conversations, messages and attachments the file holds.
func (w *Writer) Close(ctx context.Context) (MergeResult, error) {
	if w.done {
		return MergeResult{}, errWriterDone
	}
	var res MergeResult
	err := func() error {
		for _, b := range w.batch {
			if err := b.flush(ctx); err != nil {
				return err
			}
		}
		err := w.tx.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM conversations), (SELECT count(*) FROM messages),
			(SELECT count(*) FROM attachments)`).Scan(&res.Conversations, &res.Messages, &res.Attachments)
		if err != nil {
			return dbErr("new database: count", err)
		}
		if err := w.tx.Commit(); err != nil {
			return dbErr("new database: commit", err)
		}
		return nil
	}()
	w.release()
	if err != nil {
		return MergeResult{}, err
	}
	if err := w.db.Close(); err != nil {
		return MergeResult{}, dbErr("new database: close", err)
	}
	w.ok = true
	return res, nil
}

// written returns the path of the file w completed, or an error if Close
// did not succeed.
func (w *Writer) written() (string, error) {
	if !w.ok {
		return "", errors.New("chatstore: the writer's database is not complete")
	}
	return w.path, nil
}

// Abort gives up: the transaction is dropped and the file is left for the
// caller to delete. It is idempotent and safe after Close.
func (w *Writer) Abort() {
	if w.db == nil {
		return
	}
	w.release()
	w.db.Close()
}

func (w *Writer) release() {
	if w.done {
		return
	}
	w.done = true
	for _, b := range w.batch {
		if b != nil {
			b.close()
		}
	}
	if w.tx != nil {
		w.tx.Rollback()
	}
	if w.conn != nil {
		w.conn.Close()
	}
}
