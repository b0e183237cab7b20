package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/ferryhq/ferry/chatstore"
)

// The web app's history: conversations, pages of messages and search, read
// through chatstore's queries (the same as ferry history's), never a whole
// table.

// Limits of the history's answers.
const (
	webDefaultPage = 50
	webMaxPage     = 200
	webMaxHits     = 100
	// webMaxBody is the most of one message's text a page carries: a
	// hostile sender's 100 MB message costs no more than a long one.
	webMaxBody = 64 << 10
	// webSnippetLen is the length of the last message shown with a conversation.
	webSnippetLen = 160
)

// errNoHistory means the home holds no history (yet).
var errNoHistory = errors.New("there is no history on this device yet")

// historyView keeps the home's history open for reading, and opens it again
// when the file is replaced (a migration into an empty home puts a new file
// in place): readers hold a reference while they read, and the old store is
// closed when the last of them is done.
type historyView struct {
	home string

	mu     sync.Mutex // guards the fields below
	cur    *openHistory
	closed bool
}

// openHistory is one open history file and its search index.
type openHistory struct {
	st *chatstore.Store
	fi os.FileInfo // of history.db when opened

	// guarded by historyView.mu
	refs  int
	stale bool

	ixMu sync.Mutex // guards ix
	ix   *chatstore.Index
}

func newHistoryView(home string) *historyView { return &historyView{home: home} }

func (h *historyView) dbPath() string { return filepath.Join(h.home, chatstore.DBName) }

func (h *historyView) exists() bool {
	_, err := os.Stat(h.dbPath())
	return err == nil
}

// acquire returns the open history, opening it when needed; release it
// when done.
func (h *historyView) acquire(ctx context.Context) (*openHistory, error) {
	fi, err := os.Stat(h.dbPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, errNoHistory
	}
	if err != nil {
		return nil, fmt.Errorf("read the history: %w", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, errors.New("the app is shutting down")
	}
	if h.cur != nil && os.SameFile(h.cur.fi, fi) {
		h.cur.refs++
		return h.cur, nil
	}
	st, err := chatstore.Open(ctx, h.home, chatstore.Options{ReadOnly: true})
	if errors.Is(err, chatstore.ErrNotAStore) {
		return nil, errNoHistory
	}
	if err != nil {
		return nil, fmt.Errorf("open the history: %w", err)
	}
	if old := h.cur; old != nil {
		old.stale = true
		if old.refs == 0 {
			old.closeLocked()
		}
	}
	h.cur = &openHistory{st: st, fi: fi, refs: 1}
	return h.cur, nil
}

func (h *historyView) release(o *openHistory) {
	h.mu.Lock()
	defer h.mu.Unlock()
	o.refs--
	if o.refs == 0 && o.stale {
		o.closeLocked()
	}
}

func (h *historyView) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	if h.cur != nil {
		h.cur.stale = true
		if h.cur.refs == 0 {
			h.cur.closeLocked()
		}
	}
}

// closeLocked closes o; the caller holds historyView.mu and o has no readers.
func (o *openHistory) closeLocked() {
	o.ixMu.Lock()
	if o.ix != nil {
		o.ix.Close()
	}
	o.ixMu.Unlock()
	o.st.Close()
}

// index opens the search index of o on first use.
func (o *openHistory) index(ctx context.Context) (*chatstore.Index, error) {
	o.ixMu.Lock()
	defer o.ixMu.Unlock()
	if o.ix == nil {
		ix, err := chatstore.OpenIndex(ctx, o.st)
		if err != nil {
			return nil, fmt.Errorf("open the search index: %w", err)
		}
		o.ix = ix
	}
	return o.ix, nil
}

