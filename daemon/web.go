package daemon

// The web app: a local HTTP server on loopback that shows the history and
// runs migrations for a person in a browser (ferry ui, ferry daemon --ui).
// It is one more handler table over API, like the control socket, plus the
// history read through chatstore's queries, like ferry history.
//
//	GET    /, /app.css, /js/*.js, /icon.svg  the page (embedded from webui/; holds no history)
//	POST   /api/login                  body {"token": T}            → 204, sets the cookie
//	GET    /api/status                                              → webStatus
//	GET    /api/conversations                                       → [webConversation]
//	GET    /api/conversations/{id}/messages ?before=C | after=C | around=MSG, limit=N → webPage
//	GET    /api/search                 ?q=QUERY, limit=N            → webSearch
//	GET    /api/media/{id}             [?download=1]                → the attachment's bytes (Range requests)
//	GET    /api/thumbs/{id}                                         → a JPEG thumbnail of an image attachment
//	GET    /api/devices                                             → [Device]
//	DELETE /api/devices/{peer}                                      → 204
//	POST   /api/send                   body {"relay": ADDR, "to": NAME} → webJob
//	POST   /api/receive                body {"code": CODE or ferry: link, "relay": ADDR} → webJob
//	GET    /api/jobs                                                → [webJob]
//	POST   /api/jobs/{id}/confirm      body {"accept": bool}        → 204
//	POST   /api/jobs/{id}/cancel                                    → 204
//	GET    /api/jobs/{id}/qr.png                                    → the QR code of a send's ferry: link
//	GET    /api/events                                              → text/event-stream of "job" events
//	POST   /api/import, /api/import/upload, /api/jobs/{id}/owner, /api/jobs/{id}/import (web_import.go)
//	POST   /api/backup, /api/jobs/{id}/key, /api/restore; GET /api/backups; DELETE /api/backups/{id} (web_backup.go)
//
// Failures are a non-2xx status with {"error": "a sentence"}. The guard in
// web_guard.go runs before every handler: loopback Host only, the token's
// cookie (or Authorization: Bearer TOKEN) on every /api/ request but the
// login, Origin checked, no CORS, a strict Content-Security-Policy.
//
// A view adds its routes here and its row in webui/js/app.js (see the views
// table there).

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"github.com/ferryhq/ferry"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

//go:embed webui
var webFiles embed.FS

// WebConfig configures a WebServer. Home is required.
type WebConfig struct {
	// Home is the device's data directory, whose history the app shows.
	Home string
	// Listen is the address to serve on, host:port, on loopback only
	// (127.0.0.0/8, ::1 or localhost); empty means 127.0.0.1 and a port
	// chosen by the system.
	Listen string
	// Token is the secret of the app's URL; empty means a new random one.
	Token string
	// Logger gets the server's log lines; nil discards them.
	Logger *slog.Logger
	// Now is the clock of what a job keeps for a while (web_expire.go);
	// nil means time.Now.
	Now func() time.Time
}

// WebServer is the web app of one device.
type WebServer struct {
	// Constant after NewWebServer.
	api   API
	home  string
	log   *slog.Logger
	ln    net.Listener
	url   string
	guard *webGuard
	hist  *historyView
	jobs  *jobHub
	thumb chan struct{} // one thumbnail decoded at a time: bounds memory
	now   func() time.Time

	closeOnce sync.Once
}

// ErrNotLoopback means the web app was asked to listen where other machines
// could reach it.
var ErrNotLoopback = errors.New("the app listens on this machine only (127.0.0.1, ::1 or localhost)")

