package importers

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"time"
)

// telegramExport is a Telegram Desktop JSON export to read: result.json of
// one chat or of a whole account.
type telegramExport struct {
	file string                        // its name, for problems and errors
	open func() (io.ReadCloser, error) // opens it
	dir  string                        // where its media paths start in the container ("" the root)
	loc  *time.Location                // for exports without date_unixtime
}

// ownerSink is a sink that can be told who the owner is (the full-account
// export names them).
type ownerSink interface {
	sink
	owner(platform, key string)
}

// flexInt is an integer that an export writes as a number or as a string
// of digits ("date_unixtime": "1678615200"); set is false for null or
// missing.
type flexInt struct {
	v   int64
	set bool
}

func (f *flexInt) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		b = []byte(s)
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fieldError(fmt.Sprintf("not an integer: %.40q", b))
	}
	f.v, f.set = v, true
	return nil
}

// peerID is a Telegram peer: "user123" in current exports, a bare number
// (a user) in older ones.
type peerID string

// tgText is a message's text joined to plain text.
type tgText string

type (
	tgReactor struct {
		From   *string
		FromID peerID
		Date   string
	}
	tgReaction struct {
		Type, Emoji string
		Recent      []tgReactor
	}
	tgAnswer struct{ Text string }
	tgPoll   struct {
		Question string
		Answers  []tgAnswer
	}
	tgLocation struct{ Latitude, Longitude float64 }
	tgContact  struct{ FirstName, LastName, Phone string }
)

// tgMessage is the part of a message object the importer reads (jsonValue.message).
type tgMessage struct {
	ID, DateUnix, EditedUnix, ReplyTo, MessageID, Duration flexInt
	Type, Date, Edited, Action, Title                      string
	From, Actor                                            *string
	FromID, ActorID                                        peerID
	Members                                                []*string
	Text                                                   tgText
	Photo, File, FileName, MimeType                        string
	DiscardReason                                          string
	Reactions                                              []tgReaction
	Poll                                                   *tgPoll
	Location                                               *tgLocation
	Contact                                                *tgContact
}

// tgChat is what is known of the chat being read.
type tgChat struct {
	name   string
	typ    string
	id     string
	begun  bool
	times  idTimes // message id → time, for replies
	nextID int64   // messages seen
}

// parseTelegram reads a Telegram export token by token: the messages
// arrays are decoded one message at a time, never whole.
func parseTelegram(ctx context.Context, in telegramExport, s ownerSink) error {
	rc, err := in.open()
	if err != nil {
		return err
	}
	defer rc.Close()
	p := &tgParser{ctx: ctx, in: in, s: s, dec: json.NewDecoder(bufio.NewReaderSize(rc, 64<<10))}
	return p.run()
}

type tgParser struct {
	ctx   context.Context
	in    telegramExport
	s     ownerSink
	dec   *json.Decoder
	chats int
	rec   record
}

// damaged turns a decoding error into a sentence.
func (p *tgParser) damaged(err error) error {
	var se *json.SyntaxError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return badInput(ErrDamaged, err, "%s stops in the middle (after %d bytes): the export is incomplete; copy it again, or export again from Telegram Desktop", p.in.file, p.dec.InputOffset())
	case errors.As(err, &se):
		return badInput(ErrDamaged, err, "%s is damaged: it is not valid JSON at byte %d (%v); copy it again, or export again from Telegram Desktop", p.in.file, se.Offset, err)
	}
	var ie *Error
	if errors.As(err, &ie) {
		return err
	}
	var te *json.UnmarshalTypeError
	var fe fieldError
	if errors.As(err, &te) || errors.As(err, &fe) {
		return badInput(ErrDamaged, err, "%s is not laid out as Telegram writes it: before byte %d, %v", p.in.file, p.dec.InputOffset(), err)
	}
	return fmt.Errorf("read %s: %w", p.in.file, err)
}

// fieldError is a value of an export that has the wrong form.
type fieldError string

func (e fieldError) Error() string { return string(e) }

func (p *tgParser) notExport(why string) error {
	return badInput(ErrNotExport, nil, "%s is not a Telegram export: %s; Telegram Desktop's \"Export chat history\" (format: JSON) writes result.json", p.in.file, why)
}

// delim reads the next token and requires it to be d.
func (p *tgParser) delim(d json.Delim) error {
	t, err := p.dec.Token()
	if err != nil {
		return p.damaged(err)
	}
	if t != d {
		return badInput(ErrDamaged, nil, "%s: expected %q at byte %d, found %v: the file is not laid out as Telegram writes it", p.in.file, string(d), p.dec.InputOffset(), t)
	}
	return nil
}

