package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/internal/scratch/scratchtest"
)

// ferryBin is the ferry binary built once for the tests: they run it as a
// user would, in its own process, and check exit codes and output.
var ferryBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ferry-cli-test")
	if err != nil {
		panic(err)
	}
	ferryBin = filepath.Join(dir, "ferry")
	build := exec.Command("go", "build", "-o", ferryBin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		os.RemoveAll(dir)
		panic("build ferry: " + err.Error())
	}
	// No test may leave a sender's snapshot behind (killed senders
	// included: the next snapshot sweeps theirs).
	code := scratchtest.Main(m, "ferry-snapshot")
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

// ferry runs the binary with args and the given extra environment.
func ferry(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(ferryBin, args...)
	cmd.Env = append(append(os.Environ(), "FERRY_HOME=", "FERRY_PASSWORD="), env...)
	cmd.Env = withoutEmpty(cmd.Env)
	return runCmd(t, cmd)
}

// runCmd runs cmd to its end and returns its output and exit code.
func runCmd(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", cmd.Args, err)
	}
	return result{out.String(), errb.String(), code}
}

// withoutEmpty drops "NAME=" entries so that an unset variable stays unset.
func withoutEmpty(env []string) []string {
	var out []string
	for _, e := range env {
		if !strings.HasSuffix(e, "=") {
			out = append(out, e)
		}
	}
	return out
}

func mustOK(t *testing.T, r result) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	return r
}

// stats reads a home's stats through the CLI.
func stats(t *testing.T, home string) chatstore.Stats {
	t.Helper()
	r := mustOK(t, ferry(t, nil, "--home", home, "--json", "history", "stats"))
	var s chatstore.Stats
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatalf("stats output %q: %v", r.stdout, err)
	}
	return s
}

// seed makes a small history in a new home.
func seed(t *testing.T, home string, messages, mediaMB int, s int) chatstore.Stats {
	t.Helper()
	mustOK(t, ferry(t, nil, "--home", home, "history", "seed",
		"--messages", itoa(messages), "--media-mb", itoa(mediaMB), "--seed", itoa(s)))
	return stats(t, home)
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestSeedIsDeterministic(t *testing.T) {
	dir := t.TempDir()
	a := seed(t, filepath.Join(dir, "a"), 2000, 2, 7)
	b := seed(t, filepath.Join(dir, "b"), 2000, 2, 7)
	c := seed(t, filepath.Join(dir, "c"), 2000, 2, 8)
	if a != b {
		t.Errorf("same seed: got %+v and %+v, want equal", a, b)
	}
	if a.Digest == c.Digest {
		t.Errorf("different seeds gave the same digest %s", a.Digest)
	}
	if a.Messages != 2000 || a.Attachments == 0 || a.MediaBytes == 0 || a.Conversations == 0 {
		t.Errorf("seeded stats %+v: want 2000 messages and some attachments", a)
	}
}

func TestMissingHome(t *testing.T) {
	home := filepath.Join(t.TempDir(), "nope")
	for _, args := range [][]string{
		{"--home", home, "history", "stats"},
		{"--home", home, "export", "--out", filepath.Join(t.TempDir(), "x.ferry")},
	} {
		r := ferry(t, nil, args...)
		if r.code != 1 {
			t.Errorf("%v: exit %d, want 1", args, r.code)
		}
		if !strings.Contains(r.stderr, "does not exist") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%v: stderr %q, want one sentence saying the home does not exist", args, r.stderr)
		}
		if _, err := os.Stat(home); !os.IsNotExist(err) {
			t.Errorf("%v created the home %s", args, home)
		}
	}
	// A home under a directory that does not exist cannot be a target either.
	deep := filepath.Join(t.TempDir(), "no", "such", "dir")
	r := ferry(t, nil, "--home", deep, "history", "seed", "--messages", "10", "--media-mb", "0")
	if r.code != 1 || !strings.Contains(r.stderr, "does not exist") {
		t.Errorf("seed into %s: exit %d, stderr %q; want exit 1 and a clear sentence", deep, r.code, r.stderr)
	}
}

