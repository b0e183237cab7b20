package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/ferryhq/ferry"
)

// Client drives a running daemon over its control socket. It implements
// API, so the CLI runs the same code against a daemon or a Device of its
// own; every error it returns is a *ferry.Error (the daemon's, or one that
// says why the daemon could not be asked).
type Client struct {
	tr *http.Transport
	hc *http.Client
}

// cancelWait bounds how long a client whose context ended waits for the
// daemon to end the stream (and say whether the same again resumes).
const cancelWait = 10 * time.Second

// Dial connects to the daemon listening at socketPath. It returns an error
// wrapping ErrNoDaemon when nothing listens there.
func Dial(ctx context.Context, socketPath string) (*Client, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", socketPath)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("dial daemon: %w", ctx.Err())
		}
		return nil, fmt.Errorf("%w (%w)", ErrNoDaemon, err)
	}
	c.Close()
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", socketPath)
		},
		DisableCompression: true,
		MaxIdleConns:       2,
	}
	return &Client{tr: tr, hc: &http.Client{Transport: tr}}, nil
}

// Close releases idle connections. It is idempotent.
func (c *Client) Close() error {
	c.tr.CloseIdleConnections()
	return nil
}

// Send starts a send on the daemon; it returns once the daemon's send
// shows its code (or names its device).
func (c *Client) Send(ctx context.Context, opt ferry.SendOptions) (*ferry.Sending, error) {
	ready := make(chan *ferry.Sending, 1)
	var (
		push   func(ferry.Event)
		finish func(ferry.Result, error)
		early  []ferry.Event // events before the code
	)
	done := make(chan error, 1)
	go func() {
		var res ferry.Result
		err := c.stream(ctx, "/v1/send", opt, func(s *streamer, e ferry.Event) {
			if push == nil {
				if e.Kind != ferry.EventCode && e.Kind != ferry.EventReceiver {
					early = append(early, e)
					return
				}
				var s *ferry.Sending
				s, push, finish = ferry.NewSending(e.Code, e.Link)
				for _, e := range early {
					push(e)
				}
				ready <- s
			}
			push(e)
		}, &res)
		if finish == nil {
			done <- err
			return
		}
		finish(res, err)
	}()
	select {
	case s := <-ready:
		return s, nil
	case err := <-done:
		if err == nil {
			err = &ferry.Error{Sentence: "the daemon's send ended before it showed a code"}
		}
		return nil, err
	}
}

// Receive runs a receive on the daemon. An offer the daemon asks about is
// put to opt.Confirm, whose answer goes back to the daemon.
func (c *Client) Receive(ctx context.Context, code string, opt ferry.ReceiveOptions) (ferry.Result, error) {
	var res ferry.Result
	req := receiveRequest{Code: code, Yes: opt.Confirm == nil, Relay: opt.Relay, Addrs: opt.Addrs}
	err := c.stream(ctx, "/v1/receive", req, func(s *streamer, e ferry.Event) {
		emit(opt.Events, e)
		if e.Kind == ferry.EventOffer && e.Ask && opt.Confirm != nil && e.Offer != nil {
			ok, err := opt.Confirm(ctx, *e.Offer)
			if err != nil {
				s.cancel()
				return
			}
			s.answer("confirm", confirmRequest{Accept: &ok})
		}
	}, &res)
	return res, err
}

// ExportFile has the daemon write the archive at path.
func (c *Client) ExportFile(ctx context.Context, path string, opt ferry.ExportOptions) (ferry.ExportResult, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return ferry.ExportResult{}, &ferry.Error{Sentence: err.Error(), Err: err}
	}
	var res exportResult
	err = c.stream(ctx, "/v1/export", exportRequest{Path: abs, Password: opt.Password, Replace: opt.Replace},
		func(_ *streamer, e ferry.Event) { emit(opt.Events, e) }, &res)
	if err != nil {
		return ferry.ExportResult{}, err
	}
	res.File = path
	if res.Key, err = keyOf(res.RecoveryKey); err != nil {
		return ferry.ExportResult{}, err
	}
	return res.ExportResult, nil
}

// ImportFile has the daemon import the archive at path.
func (c *Client) ImportFile(ctx context.Context, path string, opt ferry.ImportOptions) (ferry.Result, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return ferry.Result{}, &ferry.Error{Sentence: err.Error(), Err: err}
	}
	var res ferry.Result
	err = c.stream(ctx, "/v1/import", importRequest{Path: abs, Key: opt.Key.String(), Password: opt.Password},
		func(_ *streamer, e ferry.Event) { emit(opt.Events, e) }, &res)
	return res, err
}

