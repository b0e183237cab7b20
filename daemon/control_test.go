package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/ferryhq/ferry"
	"github.com/ferryhq/ferry/internal/logtest"
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
// return fakeResult, except for these codes:
//
//	"fail"     emit one event, then fail with failErr
//	"block"    emit one event, then wait for ctx and report its error on cancelled
//	"nokind"   emit an event without a kind first (the daemon must drop it)
//	"lockstep" emit each event only after the client acknowledged the previous one on ack
//
// A Receive given Confirm emits the offer with Ask and records the answer.
type fakeAPI struct {
	cancelled chan error
	ack       chan struct{}

	mu       sync.Mutex
	devices  []ferry.PairedDevice
	confirms []string
	statuses int
	files    []string // the paths ExportFile and ImportFile were given
}

var (
	t0         = time.Date(2026, 11, 22, 1, 2, 3, 0, time.UTC)
	fakeResult = ferry.Result{Source: ferry.Stats{Messages: 1000, Attachments: 20, Digest: "ab12"}, Target: ferry.Stats{Digest: "ab12"}, Bytes: 1 << 20}
	fakeReport = fakeResult.Report()
	failErr    = &ferry.Error{Code: ferry.CodeCodeMismatch, Sentence: "wrong code", Hint: "check it and try again"}
	// resumeErr is what "block" ends with: an interruption that resumes.
	resumeErr = &ferry.Error{Code: ferry.CodeInterrupted, Sentence: "interrupted: nothing half-done was kept", Hint: "run it again", Resumable: true}
)

func sessionEvents(id string) []ferry.Event {
	return []ferry.Event{
		{Session: id, Time: t0, Kind: ferry.EventCode, Code: "7-zebra-acorn", Link: "ferry:7-zebra-acorn"},
		{Session: id, Time: t0, Kind: ferry.EventWaiting, Message: "waiting for the receiver"},
		{Session: id, Time: t0, Kind: ferry.EventConnected, Path: "direct LAN"},
		{Session: id, Time: t0, Kind: ferry.EventPaired},
		{Session: id, Time: t0, Kind: ferry.EventOffer, Offer: &ferry.Offer{Device: "old phone", PeerID: "12D3KooW", Messages: 1000, MediaBytes: 5 << 20}},
		{Session: id, Time: t0, Kind: ferry.EventProgress, Phase: "chunks", Done: 1, Total: 3, Items: 10, ItemsTotal: 30},
		{Session: id, Time: t0, Kind: ferry.EventProgress, Phase: "chunks", Done: 3, Total: 3, Items: 30, ItemsTotal: 30},
		{Session: id, Time: t0, Kind: ferry.EventError, Error: "an event, not the end"},
		{Session: id, Time: t0, Kind: ferry.EventDone, Report: &fakeReport},
	}
}

func newFakeAPI() *fakeAPI {
	return &fakeAPI{
		cancelled: make(chan error, 1),
		ack:       make(chan struct{}),
		devices: []ferry.PairedDevice{
			{PeerID: "12D3KooWA", Name: "laptop", PairedAt: t0},
			{PeerID: "12D3KooWB", Name: "phone", PairedAt: t0, LastSeen: t0.Add(time.Hour)},
		},
	}
}

// session plays one session; confirm, if set, is asked at the offer.
func (f *fakeAPI) session(ctx context.Context, id, code string, emit func(ferry.Event), confirm func(context.Context, ferry.Offer) (bool, error)) (ferry.Result, error) {
	evs := sessionEvents(id)
	switch code {
	case "fail":
		emit(evs[0])
		return ferry.Result{}, failErr
	case "nokind":
		emit(ferry.Event{Session: id, Time: t0, Message: "a bug in the session code"})
	case "block":
		emit(evs[0])
		<-ctx.Done()
		f.cancelled <- ctx.Err()
		e := *resumeErr
		e.Err = ctx.Err()
		return ferry.Result{}, &e
	}
	for _, e := range evs {
		if e.Kind == ferry.EventOffer && confirm != nil {
			e.Ask = true
			emit(e)
			ok, err := confirm(ctx, *e.Offer)
			if err != nil {
				return ferry.Result{}, err
			}
			f.mu.Lock()
			f.confirms = append(f.confirms, fmt.Sprintf("%s %t", id, ok))
			f.mu.Unlock()
			if !ok {
				return ferry.Result{}, ferry.ErrDeclined
			}
			continue
		}
		emit(e)
		if code == "lockstep" {
			select {
			case <-f.ack:
			case <-ctx.Done():
				return ferry.Result{}, ctx.Err()
			}
		}
	}
	return fakeResult, nil
}

