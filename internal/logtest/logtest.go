// Package logtest gives tests a slog.Handler that keeps every line and lets
// a test wait for one.
package logtest

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
)

// Recorder is a slog.Handler that lets a test wait for a message. Each
// record becomes one line: the message, then " key=value" per attribute.
type Recorder struct {
	mu      sync.Mutex
	lines   []string
	changed chan struct{} // closed on every record
}

// New returns an empty Recorder.
func New() *Recorder { return &Recorder{changed: make(chan struct{})} }

func (h *Recorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *Recorder) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *Recorder) WithGroup(string) slog.Handler            { return h }

func (h *Recorder) Handle(_ context.Context, r slog.Record) error {
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

// Lines returns every line so far.
func (h *Recorder) Lines() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.lines...)
}

// Wait returns the first log line containing s, waiting for it if needed.
func (h *Recorder) Wait(ctx context.Context, s string) (string, error) {
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

// Waiter returns a channel closed once a line containing s is logged (or
// ctx ends).
func (h *Recorder) Waiter(ctx context.Context, s string) <-chan struct{} {
	ch := make(chan struct{})
	go func() { h.Wait(ctx, s); close(ch) }()
	return ch
}
