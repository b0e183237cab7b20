package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeAPI is a deterministic API. Send and Receive emit sessionEvents and
// return fakeReport, except for these codes:
//
//	"fail"     emit one event, then fail
//	"block"    emit one event, then wait for ctx and report its error on cancelled
//	"nokind"   emit an event without a kind first (the daemon must drop it)
//	"lockstep" emit each event only after the client acknowledged the previous one on ack
type fakeAPI struct {
	cancelled chan error
	ack       chan struct{}

	mu       sync.Mutex
	devices  []Device
	confirms []string
	statuses int
}

var (
	t0         = time.Date(2026, 11, 22, 1, 2, 3, 0, time.UTC)
	fakeReport = Report{Messages: 1000, Attachments: 20, Bytes: 1 << 20, SourceDigest: "ab12", TargetDigest: "ab12"}
)

func sessionEvents(id string) []Event {
	return []Event{
		{Session: id, Time: t0, Kind: EventCode, Code: "7-zebra-acorn"},
		{Session: id, Time: t0, Kind: EventWaiting, Message: "waiting for the receiver"},
		{Session: id, Time: t0, Kind: EventConnected, Path: "direct LAN"},
		{Session: id, Time: t0, Kind: EventPaired},
		{Session: id, Time: t0, Kind: EventOffer, Offer: &Offer{Device: "old phone", PeerID: "12D3KooW", Messages: 1000, MediaBytes: 5 << 20}},
		{Session: id, Time: t0, Kind: EventProgress, Phase: "chunks", Done: 1, Total: 3, Items: 10, ItemsTotal: 30},
		{Session: id, Time: t0, Kind: EventProgress, Phase: "chunks", Done: 3, Total: 3, Items: 30, ItemsTotal: 30},
		{Session: id, Time: t0, Kind: EventError, Error: "an event, not the end"},
		{Session: id, Time: t0, Kind: EventDone, Report: &fakeReport},
	}
}

func newFakeAPI() *fakeAPI {
	return &fakeAPI{
		cancelled: make(chan error, 1),
		ack:       make(chan struct{}),
		devices: []Device{
			{PeerID: "12D3KooWA", Name: "laptop", PairedAt: t0},
			{PeerID: "12D3KooWB", Name: "phone", PairedAt: t0, LastSeen: t0.Add(time.Hour)},
		},
	}
}

