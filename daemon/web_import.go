package daemon

import (
	"context"
	"errors"
	"fmt"
	"github.com/ferryhq/ferry"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ferryhq/ferry/internal/units"
)

// Import: a WhatsApp or Telegram export brought into the history from the
// page, either uploaded to this server or named by its path on this
// machine, run as an "import" job over API.ImportHistory.
//
//	POST /api/import           body {"path": ABS, "format", "time_zone", "owner", "preview"} → webJob
//	POST /api/import/upload    ?name=FILE&format=&time_zone=&owner=&preview=1, body: the file's bytes → webJob
//	POST /api/jobs/{id}/owner  body {"owner": NAME or ""}                        → 204
//	POST /api/jobs/{id}/import                                                  → webJob
//
// With preview, the job is a dry run (HistoryImportOptions.DryRun): it
// reads the export as the import would and ends with what it would add
// (Import, its DryRun set), writing nothing into the history; the export
// (an upload: its staged file) is then kept for the import, which
// POST /api/jobs/{id}/import starts as a new job with the same options and
// the owner the preview was told, so that nothing is uploaded or asked
// twice. Cancelling the preview (POST /api/jobs/{id}/cancel), or leaving it
// for 30 minutes (web_expire.go), removes the staged upload.
//
// An upload is staged whole before anything reads it: into a file of its
// own under HOME/.staging/upload-*, written as NAME.part and renamed only
// when every byte that the request announced has arrived. A cut or
// oversized upload is removed and starts nothing; the staged file goes when
// its job ends, and what a killed server left goes when the next starts.
// The import itself changes nothing unless the whole export could be read
// (ImportHistory's promise).

const (
	// webMaxUpload bounds an upload (a chat's export with its media).
	webMaxUpload   = 4 << 30
	webUploadGlob  = "upload-*"
	webMaxUploads  = 2 // uploads staged at once
	webUploadBlock = 1 << 20
)

type webImportRequest struct {
	Path     string `json:"path"` // absolute, on this machine
	Format   string `json:"format,omitempty"`
	TimeZone string `json:"time_zone,omitempty"`
	Owner    string `json:"owner,omitempty"`
	Preview  bool   `json:"preview,omitempty"` // a dry run, kept for POST /api/jobs/{id}/import
}

// importJob is an import job to start.
type importJob struct {
	req     webImportRequest
	source  string // the name the page shows
	cleanup func() // removes a staged upload; nil for a path
	ask     bool   // ask the page who the user is, if the export does not tell
}

// pendingImport is a preview's export, kept for its import.
type pendingImport struct {
	job   importJob
	until time.Time
}

// uploadDir is where uploads are staged: in the home's staging directory,
// on the file system of the history, under a name a Ferry home may hold.
func (w *WebServer) uploadDir() string { return filepath.Join(w.home, ".staging") }

// removeUploads removes what earlier runs staged.
func (w *WebServer) removeUploads() {
	old, _ := filepath.Glob(filepath.Join(w.uploadDir(), webUploadGlob))
	for _, o := range old {
		os.RemoveAll(o)
	}
	os.Remove(w.uploadDir()) // if empty
}

func (w *WebServer) importPath(rw http.ResponseWriter, r *http.Request) {
	var req webImportRequest
	if !readBody(rw, r, &req, false) {
		return
	}
	p := strings.TrimSpace(req.Path)
	if p == "" {
		writeError(rw, http.StatusBadRequest, "give the path of the export on this computer (a .zip, a .txt, or a Telegram export's folder)")
		return
	}
	if !filepath.IsAbs(p) {
		writeError(rw, http.StatusBadRequest, fmt.Sprintf("%q is not a full path: give it from the top, such as /home/you/Downloads/WhatsApp Chat.zip", p))
		return
	}
	if _, err := os.Stat(p); err != nil {
		writeError(rw, http.StatusBadRequest, fmt.Sprintf("there is no file or folder %s on this computer (or Ferry may not read it)", p))
		return
	}
	req.Path = p
	w.startImport(rw, importJob{req: req, source: filepath.Base(p), ask: true})
}

