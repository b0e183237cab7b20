package daemon

// The control API: HTTP/1.1 + JSON on a Unix socket in the home, one
// endpoint per method of API (control_wire.go has the bodies).
//
//	POST   /v1/send                  body ferry.SendOptions     → stream of ferry.Result
//	POST   /v1/receive               body receiveRequest        → stream of ferry.Result
//	POST   /v1/export                body exportRequest         → stream of exportResult
//	POST   /v1/import                body importRequest         → stream of ferry.Result
//	POST   /v1/history/import        body historyImportRequest  → stream of ferry.HistoryImportResult
//	POST   /v1/backup                body backupRequest         → stream of backupResult
//	POST   /v1/restore               body restoreRequest        → stream of ferry.Result
//	GET    /v1/backups?relay=ADDR                               → [ferry.BackupInfo]
//	DELETE /v1/backups/{id}?relay=ADDR                          → 204
//	POST   /v1/sessions/{id}/confirm body {"accept": bool}      → 204
//	POST   /v1/sessions/{id}/owner   body {"owner": NAME}       → 204
//	POST   /v1/sessions/{id}/cancel                             → 204
//	GET    /v1/stats                                            → ferry.Stats
//	POST   /v1/verify                                           → 204
//	GET    /v1/status                                           → ferry.Status
//	GET    /v1/devices                                          → [ferry.PairedDevice]
//	DELETE /v1/devices/{peer}                                   → 204
//
// A stream is 200 with one JSON value per line: first {"event":"started",
// "stream": ID}, then every ferry.Event as it happens, then one final line,
// {"result": ...} or an error (errorBody: {"error": sentence, "hint": ...,
// "resumable": ..., "error_code": ...}, a *ferry.Error's fields). Event lines
// always carry "event"; the final line never does. The {id} of a session
// endpoint is the stream's ID, or the ID of a send or receive session its
// events carry. Cancel ends the stream's work as the client's going away
// does, but the stream still ends with its final line: so a client that
// was interrupted learns whether the same again resumes. Any other failure
// is a non-2xx status with an errorBody.
//
// The socket file is mode 0600 and every accepted connection's peer
// credentials are checked (see peercred_*.go): only our own uid is served.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/ferryhq/ferry"
)

var (
	// ErrDaemonRunning means another daemon already answers on the home's socket.
	ErrDaemonRunning = errors.New("a ferry daemon is already running for this home")
	// ErrNoDaemon means nothing answers on the socket; run the work in-process.
	ErrNoDaemon = errors.New("no ferry daemon is running for this home")
)

const (
	maxRequestBody  = 64 << 10 // requests are small JSON objects
	maxErrorBody    = 64 << 10
	shutdownTimeout = 5 * time.Second
)

// ServeControl serves api on a Unix socket at socketPath until ctx is done,
// then cancels in-flight requests, waits for them and removes the socket. A
// stale socket file is replaced; a live one gives ErrDaemonRunning.
func ServeControl(ctx context.Context, socketPath string, api API, log *slog.Logger) error {
	l, err := ListenControl(socketPath)
	if err != nil {
		return err
	}
	return l.Serve(ctx, api, log)
}

// ControlListener is the home's control socket, taken: a daemon takes it
// before it starts anything else (or says a word), so that a second daemon
// of the same home fails with ErrDaemonRunning before it begins.
type ControlListener struct {
	ln   *net.UnixListener
	path string
	self os.FileInfo
}

// ListenControl takes the control socket at socketPath (mode 0600): a stale
// socket file is replaced; a live one gives ErrDaemonRunning. Serve serves
// it; Close releases it unserved.
func ListenControl(socketPath string) (*ControlListener, error) {
	ln, err := listenControl(socketPath)
	if err != nil {
		return nil, err
	}
	self, err := os.Stat(socketPath)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return &ControlListener{ln: ln, path: socketPath, self: self}, nil
}