func (p *tgParser) key() (string, error) {
	t, err := p.dec.Token()
	if err != nil {
		return "", p.damaged(err)
	}
	k, ok := t.(string)
	if !ok {
		return "", badInput(ErrDamaged, nil, "%s: expected a key at byte %d", p.in.file, p.dec.InputOffset())
	}
	return k, nil
}

// skip reads one value without keeping it.
func (p *tgParser) skip() error {
	depth := 0
	for {
		t, err := p.dec.Token()
		if err != nil {
			return p.damaged(err)
		}
		switch t {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}

func (p *tgParser) run() error {
	t, err := p.dec.Token()
	if err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) || errors.Is(err, io.EOF) {
			return p.notExport("it is not JSON")
		}
		return p.damaged(err)
	}
	if t != json.Delim('{') {
		return p.notExport("it is not a JSON object")
	}
	top := &tgChat{}
	sawChats := false
	for p.dec.More() {
		k, err := p.key()
		if err != nil {
			return err
		}
		switch k {
		case "personal_information":
			var pi struct {
				UserID flexInt `json:"user_id"`
			}
			if err := p.dec.Decode(&pi); err != nil {
				return p.damaged(err)
			}
			if pi.UserID.set {
				p.s.owner(platformTelegram, "user"+strconv.FormatInt(pi.UserID.v, 10))
			}
		case "chats", "left_chats":
			sawChats = true
			if err := p.chatList(); err != nil {
				return err
			}
		case "messages":
			sawChats = true
			if err := p.messages(top); err != nil {
				return err
			}
		default:
			if err := p.chatField(top, k); err != nil {
				return err
			}
		}
	}
	if err := p.delim('}'); err != nil {
		return err
	}
	if _, err := p.dec.Token(); err != io.EOF {
		if err == nil {
			return badInput(ErrDamaged, nil, "%s goes on after its end (byte %d): it is not a file Telegram wrote", p.in.file, p.dec.InputOffset())
		}
		return p.damaged(err)
	}
	if !sawChats {
		return p.notExport("it holds no chats and no messages")
	}
	return nil
}

// chatField reads one key of a chat object other than its messages.
func (p *tgParser) chatField(c *tgChat, k string) error {
	switch k {
	case "name", "type":
		var s *string
		if err := p.dec.Decode(&s); err != nil {
			return p.damaged(err)
		}
		if s != nil && k == "name" {
			c.name = *s
		} else if s != nil {
			c.typ = *s
		}
	case "id":
		var id flexInt
		if err := p.dec.Decode(&id); err != nil || !id.set {
			if err == nil || !isSyntax(err) {
				return badInput(ErrDamaged, err, "%s: a chat's id is not a number (byte %d)", p.in.file, p.dec.InputOffset())
			}
			return p.damaged(err)
		}
		c.id = strconv.FormatInt(id.v, 10)
	default:
		return p.skip()
	}
	return nil
}

