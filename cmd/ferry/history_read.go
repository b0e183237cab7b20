package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/internal/htmlexport"
)

// The commands that read a history: conversations, show, search and
// export-html. They all go through chatstore's queries.

func (a *app) historyReadCmds() []*cobra.Command {
	return []*cobra.Command{a.conversationsCmd(), a.showCmd(), a.searchCmd(), a.exportHTMLCmd()}
}

// indexNowLimit is the largest backlog of the search index that a command
// which changed the history indexes before it ends (about a second); more is
// left to the first search.
const indexNowLimit = 50_000

// jsonTime is how times appear in JSON: RFC 3339, UTC, to the millisecond.
func jsonTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

func jsonTimePtr(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := jsonTime(t)
	return &s
}

// localTime is how times appear to a person.
func localTime(t time.Time) string { return t.Local().Format("2006-01-02 15:04") }

type jsonConversation struct {
	ID       string  `json:"id"`
	Title    string  `json:"title"`
	Kind     string  `json:"kind"`
	Messages int64   `json:"messages"`
	Last     *string `json:"last"` // null when it has no messages
}

func (a *app) conversationsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "conversations",
		Short: "List the conversations: title, kind, messages, last message",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			st, err := a.openSource(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			convs, err := st.Conversations(ctx)
			if err != nil {
				return fmt.Errorf("list conversations: %w", err)
			}
			out := make([]jsonConversation, 0, len(convs))
			for _, c := range convs {
				out = append(out, jsonConversation{ID: c.ID.String(), Title: c.Title, Kind: c.Kind.String(), Messages: c.Messages, Last: jsonTimePtr(c.Last)})
			}
			return a.emit(out, func() {
				if len(convs) == 0 {
					fmt.Fprintln(a.stdout, "no conversations in this history")
					return
				}
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "TITLE\tKIND\tMESSAGES\tLAST MESSAGE\tID")
				for _, c := range convs {
					last := "-"
					if !c.Last.IsZero() {
						last = localTime(c.Last)
					}
					fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", oneLine(c.Title), c.Kind, c.Messages, last, c.ID)
				}
				tw.Flush()
			})
		},
	}
}

type jsonMessage struct {
	ID             string         `json:"id"`
	Conversation   string         `json:"conversation"`
	ConversationID string         `json:"conversation_id"`
	Sender         string         `json:"sender"`
	SenderID       string         `json:"sender_id"`
	Sent           string         `json:"sent"`
	Received       string         `json:"received"`
	Body           string         `json:"body"`
	ReplyTo        *jsonReply     `json:"reply_to"`
	Edited         *string        `json:"edited"`
	Deleted        *string        `json:"deleted"`
	Attachments    []jsonFile     `json:"attachments"`
	Reactions      []jsonReaction `json:"reactions"`
	System         bool           `json:"system,omitempty"`  // an event, not a message a person wrote
	Omitted        int            `json:"omitted,omitempty"` // attachments the export named but did not carry
	Score          *float64       `json:"score,omitempty"`
}

type jsonReply struct {
	ID      string `json:"id"`
	Sender  string `json:"sender"`
	Body    string `json:"body"`
	Missing bool   `json:"missing,omitempty"`
	Deleted bool   `json:"deleted,omitempty"`
}

type jsonFile struct {
	Name string `json:"name"`
	MIME string `json:"mime"`
	Size int64  `json:"size"`
	Hash string `json:"hash"`
}

type jsonReaction struct {
	Emoji  string `json:"emoji"`
	Sender string `json:"sender"`
}

func toJSON(m chatstore.Message) jsonMessage {
	j := jsonMessage{
		ID: m.ID.String(), Conversation: m.ConversationTitle, ConversationID: m.Conversation.String(),
		Sender: m.SenderName, SenderID: m.Sender.String(), Sent: jsonTime(m.Sent), Received: jsonTime(m.Received),
		Body: m.Body, Edited: jsonTimePtr(m.Edited), Deleted: jsonTimePtr(m.Deleted),
		Attachments: make([]jsonFile, 0, len(m.Attachments)), Reactions: make([]jsonReaction, 0, len(m.Reactions)),
		System: m.System, Omitted: m.Omitted,
	}
	if r := m.ReplyTo; r != nil {
		j.ReplyTo = &jsonReply{ID: r.ID.String(), Sender: r.SenderName, Body: r.Body, Missing: r.Missing, Deleted: r.Deleted}
	}
	for _, f := range m.Attachments {
		j.Attachments = append(j.Attachments, jsonFile{Name: f.Name, MIME: f.MIME, Size: f.Size, Hash: f.Hash.String()})
	}
	for _, r := range m.Reactions {
		j.Reactions = append(j.Reactions, jsonReaction{Emoji: r.Emoji, Sender: r.ReactorName})
	}
	return j
}

