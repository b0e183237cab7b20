package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/relay"
)

// TestStatsVerifySaysItVerified: history stats --verify says that it
// verified (a line, and "verified": true with --json); without --verify
// it claims nothing.
func TestStatsVerifySaysItVerified(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	seed(t, home, 100, 1, 1)
	r := mustOK(t, ferry(t, nil, "--home", home, "history", "stats", "--verify"))
	if !strings.Contains(r.stdout, "verified:") || !strings.Contains(r.stdout, "matches its hash") {
		t.Errorf("stats --verify printed %q; want a line saying the media was verified", r.stdout)
	}
	r = mustOK(t, ferry(t, nil, "--home", home, "--json", "history", "stats", "--verify"))
	if !strings.Contains(r.stdout, `"verified":true`) {
		t.Errorf("stats --verify --json printed %q; want \"verified\":true", r.stdout)
	}
	r = mustOK(t, ferry(t, nil, "--home", home, "history", "stats"))
	if strings.Contains(r.stdout, "verified") {
		t.Errorf("stats without --verify printed %q; want no claim that it verified", r.stdout)
	}
}

// TestDemoRefusesNegativeSizes: demo --messages -1 is a usage error before
// anything is seeded.
func TestDemoRefusesNegativeSizes(t *testing.T) {
	for _, args := range [][]string{{"--messages", "-1"}, {"--media-mb", "-1"}} {
		r := ferry(t, nil, append([]string{"demo"}, args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, "must not be negative") || strings.Contains(r.stdout+r.stderr, "Seeding") {
			t.Errorf("demo %v: exit %d, stdout %q, stderr %q; want exit 2 and the reason, before any seeding", args, r.code, r.stdout, r.stderr)
		}
	}
}

// TestRelayHelpNamesDefaults: --max-reservations names its default.
func TestRelayHelpNamesDefaults(t *testing.T) {
	r := mustOK(t, ferry(t, nil, "relay", "--help"))
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.Contains(l, "--max-reservations ") && !strings.Contains(l, fmt.Sprintf("(default %d)", relay.DefaultMaxReservations)) {
			t.Errorf("relay --help: %q; want the default number", strings.TrimSpace(l))
		}
	}
}