func (f *fakeAPI) session(ctx context.Context, id, code string, emit func(Event)) (*Report, error) {
	evs := sessionEvents(id)
	switch code {
	case "fail":
		emit(evs[0])
		return nil, errors.New("wrong code: check it and try again")
	case "nokind":
		emit(Event{Session: id, Time: t0, Message: "a bug in the session code"})
	case "block":
		emit(evs[0])
		<-ctx.Done()
		f.cancelled <- ctx.Err()
		return nil, ctx.Err()
	}
	for _, e := range evs {
		emit(e)
		if code == "lockstep" {
			select {
			case <-f.ack:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
	}
	rep := fakeReport
	return &rep, nil
}

func (f *fakeAPI) Send(ctx context.Context, req SendRequest, emit func(Event)) (*Report, error) {
	return f.session(ctx, "s-send", req.Code, emit)
}

func (f *fakeAPI) Receive(ctx context.Context, req ReceiveRequest, emit func(Event)) (*Report, error) {
	if req.Yes {
		return f.session(ctx, "s-recv-yes", req.Code, emit)
	}
	return f.session(ctx, "s-recv", req.Code, emit)
}

func (f *fakeAPI) Confirm(_ context.Context, session string, accept bool) error {
	if session != "s-recv" {
		return fmt.Errorf("no session %q", session)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.confirms = append(f.confirms, fmt.Sprintf("%s %t", session, accept))
	return nil
}

func (f *fakeAPI) Status(context.Context) (*Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.statuses++
	return &Status{PeerID: "12D3KooWSelf", Addrs: []string{"/ip4/127.0.0.1/tcp/4001"}, Home: "/home/x/.ferry", Version: "test",
		Sessions: []SessionInfo{{ID: "s-send", Kind: "send", Started: t0, State: "waiting"}}}, nil
}

func (f *fakeAPI) Devices(context.Context) ([]Device, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Device(nil), f.devices...), nil
}

func (f *fakeAPI) Forget(_ context.Context, peerID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, d := range f.devices {
		if d.PeerID == peerID {
			f.devices = append(f.devices[:i], f.devices[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("no paired device %s", peerID)
}

// logRecorder is a slog.Handler that lets a test wait for a message.
type logRecorder struct {
	mu      sync.Mutex
	lines   []string
	changed chan struct{} // closed on every record
}

func newLogRecorder() *logRecorder { return &logRecorder{changed: make(chan struct{})} }

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logRecorder) WithGroup(string) slog.Handler            { return h }

func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lines = append(h.lines, b.String())
	close(h.changed)
	h.changed = make(chan struct{})
	return nil
}

// wait returns the first log line containing s, waiting for it if needed.
func (h *logRecorder) wait(ctx context.Context, s string) (string, error) {
	for {
		h.mu.Lock()
		for _, l := range h.lines {
			if strings.Contains(l, s) {
				h.mu.Unlock()
				return l, nil
			}
		}
		ch := h.changed
		h.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return "", fmt.Errorf("no log line with %q: %w", s, ctx.Err())
		}
	}
}

type server struct {
	path   string
	api    *fakeAPI
	logs   *logRecorder
	cancel context.CancelFunc
	done   chan error // ServeControl's result
}

// startServer runs ServeControl in dir (a new temp dir if empty) and waits
// until it listens.
func startServer(t testing.TB, dir string) *server {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{path: filepath.Join(dir, "ferry.sock"), api: newFakeAPI(), logs: newLogRecorder(), cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- ServeControl(ctx, s.path, s.api, slog.New(s.logs)) }()
	t.Cleanup(func() { s.stop(t) })
	wctx, wcancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer wcancel()
	select {
	case err := <-s.done:
		close(s.done)
		t.Fatalf("ServeControl: %v", err)
	case <-waitLog(wctx, s.logs, "control API listening"):
	}
	return s
}

func waitLog(ctx context.Context, h *logRecorder, s string) <-chan struct{} {
	ch := make(chan struct{})
	go func() { h.wait(ctx, s); close(ch) }()
	return ch
}

// stop cancels the server and returns ServeControl's result (once).
func (s *server) stop(t testing.TB) error {
	t.Helper()
	s.cancel()
	select {
	case err, ok := <-s.done:
		if ok {
			close(s.done)
		}
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("ServeControl did not return 10s after cancel")
		return nil
	}
}

func dialClient(t testing.TB, path string) *Client {
	t.Helper()
	c, err := Dial(t.Context(), path)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// rawClient speaks plain HTTP to the socket.
func rawClient(path string) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}}
}

func TestControlRoundTrip(t *testing.T) {
	s := startServer(t, "")
	c := dialClient(t, s.path)
	ctx := t.Context()

	for _, tc := range []struct {
		name string
		run  func(emit func(Event)) (*Report, error)
		id   string
	}{
		{"send", func(emit func(Event)) (*Report, error) { return c.Send(ctx, SendRequest{CodeWords: 3}, emit) }, "s-send"},
		{"event without kind", func(emit func(Event)) (*Report, error) { return c.Send(ctx, SendRequest{Code: "nokind"}, emit) }, "s-send"},
		{"receive", func(emit func(Event)) (*Report, error) {
			return c.Receive(ctx, ReceiveRequest{Code: "7-zebra-acorn"}, emit)
		}, "s-recv"},
		{"receive yes", func(emit func(Event)) (*Report, error) {
			return c.Receive(ctx, ReceiveRequest{Code: "7-zebra-acorn", Yes: true}, emit)
		}, "s-recv-yes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []Event
			rep, err := tc.run(func(e Event) { got = append(got, e) })
			if err != nil {
				t.Fatal(err)
			}
			if want := sessionEvents(tc.id); !reflect.DeepEqual(got, want) {
				t.Errorf("events:\ngot  %+v\nwant %+v", got, want)
			}
			if rep == nil || *rep != fakeReport {
				t.Errorf("report: got %+v, want %+v", rep, fakeReport)
			}
		})
	}

	t.Run("session error", func(t *testing.T) {
		var got []Event
		rep, err := c.Send(ctx, SendRequest{Code: "fail"}, func(e Event) { got = append(got, e) })
		var re *RemoteError
		if !errors.As(err, &re) || re.Message != "wrong code: check it and try again" {
			t.Fatalf("got %v (%T), want RemoteError with the daemon's message", err, err)
		}
		if rep != nil || len(got) != 1 {
			t.Errorf("got report %v and %d events, want nil and 1", rep, len(got))
		}
	})

	t.Run("confirm", func(t *testing.T) {
		for _, accept := range []bool{true, false} {
			if err := c.Confirm(ctx, "s-recv", accept); err != nil {
				t.Fatal(err)
			}
		}
		err := c.Confirm(ctx, "no/such session", true)
		var re *RemoteError
		if !errors.As(err, &re) || re.Message != `no session "no/such session"` || re.Status != http.StatusInternalServerError {
			t.Errorf("confirm unknown session: got %#v", err)
		}
		s.api.mu.Lock()
		got := s.api.confirms
		s.api.mu.Unlock()
		if want := []string{"s-recv true", "s-recv false"}; !reflect.DeepEqual(got, want) {
			t.Errorf("confirms: got %q, want %q", got, want)
		}
	})

	t.Run("status", func(t *testing.T) {
		got, err := c.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := newFakeAPI().Status(ctx)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v, want %+v", got, want)
		}
	})

	t.Run("devices and forget", func(t *testing.T) {
		got, err := c.Devices(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := newFakeAPI().devices; !reflect.DeepEqual(got, want) {
			t.Errorf("devices: got %+v, want %+v", got, want)
		}
		if err := c.Forget(ctx, "12D3KooWA"); err != nil {
			t.Fatal(err)
		}
		if err := c.Forget(ctx, "12D3KooWA"); err == nil || err.Error() != "no paired device 12D3KooWA" {
			t.Errorf("forget twice: got %v, want the daemon's error", err)
		}
		got, err = c.Devices(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].PeerID != "12D3KooWB" {
			t.Errorf("devices after forget: got %+v, want only 12D3KooWB", got)
		}
	})
}

