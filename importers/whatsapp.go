package importers

import (
	"bufio"
	"context"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// whatsAppChat is one WhatsApp chat file to read.
type whatsAppChat struct {
	file  string                        // its name, for problems and errors
	open  func() (io.ReadCloser, error) // opens it from the start (it is read twice)
	title string                        // the chat's title (from its file, zip or folder name)
	dir   string                        // where its attachments are in the container ("" the root)
	has   func(path string) bool        // whether the container holds a file
	loc   *time.Location
}

// mediaPath is where attachment name is in the container.
func (in *whatsAppChat) mediaPath(name string) string {
	if in.dir == "" {
		return name
	}
	return in.dir + "/" + name
}

func (in *whatsAppChat) hasMedia(name string) bool {
	return in.has != nil && in.has(in.mediaPath(name))
}

// Bounds on one line and one message: WhatsApp caps a message at 65,536
// characters; longer runs are not a chat (or are damaged) and are cut.
const (
	maxLine = 1 << 20
	maxBody = 4 << 20
)

// lineReader reads a text file line by line: without the line end (LF or
// CRLF), invalid UTF-8 replaced, over-long lines cut.
type lineReader struct {
	r   *bufio.Reader
	n   int  // number of the line last read, from 1
	cut bool // the line last read was longer than maxLine
	buf []byte
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 64<<10)}
}

func (l *lineReader) next() (string, error) {
	l.buf = l.buf[:0]
	l.cut = false
	for {
		chunk, err := l.r.ReadSlice('\n')
		if len(l.buf)+len(chunk) <= maxLine {
			l.buf = append(l.buf, chunk...)
		} else {
			l.cut = true
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF && len(l.buf) == 0 && !l.cut {
			return "", io.EOF
		}
		if err != nil && err != io.EOF {
			return "", err
		}
		break
	}
	l.n++
	b := l.buf
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	if l.n == 1 {
		b = []byte(strings.TrimPrefix(string(b), "\ufeff"))
	}
	if utf8.Valid(b) {
		return string(b), nil
	}
	return strings.ToValidUTF8(string(b), "\ufffd"), nil
}

// whatsAppLayout is what the first pass learns about a chat file.
type whatsAppLayout struct {
	ios     bool
	order   dateOrder
	senders []string // up to 3 distinct people who wrote
}

// sniffWhatsApp reads the whole file once to decide its layout: the first
// line must begin with a date and time; the date order comes from every
// header of the file (orderVote).
func sniffWhatsApp(ctx context.Context, in whatsAppChat) (whatsAppLayout, error) {
	var lay whatsAppLayout
	rc, err := in.open()
	if err != nil {
		return lay, err
	}
	defer rc.Close()
	lr := newLineReader(rc)
	var vote orderVote
	first := true
	for {
		line, err := lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return lay, err
		}
		if lr.n%65536 == 0 {
			if err := ctx.Err(); err != nil {
				return lay, err
			}
		}
		if first {
			if strings.TrimSpace(line) == "" {
				continue
			}
			h, ok := parseHeader(line)
			if !ok {
				return lay, firstLineError(in.file, lr.n, line)
			}
			first = false
			lay.ios = h.ios
		}
		h, ok := parseHeader(line)
		if !ok || h.ios != lay.ios {
			continue
		}
		vote.add(&h)
		if len(lay.senders) < 3 {
			if name, ok := personOf(&h); ok && !contains(lay.senders, name) {
				lay.senders = append(lay.senders, name)
			}
		}
	}
	if first {
		return lay, badInput(ErrNotExport, nil, "%s is empty: it is not a WhatsApp chat export", in.file)
	}
	lay.order = vote.decide()
	i := 0
	if lay.order == orderMDY {
		i = 1
	}
	if lay.order != orderYMD && vote.invalid[i]*2 > vote.headers {
		return lay, badInput(ErrDateFormat, nil, "%s: most of its dates are no real date in any order (day/month/year or month/day/year): Ferry cannot read its date format", in.file)
	}
	return lay, nil
}