func (a *app) showCmd() *cobra.Command {
	var (
		before string
		limit  int
	)
	cmd := &cobra.Command{
		Use:   "show CONVERSATION [--before TIME] [--limit N]",
		Short: "Show a conversation's messages (the latest, or those before a time)",
		Long: `Show a conversation's messages in order: sender, time, text, the message each
answers, edits and deletions, and attached files with their sizes.

CONVERSATION is its title, the start of its title (any case), or its ID as listed
by ferry history conversations. Without --before, the latest messages are shown;
--before takes a time (2024-03-01, 2024-03-01 15:04, or RFC 3339; local time
unless it says otherwise) or a message ID, and shows the messages just before it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit < 1 || limit > chatstore.MaxPage {
				return usageError{fmt.Errorf("--limit takes 1 to %d messages", chatstore.MaxPage)}
			}
			ctx := cmd.Context()
			st, err := a.openSource(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			conv, err := findConversation(ctx, st, args[0])
			if err != nil {
				return err
			}
			q := chatstore.MessageQuery{Limit: limit}
			if before != "" {
				c, err := parseBefore(ctx, st, conv, before)
				if err != nil {
					return err
				}
				q.Before = &c
			}
			page, err := st.Messages(ctx, conv.ID, q)
			if err != nil {
				return fmt.Errorf("show %q: %w", conv.Title, err)
			}
			out := make([]jsonMessage, 0, len(page.Messages))
			for _, m := range page.Messages {
				out = append(out, toJSON(m))
			}
			return a.emit(out, func() {
				fmt.Fprintf(a.stdout, "%s (%s, %d messages)\n", oneLine(conv.Title), conv.Kind, conv.Messages)
				if page.More {
					fmt.Fprintf(a.stdout, "… older messages: ferry history show %s --before %s\n", conv.ID, page.Messages[0].ID)
				}
				if len(page.Messages) == 0 {
					fmt.Fprintln(a.stdout, "no messages")
				}
				for _, m := range page.Messages {
					a.printMessage(m, false)
				}
			})
		},
	}
	cmd.Flags().StringVar(&before, "before", "", "show the messages before this time or message ID")
	cmd.Flags().IntVar(&limit, "limit", chatstore.DefaultPage, "how many messages to show")
	return cmd
}

// findConversation resolves CONVERSATION, with errors that say what to do.
func findConversation(ctx context.Context, st *chatstore.Store, ref string) (chatstore.Conversation, error) {
	c, err := st.FindConversation(ctx, ref)
	var amb *chatstore.AmbiguousError
	switch {
	case errors.As(err, &amb):
		return c, sentence(oneLine(amb.Error()), err)
	case errors.Is(err, chatstore.ErrNoConversation):
		return c, sentence(fmt.Sprintf("no conversation is called %q or has a title starting with it: `ferry history conversations` lists them", oneLine(ref)), err)
	case err != nil:
		return c, fmt.Errorf("find conversation: %w", err)
	}
	return c, nil
}

// parseBefore reads --before: a message ID of the conversation, or a time.
func parseBefore(ctx context.Context, st *chatstore.Store, conv chatstore.Conversation, s string) (chatstore.Cursor, error) {
	if id, err := chatstore.ParseID(s); err == nil {
		ms, err := st.MessagesByID(ctx, []chatstore.ID{id})
		if err != nil {
			return chatstore.Cursor{}, fmt.Errorf("read message %s: %w", id, err)
		}
		if len(ms) == 0 || ms[0].Conversation != conv.ID {
			return chatstore.Cursor{}, usageError{fmt.Errorf("--before %s: no such message in %q", id, oneLine(conv.Title))}
		}
		return ms[0].Cursor(), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return chatstore.Cursor{Sent: t}, nil
	}
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return chatstore.Cursor{Sent: t}, nil
		}
	}
	return chatstore.Cursor{}, usageError{fmt.Errorf("--before %q: give a time (2024-03-01, 2024-03-01 15:04, or RFC 3339) or a message ID", s)}
}

// printMessage prints one message for a person. Everything in it came from
// other people: control characters are shown as U+FFFD, never sent to the
// terminal (where an escape sequence could rewrite the screen).
func (a *app) printMessage(m chatstore.Message, withConversation bool) {
	const indent = "                  "
	head := localTime(m.Sent) + "  "
	if withConversation {
		head += oneLine(m.ConversationTitle) + " · "
	}
	switch who := m.SenderName; {
	case m.System:
		// An event, not a message: its text says who did what.
		head += "* "
	case who == "":
		head += "unknown (" + m.Sender.String()[:8] + "): "
	default:
		head += oneLine(who) + ": "
	}
	switch {
	case !m.Deleted.IsZero():
		fmt.Fprintf(a.stdout, "%s[deleted %s]\n", head, localTime(m.Deleted))
	case withConversation:
		fmt.Fprintf(a.stdout, "%s%s\n", head, oneLine(m.Body))
	default:
		fmt.Fprintf(a.stdout, "%s%s\n", head, strings.ReplaceAll(clean(m.Body), "\n", "\n"+indent))
	}
	if withConversation {
		return
	}
	if r := m.ReplyTo; r != nil {
		switch {
		case r.Missing:
			fmt.Fprintf(a.stdout, "%s↪ answers a message not in this history\n", indent)
		case r.Deleted:
			fmt.Fprintf(a.stdout, "%s↪ answers %s: [deleted]\n", indent, oneLine(r.SenderName))
		default:
			fmt.Fprintf(a.stdout, "%s↪ answers %s: %s\n", indent, oneLine(r.SenderName), oneLine(r.Body))
		}
	}
	if !m.Edited.IsZero() && m.Deleted.IsZero() {
		fmt.Fprintf(a.stdout, "%s(edited %s)\n", indent, localTime(m.Edited))
	}
	for _, f := range m.Attachments {
		fmt.Fprintf(a.stdout, "%s📎 %s (%s, %s)\n", indent, oneLine(f.Name), oneLine(f.MIME), humanBytes(f.Size))
	}
	switch m.Omitted {
	case 0:
	case 1:
		fmt.Fprintf(a.stdout, "%s📎 an attachment the export did not include\n", indent)
	default:
		fmt.Fprintf(a.stdout, "%s📎 %d attachments the export did not include\n", indent, m.Omitted)
	}
	if len(m.Reactions) > 0 {
		var rs []string
		for _, r := range m.Reactions {
			rs = append(rs, oneLine(r.Emoji))
		}
		fmt.Fprintf(a.stdout, "%s%s\n", indent, strings.Join(rs, " "))
	}
}

// clean replaces the control characters of s, other than newlines, by
// U+FFFD, and drops carriage returns.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\t':
			return r
		case r == '\r':
			return -1
		case unicode.IsControl(r):
			return '\uFFFD'
		}
		return r
	}, s)
}

// oneLine is clean(s) on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(clean(s)), " ")
}

func (a *app) searchCmd() *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "search QUERY...",
		Short: "Find messages by their words, best matches first",
		Long: `Find messages by their words, in every conversation, best matches first.

Every word must appear (in any case, with or without accents); "quoted words"
must appear together, in that order; a word ending in * also finds longer words
that start with it. Chinese, Japanese and Korean text is found by any run of
characters. Deleted messages are never found.

The search index is kept in the home (index.db) and built from the history on
this device; the first search after a large migration builds it, which takes a
while (about 15 seconds per million messages).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit < 1 || limit > chatstore.MaxPage {
				return usageError{fmt.Errorf("--limit takes 1 to %d messages", chatstore.MaxPage)}
			}
			query := strings.Join(args, " ")
			ctx := cmd.Context()
			st, err := a.openSource(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			ix, err := a.openIndex(ctx, st)
			if err != nil {
				return err
			}
			defer ix.Close()
			if err := a.updateIndex(ctx, ix, 0); err != nil {
				return err
			}
			hits, err := ix.Search(ctx, query, chatstore.SearchOptions{Limit: limit})
			if errors.Is(err, chatstore.ErrEmptyQuery) {
				return usageError{fmt.Errorf("the search %q has no letters or digits to look for", oneLine(query))}
			}
			if err != nil {
				return fmt.Errorf("search: %w", err)
			}
			out := make([]jsonMessage, 0, len(hits))
			for _, h := range hits {
				j := toJSON(h.Message)
				j.Score = &h.Score
				out = append(out, j)
			}
			return a.emit(out, func() {
				if len(hits) == 0 {
					fmt.Fprintf(a.stdout, "no message matches %q\n", oneLine(query))
				}
				for _, h := range hits {
					a.printMessage(h.Message, true)
				}
			})
		},
	}
	cmd.Flags().IntVar(&limit, "limit", chatstore.DefaultPage, "how many messages to show at most")
	return cmd
}