// Each event reaches the client before the daemon emits the next one.
func TestControlStreamsEventsAsTheyHappen(t *testing.T) {
	s := startServer(t, "")
	c := dialClient(t, s.path)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var got []Event
	rep, err := c.Send(ctx, SendRequest{Code: "lockstep"}, func(e Event) {
		got = append(got, e)
		select {
		case s.api.ack <- struct{}{}:
		case <-ctx.Done():
		}
	})
	if err != nil {
		t.Fatalf("Send: %v (a buffered stream deadlocks until the timeout)", err)
	}
	if want := sessionEvents("s-send"); !reflect.DeepEqual(got, want) {
		t.Errorf("events:\ngot  %+v\nwant %+v", got, want)
	}
	if *rep != fakeReport {
		t.Errorf("report: got %+v, want %+v", rep, fakeReport)
	}
}

func TestControlClientCancelReachesDaemon(t *testing.T) {
	for _, endpoint := range []string{"send", "receive"} {
		t.Run(endpoint, func(t *testing.T) {
			s := startServer(t, "")
			c := dialClient(t, s.path)
			ctx, cancel := context.WithCancel(t.Context())
			emit := func(Event) { cancel() } // cancel once the session runs
			var err error
			if endpoint == "send" {
				_, err = c.Send(ctx, SendRequest{Code: "block"}, emit)
			} else {
				_, err = c.Receive(ctx, ReceiveRequest{Code: "block"}, emit)
			}
			if !errors.Is(err, context.Canceled) {
				t.Errorf("client: got %v, want context.Canceled", err)
			}
			select {
			case err := <-s.api.cancelled:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("daemon session ctx: got %v, want context.Canceled", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the daemon's session context was not cancelled")
			}
		})
	}
}

func TestControlShutdownCancelsSessionsAndRemovesSocket(t *testing.T) {
	s := startServer(t, "")
	c := dialClient(t, s.path)
	fi, err := os.Stat(s.path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode(); (got.Perm() != 0o600 && runtime.GOOS != "windows") || got.Type() != os.ModeSocket {
		t.Errorf("socket mode: got %v, want Srw-------", got)
	}

	errc := make(chan error, 1)
	go func() {
		_, err := c.Send(context.Background(), SendRequest{Code: "block"}, func(Event) { s.cancel() })
		errc <- err
	}()
	if err := <-s.api.cancelled; !errors.Is(err, context.Canceled) {
		t.Errorf("session ctx: got %v, want context.Canceled", err)
	}
	if err := s.stop(t); err != nil {
		t.Errorf("ServeControl: got %v, want nil after cancel", err)
	}
	err = <-errc
	if err == nil || !strings.Contains(err.Error(), "the daemon is shutting down") {
		t.Errorf("client: got %v, want the daemon's shutdown message", err)
	}
	if _, err := os.Lstat(s.path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket after shutdown: got %v, want it removed", err)
	}
	if _, err := Dial(t.Context(), s.path); !errors.Is(err, ErrNoDaemon) {
		t.Errorf("Dial after shutdown: got %v, want ErrNoDaemon", err)
	}
}

func TestControlSocketFile(t *testing.T) {
	t.Run("live daemon", func(t *testing.T) {
		s := startServer(t, "")
		err := ServeControl(t.Context(), s.path, newFakeAPI(), nil)
		if !errors.Is(err, ErrDaemonRunning) {
			t.Errorf("second ServeControl: got %v, want ErrDaemonRunning", err)
		}
		if _, err := dialClient(t, s.path).Status(t.Context()); err != nil {
			t.Errorf("first daemon after the second tried: %v", err)
		}
	})
	t.Run("stale socket", func(t *testing.T) {
		dir := t.TempDir()
		ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(dir, "ferry.sock"), Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		ln.SetUnlinkOnClose(false)
		ln.Close() // a daemon that died: the file stays, nobody answers
		s := startServer(t, dir)
		if _, err := dialClient(t, s.path).Status(t.Context()); err != nil {
			t.Errorf("daemon on a replaced stale socket: %v", err)
		}
	})
	t.Run("not a socket", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "ferry.sock")
		if err := os.WriteFile(path, []byte("keep me"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := ServeControl(t.Context(), path, newFakeAPI(), nil); err == nil || !strings.Contains(err.Error(), "not a socket") {
			t.Errorf("got %v, want a refusal to replace a regular file", err)
		}
		if b, _ := os.ReadFile(path); string(b) != "keep me" {
			t.Errorf("file content: got %q, want it untouched", b)
		}
	})
	t.Run("no daemon", func(t *testing.T) {
		_, err := Dial(t.Context(), filepath.Join(t.TempDir(), "ferry.sock"))
		if !errors.Is(err, ErrNoDaemon) {
			t.Errorf("got %v, want ErrNoDaemon", err)
		}
	})
}

func TestControlHTTPErrors(t *testing.T) {
	s := startServer(t, "")
	hc := rawClient(s.path)
	for _, tc := range []struct {
		method, path, body string
		want               int
		allow              string
	}{
		{"POST", "/v1/send", "{", http.StatusBadRequest, ""},
		{"POST", "/v1/send", `{"code": 7}`, http.StatusBadRequest, ""},
		{"POST", "/v1/receive", `{"code":"1-a-b"} {}`, http.StatusBadRequest, ""},
		{"POST", "/v1/send", `{"code":"` + strings.Repeat("x", maxRequestBody) + `"}`, http.StatusRequestEntityTooLarge, ""},
		{"POST", "/v1/sessions/s-recv/confirm", `{}`, http.StatusBadRequest, ""},
		{"POST", "/v1/sessions/s-recv/confirm", ``, http.StatusBadRequest, ""},
		{"POST", "/v1/sessions/s-recv/confirm", `{"accept":"yes"}`, http.StatusBadRequest, ""},
		{"POST", "/v1/sessions/s-recv/confirm", `{"accept":true}`, http.StatusNoContent, ""},
		{"GET", "/v1/send", "", http.StatusMethodNotAllowed, "POST"},
		{"POST", "/v1/status", "", http.StatusMethodNotAllowed, "GET"},
		{"GET", "/v1/devices/12D3KooWA", "", http.StatusMethodNotAllowed, "DELETE"},
		{"DELETE", "/v1/devices/nobody", "", http.StatusInternalServerError, ""},
		{"GET", "/v1/nope", "", http.StatusNotFound, ""},
		{"GET", "/", "", http.StatusNotFound, ""},
		{"GET", "/v1/sessions/x/y", "", http.StatusNotFound, ""},
		{"GET", "/v1/status", "", http.StatusOK, ""},
		{"POST", "/v1/send", "", http.StatusOK, ""}, // empty body: defaults
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tc.method, "http://ferry"+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want {
				t.Fatalf("status: got %d, want %d (body %s)", resp.StatusCode, tc.want, body)
			}
			if got := resp.Header.Get("Allow"); got != tc.allow {
				t.Errorf("Allow: got %q, want %q", got, tc.allow)
			}
			if tc.want/100 == 2 {
				return
			}
			var eb errorBody
			if err := json.Unmarshal(body, &eb); err != nil || eb.Error == "" {
				t.Errorf("body: got %s, want {\"error\": ...}", body)
			}
		})
	}
}

