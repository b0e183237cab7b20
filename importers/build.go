package importers

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"lukechampine.com/blake3"

	"github.com/ferryhq/ferry/chatstore"
)

// chatInfo is one chat of an export, as its parser found it.
type chatInfo struct {
	platform string
	identity string // what the conversation's ID derives from
	title    string
	group    bool
	native   string // the app's chat id, if any
	file     string // the chat file in the export, for problems and errors
}

// record is one message or system event as a parser read it.
type record struct {
	where      string // "line 12", "message 345": for errors
	senderKey  string // the sender's identity ("" none: an event without actor)
	senderName string
	senderID   string // the app's own ID of the sender (Telegram from_id), if any
	event      bool
	sent       int64 // Unix ms
	body       string
	edited     int64
	deleted    int64
	native     string // the app's message id, if any
	replyTo    string // the app's id of the message this one answers, if in the export
	replyAt    int64  // and that message's time
	media      []mediaRef
	omitted    int
	reactions  []reactionRef
}

// mediaRef is an attachment a record names: the file in the container and
// the name to store.
type mediaRef struct {
	file string // clean path in the container
	name string // stored name
	mime string // "" means by extension
}

type reactionRef struct {
	key, name, native string
	emoji             string
	at                int64
}

// sink receives what a parser reads.
type sink interface {
	beginChat(c chatInfo) error
	add(r *record) error
	// problem reports a line or message that could not be read.
	problem(p Problem)
}

// Problem is a line or message of the export that could not be read; it was
// not imported.
type Problem struct {
	File   string `json:"file"`
	Where  string `json:"where"` // "line 12", "message 345"
	Text   string `json:"text"`  // what it holds, shortened
	Reason string `json:"reason"`
}

// maxProblems bounds the problems a Result lists; all are counted.
const maxProblems = 1000

// contactAcc is what an import learned about one contact.
type contactAcc struct {
	id       [16]byte
	platform string
	key      string
	name     string
	native   string
	updated  int64
	person   bool // wrote a message (a candidate for the owner)
	self     bool
}

// convAcc is what an import learned about one conversation.
type convAcc struct {
	row chatstore.ConversationRow
}

// batch is a slice of rows on their way to the writer.
type batch struct {
	msgs   []chatstore.MessageRow
	atts   []chatstore.AttachmentRow
	reacts []chatstore.ReactionRow
}

const batchMessages = 1024

// limits on what an import keeps in memory whatever the size of the export.
const (
	maxContacts = 500_000
	dupWindowMS = 48 * 3600 * 1000 // equal lines further apart than this may share a position (doc.go)
)

// builder turns records into rows: it derives IDs, stages media files, and
// gathers contacts, conversations and participants, which it writes at the
// end; messages, attachments and reactions leave in batches on out.
type builder struct {
	ctx   context.Context
	ids   *idHasher
	c     container
	stage string // directory for staged media
	out   chan<- *batch
	cur   *batch

	chat     chatInfo
	conv     *convAcc
	convs    map[[16]byte]*convAcc
	contacts map[string]*contactAcc // by platform + "\x00" + key
	parts    map[[32]byte]struct{}

	// Positions among equal lines (WhatsApp): ID with position 0 → count.
	dups     map[[16]byte]int
	dupLimit int
	latest   int64

	owners map[string]bool // contacts (platform, key) the export names as the owner

	media    map[string]stagedMedia // by container path
	staged   map[chatstore.Hash]int64
	tmpSeq   int
	copyBuf  []byte
	read     int64 // records added
	progress func(read int64)
	problems []Problem
	nProblem int
}

type stagedMedia struct {
	hash chatstore.Hash
	size int64
}

func newBuilder(ctx context.Context, c container, stage string, out chan<- *batch) *builder {
	return &builder{
		ctx: ctx, ids: newIDHasher(), c: c, stage: stage, out: out, cur: &batch{},
		convs: map[[16]byte]*convAcc{}, contacts: map[string]*contactAcc{}, parts: map[[32]byte]struct{}{},
		dups: map[[16]byte]int{}, dupLimit: 4096, owners: map[string]bool{},
		media: map[string]stagedMedia{}, staged: map[chatstore.Hash]int64{},
	}
}

func (b *builder) beginChat(c chatInfo) error {
	b.chat = c
	id := b.ids.conversation(c.platform, c.identity)
	conv, ok := b.convs[id]
	if !ok {
		conv = &convAcc{row: chatstore.ConversationRow{ID: id, Source: c.platform, Native: c.native}}
		b.convs[id] = conv
	}
	conv.row.Group = conv.row.Group || c.group
	if conv.row.Title == "" {
		conv.row.Title = c.title
	}
	b.conv = conv
	clear(b.dups)
	return nil
}