func (f *fakeAPI) Send(ctx context.Context, opt ferry.SendOptions) (*ferry.Sending, error) {
	if opt.Code == "refuse" {
		return nil, failErr
	}
	s, push, finish := ferry.NewSending("7-zebra-acorn", "ferry:7-zebra-acorn")
	go func() { finish(f.session(ctx, "s-send", opt.Code, push, nil)) }()
	return s, nil
}

func (f *fakeAPI) Receive(ctx context.Context, code string, opt ferry.ReceiveOptions) (ferry.Result, error) {
	emit := func(e ferry.Event) {
		if opt.Events != nil {
			opt.Events(e)
		}
	}
	if opt.Confirm == nil {
		return f.session(ctx, "s-recv-yes", code, emit, nil)
	}
	return f.session(ctx, "s-recv", code, emit, opt.Confirm)
}

func (f *fakeAPI) ExportFile(ctx context.Context, path string, opt ferry.ExportOptions) (ferry.ExportResult, error) {
	f.mu.Lock()
	f.files = append(f.files, path)
	f.mu.Unlock()
	opt.Events(ferry.Event{Time: t0, Kind: ferry.EventProgress, Phase: ferry.PhaseExporting, Done: 1, Total: 1})
	k, err := ferry.ParseRecoveryKey(strings.Repeat("ab", 32))
	return ferry.ExportResult{Key: k, File: path, Bytes: 100, Stats: fakeResult.Source}, err
}

func (f *fakeAPI) ImportFile(ctx context.Context, path string, opt ferry.ImportOptions) (ferry.Result, error) {
	f.mu.Lock()
	f.files = append(f.files, path+" "+opt.Key.String())
	f.mu.Unlock()
	return fakeResult, nil
}

func (f *fakeAPI) ImportHistory(ctx context.Context, path string, opt ferry.HistoryImportOptions) (ferry.HistoryImportResult, error) {
	var res ferry.HistoryImportResult
	if opt.AskOwner != nil {
		names := []string{"Ann", "Bob"}
		opt.Events(ferry.Event{Time: t0, Kind: ferry.EventAskOwner, Names: names})
		name, err := opt.AskOwner(ctx, names)
		if err != nil {
			return res, err
		}
		res.Owner = []string{name}
	}
	res.Seconds = 1.5
	res.DryRun = opt.DryRun // as a Device's dry run says
	return res, nil
}

func (f *fakeAPI) Backup(ctx context.Context, opt ferry.BackupOptions) (ferry.BackupResult, error) {
	k, err := ferry.ParseRecoveryKey(strings.Repeat("cd", 32))
	return ferry.BackupResult{ID: strings.Repeat("0", 32), Key: k, NewKey: true, Seq: 1}, err
}

func (f *fakeAPI) Restore(ctx context.Context, opt ferry.RestoreOptions) (ferry.Result, error) {
	if opt.Key.String() != strings.Repeat("cdcd ", 16)[:79] {
		return ferry.Result{}, &ferry.Error{Code: ferry.CodeNoBackupForKey, Sentence: "no backup opens with this key"}
	}
	return fakeResult, nil
}

func (f *fakeAPI) Backups(ctx context.Context, relay string) ([]ferry.BackupInfo, error) {
	return []ferry.BackupInfo{{ID: relay, Updated: t0, Size: 7}}, nil
}

func (f *fakeAPI) DeleteBackup(ctx context.Context, relay, id string) error { return nil }

func (f *fakeAPI) Stats(context.Context) (ferry.Stats, error) { return fakeResult.Source, nil }

func (f *fakeAPI) Verify(context.Context) error { return nil }

func (f *fakeAPI) Status(context.Context) (ferry.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.statuses++
	return ferry.Status{PeerID: "12D3KooWSelf", Addrs: []string{"/ip4/127.0.0.1/tcp/4001"}, Home: "/home/x/.ferry", Version: "test",
		Sessions: []ferry.SessionInfo{{ID: "s-send", Kind: "send", Started: t0, State: ferry.StateWaiting}}}, nil
}