// Close releases the socket (and removes its file, if still ours). It is
// idempotent, and Serve calls it when it returns.
func (l *ControlListener) Close() error {
	err := l.ln.Close()
	if fi, serr := os.Lstat(l.path); serr == nil && os.SameFile(fi, l.self) {
		os.Remove(l.path)
	}
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Serve serves api on the socket until ctx is done, then cancels in-flight
// requests, waits for them and releases the socket.
func (l *ControlListener) Serve(ctx context.Context, api API, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln, socketPath := l.ln, l.path
	defer l.Close()

	h := &controlHandler{api: api, log: log, ctx: ctx, streams: make(map[string]*stream)}
	srv := &http.Server{
		Handler:           h.routes(),
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(peerListener{ln, log}) }()
	log.Info("control API listening", "socket", socketPath)

	select {
	case err := <-errc:
		return fmt.Errorf("serve control API: %w", err)
	case <-ctx.Done():
	}
	// Request contexts derive from ctx, so streams are already cancelled;
	// Shutdown waits for their handlers to finish.
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("control API: forced close", "err", err)
		srv.Close()
	}
	<-errc
	return nil
}

// listenControl listens on path with mode 0600, replacing a stale socket.
func listenControl(path string) (*net.UnixListener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("control socket %s: exists and is not a socket; not replacing it", path)
		}
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			c.Close()
			return nil, ErrDaemonRunning
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("remove stale control socket: %w", err)
		}
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		if c, derr := net.DialTimeout("unix", path, time.Second); derr == nil {
			c.Close()
			return nil, ErrDaemonRunning // lost a race with another daemon
		}
		return nil, fmt.Errorf("listen on control socket: %w", err)
	}
	ln.SetUnlinkOnClose(false) // ServeControl removes it, if still ours
	// The peer-credential check also covers the moment before this chmod.
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		os.Remove(path)
		return nil, fmt.Errorf("chmod control socket: %w", err)
	}
	return ln, nil
}

// peerListener refuses connections from other users.
type peerListener struct {
	*net.UnixListener
	log *slog.Logger
}

func (l peerListener) Accept() (net.Conn, error) {
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			return nil, err
		}
		if err := checkPeer(c); err != nil {
			l.log.Warn("control API: refused connection", "err", err)
			c.Close()
			continue
		}
		return c, nil
	}
}

// controlHandler serves API on the control socket.
type controlHandler struct {
	api API
	log *slog.Logger
	ctx context.Context // the server's; done means shutting down

	mu      sync.Mutex         // guards streams
	streams map[string]*stream // by stream ID and by the session IDs their events carry
}

// stream is one streamed request in progress: how to cancel it, and where
// the answers to its questions (confirm, owner) go.
type stream struct {
	id      string
	cancel  context.CancelFunc
	confirm chan bool   // an offer's answer
	owner   chan string // a history import's owner
}

// routes is the handler table. Each path allows exactly one method.
func (h *controlHandler) routes() http.Handler {
	mux := http.NewServeMux()
	for _, r := range []struct {
		path, method string
		serve        func(http.ResponseWriter, *http.Request)
	}{
		{"/v1/send", http.MethodPost, h.send},
		{"/v1/receive", http.MethodPost, h.receive},
		{"/v1/export", http.MethodPost, h.export},
		{"/v1/import", http.MethodPost, h.importArchive},
		{"/v1/history/import", http.MethodPost, h.importHistory},
		{"/v1/backup", http.MethodPost, h.backup},
		{"/v1/restore", http.MethodPost, h.restore},
		{"/v1/backups", http.MethodGet, h.backups},
		{"/v1/backups/{id}", http.MethodDelete, h.deleteBackup},
		{"/v1/sessions/{id}/confirm", http.MethodPost, h.confirm},
		{"/v1/sessions/{id}/owner", http.MethodPost, h.owner},
		{"/v1/sessions/{id}/cancel", http.MethodPost, h.cancel},
		{"/v1/stats", http.MethodGet, h.stats},
		{"/v1/verify", http.MethodPost, h.verify},
		{"/v1/status", http.MethodGet, h.status},
		{"/v1/devices", http.MethodGet, h.devices},
		{"/v1/devices/{id}", http.MethodDelete, h.forget},
	} {
		mux.HandleFunc(r.path, func(w http.ResponseWriter, req *http.Request) {
			if req.Method != r.method {
				w.Header().Set("Allow", r.method)
				writeError(w, http.StatusMethodNotAllowed, "method "+req.Method+" not allowed; use "+r.method)
				return
			}
			h.log.Debug("control API", "method", req.Method, "path", req.URL.Path)
			r.serve(w, req)
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, req *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+req.URL.Path)
	})
	return mux
}

