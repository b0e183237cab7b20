package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/netns"
)

// TestWrongCodeSaysTriesLeft: through a relay, a receiver that types a
// wrong code is told how many more tries the sender allows (as the
// sender counts them) and what to do; the last is told that the send has
// ended, and a receiver after that is not told relay jargon but what to do.
func TestWrongCodeSaysTriesLeft(t *testing.T) {
	lab := netns.New(t)
	ns := lab.Host("a")
	dir := t.TempDir()
	relay := startFerry(t, ns, "relay", "--listen", "/ip4/127.0.0.1/tcp/4011", "--data", filepath.Join(dir, "relay"))
	defer relay.kill9()
	l := relay.waitLine(func(l string) bool { return strings.HasPrefix(l, "relay: ") }, 30*time.Second)
	addr := "/ip4/127.0.0.1/tcp/4011" + l[strings.LastIndex(l, "/p2p/"):]
	homeA, homeB := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	seed(t, homeA, 10, 0, 1)
	send, code := sendCode(t, ns, homeA, "--relay", addr)
	parts := strings.Split(code, "-")
	wrong := parts[0] + "-" + swapWord(parts[1]) + "-" + parts[2]
	for _, want := range []string{
		"the code did not match; the sender allows 2 more tries",
		"the code did not match; the sender allows 1 more try",
		"that was the last try the sender allows: its send has ended: run ferry send there again",
		"no sender is waiting with that code on this relay",
	} {
		p := startFerry(t, ns, "--home", homeB, "receive", wrong, "--yes", "--relay", addr)
		code, _, errText := p.exit(time.Minute)
		last := errText[strings.LastIndex(strings.TrimSpace(errText), "\n")+1:]
		if code != 1 || !strings.Contains(last, want) || !strings.Contains(last, "ferry send") || strings.Contains(last, "nameplate") {
			t.Errorf("receive with a wrong code: exit %d, %q; want %q and what to do", code, last, want)
		}
	}
	if c, _, _ := send.exit(time.Minute); c != 1 {
		t.Errorf("sender after three wrong codes: exit %d, want 1", c)
	}
	if _, err := os.Stat(filepath.Join(homeB, "history.db")); !os.IsNotExist(err) {
		t.Errorf("the receiver with a wrong code got a history database (stat: %v)", err)
	}
}