// readStream must never panic, and what it reads must survive writing it
// back the way the daemon does and reading it again.
func FuzzReadStream(f *testing.F) {
	var seed bytes.Buffer
	enc := json.NewEncoder(&seed)
	for _, e := range sessionEvents("s") {
		enc.Encode(e)
	}
	enc.Encode(streamEnd{Result: &fakeReport})
	f.Add(seed.Bytes())
	f.Add([]byte(`{"event":"code","code":"1-a-b"}` + "\n" + `{"error":"wrong code"}` + "\n"))
	f.Add([]byte(`{"result":null}`))
	f.Add([]byte(`{"event":"progress","done":1`))
	f.Add([]byte(`{"event":"error","error":"x"}{"error":"y"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var evs []Event
		rep, err := readStream(bytes.NewReader(b), func(e Event) { evs = append(evs, e) })
		var re *RemoteError
		if err != nil && !errors.As(err, &re) {
			return // not a complete stream
		}
		var again bytes.Buffer
		enc := json.NewEncoder(&again)
		for _, e := range evs {
			if err := enc.Encode(e); err != nil {
				t.Fatal(err)
			}
		}
		end := streamEnd{Result: rep}
		if re != nil {
			end.Error = re.Message
		}
		enc.Encode(end)
		var evs2 []Event
		rep2, err2 := readStream(&again, func(e Event) { evs2 = append(evs2, e) })
		if fmt.Sprint(err) != fmt.Sprint(err2) {
			t.Fatalf("error: got %v, want %v", err2, err)
		}
		if !reflect.DeepEqual(rep, rep2) {
			t.Fatalf("report: got %+v, want %+v", rep2, rep)
		}
		if len(evs) != len(evs2) {
			t.Fatalf("events: got %d, want %d", len(evs2), len(evs))
		}
		for i := range evs {
			a, _ := json.Marshal(evs[i])
			b, _ := json.Marshal(evs2[i])
			if !bytes.Equal(a, b) {
				t.Fatalf("event %d: got %s, want %s", i, b, a)
			}
		}
	})
}

func BenchmarkControlStatus(b *testing.B) {
	s := startServer(b, "")
	c := dialClient(b, s.path)
	for b.Loop() {
		if _, err := c.Status(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkControlSession measures one send session of 9 events, end to end.
func BenchmarkControlSession(b *testing.B) {
	s := startServer(b, "")
	c := dialClient(b, s.path)
	n := 0
	for b.Loop() {
		if _, err := c.Send(b.Context(), SendRequest{}, func(Event) { n++ }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}