func (h *controlHandler) send(w http.ResponseWriter, r *http.Request) {
	var req ferry.SendOptions
	if readBody(w, r, &req, true) {
		h.stream(w, r, func(ctx context.Context, st *stream, emit func(ferry.Event)) (any, error) {
			s, err := h.api.Send(ctx, req)
			if err != nil {
				return nil, err
			}
			for e := range s.Events() {
				emit(e)
			}
			return s.Wait(ctx)
		})
	}
}

func (h *controlHandler) receive(w http.ResponseWriter, r *http.Request) {
	var req receiveRequest
	if readBody(w, r, &req, true) {
		h.stream(w, r, func(ctx context.Context, st *stream, emit func(ferry.Event)) (any, error) {
			opt := ferry.ReceiveOptions{Relay: req.Relay, Addrs: req.Addrs, Events: emit}
			if !req.Yes {
				opt.Confirm = func(ctx context.Context, _ ferry.Offer) (bool, error) {
					select {
					case ok := <-st.confirm:
						return ok, nil
					case <-ctx.Done():
						return false, ctx.Err()
					}
				}
			}
			return h.api.Receive(ctx, req.Code, opt)
		})
	}
}

func (h *controlHandler) export(w http.ResponseWriter, r *http.Request) {
	var req exportRequest
	if readBody(w, r, &req, false) && absPath(w, req.Path) {
		h.stream(w, r, func(ctx context.Context, _ *stream, emit func(ferry.Event)) (any, error) {
			res, err := h.api.ExportFile(ctx, req.Path, ferry.ExportOptions{Password: req.Password, Replace: req.Replace, Events: emit})
			if err != nil {
				return nil, err
			}
			out := exportResult{ExportResult: res}
			if len(req.Password) == 0 {
				out.RecoveryKey = res.Key.String()
			}
			return out, nil
		})
	}
}

func (h *controlHandler) importArchive(w http.ResponseWriter, r *http.Request) {
	var req importRequest
	if readBody(w, r, &req, false) && absPath(w, req.Path) {
		h.stream(w, r, func(ctx context.Context, _ *stream, emit func(ferry.Event)) (any, error) {
			k, err := wireKey(req.Key)
			if err != nil {
				return nil, err
			}
			defer k.Wipe()
			return h.api.ImportFile(ctx, req.Path, ferry.ImportOptions{Key: k, Password: req.Password, Events: emit})
		})
	}
}

func (h *controlHandler) importHistory(w http.ResponseWriter, r *http.Request) {
	var req historyImportRequest
	if readBody(w, r, &req, false) && absPath(w, req.Path) {
		h.stream(w, r, func(ctx context.Context, st *stream, emit func(ferry.Event)) (any, error) {
			opt := ferry.HistoryImportOptions{Format: req.Format, TimeZone: req.TimeZone, Owner: req.Owner, Events: emit, DryRun: req.DryRun}
			if req.Ask {
				opt.AskOwner = func(ctx context.Context, _ []string) (string, error) {
					select {
					case name := <-st.owner:
						return name, nil
					case <-ctx.Done():
						return "", ctx.Err()
					}
				}
			}
			return h.api.ImportHistory(ctx, req.Path, opt)
		})
	}
}