func (b *builder) problem(p Problem) {
	b.nProblem++
	if len(b.problems) < maxProblems {
		if len(p.Text) > 200 {
			p.Text = strings.ToValidUTF8(p.Text[:200], "") + "…"
		}
		b.problems = append(b.problems, p)
	}
}

// contact returns the contact for key, creating it.
func (b *builder) contact(key, name, native string) (*contactAcc, error) {
	k := b.chat.platform + "\x00" + key
	if c, ok := b.contacts[k]; ok {
		return c, nil
	}
	if len(b.contacts) >= maxContacts {
		return nil, badInput(ErrNotExport, nil, "%s names more than %d different people: that is not a chat export Ferry can import", b.chat.file, maxContacts)
	}
	c := &contactAcc{id: b.ids.contact(b.chat.platform, key), platform: b.chat.platform, key: key, name: name, native: native}
	b.contacts[k] = c
	return c, nil
}

// seen records that contact c appeared in the current chat at time ms
// under name.
func (b *builder) seen(c *contactAcc, name string, ms int64) {
	if ms >= c.updated {
		c.updated = ms
		if name != "" {
			c.name = name
		}
	}
	var p [32]byte
	copy(p[:16], b.conv.row.ID[:])
	copy(p[16:], c.id[:])
	b.parts[p] = struct{}{}
}

func (b *builder) add(r *record) error {
	if err := b.ctx.Err(); err != nil {
		return err
	}
	b.read++
	if b.read%8192 == 0 && b.progress != nil {
		b.progress(b.read)
	}
	var sender [16]byte
	if r.senderKey != "" {
		c, err := b.contact(r.senderKey, r.senderName, r.senderID)
		if err != nil {
			return err
		}
		b.seen(c, r.senderName, r.sent)
		c.person = c.person || !r.event
		sender = c.id
	}
	if r.sent > b.conv.row.Updated {
		b.conv.row.Updated = r.sent
	}
	var id [16]byte
	if r.native != "" {
		id = b.ids.nativeMessage(b.chat.platform, b.chat.identity, r.native, r.sent)
	} else {
		id = b.lineID(r)
	}
	m := chatstore.MessageRow{
		ID: id, Conversation: b.conv.row.ID, Sender: sender, Sent: r.sent, Received: r.sent,
		Body: r.body, Edited: r.edited, Deleted: r.deleted, Event: r.event, Native: r.native, Omitted: r.omitted,
	}
	if r.replyTo != "" {
		m.ReplyTo = b.ids.nativeMessage(b.chat.platform, b.chat.identity, r.replyTo, r.replyAt)
	}
	for i, ref := range r.media {
		sm, err := b.stageMedia(ref, r.where)
		if err != nil {
			return err
		}
		mime := ref.mime
		if mime == "" {
			mime = mimeOf(ref.name)
		}
		b.cur.atts = append(b.cur.atts, chatstore.AttachmentRow{
			ID:      b.ids.attachment(id, r.sent, i, ref.name, mime, sm.hash, sm.size),
			Message: id, Hash: sm.hash, Size: sm.size, MIME: mime, Name: ref.name,
		})
	}
	for _, re := range r.reactions {
		c, err := b.contact(re.key, re.name, re.native)
		if err != nil {
			return err
		}
		b.seen(c, re.name, re.at)
		b.cur.reacts = append(b.cur.reacts, chatstore.ReactionRow{Message: id, Reactor: c.id, Emoji: re.emoji})
	}
	b.cur.msgs = append(b.cur.msgs, m)
	if len(b.cur.msgs) >= batchMessages {
		return b.flush()
	}
	return nil
}

// lineID is the ID of a message of an export without message IDs.
func (b *builder) lineID(r *record) [16]byte {
	var flags byte
	if r.event {
		flags |= 1
	}
	if r.deleted != 0 {
		flags |= 2
	}
	id0 := b.ids.lineMessage(b.chat.platform, b.chat.identity, r.senderKey, r.sent, flags, r.body, 0)
	n := b.dups[id0]
	b.dups[id0] = n + 1
	b.latest = max(b.latest, r.sent)
	if len(b.dups) >= b.dupLimit {
		for k := range b.dups {
			if idTime(k) < b.latest-dupWindowMS {
				delete(b.dups, k)
			}
		}
		b.dupLimit = max(4096, 2*len(b.dups))
	}
	if n == 0 {
		return id0
	}
	return b.ids.lineMessage(b.chat.platform, b.chat.identity, r.senderKey, r.sent, flags, r.body, n)
}

func idTime(id [16]byte) int64 {
	var t [8]byte
	copy(t[2:], id[:6])
	return int64(binary.BigEndian.Uint64(t[:]))
}