func (w *WebServer) importUpload(rw http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	name, err := uploadName(q.Get("name"))
	if err != nil {
		writeError(rw, http.StatusBadRequest, err.Error())
		return
	}
	if r.ContentLength < 0 {
		writeError(rw, http.StatusLengthRequired, "the upload must say its size (Content-Length)")
		return
	}
	if r.ContentLength > webMaxUpload {
		writeError(rw, http.StatusRequestEntityTooLarge, fmt.Sprintf("the file is %s, more than the %s an upload may be: give its path on this computer instead",
			units.Bytes(r.ContentLength), units.Bytes(webMaxUpload)))
		return
	}
	if r.ContentLength == 0 {
		writeError(rw, http.StatusBadRequest, "the file is empty: it is not a chat export")
		return
	}
	staged, cleanup, err := w.stageUpload(r, name)
	if err != nil {
		var he httpError
		if errors.As(err, &he) {
			writeError(rw, he.status, he.msg)
		} else {
			writeError(rw, http.StatusInternalServerError, err.Error())
		}
		return
	}
	req := webImportRequest{Path: staged, Format: q.Get("format"), TimeZone: q.Get("time_zone"), Owner: q.Get("owner"),
		Preview: q.Get("preview") == "1" || q.Get("preview") == "true"}
	w.startImport(rw, importJob{req: req, source: name, cleanup: cleanup, ask: true})
}

// uploadName is the base name an upload is staged under: its extension
// tells the importer what it holds (.zip, .txt, .json).
func uploadName(s string) (string, error) {
	s = strings.TrimSpace(s)
	base := filepath.Base(strings.ReplaceAll(s, "\\", "/"))
	if s == "" || base == "." || base == "/" || base == ".." || len(base) > 200 || strings.ContainsAny(base, "\x00/") {
		return "", errors.New("the upload names no file (want ?name= the file's name, such as WhatsApp Chat.zip)")
	}
	return base, nil
}

// stageUpload writes r's body to a new staging folder, whole or not at
// all; cleanup removes the folder.
func (w *WebServer) stageUpload(r *http.Request, name string) (string, func(), error) {
	if err := os.MkdirAll(w.uploadDir(), 0o700); err != nil {
		return "", nil, fmt.Errorf("stage the upload: %w", err)
	}
	if old, _ := filepath.Glob(filepath.Join(w.uploadDir(), webUploadGlob)); len(old) >= webMaxUploads {
		return "", nil, httpError{http.StatusTooManyRequests, "other uploads are being read or wait to be imported: import or cancel one first"}
	}
	dir, err := os.MkdirTemp(w.uploadDir(), webUploadGlob)
	if err != nil {
		return "", nil, fmt.Errorf("stage the upload: %w", err)
	}
	cleanup := func() {
		os.RemoveAll(dir)
		os.Remove(w.uploadDir()) // if empty
	}
	final := filepath.Join(dir, name)
	part := final + ".part"
	f, err := os.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		cleanup()
		return "", nil, fmt.Errorf("stage the upload: %w", err)
	}
	n, err := io.CopyBuffer(f, io.LimitReader(r.Body, r.ContentLength+1), make([]byte, webUploadBlock))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	switch {
	case err != nil || n < r.ContentLength:
		cleanup()
		w.log.Info("web app: upload cut short", "got", n, "want", r.ContentLength)
		return "", nil, httpError{http.StatusBadRequest, fmt.Sprintf("the upload was cut off after %s of %s: nothing was imported; choose the file again", units.Bytes(n), units.Bytes(r.ContentLength))}
	case n > r.ContentLength:
		cleanup()
		return "", nil, httpError{http.StatusBadRequest, "the upload is longer than it said: nothing was imported"}
	}
	if err := os.Rename(part, final); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("stage the upload: %w", err)
	}
	return final, cleanup, nil
}

