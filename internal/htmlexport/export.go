package htmlexport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/internal/units"
)

// Options tunes Write.
type Options struct {
	// LinkMedia links each media file where it is in the home instead of
	// copying it: no space is used, but the copy then shows its media only
	// on this machine, while the home stays where it is.
	LinkMedia bool
	// PageSize is how many messages a page holds; 0 means 1000.
	PageSize int
	// Location is the time zone times are shown in; nil means time.Local.
	// (Each time also carries its UTC value in a datetime attribute.)
	Location *time.Location
	// Progress, when set, is called now and then with the messages
	// written and the total.
	Progress func(done, total int64)
}

// Result counts what Write wrote.
type Result struct {
	Conversations int
	Pages         int
	Messages      int64
	MediaFiles    int   // media files copied (or linked)
	MediaBytes    int64 // bytes copied
	MissingMedia  int   // attachments whose file is not in the home
}

// ErrExists means the target directory is there and not empty.
var ErrExists = errors.New("htmlexport: the directory already exists and is not empty")

const defaultPageSize = 1000

// Write writes the history of st as HTML into dir, which must not exist or
// be an empty directory, and whose parent must exist. See the package doc.
func Write(ctx context.Context, st *chatstore.Store, dir string, opts Options) (Result, error) {
	if opts.PageSize == 0 {
		opts.PageSize = defaultPageSize
	}
	if opts.PageSize < 1 || opts.PageSize > chatstore.MaxPage {
		return Result{}, fmt.Errorf("htmlexport: a page holds 1 to %d messages, not %d", chatstore.MaxPage, opts.PageSize)
	}
	if opts.Location == nil {
		opts.Location = time.Local
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Result{}, fmt.Errorf("htmlexport: %w", err)
	}
	if ents, err := os.ReadDir(abs); err == nil && len(ents) > 0 {
		return Result{}, fmt.Errorf("htmlexport: %s: %w", dir, ErrExists)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return Result{}, fmt.Errorf("htmlexport: %s: %w", dir, err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(abs), "."+filepath.Base(abs)+".part-")
	if err != nil {
		return Result{}, fmt.Errorf("htmlexport: create a directory beside %s: %w", dir, err)
	}
	w := &writer{st: st, opts: opts, tmp: tmp, final: abs, copied: map[string]bool{}}
	res, err := w.write(ctx)
	if err == nil {
		// An empty directory that was there is replaced.
		if err = os.Remove(abs); errors.Is(err, os.ErrNotExist) {
			err = nil
		}
		if err == nil {
			err = os.Rename(tmp, abs)
		}
		if err != nil {
			err = fmt.Errorf("htmlexport: move the copy into %s: %w", dir, err)
		}
	}
	if err != nil {
		os.RemoveAll(tmp)
		return Result{}, err
	}
	return res, nil
}

// writer holds one export under way.
type writer struct {
	st     *chatstore.Store
	opts   Options
	tmp    string          // where it is written
	final  string          // where it will be
	copied map[string]bool // media files done, by name
	res    Result
	done   int64
	total  int64
}

func (w *writer) write(ctx context.Context) (Result, error) {
	convs, err := w.st.Conversations(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("htmlexport: %w", err)
	}
	for _, c := range convs {
		w.total += c.Messages
	}
	for _, dir := range []string{"c", "media"} {
		if err := os.Mkdir(filepath.Join(w.tmp, dir), 0o700); err != nil {
			return Result{}, fmt.Errorf("htmlexport: %w", err)
		}
	}
	idx := indexPage{head: w.head("Chat history"), Summary: fmt.Sprintf("%d conversations, %d messages; exported %s",
		len(convs), w.total, time.Now().In(w.opts.Location).Format("2006-01-02 15:04"))}
	for _, c := range convs {
		pages, err := w.conversation(ctx, c)
		if err != nil {
			return Result{}, err
		}
		e := indexEntry{ID: c.ID.String(), Title: title(c.Title), Kind: c.Kind.String(),
			Count: plural(c.Messages, "message"), Href: template.URL("c/" + pageName(c.ID, 1))}
		if !c.Last.IsZero() {
			e.Last, e.LastISO = w.show(c.Last), iso(c.Last)
		}
		if pages > 1 {
			e.LastHref = template.URL("c/" + pageName(c.ID, pages))
		}
		idx.Conversations = append(idx.Conversations, e)
	}
	if err := w.render(filepath.Join(w.tmp, "index.html"), "index", idx); err != nil {
		return Result{}, err
	}
	w.res.Conversations = len(convs)
	return w.res, nil
}

// conversation writes the pages of c and returns how many.
func (w *writer) conversation(ctx context.Context, c chatstore.Conversation) (int, error) {
	after := &chatstore.Cursor{}
	for n := 1; ; n++ {
		p, err := w.st.Messages(ctx, c.ID, chatstore.MessageQuery{After: after, Limit: w.opts.PageSize})
		if err != nil {
			return 0, fmt.Errorf("htmlexport: %q: %w", c.Title, err)
		}
		page := convPage{head: w.head(title(c.Title)), Conversation: title(c.Title), Kind: c.Kind.String(), Number: n}
		if n > 1 {
			page.Prev = template.URL(pageName(c.ID, n-1))
		}
		if p.More {
			page.Next = template.URL(pageName(c.ID, n+1))
		}
		onPage := make(map[chatstore.ID]bool, len(p.Messages))
		for _, m := range p.Messages {
			onPage[m.ID] = true
		}
		for _, m := range p.Messages {
			pm, err := w.message(m, onPage)
			if err != nil {
				return 0, err
			}
			page.Messages = append(page.Messages, pm)
		}
		if err := w.render(filepath.Join(w.tmp, "c", pageName(c.ID, n)), "page", page); err != nil {
			return 0, err
		}
		w.res.Pages++
		w.res.Messages += int64(len(p.Messages))
		w.done += int64(len(p.Messages))
		if w.opts.Progress != nil {
			w.opts.Progress(w.done, max(w.total, w.done))
		}
		if !p.More {
			return n, nil
		}
		c := p.Messages[len(p.Messages)-1].Cursor()
		after = &c
	}
}

func (w *writer) message(m chatstore.Message, onPage map[chatstore.ID]bool) (pageMessage, error) {
	pm := pageMessage{ID: m.ID.String(), Sender: name(m.SenderName, m.Sender), Sent: w.show(m.Sent), SentISO: iso(m.Sent), Body: m.Body,
		System: m.System, Omitted: m.Omitted}
	if !m.Edited.IsZero() {
		pm.Edited, pm.EditedISO = w.show(m.Edited), iso(m.Edited)
	}
	if !m.Deleted.IsZero() {
		pm.Deleted, pm.DeletedISO = true, iso(m.Deleted)
	}
	if r := m.ReplyTo; r != nil {
		pr := &pageReply{ID: r.ID.String(), Missing: r.Missing, Deleted: r.Deleted, Text: r.Body}
		if !r.Missing {
			pr.Sender = name(r.SenderName, chatstore.ID{})
		}
		if onPage[r.ID] {
			pr.Href = template.URL("#m-" + r.ID.String())
		}
		pm.Reply = pr
	}
	for _, a := range m.Attachments {
		f, err := w.file(a)
		if err != nil {
			return pageMessage{}, err
		}
		pm.Files = append(pm.Files, f)
	}
	for _, r := range m.Reactions {
		pm.Reactions = append(pm.Reactions, pageReaction{Emoji: r.Emoji, Who: name(r.ReactorName, r.Reactor)})
	}
	return pm, nil
}

// file copies (or links) an attachment's media and describes it.
func (w *writer) file(a chatstore.AttachedFile) (pageFile, error) {
	f := pageFile{Name: a.Name, MIME: a.MIME, Size: a.Size, Human: units.Bytes(a.Size)}
	if f.Name == "" {
		f.Name = "(no name)"
	}
	if !w.st.HasMedia(a.Hash, a.Size) {
		w.res.MissingMedia++
		return f, nil
	}
	ext, show := mediaKind(a.MIME)
	f.Show = show
	if w.opts.LinkMedia {
		href, err := linkTo(filepath.Join(w.final, "c"), w.st.MediaPath(a.Hash))
		if err != nil {
			return pageFile{}, err
		}
		f.Href = href
		if !w.copied[a.Hash.String()] {
			w.copied[a.Hash.String()] = true
			w.res.MediaFiles++
		}
		return f, nil
	}
	// The extension follows the MIME type: the same bytes sent as two
	// types are two files.
	base := a.Hash.String() + ext
	f.Href = template.URL("../media/" + base)
	if w.copied[base] {
		return f, nil
	}
	n, err := copyFile(w.st.MediaPath(a.Hash), filepath.Join(w.tmp, "media", base))
	if err != nil {
		return pageFile{}, fmt.Errorf("htmlexport: copy %s: %w", a.Name, err)
	}
	w.copied[base] = true
	w.res.MediaFiles++
	w.res.MediaBytes += n
	return f, nil
}

// mediaKind maps the MIME types a browser shows safely to an extension and
// how to show them; anything else is ".bin", a download.
func mediaKind(mime string) (ext, show string) {
	mime, _, _ = strings.Cut(strings.ToLower(strings.TrimSpace(mime)), ";")
	switch mime {
	case "image/jpeg":
		return ".jpg", "image"
	case "image/png":
		return ".png", "image"
	case "image/gif":
		return ".gif", "image"
	case "image/webp":
		return ".webp", "image"
	case "audio/ogg", "audio/opus":
		return ".ogg", "audio"
	case "audio/mpeg":
		return ".mp3", "audio"
	case "audio/mp4", "audio/aac", "audio/x-m4a":
		return ".m4a", "audio"
	case "video/mp4":
		return ".mp4", "video"
	case "video/webm":
		return ".webm", "video"
	case "application/pdf":
		return ".pdf", ""
	case "text/plain":
		return ".txt", ""
	}
	return ".bin", ""
}

// linkTo is the relative URL from directory from to file to.
func linkTo(from, to string) (template.URL, error) {
	rel, err := filepath.Rel(from, to)
	if err != nil {
		// Another volume: an absolute file URL.
		p := filepath.ToSlash(to)
		if !strings.HasPrefix(p, "/") {
			p = "/" + p
		}
		u := url.URL{Scheme: "file", Path: p}
		return template.URL(u.String()), nil
	}
	parts := strings.Split(filepath.ToSlash(rel), "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return template.URL(strings.Join(parts, "/")), nil
}

func copyFile(src, dst string) (int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return n, err
}

func (w *writer) render(path, name string, data any) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("htmlexport: %w", err)
	}
	b := bufio.NewWriterSize(f, 64<<10)
	err = pages.ExecuteTemplate(b, name, data)
	if err == nil {
		err = b.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("htmlexport: write %s: %w", filepath.Base(path), err)
	}
	return nil
}

func (w *writer) head(t string) head {
	return head{Title: t, CSP: csp, Style: template.CSS(style)}
}

func (w *writer) show(t time.Time) string { return t.In(w.opts.Location).Format("2006-01-02 15:04") }

// iso is t as RFC 3339 in UTC, to the millisecond.
func iso(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// pageName is the file of page n of conversation id.
func pageName(id chatstore.ID, n int) string {
	if n == 1 {
		return id.String() + ".html"
	}
	return fmt.Sprintf("%s-%d.html", id, n)
}

func title(t string) string {
	if strings.TrimSpace(t) == "" {
		return "(untitled)"
	}
	return t
}

// name is a person's name, or a stand-in for someone not among the contacts.
func name(n string, id chatstore.ID) string {
	if n != "" {
		return n
	}
	if id == (chatstore.ID{}) {
		return "someone"
	}
	return "unknown (" + id.String()[:8] + ")"
}

func plural(n int64, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