// ImportHistory has the daemon import the chat export at path; a question
// of the daemon which person is the user goes to opt.AskOwner.
func (c *Client) ImportHistory(ctx context.Context, path string, opt ferry.HistoryImportOptions) (ferry.HistoryImportResult, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return ferry.HistoryImportResult{}, &ferry.Error{Sentence: err.Error(), Err: err}
	}
	var res ferry.HistoryImportResult
	req := historyImportRequest{Path: abs, Format: opt.Format, TimeZone: opt.TimeZone, Owner: opt.Owner, Ask: opt.AskOwner != nil, DryRun: opt.DryRun}
	err = c.stream(ctx, "/v1/history/import", req, func(s *streamer, e ferry.Event) {
		emit(opt.Events, e)
		if e.Kind == ferry.EventAskOwner && opt.AskOwner != nil {
			name, err := opt.AskOwner(ctx, e.Names)
			if err != nil {
				s.cancel()
				return
			}
			s.answer("owner", ownerRequest{Owner: &name})
		}
	}, &res)
	res.Took = time.Duration(res.Seconds * float64(time.Second))
	return res, err
}

// Backup has the daemon back the history up.
func (c *Client) Backup(ctx context.Context, opt ferry.BackupOptions) (ferry.BackupResult, error) {
	var res backupResult
	err := c.stream(ctx, "/v1/backup", backupRequest{Relay: opt.Relay, Password: opt.Password},
		func(_ *streamer, e ferry.Event) { emit(opt.Events, e) }, &res)
	if err != nil {
		return ferry.BackupResult{}, err
	}
	if res.Key, err = keyOf(res.RecoveryKey); err != nil {
		return ferry.BackupResult{}, err
	}
	return res.BackupResult, nil
}

// Restore has the daemon restore a backup into the home.
func (c *Client) Restore(ctx context.Context, opt ferry.RestoreOptions) (ferry.Result, error) {
	var res ferry.Result
	err := c.stream(ctx, "/v1/restore", restoreRequest{Relay: opt.Relay, Key: opt.Key.String(), Password: opt.Password, Backup: opt.BackupID},
		func(_ *streamer, e ferry.Event) { emit(opt.Events, e) }, &res)
	return res, err
}

func (c *Client) Backups(ctx context.Context, relay string) ([]ferry.BackupInfo, error) {
	var bs []ferry.BackupInfo
	err := c.call(ctx, http.MethodGet, "/v1/backups?relay="+url.QueryEscape(relay), nil, &bs)
	return bs, err
}

func (c *Client) DeleteBackup(ctx context.Context, relay, id string) error {
	return c.call(ctx, http.MethodDelete, "/v1/backups/"+url.PathEscape(id)+"?relay="+url.QueryEscape(relay), nil, nil)
}

func (c *Client) Stats(ctx context.Context) (ferry.Stats, error) {
	var st ferry.Stats
	err := c.call(ctx, http.MethodGet, "/v1/stats", nil, &st)
	return st, err
}

func (c *Client) Verify(ctx context.Context) error {
	return c.call(ctx, http.MethodPost, "/v1/verify", nil, nil)
}

func (c *Client) Status(ctx context.Context) (ferry.Status, error) {
	var st ferry.Status
	err := c.call(ctx, http.MethodGet, "/v1/status", nil, &st)
	return st, err
}

func (c *Client) Devices(ctx context.Context) ([]ferry.PairedDevice, error) {
	var ds []ferry.PairedDevice
	err := c.call(ctx, http.MethodGet, "/v1/devices", nil, &ds)
	return ds, err
}

func (c *Client) Forget(ctx context.Context, peerID string) error {
	return c.call(ctx, http.MethodDelete, "/v1/devices/"+url.PathEscape(peerID), nil, nil)
}

// emit hands e to events, if set.
func emit(events func(ferry.Event), e ferry.Event) {
	if events != nil {
		events(e)
	}
}

// keyOf parses a recovery key the daemon sent ("" for none).
func keyOf(s string) (ferry.RecoveryKey, error) {
	if s == "" {
		return ferry.RecoveryKey{}, nil
	}
	return ferry.ParseRecoveryKey(s)
}

// call makes one request and decodes a JSON answer into out, if non-nil.
func (c *Client) call(ctx context.Context, method, path string, in, out any) error {
	resp, err := c.do(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return unreachable(fmt.Errorf("%s %s: read answer: %w", method, path, err))
	}
	return nil
}

// streamer is one stream being read: its ID, for answers and a cancel.
type streamer struct {
	c   *Client
	ctx context.Context // the caller's

	mu sync.Mutex // guards id
	id string     // set by the stream's first line
}

func (s *streamer) setID(id string) {
	s.mu.Lock()
	s.id = id
	s.mu.Unlock()
}