// startImport runs the import job (or its preview); a cleanup runs when it
// ends, unless a preview keeps the export for its import.
func (w *WebServer) startImport(rw http.ResponseWriter, imp importJob) {
	h := w.jobs
	req := imp.req
	j, err := h.start("import", false, func(ctx context.Context, e *jobEntry) (*ferry.Report, error) {
		kept := false
		if imp.cleanup != nil {
			defer func() {
				if !kept {
					imp.cleanup()
				}
			}()
		}
		h.update(e, func(j *webJob) { j.Source, j.Preview = imp.source, req.Preview })
		owner := strings.TrimSpace(req.Owner)
		opt := ferry.HistoryImportOptions{
			Format: req.Format, TimeZone: req.TimeZone, Owner: owner, DryRun: req.Preview,
			Events: func(ev ferry.Event) { h.applyThrottled(e, ev) },
		}
		if imp.ask {
			opt.AskOwner = func(ctx context.Context, names []string) (string, error) {
				h.update(e, func(j *webJob) { j.State, j.Owners = jobAsk, slices.Clone(names) })
				select {
				case name := <-e.owners:
					owner = name
					h.update(e, func(j *webJob) {
						j.State, j.Owners = jobMoving, nil
						if name == "" {
							j.log(time.Now(), "owner", "none of them is you")
						} else {
							j.log(time.Now(), "owner", name+" is you")
						}
					})
					return name, nil
				case <-ctx.Done():
					return "", ctx.Err()
				}
			}
		}
		res, err := w.api.ImportHistory(ctx, req.Path, opt)
		if err != nil {
			return nil, err
		}
		if res.Problems == nil {
			res.Problems = res.Problems[:0:0]
		}
		h.update(e, func(j *webJob) {
			j.Import = &res
			if req.Preview && ctx.Err() == nil {
				// Kept for the import: the same export and options, the
				// owner the page named (none, if it said so), not asked again.
				next := imp
				next.req.Preview, next.req.Owner, next.ask = false, owner, false
				e.pending = &pendingImport{job: next, until: w.now().Add(webPreviewTTL)}
				j.Ready, kept = true, true
			}
		})
		if !req.Preview {
			h.indexing()
		}
		return nil, nil
	})
	if err != nil {
		if imp.cleanup != nil {
			imp.cleanup()
		}
		writeError(rw, http.StatusServiceUnavailable, err.Error())
		return
	}
	writeJSON(rw, j)
}

// importPreviewed starts the import of what a preview read.
func (w *WebServer) importPreviewed(rw http.ResponseWriter, r *http.Request) {
	e := w.jobOf(rw, r)
	if e == nil {
		return
	}
	p := w.jobs.takePending(e)
	if p == nil {
		writeError(rw, http.StatusConflict, "this is no preview waiting to be imported (it was imported or cancelled, or waited too long): choose the export again")
		return
	}
	w.startImport(rw, p.job)
}

// answerOwner answers an import's question: which person is the user.
func (w *WebServer) answerOwner(rw http.ResponseWriter, r *http.Request) {
	var req ownerRequest
	if !readBody(rw, r, &req, false) {
		return
	}
	if req.Owner == nil {
		writeError(rw, http.StatusBadRequest, `body must say {"owner": NAME}, or {"owner": ""} for none of them`)
		return
	}
	e := w.jobOf(rw, r)
	if e == nil {
		return
	}
	j := w.jobs.view(e)
	if j.State != jobAsk {
		writeError(rw, http.StatusConflict, "this import is not asking who you are")
		return
	}
	if *req.Owner != "" && !slices.Contains(j.Owners, *req.Owner) {
		writeError(rw, http.StatusBadRequest, fmt.Sprintf("%q is not one of the people of this export", *req.Owner))
		return
	}
	select {
	case e.owners <- *req.Owner:
	default:
		writeError(rw, http.StatusConflict, "this import was already answered")
		return
	}
	rw.WriteHeader(http.StatusNoContent)
}
