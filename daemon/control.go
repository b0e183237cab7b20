package daemon

// The control API: HTTP/1.1 + JSON on a Unix socket in the home.
//
//	POST   /v1/send                  body SendRequest     → stream
//	POST   /v1/receive               body ReceiveRequest  → stream
//	POST   /v1/sessions/{id}/confirm body {"accept": bool} → 204
//	GET    /v1/status                                     → Status
//	GET    /v1/devices                                    → [Device]
//	DELETE /v1/devices/{peer}                             → 204
//
// A stream is 200 with one JSON value per line: every Event as it happens,
// then one final line, {"result": Report} or {"error": "..."}. Event lines
// always carry "event"; the final line never does. Any other failure is a
// non-2xx status with body {"error": "..."}.
//
// The socket file is mode 0600 and every accepted connection's peer
// credentials are checked (see peercred_*.go): only our own uid is served.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
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
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln, err := listenControl(socketPath)
	if err != nil {
		return err
	}
	self, err := os.Stat(socketPath)
	if err != nil {
		ln.Close()
		return fmt.Errorf("control socket: %w", err)
	}
	defer func() {
		// Remove the socket only if it is still ours.
		if fi, err := os.Lstat(socketPath); err == nil && os.SameFile(fi, self) {
			os.Remove(socketPath)
		}
	}()

	h := &controlHandler{api: api, log: log, ctx: ctx}
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

type controlHandler struct {
	api API
	log *slog.Logger
	ctx context.Context // the server's; done means shutting down
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
		{"/v1/sessions/{id}/confirm", http.MethodPost, h.confirm},
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
	var req SendRequest
	if readBody(w, r, &req, true) {
		h.stream(w, r, func(ctx context.Context, emit func(Event)) (*Report, error) {
			return h.api.Send(ctx, req, emit)
		})
	}
}

func (h *controlHandler) receive(w http.ResponseWriter, r *http.Request) {
	var req ReceiveRequest
	if readBody(w, r, &req, true) {
		h.stream(w, r, func(ctx context.Context, emit func(Event)) (*Report, error) {
			return h.api.Receive(ctx, req, emit)
		})
	}
}

type confirmRequest struct {
	Accept *bool `json:"accept"`
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
	h.reply(w, nil, h.api.Confirm(r.Context(), r.PathValue("id"), *req.Accept))
}

func (h *controlHandler) status(w http.ResponseWriter, r *http.Request) {
	st, err := h.api.Status(r.Context())
	h.reply(w, st, err)
}

func (h *controlHandler) devices(w http.ResponseWriter, r *http.Request) {
	ds, err := h.api.Devices(r.Context())
	if ds == nil {
		ds = []Device{}
	}
	h.reply(w, ds, err)
}

func (h *controlHandler) forget(w http.ResponseWriter, r *http.Request) {
	h.reply(w, nil, h.api.Forget(r.Context(), r.PathValue("id")))
}

// reply writes v as JSON (204 if v is nil) or err as {"error": ...}.
func (h *controlHandler) reply(w http.ResponseWriter, v any, err error) {
	if err != nil {
		writeError(w, http.StatusInternalServerError, h.errorText(err))
		return
	}
	if v == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// stream runs a session and writes its events as JSON lines, flushing each.
func (h *controlHandler) stream(w http.ResponseWriter, r *http.Request, run func(context.Context, func(Event)) (*Report, error)) {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	rc.Flush()
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
	rep, err := run(r.Context(), func(e Event) {
		if e.Kind == "" { // would read as the end of the stream
			h.log.Warn("control API: dropped an event without a kind", "session", e.Session, "message", e.Message)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if !closed {
			write(e)
		}
	})
	mu.Lock()
	defer mu.Unlock()
	closed = true
	if err != nil {
		h.log.Info("control API: session failed", "path", r.URL.Path, "err", err)
		write(streamEnd{Error: h.errorText(err)})
		return
	}
	write(streamEnd{Result: rep})
}

func (h *controlHandler) errorText(err error) string {
	if h.ctx.Err() != nil {
		return "the daemon is shutting down: " + err.Error()
	}
	return err.Error()
}

// streamEnd is the last line of a stream.
type streamEnd struct {
	Result *Report `json:"result"`
	Error  string  `json:"error,omitempty"`
}

type errorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(errorBody{msg})
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