func (s *streamer) path(what string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return "/v1/sessions/" + url.PathEscape(s.id) + "/" + what
}

// answer posts an answer to the stream's question.
func (s *streamer) answer(what string, body any) {
	if err := s.c.call(s.ctx, http.MethodPost, s.path(what), body, nil); err != nil {
		s.cancel()
	}
}

// cancel asks the daemon to end the stream's work; the stream still ends
// with its final line.
func (s *streamer) cancel() {
	ctx, stop := context.WithTimeout(context.WithoutCancel(s.ctx), cancelWait)
	defer stop()
	_ = s.c.call(ctx, http.MethodPost, s.path("cancel"), nil, nil)
}

// stream posts in, hands every event line to event until the final line,
// and decodes the final result into out. When ctx ends it asks the daemon to
// cancel and reads on (for up to cancelWait), so that the error it returns
// is the daemon's (which says whether the same again resumes), with ctx's
// error as its cause.
func (c *Client) stream(ctx context.Context, path string, in any, event func(*streamer, ferry.Event), out any) error {
	rctx, rcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer rcancel()
	resp, err := c.do(rctx, http.MethodPost, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	s := &streamer{c: c, ctx: ctx}
	stop := context.AfterFunc(ctx, func() {
		s.cancel()
		t := time.AfterFunc(cancelWait, rcancel)
		context.AfterFunc(rctx, func() { t.Stop() })
	})
	defer stop()
	err = readStream(resp.Body, s.setID, func(e ferry.Event) { event(s, e) }, out)
	if err != nil && ctx.Err() != nil {
		e := ferry.AsError(err)
		if e.Code == "" || e.Code == ferry.CodeDaemonUnreachable {
			return &ferry.Error{Code: ferry.CodeInterrupted, Sentence: "interrupted", Err: ctx.Err()}
		}
		c := *e
		c.Err = ctx.Err()
		return &c
	}
	return err
}

// do sends a request and returns a 2xx response or the daemon's error.
func (c *Client) do(ctx context.Context, method, path string, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://ferry"+path, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, &ferry.Error{Code: ferry.CodeInterrupted, Sentence: "interrupted", Err: ctx.Err()}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
			return nil, unreachable(fmt.Errorf("%s %s: the daemon closed the connection (is it running as another user?): %w", method, path, err))
		}
		return nil, unreachable(fmt.Errorf("%s %s: %w", method, path, err))
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	var eb errorBody
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if json.Unmarshal(b, &eb) != nil || eb.Error == "" {
		eb = errorBody{Error: fmt.Sprintf("%s %s: daemon answered %s", method, path, resp.Status)}
	}
	return nil, &RemoteError{Status: resp.StatusCode, Err: eb.err(nil)}
}

// unreachable is the Error of a daemon that could not be asked or whose
// answer could not be read.
func unreachable(err error) *ferry.Error {
	return &ferry.Error{Code: ferry.CodeDaemonUnreachable, Sentence: err.Error(), Err: err}
}

// RemoteError is a non-2xx answer of the daemon: its HTTP status and its
// error. errors.As finds the *ferry.Error in it.
type RemoteError struct {
	Status int
	Err    *ferry.Error
}

func (e *RemoteError) Error() string { return e.Err.Error() }
func (e *RemoteError) Unwrap() error { return e.Err }

// streamLine is any line of a stream: the start (Stream set), an event
// (Kind set), or the end (result or error).
type streamLine struct {
	ferry.Event                 // its Error is the end's sentence, too
	Stream      string          `json:"stream"`
	Result      json.RawMessage `json:"result"`
	Hint        string          `json:"hint"`
	Resumable   bool            `json:"resumable"`
	ErrorCode   ferry.ErrorCode `json:"error_code"`
}

// readStream reads a stream written by controlHandler.stream: it calls
// start with the stream's ID, event for each event line, and decodes the
// final line's result into out (if not nil) or returns its error.
func readStream(r io.Reader, start func(id string), event func(ferry.Event), out any) error {
	dec := json.NewDecoder(r)
	for {
		var l streamLine
		if err := dec.Decode(&l); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return unreachable(fmt.Errorf("the daemon ended the session without a result: %w", err))
		}
		switch {
		case l.Kind == eventStarted:
			if start != nil {
				start(l.Stream)
			}
		case l.Kind != "":
			if event != nil {
				event(l.Event)
			}
		case l.Error != "":
			return errorBody{Error: l.Error, Hint: l.Hint, Resumable: l.Resumable, Code: l.ErrorCode}.err(nil)
		default:
			if out != nil && len(l.Result) > 0 {
				if err := json.Unmarshal(l.Result, out); err != nil {
					return unreachable(fmt.Errorf("the daemon's result: %w", err))
				}
			}
			return nil
		}
	}
}