func (b *builder) flush() error {
	if len(b.cur.msgs) == 0 && len(b.cur.atts) == 0 && len(b.cur.reacts) == 0 {
		return nil
	}
	select {
	case b.out <- b.cur:
	case <-b.ctx.Done():
		return b.ctx.Err()
	}
	b.cur = &batch{msgs: make([]chatstore.MessageRow, 0, batchMessages)}
	return nil
}

// stageMedia copies the file ref names out of the container into the
// staging directory, named by its BLAKE3 hash, once per file.
func (b *builder) stageMedia(ref mediaRef, where string) (stagedMedia, error) {
	if sm, ok := b.media[ref.file]; ok {
		return sm, nil
	}
	rc, err := b.c.open(ref.file)
	if errors.Is(err, fs.ErrNotExist) {
		return stagedMedia{}, badInput(ErrMissingMedia, err,
			"%s, %s, names the attachment %q, but %s does not hold it: export the chat again with its media, or import an export made without media",
			b.chat.file, where, ref.file, b.c.what())
	}
	if err != nil {
		return stagedMedia{}, err
	}
	defer rc.Close()
	if b.copyBuf == nil {
		b.copyBuf = make([]byte, 256<<10)
	}
	b.tmpSeq++
	tmp := filepath.Join(b.stage, fmt.Sprintf(".part-%d", b.tmpSeq))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return stagedMedia{}, fmt.Errorf("stage media: %w", err)
	}
	h := blake3.New(32, nil)
	n, err := io.CopyBuffer(io.MultiWriter(f, h), readerCtx{b.ctx, rc}, b.copyBuf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		var ie *Error
		if errors.As(err, &ie) || errors.Is(err, context.Canceled) {
			return stagedMedia{}, err
		}
		return stagedMedia{}, fmt.Errorf("stage media %s: %w", ref.file, err)
	}
	var sm stagedMedia
	h.Sum(sm.hash[:0])
	sm.size = n
	if _, ok := b.staged[sm.hash]; ok {
		os.Remove(tmp)
	} else {
		if err := os.Rename(tmp, b.stagedPath(sm.hash)); err != nil {
			os.Remove(tmp)
			return stagedMedia{}, fmt.Errorf("stage media: %w", err)
		}
		b.staged[sm.hash] = n
	}
	b.media[ref.file] = sm
	return sm, nil
}

func (b *builder) stagedPath(h chatstore.Hash) string { return filepath.Join(b.stage, h.String()) }

// stagedHashes lists the staged media files' hashes, in order.
func (b *builder) stagedHashes() []chatstore.Hash {
	hashes := make([]chatstore.Hash, 0, len(b.staged))
	for h := range b.staged {
		hashes = append(hashes, h)
	}
	sort.Slice(hashes, func(i, j int) bool { return hashes[i].String() < hashes[j].String() })
	return hashes
}

// readerCtx stops a copy when ctx is done.
type readerCtx struct {
	ctx context.Context
	r   io.Reader
}

func (r readerCtx) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

// candidates are the contacts who wrote a message: who the owner may be.
func (b *builder) candidates() []*contactAcc {
	var out []*contactAcc
	for _, c := range b.contacts {
		if c.person {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].name != out[j].name {
			return out[i].name < out[j].name
		}
		return out[i].key < out[j].key
	})
	return out
}

// writeRest writes contacts, conversations and participants.
func (b *builder) writeRest(ctx context.Context, w *chatstore.Writer) error {
	for _, c := range b.contacts {
		row := chatstore.ContactRow{ID: c.id, Name: c.name, Updated: c.updated, Source: c.platform, Native: c.native, Self: c.self}
		if looksLikePhone(c.name) {
			row.Phone = c.name
		}
		if err := w.AddContact(ctx, row); err != nil {
			return err
		}
	}
	for _, c := range b.convs {
		if err := w.AddConversation(ctx, c.row); err != nil {
			return err
		}
	}
	for p := range b.parts {
		var r chatstore.ParticipantRow
		copy(r.Conversation[:], p[:16])
		copy(r.Contact[:], p[16:])
		if err := w.AddParticipant(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

// looksLikePhone reports whether a sender's name is a phone number, as
// WhatsApp shows people who are not in the address book: "+49 170 1234567".
func looksLikePhone(s string) bool {
	s = strings.TrimSpace(s)
	if len(s) < 6 || s[0] != '+' {
		return false
	}
	digits := 0
	for _, r := range s[1:] {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == ' ' || r == '-' || r == '(' || r == ')' || r == '.' || r == '\u00a0':
		default:
			return false
		}
	}
	return digits >= 6
}

// owner notes that the contact with key (on the current platform) is the
// device's owner (Telegram's full-account export says who).
func (b *builder) owner(platform, key string) { b.owners[platform+"\x00"+key] = true }

var _ ownerSink = (*builder)(nil)