// withHistory runs f on the open history; a home without one answers with
// empty, as a new device has nothing to show yet.
func (w *WebServer) withHistory(rw http.ResponseWriter, r *http.Request, empty any, f func(*openHistory) (any, error)) {
	o, err := w.hist.acquire(r.Context())
	if errors.Is(err, errNoHistory) {
		writeJSON(rw, empty)
		return
	}
	if err != nil {
		writeError(rw, http.StatusInternalServerError, err.Error())
		return
	}
	v, err := f(o)
	w.hist.release(o)
	var he httpError
	switch {
	case errors.As(err, &he):
		writeError(rw, he.status, he.msg)
	case err != nil:
		w.log.Warn("web app: reading the history failed", "path", r.URL.Path, "err", err)
		writeError(rw, http.StatusInternalServerError, "could not read the history: "+err.Error())
	default:
		writeJSON(rw, v)
	}
}

// httpError is an error with the status to answer it with.
type httpError struct {
	status int
	msg    string
}

func (e httpError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return httpError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// webTime is how times travel to the page: RFC 3339, UTC, milliseconds.
func webTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

func webTimePtr(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := webTime(t)
	return &s
}

type webConversation struct {
	ID       string      `json:"id"`
	Title    string      `json:"title"`
	Kind     string      `json:"kind"`
	Messages int64       `json:"messages"`
	Last     *string     `json:"last"` // null when it has no messages
	LastText *webSnippet `json:"last_message,omitempty"`
}

type webSnippet struct {
	Sender  string `json:"sender"`
	Body    string `json:"body"`
	Deleted bool   `json:"deleted,omitempty"`
	Files   int    `json:"files,omitempty"`
}

type webMessage struct {
	ID                string        `json:"id"`
	Cursor            string        `json:"cursor"`
	Conversation      string        `json:"conversation"`
	ConversationTitle string        `json:"conversation_title"`
	Sender            string        `json:"sender"`
	SenderID          string        `json:"sender_id"`
	Sent              string        `json:"sent"`
	Edited            *string       `json:"edited"`
	Deleted           *string       `json:"deleted"`
	Body              string        `json:"body"`
	Truncated         bool          `json:"truncated,omitempty"`
	ReplyTo           *webReply     `json:"reply_to"`
	Attachments       []webFile     `json:"attachments"`
	Reactions         []webReaction `json:"reactions"`
	Highlight         []webSegment  `json:"highlight,omitempty"` // search hits: the body, split at the words found
	System            bool          `json:"system,omitempty"`    // an event ("Alice added Bob"), not a message a person wrote
	Omitted           int           `json:"omitted,omitempty"`   // attachments the export named but did not include
}

type webReply struct {
	ID      string `json:"id"`
	Sender  string `json:"sender"`
	Body    string `json:"body"`
	Missing bool   `json:"missing,omitempty"`
	Deleted bool   `json:"deleted,omitempty"`
}

type webFile struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	MIME  string `json:"mime"`
	Size  int64  `json:"size"`
	Kind  string `json:"kind"`  // "image", "audio", "video" (shown inline) or "file" (a download)
	Thumb bool   `json:"thumb"` // /api/thumbs/{id} may make a thumbnail of it
}

type webReaction struct {
	Emoji  string `json:"emoji"`
	Sender string `json:"sender"`
}

type webSegment struct {
	Text  string `json:"text"`
	Match bool   `json:"match,omitempty"`
}

// webPage is a page of a conversation, oldest first.
type webPage struct {
	Messages   []webMessage `json:"messages"`
	MoreBefore bool         `json:"more_before"` // older messages lie before the page
	MoreAfter  bool         `json:"more_after"`  // newer ones after it
}

type webSearch struct {
	Hits []webMessage `json:"hits"`
}