// firstLineError explains a first line that is not a WhatsApp header.
func firstLineError(file string, n int, line string) error {
	short := line
	if len(short) > 80 {
		short = strings.ToValidUTF8(short[:80], "") + "…"
	}
	if strings.ContainsRune(line, 0) || !looksLikeTime(line) {
		return badInput(ErrNotExport, nil, "%s does not look like a WhatsApp chat: line %d (%q) does not start with a date and time; a chat exported with WhatsApp's \"Export chat\" starts every message with one", file, n, short)
	}
	return badInput(ErrDateFormat, nil, "%s, line %d (%q): Ferry does not know this form of date and time; please report it with that line (no other content is needed)", file, n, short)
}

// looksLikeTime reports whether s holds something like "17:49".
func looksLikeTime(s string) bool {
	for i := 0; i+4 < len(s) && i < 60; i++ {
		if isDigit(s[i]) && (s[i+1] == ':' || s[i+1] == '.') && isDigit(s[i+2]) && isDigit(s[i+3]) {
			return true
		}
		if isDigit(s[i]) && isDigit(s[i+1]) && (s[i+2] == ':' || s[i+2] == '.') && isDigit(s[i+3]) && isDigit(s[i+4]) {
			return true
		}
	}
	return false
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// splitSender splits a header's rest into the sender and the text. Android
// system lines have no sender ("Alice added Bob"); a name never holds a
// quotation mark, which tells "Alice changed the subject to "A: B"" apart.
func splitSender(h *header) (name, text string, ok bool) {
	name, text, ok = strings.Cut(h.rest, ": ")
	if !ok {
		if strings.HasSuffix(h.rest, ":") {
			name, text, ok = h.rest[:len(h.rest)-1], "", true
		} else {
			return "", h.rest, false
		}
	}
	if len(name) > 100 || strings.ContainsAny(name, "\"“”„«»") {
		return "", h.rest, false
	}
	name = stripBidi(name)
	if name == "" {
		return "", h.rest, false
	}
	return name, text, true
}

// personOf is the person who wrote the line of h, if any: on iOS, system
// lines carry a name too (the group's, or the contact's), and their text
// starts with a bidi mark.
func personOf(h *header) (string, bool) {
	name, text, ok := splitSender(h)
	if !ok {
		return "", false
	}
	if h.ios {
		if r, _ := utf8.DecodeRuneInString(text); isBidi(r) {
			if _, att := cutAttachment(text, func(string) bool { return false }); !att && !isMediaOmitted(text) && !isDeleted(text) {
				return "", false
			}
		}
	}
	return name, true
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}

// pendingMessage is a message being read: its header and its lines so far.
type pendingMessage struct {
	line  int
	h     header
	sent  int64
	body  strings.Builder
	cut   bool
	extra int
}

// parseWhatsApp reads a chat file (both passes) and hands its messages to s.
func parseWhatsApp(ctx context.Context, in whatsAppChat, s sink) error {
	lay, err := sniffWhatsApp(ctx, in)
	if err != nil {
		return err
	}
	title := in.title
	if title == "" {
		title = "WhatsApp chat"
	}
	// A direct chat is titled with the other person's name, and no third
	// person writes in it.
	group := !(len(lay.senders) <= 2 && contains(lay.senders, title))
	if err := s.beginChat(chatInfo{platform: platformWhatsApp, identity: title, title: title, group: group, file: in.file}); err != nil {
		return err
	}
	rc, err := in.open()
	if err != nil {
		return err
	}
	defer rc.Close()
	lr := newLineReader(rc)
	p := &whatsAppParser{in: in, lay: lay, s: s}
	for {
		line, err := lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if err := p.line(lr.n, line, lr.cut); err != nil {
			return err
		}
	}
	return p.finish()
}

// whatsAppParser is the second pass over one chat file.
type whatsAppParser struct {
	in  whatsAppChat
	lay whatsAppLayout
	s   sink
	cur *pendingMessage
	bad *pendingMessage // a header whose date or time does not exist, and its lines
	rec record
}

func (p *whatsAppParser) line(n int, line string, cut bool) error {
	h, ok := parseHeader(line)
	if ok && h.ios == p.lay.ios {
		if err := p.finish(); err != nil {
			return err
		}
		sent, valid := h.at(p.lay.order, p.in.loc)
		m := &pendingMessage{line: n, h: h, sent: sent, cut: cut}
		if !valid {
			m.body.WriteString(line)
			p.bad = m
			return nil
		}
		p.cur = m
		_, text, _ := splitSender(&h)
		m.body.WriteString(text)
		return nil
	}
	m := p.cur
	if m == nil {
		m = p.bad
	}
	if m == nil {
		if strings.TrimSpace(line) != "" {
			p.s.problem(Problem{File: p.in.file, Where: "line " + strconv.Itoa(n), Text: line, Reason: "text before the first message"})
		}
		return nil
	}
	if m == p.bad {
		m.extra++
		return nil
	}
	if m.body.Len()+len(line) >= maxBody {
		m.cut = true
		return nil
	}
	m.body.WriteByte('\n')
	m.body.WriteString(line)
	m.cut = m.cut || cut
	return nil
}

// finish hands the message being read to the sink.
func (p *whatsAppParser) finish() error {
	if b := p.bad; b != nil {
		p.bad = nil
		reason := "no such date or time (read as " + p.lay.order.String() + ")"
		switch {
		case b.extra == 1:
			reason += "; the line after it belongs to it and was left out too"
		case b.extra > 1:
			reason += "; the " + strconv.Itoa(b.extra) + " lines after it belong to it and were left out too"
		}
		p.s.problem(Problem{File: p.in.file, Where: "line " + strconv.Itoa(b.line), Text: b.body.String(), Reason: reason})
	}
	m := p.cur
	if m == nil {
		return nil
	}
	p.cur = nil
	where := "line " + strconv.Itoa(m.line)
	if m.cut {
		p.s.problem(Problem{File: p.in.file, Where: where, Text: m.body.String()[:min(m.body.Len(), 200)],
			Reason: "longer than any WhatsApp message: the rest of it was left out"})
	}
	r := &p.rec
	*r = record{where: where, sent: m.sent}
	name, _, hasName := splitSender(&m.h)
	body := m.body.String()
	if !hasName {
		r.event = true
		r.body = trimBidi(body)
		return p.s.add(r)
	}
	body, edited := cutEdited(body)
	if edited {
		r.edited = m.sent
	}
	lead, _ := utf8.DecodeRuneInString(body)
	switch att, ok := cutAttachment(body, p.in.hasMedia); {
	case ok:
		file, safe := cleanName(att.name, false)
		if !safe {
			if att.known {
				return badInput(ErrUnsafeName, nil, "%s, %s, names the attachment %q, which points outside the export: Ferry does not import it; this file was not written by WhatsApp", p.in.file, where, att.name)
			}
			r.body = body
			break
		}
		stored := file
		if isIOSCounter(stored) {
			stored = stored[9:]
		}
		r.media = append(r.media, mediaRef{file: p.in.mediaPath(file), name: stored})
		r.body = strings.TrimSpace(att.caption)
	case isMediaOmitted(firstLine(body)):
		r.omitted = 1
		_, caption, _ := strings.Cut(body, "\n")
		r.body = strings.TrimSpace(caption)
	case isDeleted(body):
		r.deleted = m.sent
	case p.lay.ios && isBidi(lead):
		// iOS system lines: "Family: ‎Alice added Bob".
		r.event = true
		r.body = trimBidi(body)
		return p.s.add(r)
	default:
		r.body = body
	}
	r.senderKey, r.senderName = name, name
	return p.s.add(r)
}
