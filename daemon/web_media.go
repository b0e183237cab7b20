package daemon

import (
	"errors"
	"mime"
	"net/http"
	"os"
	"strings"
	"unicode"

	"github.com/ferryhq/ferry/chatstore"
)

// Media: an attachment's bytes, by the attachment's ID only (never a name
// or a path from the history: a media file is found by its hash, in the
// home's media folder). Its MIME type came from the sender, so it is served
// as such only when a browser shows that type without running anything
// (images other than SVG, audio, video); anything else is
// application/octet-stream, a download. http.ServeContent answers Range
// requests, which audio and video players make.

// mediaKindOf says how the page shows a file of a stored MIME type: as an
// "image", "audio" or "video" inline, served with contentType; or as a
// "file" to download, served as application/octet-stream.
func mediaKindOf(stored string) (kind, contentType string) {
	t, _, err := mime.ParseMediaType(stored)
	if err != nil {
		return "file", "application/octet-stream"
	}
	major, minor, ok := strings.Cut(t, "/")
	if !ok || minor == "" || strings.ContainsFunc(minor, func(r rune) bool {
		return !(r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune(".+-", r)))
	}) {
		return "file", "application/octet-stream"
	}
	// SVG is a document that can hold script; so can anything XML or HTML.
	for _, active := range []string{"svg", "xml", "html"} {
		if strings.Contains(minor, active) {
			return "file", "application/octet-stream"
		}
	}
	switch major {
	case "image", "audio", "video":
		return major, major + "/" + minor
	}
	return "file", "application/octet-stream"
}

func (w *WebServer) media(rw http.ResponseWriter, r *http.Request) {
	f, file, ok := w.openMedia(rw, r)
	if !ok {
		return
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		writeError(rw, http.StatusNotFound, "the file of this attachment is not on this device")
		return
	}
	kind, ctype := mediaKindOf(f.MIME)
	disposition := "inline"
	if kind == "file" || r.URL.Query().Has("download") {
		disposition = "attachment"
	}
	h := rw.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Disposition", contentDisposition(disposition, f.Name))
	h.Set("Content-Security-Policy", webMediaCSP)
	h.Set("Cache-Control", "private, max-age=86400")
	h.Set("ETag", `"`+f.Hash.String()+`"`)
	http.ServeContent(rw, r, "", fi.ModTime(), file)
}

// openMedia finds the attachment named by the request and opens its bytes,
// or answers the request itself and returns false.
func (w *WebServer) openMedia(rw http.ResponseWriter, r *http.Request) (chatstore.AttachedFile, *os.File, bool) {
	id, err := chatstore.ParseID(r.PathValue("id"))
	if err != nil {
		writeError(rw, http.StatusNotFound, "no such attachment: media are asked for by their attachment's ID")
		return chatstore.AttachedFile{}, nil, false
	}
	o, err := w.hist.acquire(r.Context())
	if err != nil {
		writeError(rw, http.StatusNotFound, "no such attachment: "+err.Error())
		return chatstore.AttachedFile{}, nil, false
	}
	defer w.hist.release(o)
	f, err := o.st.AttachedFile(r.Context(), id)
	if errors.Is(err, chatstore.ErrNoAttachment) {
		writeError(rw, http.StatusNotFound, "no such attachment")
		return chatstore.AttachedFile{}, nil, false
	}
	if err != nil {
		writeError(rw, http.StatusInternalServerError, "could not read the history: "+err.Error())
		return chatstore.AttachedFile{}, nil, false
	}
	file, err := os.Open(o.st.MediaPath(f.Hash))
	if err != nil {
		writeError(rw, http.StatusNotFound, "the file of this attachment is not on this device")
		return chatstore.AttachedFile{}, nil, false
	}
	return f, file, true
}

// contentDisposition is the header that offers a file under (a cleaned
// copy of) the name the sender gave it.
func contentDisposition(disposition, name string) string {
	name = strings.Map(func(r rune) rune {
		switch {
		case r == '/' || r == '\\':
			return '_'
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			return -1
		}
		return r
	}, name)
	name = strings.Trim(strings.TrimSpace(name), ".")
	if name, _ = truncate(name, 200); name == "" {
		name = "attachment"
	}
	if v := mime.FormatMediaType(disposition, map[string]string{"filename": name}); v != "" {
		return v
	}
	return disposition + `; filename="attachment"`
}