func (h *controlHandler) backup(w http.ResponseWriter, r *http.Request) {
	var req backupRequest
	if readBody(w, r, &req, true) {
		h.stream(w, r, func(ctx context.Context, _ *stream, emit func(ferry.Event)) (any, error) {
			res, err := h.api.Backup(ctx, ferry.BackupOptions{Relay: req.Relay, Password: req.Password, Events: emit})
			if err != nil {
				return nil, err
			}
			out := backupResult{BackupResult: res}
			if res.NewKey && len(req.Password) == 0 {
				out.RecoveryKey = res.Key.String()
			}
			return out, nil
		})
	}
}

func (h *controlHandler) restore(w http.ResponseWriter, r *http.Request) {
	var req restoreRequest
	if readBody(w, r, &req, true) {
		h.stream(w, r, func(ctx context.Context, _ *stream, emit func(ferry.Event)) (any, error) {
			k, err := wireKey(req.Key)
			if err != nil {
				return nil, err
			}
			defer k.Wipe()
			return h.api.Restore(ctx, ferry.RestoreOptions{Relay: req.Relay, Key: k, Password: req.Password, BackupID: req.Backup, Events: emit})
		})
	}
}

func (h *controlHandler) backups(w http.ResponseWriter, r *http.Request) {
	bs, err := h.api.Backups(r.Context(), r.URL.Query().Get("relay"))
	if bs == nil {
		bs = []ferry.BackupInfo{}
	}
	h.reply(w, bs, err)
}

func (h *controlHandler) deleteBackup(w http.ResponseWriter, r *http.Request) {
	h.reply(w, nil, h.api.DeleteBackup(r.Context(), r.URL.Query().Get("relay"), r.PathValue("id")))
}

// find is the stream in progress that id names.
func (h *controlHandler) find(w http.ResponseWriter, id string) *stream {
	h.mu.Lock()
	st := h.streams[id]
	h.mu.Unlock()
	if st == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no session %q is running", id))
	}
	return st
}

func (h *controlHandler) confirm(w http.ResponseWriter, r *http.Request) {
	var req confirmRequest
	if !readBody(w, r, &req, false) {
		return
	}
	if req.Accept == nil {
		writeError(w, http.StatusBadRequest, `body must say {"accept": true} or {"accept": false}`)
		return
	}
	if st := h.find(w, r.PathValue("id")); st != nil {
		answer(w, st.confirm, *req.Accept)
	}
}

func (h *controlHandler) owner(w http.ResponseWriter, r *http.Request) {
	var req ownerRequest
	if !readBody(w, r, &req, false) {
		return
	}
	if req.Owner == nil {
		writeError(w, http.StatusBadRequest, `body must say {"owner": NAME} (or "" for none of them)`)
		return
	}
	if st := h.find(w, r.PathValue("id")); st != nil {
		answer(w, st.owner, *req.Owner)
	}
}

// answer hands v to a stream's question, once.
func answer[T any](w http.ResponseWriter, c chan T, v T) {
	select {
	case c <- v:
		w.WriteHeader(http.StatusNoContent)
	default:
		writeError(w, http.StatusConflict, "this session was already answered")
	}
}

func (h *controlHandler) cancel(w http.ResponseWriter, r *http.Request) {
	if st := h.find(w, r.PathValue("id")); st != nil {
		st.cancel()
		w.WriteHeader(http.StatusNoContent)
	}
}

func (h *controlHandler) stats(w http.ResponseWriter, r *http.Request) {
	st, err := h.api.Stats(r.Context())
	h.reply(w, st, err)
}

func (h *controlHandler) verify(w http.ResponseWriter, r *http.Request) {
	h.reply(w, nil, h.api.Verify(r.Context()))
}

