package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSecondDaemonSaysNothingFalse: of two daemons started at once on one
// home, one serves and the other fails saying that one runs, having
// printed nothing (no "daemon:", "listening:" or "control:" line that is
// not true); a third started later fails the same way.
func TestSecondDaemonSaysNothingFalse(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	seed(t, home, 10, 0, 1)
	args := []string{"--home", home, "daemon", "--listen", "/ip4/127.0.0.1/tcp/0"}
	ps := []*proc{startProc(t, args...), startProc(t, args...)}
	// The loser ends; the winner serves until it is killed.
	var loser, winner *proc
	select {
	case <-ps[0].done:
		loser, winner = ps[0], ps[1]
	case <-ps[1].done:
		loser, winner = ps[1], ps[0]
	case <-time.After(time.Minute):
		t.Fatalf("neither of two daemons of one home ended\nfirst: %s\nsecond: %s", ps[0].outText(), ps[1].outText())
	}
	winner.waitLine(func(l string) bool { return strings.HasPrefix(l, "control: ") }, time.Minute)
	check := func(p *proc) {
		t.Helper()
		code, out, errText := p.exit(time.Minute)
		if code != 1 || !strings.Contains(errText, "already running") {
			t.Errorf("second daemon: exit %d, stderr %q; want 1 and that a daemon is already running", code, errText)
		}
		if out != "" {
			t.Errorf("second daemon printed %q before it failed; want nothing", out)
		}
	}
	check(loser)
	check(startProc(t, args...))
	winner.kill9()
}
