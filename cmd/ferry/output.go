package main

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	lib "github.com/ferryhq/ferry"
)

// emit prints one result: JSON (one object per line) with --json, else the
// human text.
func (a *app) emit(v any, human func()) error {
	if a.json {
		return json.NewEncoder(a.stdout).Encode(v)
	}
	human()
	return nil
}

// progress shows how long work is going: a bar on a terminal, JSON lines with
// --json, nothing otherwise. It is safe for concurrent use.
type progress struct {
	a     *app
	phase string
	bytes bool

	mu    sync.Mutex
	bar   *progressbar.ProgressBar
	done  int64
	total int64
	last  time.Time
	shown [2]int64 // done and total of the last JSON line (a line is printed once)
}

// newProgress starts a progress display for one phase of work. total may be 0
// when unknown; bytes says whether the unit is bytes (else items).
func (a *app) newProgress(phase string, total int64, bytes bool) *progress {
	p := &progress{a: a, phase: phase, total: total, bytes: bytes}
	if a.progress {
		opts := []progressbar.Option{
			progressbar.OptionSetWriter(a.stderr),
			progressbar.OptionSetDescription(phase),
			progressbar.OptionSetWidth(30),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100 * time.Millisecond),
			progressbar.OptionClearOnFinish(),
		}
		if bytes {
			// Binary units, as every size Ferry prints (internal/units).
			opts = append(opts, progressbar.OptionShowBytes(true), progressbar.OptionUseIECUnits(true))
		} else {
			opts = append(opts, progressbar.OptionShowIts(), progressbar.OptionSetItsString("items"))
		}
		if total <= 0 {
			total = -1
		}
		p.bar = progressbar.NewOptions64(total, opts...)
	}
	return p
}

// Set records absolute progress.
func (p *progress) Set(done, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done = done
	if total > 0 && total != p.total {
		p.total = total
		if p.bar != nil {
			p.bar.ChangeMax64(total)
		}
	}
	p.flushLocked(false)
}

// Add records n more units of progress.
func (p *progress) Add(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	p.flushLocked(false)
}

func (p *progress) flushLocked(final bool) {
	if p.bar != nil {
		_ = p.bar.Set64(p.done)
		return
	}
	if !p.a.json {
		return
	}
	now := time.Now()
	if !final && now.Sub(p.last) < 500*time.Millisecond || p.shown == [2]int64{p.done, p.total} && !p.last.IsZero() {
		return
	}
	p.last, p.shown = now, [2]int64{p.done, p.total}
	_ = json.NewEncoder(p.a.stderr).Encode(map[string]any{
		"event": "progress", "phase": p.phase, "done": p.done, "total": p.total,
	})
}

// Describe changes the label shown before the bar.
func (p *progress) Describe(label string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.phase = label
	if p.bar != nil {
		p.bar.Describe(label)
	}
}

// Finish ends the display.
func (p *progress) Finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Finish()
		fmt.Fprint(p.a.stderr, "")
		return
	}
	p.flushLocked(true)
}

// opView shows the events of an operation other than a send or receive:
// its progress (a bar, or JSON lines with --json; a phase of its own, such
// as indexing for search, gets a display of its own) and the relay's loss.
type opView struct {
	a     *app
	mu    sync.Mutex // guards the fields below: events come one at a time, finish from the caller
	p     *progress
	phase string
	bytes bool
}

// newOpView starts showing an operation whose progress comes in phase
// (bytes says whether its unit is bytes; else items).
func (a *app) newOpView(phase string, bytes bool) *opView {
	return &opView{a: a, p: a.newProgress(phase, 0, bytes), phase: phase, bytes: bytes}
}

func (v *opView) event(e lib.Event) {
	v.mu.Lock()
	defer v.mu.Unlock()
	switch e.Kind {
	case lib.EventProgress:
		if e.Phase != v.phase {
			v.p.Finish()
			v.p, v.phase = v.a.newProgress(e.Phase, e.Total, false), e.Phase
		}
		v.p.Set(e.Done, e.Total)
	case lib.EventRelayLost:
		if v.a.json {
			_ = json.NewEncoder(v.a.stderr).Encode(map[string]any{"event": "relay_lost", "retry_seconds": e.RetrySeconds})
			return
		}
		fmt.Fprintf(v.a.stderr, "lost the connection to the relay: trying again for up to %s\n", time.Duration(e.RetrySeconds*float64(time.Second)))
	}
}

// finish ends the display.
func (v *opView) finish() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.p.Finish()
}