func (h *controlHandler) status(w http.ResponseWriter, r *http.Request) {
	st, err := h.api.Status(r.Context())
	h.reply(w, st, err)
}

func (h *controlHandler) devices(w http.ResponseWriter, r *http.Request) {
	ds, err := h.api.Devices(r.Context())
	if ds == nil {
		ds = []ferry.PairedDevice{}
	}
	h.reply(w, ds, err)
}

func (h *controlHandler) forget(w http.ResponseWriter, r *http.Request) {
	h.reply(w, nil, h.api.Forget(r.Context(), r.PathValue("id")))
}

// reply writes v as JSON (204 if v is nil) or err as an errorBody.
func (h *controlHandler) reply(w http.ResponseWriter, v any, err error) {
	if err != nil {
		writeBody(w, http.StatusInternalServerError, wireError(err, h.ctx.Err() != nil))
		return
	}
	if v == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// stream runs one streamed request: it writes the start line, every event
// as a JSON line (flushed), and the final line.
func (h *controlHandler) stream(w http.ResponseWriter, r *http.Request, run func(context.Context, *stream, func(ferry.Event)) (any, error)) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	st := &stream{id: "st-" + hex.EncodeToString(b[:]), cancel: cancel, confirm: make(chan bool, 1), owner: make(chan string, 1)}
	ids := []string{st.id}
	h.mu.Lock()
	h.streams[st.id] = st
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		for _, id := range ids {
			delete(h.streams, id)
		}
		h.mu.Unlock()
	}()

	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	var (
		mu     sync.Mutex
		closed bool // the handler returned: w is no longer ours
		enc    = json.NewEncoder(w)
	)
	write := func(v any) {
		if enc.Encode(v) == nil {
			rc.Flush()
		}
	}
	write(streamStart{Kind: eventStarted, Stream: st.id})
	res, err := run(ctx, st, func(e ferry.Event) {
		if e.Kind == "" { // would read as the end of the stream
			h.log.Warn("control API: dropped an event without a kind", "session", e.Session, "message", e.Message)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if e.Session != "" && !slices.Contains(ids, e.Session) {
			ids = append(ids, e.Session)
			h.mu.Lock()
			h.streams[e.Session] = st
			h.mu.Unlock()
		}
		if !closed {
			write(e)
		}
	})
	mu.Lock()
	defer mu.Unlock()
	closed = true
	if err != nil {
		h.log.Info("control API: session failed", "path", r.URL.Path, "err", err)
		write(wireError(err, h.ctx.Err() != nil))
		return
	}
	write(streamEnd{Result: res})
}

// streamEnd is the last line of a stream that succeeded.
type streamEnd struct {
	Result any `json:"result"`
}

// writeError writes a plain message as an errorBody.
func writeError(w http.ResponseWriter, code int, msg string) {
	writeBody(w, code, errorBody{Error: msg})
}

func writeBody(w http.ResponseWriter, code int, b errorBody) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(b)
}

// absPath refuses a path that is not absolute (a daemon has its own
// working directory).
func absPath(w http.ResponseWriter, p string) bool {
	if !filepath.IsAbs(p) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("path %q is not absolute", p))
		return false
	}
	return true
}

// readBody decodes r's JSON body into v, or writes a 4xx and returns false.
// Reading the body to the end lets the server notice a client that goes away,
// which cancels the request context.
func readBody(w http.ResponseWriter, r *http.Request, v any, emptyOK bool) bool {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d bytes", tooBig.Limit))
		} else {
			writeError(w, http.StatusBadRequest, "read request body: "+err.Error())
		}
		return false
	}
	if len(b) == 0 && emptyOK {
		return true
	}
	if err := json.Unmarshal(b, v); err != nil {
		writeError(w, http.StatusBadRequest, "malformed JSON body: "+err.Error())
		return false
	}
	return true
}
