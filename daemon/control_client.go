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
	"syscall"
)

// Client drives a running daemon over its control socket. It satisfies API,
// so the CLI runs the same code against a daemon or in-process.
type Client struct {
	tr *http.Transport
	hc *http.Client
}

var _ API = (*Client)(nil)

// RemoteError is an error the daemon answered with.
type RemoteError struct {
	Status  int    // HTTP status; 200 when a session failed mid-stream
	Message string // the daemon's words
}

func (e *RemoteError) Error() string { return e.Message }

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

func (c *Client) Send(ctx context.Context, req SendRequest, emit func(Event)) (*Report, error) {
	return c.stream(ctx, "/v1/send", req, emit)
}

func (c *Client) Receive(ctx context.Context, req ReceiveRequest, emit func(Event)) (*Report, error) {
	return c.stream(ctx, "/v1/receive", req, emit)
}

func (c *Client) Confirm(ctx context.Context, session string, accept bool) error {
	return c.call(ctx, http.MethodPost, "/v1/sessions/"+url.PathEscape(session)+"/confirm", confirmRequest{&accept}, nil)
}

func (c *Client) Status(ctx context.Context) (*Status, error) {
	var st Status
	if err := c.call(ctx, http.MethodGet, "/v1/status", nil, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

func (c *Client) Devices(ctx context.Context) ([]Device, error) {
	var ds []Device
	if err := c.call(ctx, http.MethodGet, "/v1/devices", nil, &ds); err != nil {
		return nil, err
	}
	return ds, nil
}

func (c *Client) Forget(ctx context.Context, peerID string) error {
	return c.call(ctx, http.MethodDelete, "/v1/devices/"+url.PathEscape(peerID), nil, nil)
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
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	return nil
}

// stream posts in and hands every event line to emit until the final line.
func (c *Client) stream(ctx context.Context, path string, in any, emit func(Event)) (*Report, error) {
	resp, err := c.do(ctx, http.MethodPost, path, in)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	rep, err := readStream(resp.Body, emit)
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("%s: %w", path, ctx.Err())
	}
	return rep, err
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
			return nil, fmt.Errorf("%s %s: %w", method, path, ctx.Err())
		}
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
			return nil, fmt.Errorf("%s %s: the daemon closed the connection (is it running as another user?): %w", method, path, err)
		}
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	var eb errorBody
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if json.Unmarshal(b, &eb) != nil || eb.Error == "" {
		eb.Error = fmt.Sprintf("%s %s: daemon answered %s", method, path, resp.Status)
	}
	return nil, &RemoteError{Status: resp.StatusCode, Message: eb.Error}
}

// streamLine is any line of a stream: an event (Kind set) or the end.
type streamLine struct {
	Event
	Result *Report `json:"result"`
}

// readStream reads a stream written by controlHandler.stream: it calls emit
// for each event line and returns the final line's report or error.
func readStream(r io.Reader, emit func(Event)) (*Report, error) {
	dec := json.NewDecoder(r)
	for {
		var l streamLine
		if err := dec.Decode(&l); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("the daemon ended the session without a result: %w", err)
		}
		if l.Kind == "" {
			if l.Error != "" {
				return nil, &RemoteError{Status: http.StatusOK, Message: l.Error}
			}
			return l.Result, nil
		}
		if emit != nil {
			emit(l.Event)
		}
	}
}
