package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadOnlyHome: on a home mounted read-only, the commands that only
// read work (devices, status, history stats, export) and take no lock; the
// commands that write (history seed and import, import, devices forget)
// say in one sentence that the home cannot be written.
// Each command runs in a mount namespace of its own where the home is a
// read-only bind mount of itself.
func TestReadOnlyHome(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a read-only bind mount in a mount namespace")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("needs unshare(1)")
	}
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	seed(t, home, 200, 1, 1)
	_, arc, key, _ := exportHome(t, dir, 100, 0, 2)
	want := stats(t, home)
	// As a cleanly closed home is: no -wal or -shm (those that readers
	// leave are empty), so that SQLite could not make them read-only.
	if fi, err := os.Stat(filepath.Join(home, "history.db-wal")); err == nil && fi.Size() != 0 {
		t.Fatalf("history.db-wal holds %d bytes", fi.Size())
	}
	os.Remove(filepath.Join(home, "history.db-wal"))
	os.Remove(filepath.Join(home, "history.db-shm"))

	ro := func(args ...string) result {
		t.Helper()
		sh := append([]string{"--mount", "--propagation", "private", "sh", "-c",
			`mount --bind -o ro "$0" "$0" && exec "$@"`, home, ferryBin, "--home", home}, args...)
		cmd := exec.Command("unshare", sh...)
		cmd.Env = withoutEmpty(append(os.Environ(), "FERRY_HOME="))
		return runCmd(t, cmd)
	}
	for _, args := range [][]string{
		{"devices"},
		{"status"},
		{"history", "stats"},
		{"export", "--out", filepath.Join(dir, "copy.ferry")},
	} {
		if r := ro(args...); r.code != 0 {
			t.Errorf("%v on a read-only home: exit %d, stderr %q; want it to work", args, r.code, r.stderr)
		}
	}
	if r := ro("--json", "history", "stats"); !strings.Contains(r.stdout, want.Digest) {
		t.Errorf("stats on a read-only home: %q, want digest %s", r.stdout, want.Digest)
	}
	chat := zipExport(t, "whatsapp/android-en-GB-media", dir, "WhatsApp Chat with Carol.zip")
	for _, args := range [][]string{
		{"history", "seed", "--messages", "10", "--media-mb", "0"},
		{"import", arc, "--key", key},
		{"history", "import", chat, "--tz", "UTC", "--me", "Alice"},
		{"devices", "forget", "12D3KooWGzh8tVTYKEMfZLfE5ZSnZHGjH1S5aVyJxEYTdQvjKxv1"},
	} {
		r := ro(args...)
		msg := strings.TrimSpace(r.stderr)
		if r.code != 1 || !strings.Contains(msg, "cannot be written") || strings.Contains(msg, "chatstore") || strings.Contains(msg, "\n") {
			t.Errorf("%v on a read-only home: exit %d, stderr %q; want one sentence saying the home cannot be written", args, r.code, msg)
		}
	}
	if got := stats(t, home); got != want {
		t.Errorf("home after the read-only commands: %+v, want %+v", got, want)
	}
}