func (f *fakeAPI) Devices(context.Context) ([]ferry.PairedDevice, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]ferry.PairedDevice(nil), f.devices...), nil
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

var _ API = (*fakeAPI)(nil)

// settled is evs without the progress events that a later one of the same
// phase replaces (a Sending drops those a slow reader has not read yet).
func settled(evs []ferry.Event) []ferry.Event {
	var out []ferry.Event
	for i, e := range evs {
		if e.Kind == ferry.EventProgress && i+1 < len(evs) && evs[i+1].Kind == ferry.EventProgress && evs[i+1].Phase == e.Phase {
			continue
		}
		out = append(out, e)
	}
	return out
}

// sendAll runs a send through api to its end, handing its events to emit.
func sendAll(ctx context.Context, api API, opt ferry.SendOptions, emit func(ferry.Event)) (ferry.Result, error) {
	s, err := api.Send(ctx, opt)
	if err != nil {
		return ferry.Result{}, err
	}
	for e := range s.Events() {
		emit(e)
	}
	return s.Wait(ctx)
}

type server struct {
	path   string
	api    *fakeAPI
	logs   *logtest.Recorder
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
	s := &server{path: filepath.Join(dir, "ferry.sock"), api: newFakeAPI(), logs: logtest.New(), cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- ServeControl(ctx, s.path, s.api, slog.New(s.logs)) }()
	t.Cleanup(func() { s.stop(t) })
	wctx, wcancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer wcancel()
	select {
	case err := <-s.done:
		close(s.done)
		t.Fatalf("ServeControl: %v", err)
	case <-s.logs.Waiter(wctx, "control API listening"):
	}
	return s
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
	accept := func(context.Context, ferry.Offer) (bool, error) { return true, nil }

	for _, tc := range []struct {
		name string
		run  func(emit func(ferry.Event)) (ferry.Result, error)
		id   string
		ask  bool
	}{
		{"send", func(emit func(ferry.Event)) (ferry.Result, error) {
			return sendAll(ctx, c, ferry.SendOptions{CodeWords: 3}, emit)
		}, "s-send", false},
		{"event without kind", func(emit func(ferry.Event)) (ferry.Result, error) {
			return sendAll(ctx, c, ferry.SendOptions{Code: "nokind"}, emit)
		}, "s-send", false},
		{"receive", func(emit func(ferry.Event)) (ferry.Result, error) {
			return c.Receive(ctx, "7-zebra-acorn", ferry.ReceiveOptions{Events: emit, Confirm: accept})
		}, "s-recv", true},
		{"receive yes", func(emit func(ferry.Event)) (ferry.Result, error) {
			return c.Receive(ctx, "7-zebra-acorn", ferry.ReceiveOptions{Events: emit})
		}, "s-recv-yes", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []ferry.Event
			res, err := tc.run(func(e ferry.Event) { got = append(got, e) })
			if err != nil {
				t.Fatal(err)
			}
			want := sessionEvents(tc.id)
			if tc.ask {
				want[4].Ask = true
			}
			if !reflect.DeepEqual(settled(got), settled(want)) {
				t.Errorf("events:\ngot  %+v\nwant %+v", got, want)
			}
			if !reflect.DeepEqual(res, fakeResult) {
				t.Errorf("result: got %+v, want %+v", res, fakeResult)
			}
		})
	}

	t.Run("session error", func(t *testing.T) {
		var got []ferry.Event
		_, err := sendAll(ctx, c, ferry.SendOptions{Code: "fail"}, func(e ferry.Event) { got = append(got, e) })
		var fe *ferry.Error
		if !errors.As(err, &fe) || *fe != *failErr {
			t.Fatalf("got %#v (%T), want the daemon's *ferry.Error %#v", err, err, failErr)
		}
		if !errors.Is(err, &ferry.Error{Code: ferry.CodeCodeMismatch}) {
			t.Errorf("errors.Is by code fails on %v", err)
		}
		if len(got) != 1 {
			t.Errorf("got %d events, want 1", len(got))
		}
		if _, err := c.Send(ctx, ferry.SendOptions{Code: "refuse"}); !errors.As(err, &fe) || fe.Code != failErr.Code {
			t.Errorf("a send refused at once: got %v, want the daemon's error", err)
		}
	})

	t.Run("confirm", func(t *testing.T) {
		for _, ok := range []bool{true, false} {
			_, err := c.Receive(ctx, "7-zebra-acorn", ferry.ReceiveOptions{Confirm: func(context.Context, ferry.Offer) (bool, error) { return ok, nil }})
			if ok && err != nil || !ok && !errors.Is(err, ferry.ErrDeclined) {
				t.Errorf("receive answered %v: %v", ok, err)
			}
		}
		s.api.mu.Lock()
		got := s.api.confirms
		s.api.mu.Unlock()
		if want := []string{"s-recv true", "s-recv true", "s-recv false"}; !reflect.DeepEqual(got, want) {
			t.Errorf("confirms: got %q, want %q", got, want)
		}
		var re *RemoteError
		err := c.call(ctx, http.MethodPost, "/v1/sessions/no%2Fsuch/confirm", confirmRequest{Accept: new(bool)}, nil)
		if !errors.As(err, &re) || re.Err.Sentence != `no session "no/such" is running` || re.Status != http.StatusNotFound {
			t.Errorf("confirm unknown session: got %#v", err)
		}
	})

	t.Run("files", func(t *testing.T) {
		var evs []ferry.Event
		res, err := c.ExportFile(ctx, "out.ferry", ferry.ExportOptions{Events: func(e ferry.Event) { evs = append(evs, e) }})
		if err != nil {
			t.Fatal(err)
		}
		if res.Key.String() != strings.Repeat("abab ", 16)[:79] || res.File != "out.ferry" || len(evs) != 1 {
			t.Errorf("export: %+v, key %q, events %v", res, res.Key, evs)
		}
		if _, err := c.ImportFile(ctx, "in.ferry", ferry.ImportOptions{Key: res.Key}); err != nil {
			t.Fatal(err)
		}
		wd, _ := os.Getwd()
		s.api.mu.Lock()
		files := s.api.files
		s.api.mu.Unlock()
		if want := []string{filepath.Join(wd, "out.ferry"), filepath.Join(wd, "in.ferry") + " " + res.Key.String()}; !reflect.DeepEqual(files, want) {
			t.Errorf("the daemon got %q, want the absolute paths %q (and the key)", files, want)
		}
		h, err := c.ImportHistory(ctx, "chat.zip", ferry.HistoryImportOptions{AskOwner: func(_ context.Context, names []string) (string, error) {
			return names[1], nil
		}})
		if err != nil || !reflect.DeepEqual(h.Owner, []string{"Bob"}) || h.Took != 1500*time.Millisecond {
			t.Errorf("history import: %+v, %v; want Bob asked for and the time kept", h, err)
		}
		if h.DryRun {
			t.Error("history import: a dry run the client did not ask for")
		}
		if h, err := c.ImportHistory(ctx, "chat.zip", ferry.HistoryImportOptions{DryRun: true}); err != nil || !h.DryRun {
			t.Errorf("history import dry run: %+v, %v; want the dry run to reach the daemon", h, err)
		}
	})

	t.Run("backups", func(t *testing.T) {
		b, err := c.Backup(ctx, ferry.BackupOptions{Relay: "r"})
		if err != nil || !b.NewKey || b.Key.IsZero() {
			t.Fatalf("backup: %+v, %v", b, err)
		}
		if _, err := c.Restore(ctx, ferry.RestoreOptions{Key: b.Key}); err != nil {
			t.Errorf("restore with the key: %v", err)
		}
		if _, err := c.Restore(ctx, ferry.RestoreOptions{}); ferry.CodeOf(err) != ferry.CodeNoBackupForKey {
			t.Errorf("restore without the key: %v", err)
		}
		list, err := c.Backups(ctx, "/ip4/1.2.3.4/tcp/1")
		if err != nil || len(list) != 1 || list[0].ID != "/ip4/1.2.3.4/tcp/1" {
			t.Errorf("backups: %+v, %v; want the relay passed through", list, err)
		}
		if err := c.DeleteBackup(ctx, "r", "x"); err != nil {
			t.Error(err)
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
	var got []ferry.Event
	res, err := sendAll(ctx, c, ferry.SendOptions{Code: "lockstep"}, func(e ferry.Event) {
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
	if !reflect.DeepEqual(res, fakeResult) {
		t.Errorf("result: got %+v, want %+v", res, fakeResult)
	}
}

func TestControlClientCancelReachesDaemon(t *testing.T) {
	for _, endpoint := range []string{"send", "receive"} {
		t.Run(endpoint, func(t *testing.T) {
			s := startServer(t, "")
			c := dialClient(t, s.path)
			ctx, cancel := context.WithCancel(t.Context())
			emit := func(ferry.Event) { cancel() } // cancel once the session runs
			var err error
			if endpoint == "send" {
				_, err = sendAll(ctx, c, ferry.SendOptions{Code: "block"}, emit)
			} else {
				_, err = c.Receive(ctx, "block", ferry.ReceiveOptions{Events: emit})
			}
			if !errors.Is(err, context.Canceled) {
				t.Errorf("client: got %v, want context.Canceled", err)
			}
			// The client read on to the daemon's own error, which says
			// whether the same again resumes.
			if fe := ferry.AsError(err); fe.Sentence != resumeErr.Sentence || !fe.Resumable {
				t.Errorf("client: got %#v, want the daemon's resumable error %#v", fe, resumeErr)
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
		_, err := sendAll(context.Background(), c, ferry.SendOptions{Code: "block"}, func(ferry.Event) { s.cancel() })
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
		{"POST", "/v1/sessions/s-recv/confirm", `{"accept":true}`, http.StatusNotFound, ""},
		{"POST", "/v1/sessions/s-recv/owner", `{}`, http.StatusBadRequest, ""},
		{"POST", "/v1/sessions/s-recv/cancel", ``, http.StatusNotFound, ""},
		{"POST", "/v1/export", `{"path":"relative.ferry"}`, http.StatusBadRequest, ""},
		{"POST", "/v1/import", `{"path":"relative.ferry"}`, http.StatusBadRequest, ""},
		{"POST", "/v1/history/import", `{"path":"chat.zip"}`, http.StatusBadRequest, ""},
		{"GET", "/v1/backup", "", http.StatusMethodNotAllowed, "POST"},
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
	enc.Encode(streamStart{Kind: eventStarted, Stream: "st-1"})
	for _, e := range sessionEvents("s") {
		enc.Encode(e)
	}
	enc.Encode(streamEnd{Result: fakeResult})
	f.Add(seed.Bytes())
	f.Add([]byte(`{"event":"code","code":"1-a-b"}` + "\n" + `{"error":"wrong code","hint":"h","resumable":true,"error_code":"x"}` + "\n"))
	f.Add([]byte(`{"result":null}`))
	f.Add([]byte(`{"event":"progress","done":1`))
	f.Add([]byte(`{"event":"error","error":"x"}{"error":"y"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var (
			ids []string
			evs []ferry.Event
			res ferry.Result
		)
		err := readStream(bytes.NewReader(b), func(id string) { ids = append(ids, id) }, func(e ferry.Event) { evs = append(evs, e) }, &res)
		var fe *ferry.Error
		if errors.As(err, &fe) && fe.Code == ferry.CodeDaemonUnreachable {
			return // not a complete stream
		}
		var again bytes.Buffer
		enc := json.NewEncoder(&again)
		for _, id := range ids {
			enc.Encode(streamStart{Kind: eventStarted, Stream: id})
		}
		for _, e := range evs {
			if err := enc.Encode(e); err != nil {
				t.Fatal(err)
			}
		}
		if err != nil {
			enc.Encode(wireError(err, false))
		} else {
			enc.Encode(streamEnd{Result: res})
		}
		var (
			ids2 []string
			evs2 []ferry.Event
			res2 ferry.Result
		)
		err2 := readStream(&again, func(id string) { ids2 = append(ids2, id) }, func(e ferry.Event) { evs2 = append(evs2, e) }, &res2)
		if !reflect.DeepEqual(err, err2) {
			t.Fatalf("error: got %#v, want %#v", err2, err)
		}
		if !reflect.DeepEqual(res, res2) || !reflect.DeepEqual(ids, ids2) {
			t.Fatalf("result: got %+v %q, want %+v %q", res2, ids2, res, ids)
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
		if _, err := sendAll(b.Context(), c, ferry.SendOptions{}, func(ferry.Event) { n++ }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}
