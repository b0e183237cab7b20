package mobile

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryhq/ferry"
	"github.com/ferryhq/ferry/chatstore/seed"
)

// recorder is a Listener that keeps every event it gets, as the app
// would: a JSON string a call.
type recorder struct {
	mu     sync.Mutex
	raw    []string
	events []ferry.Event
	bad    []string      // calls whose text was not one JSON event
	more   chan struct{} // closed (and replaced) at each event
}

func (r *recorder) OnEvent(js string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.raw = append(r.raw, js)
	var e ferry.Event
	if err := json.Unmarshal([]byte(js), &e); err != nil || e.Kind == "" {
		r.bad = append(r.bad, js)
		return
	}
	r.events = append(r.events, e)
	if r.more != nil {
		close(r.more)
	}
	r.more = make(chan struct{})
}

// waitFor waits (a minute at most) for the first event that ok accepts.
func (r *recorder) waitFor(ok func(ferry.Event) bool) (ferry.Event, bool) {
	deadline := time.After(time.Minute)
	for seen := 0; ; {
		r.mu.Lock()
		for ; seen < len(r.events); seen++ {
			if e := r.events[seen]; ok(e) {
				r.mu.Unlock()
				return e, true
			}
		}
		if r.more == nil {
			r.more = make(chan struct{})
		}
		more := r.more
		r.mu.Unlock()
		select {
		case <-more:
		case <-deadline:
			return ferry.Event{}, false
		}
	}
}

// kinds are the kinds of the events so far, in order.
func (r *recorder) kinds() []ferry.EventKind {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []ferry.EventKind
	for _, e := range r.events {
		out = append(out, e.Kind)
	}
	return out
}

func (r *recorder) first(k ferry.EventKind) (ferry.Event, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e.Kind == k {
			return e, true
		}
	}
	return ferry.Event{}, false
}

// checkJSON fails t if any call was not one JSON event.
func (r *recorder) checkJSON(t *testing.T, who string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.bad) > 0 {
		t.Errorf("%s: events that are not JSON events: %q", who, r.bad)
	}
	if len(r.raw) == 0 {
		t.Errorf("%s: no events", who)
	}
}

// newDevice is a mobile Device on loopback whose discovery is "the app's":
// its own mDNS is off and it advertises 127.0.0.1.
// A receive waits for its sender's service for findSeconds (20 if none).
func newDevice(t *testing.T, home, name string, findSeconds ...float64) *Device {
	t.Helper()
	find := 20.0
	if len(findSeconds) > 0 {
		find = findSeconds[0]
	}
	cfg, _ := json.Marshal(map[string]any{"home": home, "name": name, "listen": []string{"127.0.0.1"},
		"app_discovery": true, "find_timeout_seconds": find})
	d, err := NewDevice(string(cfg))
	if err != nil {
		t.Fatalf("NewDevice: %v", err)
	}
	t.Cleanup(func() {
		if err := d.Stop(); err != nil {
			t.Errorf("Stop %s: %v", name, err)
		}
	})
	return d
}

// seeded is a history home in dir holding the seeded history n.
func seeded(t *testing.T, dir string, n uint64) string {
	t.Helper()
	home := filepath.Join(dir, "home")
	lib := &ferry.Device{Home: home}
	defer lib.Close()
	ctx := context.Background()
	st, err := lib.OpenHistory(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := seed.Add(ctx, st, seed.Options{Messages: 300, MediaBytes: 200 << 10, Seed: n}); err != nil {
		st.Close()
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return home
}

// wait is op.WaitResult with a deadline, so that a hung operation fails the
// test instead of hanging it.
func wait(t *testing.T, op *Operation) (string, error) {
	t.Helper()
	type out struct {
		res string
		err error
	}
	ch := make(chan out, 1)
	go func() {
		res, err := op.WaitResult()
		ch <- out{res, err}
	}()
	select {
	case o := <-ch:
		return o.res, o.err
	case <-time.After(2 * time.Minute):
		op.Cancel()
		t.Fatal("the operation did not end within 2 minutes")
		return "", nil
	}
}

// noHistory fails t if d's home holds a history with anything in it.
func noHistory(t *testing.T, d *Device) {
	t.Helper()
	js, err := d.Stats()
	if err != nil {
		if c := failureOf(t, err).Code; c != string(ferry.CodeNotAStore) && c != string(ferry.CodeNoHome) {
			t.Errorf("Stats: %v (code %s), want no history", err, c)
		}
		return
	}
	var st ferry.Stats
	json.Unmarshal([]byte(js), &st)
	if st.Messages != 0 || st.Attachments != 0 {
		t.Errorf("the home holds %d messages and %d attachments, want none", st.Messages, st.Attachments)
	}
}

func stats(t *testing.T, d *Device) ferry.Stats {
	t.Helper()
	js, err := d.Stats()
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	var st ferry.Stats
	if err := json.Unmarshal([]byte(js), &st); err != nil {
		t.Fatalf("Stats JSON %q: %v", js, err)
	}
	return st
}

// failureOf is err as the Failure it must be.
func failureOf(t *testing.T, err error) *Failure {
	t.Helper()
	f, ok := err.(*Failure)
	if !ok {
		t.Fatalf("error %v (%T) is not a *Failure", err, err)
	}
	if f.Sentence == "" || strings.Contains(f.Error(), "--") {
		t.Errorf("failure %q: want a sentence that names no CLI flag", f.Error())
	}
	return f
}