func toWebMessage(m chatstore.Message) webMessage {
	j := webMessage{
		ID: m.ID.String(), Cursor: formatCursor(m.Cursor()), Conversation: m.Conversation.String(),
		ConversationTitle: m.ConversationTitle, Sender: m.SenderName, SenderID: m.Sender.String(),
		Sent: webTime(m.Sent), Edited: webTimePtr(m.Edited), Deleted: webTimePtr(m.Deleted),
		Attachments: make([]webFile, 0, len(m.Attachments)), Reactions: make([]webReaction, 0, len(m.Reactions)),
		System: m.System, Omitted: m.Omitted,
	}
	j.Body, j.Truncated = truncate(m.Body, webMaxBody)
	if r := m.ReplyTo; r != nil {
		j.ReplyTo = &webReply{ID: r.ID.String(), Sender: r.SenderName, Body: r.Body, Missing: r.Missing, Deleted: r.Deleted}
	}
	for _, f := range m.Attachments {
		kind, _ := mediaKindOf(f.MIME)
		j.Attachments = append(j.Attachments, webFile{ID: f.ID.String(), Name: f.Name, MIME: f.MIME, Size: f.Size,
			Kind: kind, Thumb: kind == "image" && thumbable(f.MIME)})
	}
	for _, r := range m.Reactions {
		j.Reactions = append(j.Reactions, webReaction{Emoji: r.Emoji, Sender: r.ReactorName})
	}
	return j
}

// truncate cuts s to at most n bytes, at a character boundary.
func truncate(s string, n int) (string, bool) {
	if len(s) <= n {
		return s, false
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n], true
}

// formatCursor writes a message's position for the page: "<ms>.<id>".
func formatCursor(c chatstore.Cursor) string {
	return strconv.FormatInt(c.Sent.UnixMilli(), 10) + "." + c.ID.String()
}

func parseCursor(s string) (chatstore.Cursor, error) {
	ms, id, ok := strings.Cut(s, ".")
	n, err := strconv.ParseInt(ms, 10, 64)
	if !ok || err != nil {
		return chatstore.Cursor{}, badRequest("a cursor is <milliseconds>.<message ID>, as the messages give it")
	}
	mid, err := chatstore.ParseID(id)
	if err != nil {
		return chatstore.Cursor{}, badRequest("a cursor is <milliseconds>.<message ID>, as the messages give it")
	}
	return chatstore.Cursor{Sent: time.UnixMilli(n).UTC(), ID: mid}, nil
}

func pageLimit(r *http.Request, def, max int) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > max {
		return 0, badRequest("limit takes 1 to %d", max)
	}
	return n, nil
}

func (w *WebServer) conversations(rw http.ResponseWriter, r *http.Request) {
	w.withHistory(rw, r, []webConversation{}, func(o *openHistory) (any, error) {
		ctx := r.Context()
		convs, err := o.st.Conversations(ctx)
		if err != nil {
			return nil, err
		}
		out := make([]webConversation, 0, len(convs))
		for _, c := range convs {
			wc := webConversation{ID: c.ID.String(), Title: c.Title, Kind: c.Kind.String(), Messages: c.Messages, Last: webTimePtr(c.Last)}
			if c.Messages > 0 {
				// The newest message: one seek in the index per conversation.
				p, err := o.st.Messages(ctx, c.ID, chatstore.MessageQuery{Limit: 1})
				if err != nil {
					return nil, err
				}
				if len(p.Messages) == 1 {
					m := p.Messages[0]
					body, _ := truncate(m.Body, webSnippetLen)
					wc.LastText = &webSnippet{Sender: m.SenderName, Body: body, Deleted: !m.Deleted.IsZero(), Files: len(m.Attachments)}
				}
			}
			out = append(out, wc)
		}
		return out, nil
	})
}