func (a *app) openIndex(ctx context.Context, st *chatstore.Store) (*chatstore.Index, error) {
	ix, err := chatstore.OpenIndex(ctx, st)
	if err != nil {
		return nil, fmt.Errorf("open the search index in %s: %w", a.home, err)
	}
	return ix, nil
}

// updateIndex brings the search index up to date, showing progress when
// that is more than a moment's work; with limit > 0 it does nothing when
// the backlog is larger than limit.
func (a *app) updateIndex(ctx context.Context, ix *chatstore.Index, limit int64) error {
	n, err := ix.Behind(ctx)
	if err != nil {
		return fmt.Errorf("search index: %w", err)
	}
	if n == 0 || limit > 0 && n > limit {
		return nil
	}
	p := a.newProgress("indexing for search", n, false)
	err = ix.Update(ctx, p.Set)
	p.Finish()
	if err != nil {
		return fmt.Errorf("build the search index: %w", err)
	}
	return nil
}

// catchUpIndex is run by the commands that change the history, once it is
// committed: it indexes what is new when that is quick, so that the next
// search need not. It never fails the command (the history is in place;
// the next search catches up).
func (a *app) catchUpIndex(ctx context.Context, st *chatstore.Store) {
	ix, err := chatstore.OpenIndex(ctx, st)
	if err == nil {
		err = a.updateIndex(ctx, ix, indexNowLimit)
		ix.Close()
	}
	if err != nil {
		a.log.Warn("the search index was not updated; the next search will do it", "err", err)
	}
}