func TestUsageErrorExitCode(t *testing.T) {
	r := ferry(t, nil, "history", "seed", "--no-such-flag")
	if r.code != 2 {
		t.Errorf("unknown flag: exit %d, want 2 (stderr %q)", r.code, r.stderr)
	}
}

func TestDemo(t *testing.T) {
	r := mustOK(t, ferry(t, nil, "--json", "demo", "--messages", "3000", "--media-mb", "3"))
	var rep struct {
		DigestEqual  bool            `json:"digest_equal"`
		Paired       bool            `json:"paired"`
		Path         string          `json:"path"`
		Source       chatstore.Stats `json:"source"`
		Target       chatstore.Stats `json:"target"`
		SenderDigest string          `json:"sender_reported_digest"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("demo --json output %q: %v", r.stdout, err)
	}
	if !rep.DigestEqual || rep.Source != rep.Target || rep.Source.Messages != 3000 {
		t.Errorf("demo report %+v: want 3000 messages migrated with equal stats", rep)
	}
	if !rep.Paired || rep.Path != "relayed" || rep.SenderDigest != rep.Target.Digest {
		t.Errorf("demo report %+v: want paired by code through the relay, the sender told the digest", rep)
	}
	r = mustOK(t, ferry(t, nil, "--json", "demo", "--messages", "1000", "--media-mb", "1", "--direct"))
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("demo --direct --json output %q: %v", r.stdout, err)
	}
	if !rep.DigestEqual || rep.Path != "direct (loopback)" {
		t.Errorf("demo --direct report %+v: want a verified direct migration", rep)
	}
}

func TestDevicesListAndForget(t *testing.T) {
	start := time.Now().Add(-time.Second)
	r := mustOK(t, ferry(t, nil, "--json", "demo", "--messages", "500", "--media-mb", "1", "--keep"))
	var rep struct {
		Homes []string `json:"homes"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || len(rep.Homes) != 2 {
		t.Fatalf("demo --keep output %q: %v", r.stdout, err)
	}
	t.Cleanup(func() { os.RemoveAll(filepath.Dir(rep.Homes[0])) })
	devices := func(home string) []map[string]any {
		var ds []map[string]any
		r := mustOK(t, ferry(t, nil, "--home", home, "--json", "devices"))
		if err := json.Unmarshal([]byte(r.stdout), &ds); err != nil {
			t.Fatalf("devices output %q: %v", r.stdout, err)
		}
		return ds
	}
	oldDevs, newDevs := devices(rep.Homes[0]), devices(rep.Homes[1])
	if len(oldDevs) != 1 || len(newDevs) != 1 || oldDevs[0]["name"] != "new device" || newDevs[0]["name"] != "old device" {
		t.Fatalf("after pairing: old device knows %v, new device knows %v; want each other", oldDevs, newDevs)
	}
	// Each records when it last saw the other: the migration, not the zero time.
	for _, d := range []map[string]any{oldDevs[0], newDevs[0]} {
		seen, err := time.Parse(time.RFC3339, fmt.Sprint(d["last_seen"]))
		if err != nil || seen.Before(start.Truncate(time.Second)) || seen.After(time.Now()) {
			t.Errorf("device %v: last_seen %v (%v); want the time of the migration", d["name"], d["last_seen"], err)
		}
	}
	id := newDevs[0]["peer_id"].(string)
	mustOK(t, ferry(t, nil, "--home", rep.Homes[1], "devices", "forget", id))
	if ds := devices(rep.Homes[1]); len(ds) != 0 {
		t.Errorf("after forget: %v, want none", ds)
	}
	if r := mustOK(t, ferry(t, nil, "--home", rep.Homes[0], "devices")); !strings.Contains(r.stdout, "last seen ") {
		t.Errorf("devices: %q; want when the device was last seen", r.stdout)
	}
	r = ferry(t, nil, "--home", rep.Homes[1], "devices", "forget", id)
	if r.code != 1 || !strings.Contains(r.stderr, "no paired device") {
		t.Errorf("forgetting an unknown device: exit %d, stderr %q", r.code, r.stderr)
	}
}