func (w *WebServer) messages(rw http.ResponseWriter, r *http.Request) {
	w.withHistory(rw, r, webPage{Messages: []webMessage{}}, func(o *openHistory) (any, error) {
		ctx := r.Context()
		conv, err := chatstore.ParseID(r.PathValue("id"))
		if err != nil {
			return nil, httpError{http.StatusNotFound, "no such conversation"}
		}
		limit, err := pageLimit(r, webDefaultPage, webMaxPage)
		if err != nil {
			return nil, err
		}
		q := r.URL.Query()
		var page webPage
		switch before, after, around := q.Get("before"), q.Get("after"), q.Get("around"); {
		case (before != "") && (after != "") || (before != "" || after != "") && around != "":
			return nil, badRequest("give one of before, after and around")
		case around != "":
			page, err = pageAround(ctx, o.st, conv, around, limit)
		default:
			var mq chatstore.MessageQuery
			mq.Limit = limit
			if before != "" {
				c, err := parseCursor(before)
				if err != nil {
					return nil, err
				}
				mq.Before = &c
			}
			if after != "" {
				c, err := parseCursor(after)
				if err != nil {
					return nil, err
				}
				mq.After = &c
			}
			var p chatstore.MessagePage
			p, err = o.st.Messages(ctx, conv, mq)
			page = webPage{Messages: webMessages(p.Messages)}
			if mq.After != nil {
				page.MoreAfter, page.MoreBefore = p.More, true
			} else {
				page.MoreBefore, page.MoreAfter = p.More, mq.Before != nil
			}
		}
		if err != nil {
			return nil, err
		}
		return page, nil
	})
}

// pageAround is the page that holds message id in the middle: the jump from
// a search hit to its place in the conversation.
func pageAround(ctx context.Context, st *chatstore.Store, conv chatstore.ID, id string, limit int) (webPage, error) {
	mid, err := chatstore.ParseID(id)
	if err != nil {
		return webPage{}, badRequest("around takes a message ID")
	}
	ms, err := st.MessagesByID(ctx, []chatstore.ID{mid})
	if err != nil {
		return webPage{}, err
	}
	if len(ms) == 0 || ms[0].Conversation != conv {
		return webPage{}, httpError{http.StatusNotFound, "that message is not in this conversation"}
	}
	c := ms[0].Cursor()
	half := max(limit/2, 1)
	before, err := st.Messages(ctx, conv, chatstore.MessageQuery{Before: &c, Limit: half})
	if err != nil {
		return webPage{}, err
	}
	after, err := st.Messages(ctx, conv, chatstore.MessageQuery{After: &c, Limit: half})
	if err != nil {
		return webPage{}, err
	}
	all := append(append(before.Messages, ms[0]), after.Messages...)
	return webPage{Messages: webMessages(all), MoreBefore: before.More, MoreAfter: after.More}, nil
}

func webMessages(ms []chatstore.Message) []webMessage {
	out := make([]webMessage, 0, len(ms))
	for _, m := range ms {
		out = append(out, toWebMessage(m))
	}
	return out
}

func (w *WebServer) search(rw http.ResponseWriter, r *http.Request) {
	w.withHistory(rw, r, webSearch{Hits: []webMessage{}}, func(o *openHistory) (any, error) {
		ctx := r.Context()
		query := r.URL.Query().Get("q")
		limit, err := pageLimit(r, webDefaultPage, webMaxHits)
		if err != nil {
			return nil, err
		}
		ix, err := o.index(ctx)
		if err != nil {
			return nil, err
		}
		// A large backlog (the first search after a migration) is built
		// as a job, whose progress the page shows while it waits.
		if n, err := ix.Behind(ctx); err != nil {
			return nil, err
		} else if n > 0 {
			select {
			case <-w.jobs.indexing():
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		hits, err := ix.Search(ctx, query, chatstore.SearchOptions{Limit: limit})
		if errors.Is(err, chatstore.ErrEmptyQuery) {
			return nil, badRequest("type a word to look for")
		}
		if err != nil {
			return nil, err
		}
		out := webSearch{Hits: make([]webMessage, 0, len(hits))}
		for _, h := range hits {
			m := toWebMessage(h.Message)
			for _, s := range chatstore.Highlight(query, m.Body) {
				m.Highlight = append(m.Highlight, webSegment{Text: s.Text, Match: s.Match})
			}
			out.Hits = append(out.Hits, m)
		}
		return out, nil
	})
}