func (a *app) exportHTMLCmd() *cobra.Command {
	var (
		link     bool
		pageSize int
	)
	cmd := &cobra.Command{
		Use:   "export-html DIR",
		Short: "Write the history as web pages that open in any browser",
		Long: `Write the history as static web pages in DIR: index.html lists the
conversations, each conversation has pages of messages, and the media files are
copied beside them (or, with --link-media, linked where they are in the home).
DIR must not exist or be empty; it appears only once complete. Open
DIR/index.html in any browser; nothing is loaded from the network.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if pageSize < 1 || pageSize > chatstore.MaxPage {
				return usageError{fmt.Errorf("--page-size takes 1 to %d messages", chatstore.MaxPage)}
			}
			dir := args[0]
			ctx := cmd.Context()
			st, err := a.openSource(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			p := a.newProgress("writing web pages", 0, false)
			start := time.Now()
			res, err := htmlexport.Write(ctx, st, dir, htmlexport.Options{LinkMedia: link, PageSize: pageSize, Progress: p.Set})
			p.Finish()
			if errors.Is(err, htmlexport.ErrExists) {
				return sentence(fmt.Sprintf("%s already exists and is not empty: pick a new directory (nothing was written)", dir), err)
			}
			if err != nil {
				return fmt.Errorf("export-html: %w", err)
			}
			index, _ := filepath.Abs(filepath.Join(dir, "index.html"))
			type jsonOut struct {
				Dir           string  `json:"dir"`
				Index         string  `json:"index"`
				Conversations int     `json:"conversations"`
				Messages      int64   `json:"messages"`
				Pages         int     `json:"pages"`
				MediaFiles    int     `json:"media_files"`
				MediaBytes    int64   `json:"media_bytes"`
				MissingMedia  int     `json:"missing_media"`
				Seconds       float64 `json:"seconds"`
			}
			took := time.Since(start)
			return a.emit(jsonOut{dir, index, res.Conversations, res.Messages, res.Pages, res.MediaFiles, res.MediaBytes, res.MissingMedia, took.Seconds()}, func() {
				media := fmt.Sprintf("%d media files copied (%s)", res.MediaFiles, humanBytes(res.MediaBytes))
				if link {
					media = fmt.Sprintf("%d media files linked in %s", res.MediaFiles, a.home)
				}
				fmt.Fprintf(a.stdout, "wrote %d conversations, %d messages on %d pages, %s in %s\n",
					res.Conversations, res.Messages, res.Pages, media, took.Round(time.Millisecond))
				if res.MissingMedia > 0 {
					fmt.Fprintf(a.stdout, "%d attachments have no file in this home; their names are listed without a link\n", res.MissingMedia)
				}
				fmt.Fprintf(a.stdout, "open %s in a browser\n", index)
			})
		},
	}
	cmd.Flags().BoolVar(&link, "link-media", false, "link the media files in the home instead of copying them")
	cmd.Flags().IntVar(&pageSize, "page-size", 1000, "messages per page")
	return cmd
}