// NewWebServer listens on cfg.Listen; Serve then serves the app.
func NewWebServer(api API, cfg WebConfig) (*WebServer, error) {
	if cfg.Home == "" {
		return nil, errors.New("web app: no home")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	addr, err := loopbackAddr(cfg.Listen)
	if err != nil {
		return nil, err
	}
	token := cfg.Token
	if token == "" {
		if token, err = randomSecret(); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("web app: listen on %s: %w", addr, err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	guard, err := newWebGuard(ln.Addr().(*net.TCPAddr).AddrPort().Addr(), port, token)
	if err != nil {
		ln.Close()
		return nil, err
	}
	w := &WebServer{
		api:   api,
		home:  cfg.Home,
		log:   log,
		ln:    ln,
		url:   fmt.Sprintf("http://%s/#token=%s", hostPort(ln.Addr().(*net.TCPAddr).AddrPort()), token),
		guard: guard,
		hist:  newHistoryView(cfg.Home),
		thumb: make(chan struct{}, 1),
		now:   cfg.Now,
	}
	if w.now == nil {
		w.now = time.Now
	}
	w.jobs = newJobHub(w)
	w.removeUploads()
	return w, nil
}

// URL is the address to open in a browser; it holds the token in its
// fragment, which a browser never sends to a server.
func (w *WebServer) URL() string { return w.url }

// Addr is the address the server listens on.
func (w *WebServer) Addr() net.Addr { return w.ln.Addr() }

// Serve serves the app until ctx is done, then ends the sessions it
// started, waits for them and for in-flight requests, and closes.
func (w *WebServer) Serve(ctx context.Context) error {
	defer w.close()
	srv := &http.Server{
		Handler:           w.guard.wrap(w.routes()),
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(w.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(w.ln) }()
	w.log.Info("web app listening", "addr", w.ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("serve web app: %w", err)
	case <-ctx.Done():
	}
	w.jobs.stop()
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		w.log.Warn("web app: forced close", "err", err)
		srv.Close()
	}
	<-errc
	return nil
}

// close releases what Serve leaves (also when Serve never ran).
func (w *WebServer) close() {
	w.closeOnce.Do(func() {
		w.ln.Close()
		w.jobs.stop()
		w.hist.close()
		w.removeUploads()
	})
}

// Close stops a server whose Serve was never called. It is idempotent.
func (w *WebServer) Close() error {
	w.close()
	return nil
}

// webRoute is one row of the handler table.
type webRoute struct {
	path, method string
	serve        func(http.ResponseWriter, *http.Request)
}

// routes is the handler table. Each path allows exactly one method; the
// guard has run before any of them.
func (w *WebServer) routes() http.Handler {
	mux := http.NewServeMux()
	for _, r := range w.table() {
		mux.HandleFunc(r.path, func(rw http.ResponseWriter, req *http.Request) {
			if req.Method != r.method && !(r.method == http.MethodGet && req.Method == http.MethodHead) {
				rw.Header().Set("Allow", r.method)
				writeError(rw, http.StatusMethodNotAllowed, "method "+req.Method+" not allowed; use "+r.method)
				return
			}
			r.serve(rw, req)
		})
	}
	mux.HandleFunc("/api/", func(rw http.ResponseWriter, req *http.Request) {
		writeError(rw, http.StatusNotFound, "no such endpoint: "+req.URL.Path)
	})
	mux.Handle("/", w.static())
	return mux
}

func (w *WebServer) table() []webRoute {
	return []webRoute{
		{"/api/login", http.MethodPost, w.login},
		{"/api/status", http.MethodGet, w.status},
		{"/api/conversations", http.MethodGet, w.conversations},
		{"/api/conversations/{id}/messages", http.MethodGet, w.messages},
		{"/api/search", http.MethodGet, w.search},
		{"/api/media/{id}", http.MethodGet, w.media},
		{"/api/thumbs/{id}", http.MethodGet, w.thumbnail},
		{"/api/devices", http.MethodGet, w.devices},
		{"/api/devices/{id}", http.MethodDelete, w.forget},
		{"/api/send", http.MethodPost, w.send},
		{"/api/receive", http.MethodPost, w.receive},
		{"/api/jobs", http.MethodGet, w.listJobs},
		{"/api/jobs/{id}/confirm", http.MethodPost, w.confirmJob},
		{"/api/jobs/{id}/cancel", http.MethodPost, w.cancelJob},
		{"/api/jobs/{id}/qr.png", http.MethodGet, w.jobQR},
		{"/api/events", http.MethodGet, w.events},
		{"/api/import", http.MethodPost, w.importPath},
		{"/api/import/upload", http.MethodPost, w.importUpload},
		{"/api/jobs/{id}/owner", http.MethodPost, w.answerOwner},
		{"/api/jobs/{id}/import", http.MethodPost, w.importPreviewed},
		{"/api/backup", http.MethodPost, w.backup},
		{"/api/jobs/{id}/key", http.MethodPost, w.takeKey},
		{"/api/backups", http.MethodGet, w.backups},
		{"/api/backups/{id}", http.MethodDelete, w.deleteBackup},
		{"/api/restore", http.MethodPost, w.restore},
	}
}

// static serves the page's files. They hold no history, so they need no
// token: the page itself reads the token from its URL's fragment.
func (w *WebServer) static() http.Handler {
	sub, err := fs.Sub(webFiles, "webui")
	if err != nil {
		panic(err) // the embedded tree is part of the binary
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			rw.Header().Set("Allow", http.MethodGet)
			writeError(rw, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed")
			return
		}
		if r.URL.Path != "/" && strings.HasSuffix(r.URL.Path, "/") {
			writeError(rw, http.StatusNotFound, "no such file")
			return
		}
		rw.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(rw, r)
	})
}

// webStatus is what GET /api/status answers.
type webStatus struct {
	ferry.Status
	History bool `json:"history"` // the home holds a history
}

func (w *WebServer) status(rw http.ResponseWriter, r *http.Request) {
	st, err := w.api.Status(r.Context())
	if err != nil {
		writeError(rw, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(rw, webStatus{Status: st, History: w.hist.exists()})
}

func (w *WebServer) devices(rw http.ResponseWriter, r *http.Request) {
	ds, err := w.api.Devices(r.Context())
	if err != nil {
		writeError(rw, http.StatusInternalServerError, err.Error())
		return
	}
	if ds == nil {
		ds = []ferry.PairedDevice{}
	}
	writeJSON(rw, ds)
}

func (w *WebServer) forget(rw http.ResponseWriter, r *http.Request) {
	if err := w.api.Forget(r.Context(), r.PathValue("id")); err != nil {
		writeError(rw, http.StatusBadRequest, err.Error())
		return
	}
	rw.WriteHeader(http.StatusNoContent)
}

// loopbackAddr checks that listen names a loopback address and fills in
// the default.
func loopbackAddr(listen string) (string, error) {
	if listen == "" {
		return "127.0.0.1:0", nil
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("web app: listen address %q: want host:port, such as 127.0.0.1:8080", listen)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", fmt.Errorf("web app: listen address %q: the port is a number from 0 to 65535", listen)
	}
	if strings.EqualFold(host, "localhost") {
		return net.JoinHostPort("127.0.0.1", port), nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.Unmap().IsLoopback() || ip.Zone() != "" {
		return "", fmt.Errorf("web app: listen address %q: %w", listen, ErrNotLoopback)
	}
	return net.JoinHostPort(ip.Unmap().String(), port), nil
}

// hostPort is ap as it appears in a URL and a Host header.
func hostPort(ap netip.AddrPort) string {
	return net.JoinHostPort(ap.Addr().Unmap().String(), strconv.Itoa(int(ap.Port())))
}

func randomSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("web app: random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}