func isSyntax(err error) bool {
	var se *json.SyntaxError
	return errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// chatList reads {"about": ..., "list": [chat, ...]}.
func (p *tgParser) chatList() error {
	if err := p.delim('{'); err != nil {
		return err
	}
	for p.dec.More() {
		k, err := p.key()
		if err != nil {
			return err
		}
		if k != "list" {
			if err := p.skip(); err != nil {
				return err
			}
			continue
		}
		if err := p.delim('['); err != nil {
			return err
		}
		for p.dec.More() {
			if err := p.chat(); err != nil {
				return err
			}
		}
		if err := p.delim(']'); err != nil {
			return err
		}
	}
	return p.delim('}')
}

func (p *tgParser) chat() error {
	if err := p.delim('{'); err != nil {
		return err
	}
	c := &tgChat{}
	for p.dec.More() {
		k, err := p.key()
		if err != nil {
			return err
		}
		if k == "messages" {
			err = p.messages(c)
		} else {
			err = p.chatField(c, k)
		}
		if err != nil {
			return err
		}
	}
	return p.delim('}')
}

// begin tells the sink about chat c, before its first message.
func (p *tgParser) begin(c *tgChat) error {
	if c.begun {
		return nil
	}
	if c.id == "" {
		return badInput(ErrNotExport, nil, "%s: a chat's messages come before its id (byte %d): Telegram writes the id first; this file was not written by Telegram Desktop", p.in.file, p.dec.InputOffset())
	}
	c.begun = true
	p.chats++
	title := c.name
	switch {
	case title != "":
	case c.typ == "saved_messages":
		title = "Saved Messages"
	default:
		title = "Telegram chat " + c.id
	}
	group := true
	switch c.typ {
	case "personal_chat", "bot_chat", "saved_messages":
		group = false
	}
	return p.s.beginChat(chatInfo{platform: platformTelegram, identity: c.id, title: title, group: group, native: c.id, file: p.in.file})
}

// messages reads a chat's messages array, one message at a time.
func (p *tgParser) messages(c *tgChat) error {
	if err := p.delim('['); err != nil {
		return err
	}
	var (
		m   tgMessage
		raw json.RawMessage
		jv  jsonValue
	)
	for p.dec.More() {
		if err := p.ctx.Err(); err != nil {
			return err
		}
		c.nextID++
		raw = raw[:0]
		if err := p.dec.Decode(&raw); err != nil {
			return p.damaged(err)
		}
		m = tgMessage{}
		jv = jsonValue{b: raw}
		jv.message(&m)
		if jv.err != nil {
			// A value of the wrong type: the message is skipped.
			p.s.problem(Problem{File: p.in.file, Where: p.where(c, &m), Text: string(m.Text), Reason: "a field has the wrong type: " + jv.err.Error()})
			continue
		}
		if err := p.begin(c); err != nil {
			return err
		}
		if err := p.message(c, &m); err != nil {
			return err
		}
	}
	return p.delim(']')
}

func (p *tgParser) where(c *tgChat, m *tgMessage) string {
	w := "message " + strconv.FormatInt(c.nextID, 10)
	if m.ID.set {
		w += " (id " + strconv.FormatInt(m.ID.v, 10) + ")"
	}
	if c.name != "" {
		w += " of " + c.name
	}
	return w
}

// tgTime is a time of a message: the unixtime field first, else the local
// date in loc.
func (p *tgParser) tgTime(unix flexInt, date string) (int64, bool) {
	if unix.set {
		if unix.v <= 0 || unix.v >= 1<<32 {
			return 0, false
		}
		return unix.v * 1000, true
	}
	if date == "" {
		return 0, false
	}
	t, err := time.ParseInLocation("2006-01-02T15:04:05", date, p.in.loc)
	if err != nil || t.Unix() <= 0 || t.Unix() >= 1<<32 {
		return 0, false
	}
	return t.Unix() * 1000, true
}

func (p *tgParser) message(c *tgChat, m *tgMessage) error {
	where := p.where(c, m)
	if !m.ID.set {
		p.s.problem(Problem{File: p.in.file, Where: where, Text: string(m.Text), Reason: "it has no id"})
		return nil
	}
	sent, ok := p.tgTime(m.DateUnix, m.Date)
	if !ok {
		p.s.problem(Problem{File: p.in.file, Where: where, Text: string(m.Text), Reason: "it has no date Ferry can read"})
		return nil
	}
	r := &p.rec
	*r = record{where: where, sent: sent, native: strconv.FormatInt(m.ID.v, 10)}
	c.times.set(m.ID.v, sent/1000)
	if edited, ok := p.tgTime(m.EditedUnix, m.Edited); ok {
		r.edited = edited
	}
	reply := m.ReplyTo
	switch m.Type {
	case "service":
		r.event = true
		r.senderKey, r.senderName = personKey(m.ActorID, m.Actor)
		r.senderID = string(m.ActorID)
		r.body = serviceText(m)
		if m.Action == "pin_message" && m.MessageID.set {
			reply = m.MessageID
		}
	case "message", "":
		r.senderKey, r.senderName = personKey(m.FromID, m.From)
		r.senderID = string(m.FromID)
		r.body = messageText(m)
	default:
		p.s.problem(Problem{File: p.in.file, Where: where, Text: string(m.Text), Reason: "unknown message type " + strconv.Quote(m.Type)})
		return nil
	}
	if reply.set {
		if t, ok := c.times.get(reply.v); ok {
			r.replyTo, r.replyAt = strconv.FormatInt(reply.v, 10), t*1000
		}
	}
	for i, f := range []struct{ v, mime string }{{m.Photo, ""}, {m.File, m.MimeType}} {
		if f.v == "" {
			continue
		}
		if strings.HasPrefix(f.v, "(") && strings.HasSuffix(f.v, ")") {
			// "(File not included. Change data exporting settings to download.)"
			r.omitted++
			continue
		}
		clean, ok := cleanName(f.v, true)
		if !ok {
			return badInput(ErrUnsafeName, nil, "%s, %s, names the file %q, which points outside the export: Ferry does not import it; this file was not written by Telegram", p.in.file, where, f.v)
		}
		name := path.Base(clean)
		if i == 1 && m.FileName != "" {
			if n, ok := cleanName(m.FileName, false); ok {
				name = n
			}
		}
		full := clean
		if p.in.dir != "" {
			full = p.in.dir + "/" + clean
		}
		r.media = append(r.media, mediaRef{file: full, name: name, mime: f.mime})
	}
	for _, re := range m.Reactions {
		if re.Emoji == "" {
			continue // custom emoji and paid stars carry no emoji
		}
		for _, who := range re.Recent {
			key, name := personKey(who.FromID, who.From)
			at, _ := p.tgTime(flexInt{}, who.Date)
			r.reactions = append(r.reactions, reactionRef{key: key, name: name, native: string(who.FromID), emoji: re.Emoji, at: at})
		}
	}
	return p.s.add(r)
}

// personKey is a sender's identity: their peer id, else their name.
func personKey(id peerID, name *string) (key, display string) {
	display = "Deleted Account"
	if name != nil && *name != "" {
		display = *name
	}
	if id != "" {
		return string(id), display
	}
	return "name:" + display, display
}

// messageText is a message's text, or a description of what it carries
// when it has none (a poll, a location, a contact).
func messageText(m *tgMessage) string {
	if m.Text != "" {
		return string(m.Text)
	}
	switch {
	case m.Poll != nil:
		var b strings.Builder
		b.WriteString("📊 " + m.Poll.Question)
		for _, a := range m.Poll.Answers {
			b.WriteString("\n• " + a.Text)
		}
		return b.String()
	case m.Location != nil:
		return fmt.Sprintf("📍 %.6f, %.6f", m.Location.Latitude, m.Location.Longitude)
	case m.Contact != nil:
		return strings.TrimSpace("👤 " + strings.TrimSpace(m.Contact.FirstName+" "+m.Contact.LastName) + " " + m.Contact.Phone)
	}
	return ""
}

// serviceText writes a service message's event as a sentence.
func serviceText(m *tgMessage) string {
	actor := "Someone"
	if m.Actor != nil && *m.Actor != "" {
		actor = *m.Actor
	}
	var members []string
	for _, x := range m.Members {
		if x != nil {
			members = append(members, *x)
		}
	}
	switch m.Action {
	case "create_group":
		return fmt.Sprintf("%s created the group “%s”", actor, m.Title)
	case "create_channel":
		return fmt.Sprintf("%s created the channel “%s”", actor, m.Title)
	case "edit_group_title":
		return fmt.Sprintf("%s changed the group name to “%s”", actor, m.Title)
	case "edit_group_photo":
		return actor + " changed the group photo"
	case "delete_group_photo":
		return actor + " removed the group photo"
	case "invite_members":
		return actor + " added " + strings.Join(members, ", ")
	case "remove_members":
		return actor + " removed " + strings.Join(members, ", ")
	case "join_group_by_link":
		return actor + " joined the group via an invite link"
	case "pin_message":
		return actor + " pinned a message"
	case "migrate_to_supergroup", "migrate_from_group":
		return actor + " converted the group to a supergroup"
	case "clear_history":
		return "History was cleared"
	case "phone_call", "group_call":
		s := actor + " called"
		if m.DiscardReason == "missed" {
			s = "Missed call from " + actor
		}
		if m.Duration.set && m.Duration.v > 0 {
			s += fmt.Sprintf(" (%s)", time.Duration(m.Duration.v)*time.Second)
		}
		return s
	}
	if m.Text != "" {
		return actor + ": " + string(m.Text)
	}
	return actor + ": " + strings.ReplaceAll(m.Action, "_", " ")
}

// idTimes maps a chat's message ids to their times in seconds, for
// replies: dense ids (Telegram numbers a chat's messages in order) take 4
// bytes each in a slice, as long as it stays at least a quarter full, and
// stray ones go to a map; so a chat costs at most 16 bytes per message
// however its ids are spread.
type idTimes struct {
	base   int64
	n      int // ids in secs
	secs   []uint32
	sparse map[int64]uint32
}

func (t *idTimes) set(id, sec int64) {
	if sec <= 0 || sec >= 1<<32 {
		return
	}
	if t.secs == nil && t.sparse == nil {
		t.base = id
	}
	if off := id - t.base; off >= 0 && off < 4*int64(t.n+1)+1024 {
		for int64(len(t.secs)) <= off {
			t.secs = append(t.secs, 0)
		}
		if t.secs[off] == 0 {
			t.n++
		}
		t.secs[off] = uint32(sec)
		return
	}
	if t.sparse == nil {
		t.sparse = map[int64]uint32{}
	}
	t.sparse[id] = uint32(sec)
}

func (t *idTimes) get(id int64) (int64, bool) {
	if off := id - t.base; off >= 0 && off < int64(len(t.secs)) && t.secs[off] != 0 {
		return int64(t.secs[off]), true
	}
	s, ok := t.sparse[id]
	return int64(s), ok
}
