package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/relay"
	"github.com/ferryhq/ferry/relay/vaultstore"
)

var backupLine = regexp.MustCompile(`(?m)^backup: ([0-9a-f]{32})$`)

// vaultRelay starts an in-process relay with a vault on loopback.
func vaultRelay(t *testing.T) string {
	t.Helper()
	st, err := vaultstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s, err := relay.New(context.Background(), relay.Config{
		DataDir: t.TempDir(), Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Vault: st,
	})
	if err != nil {
		t.Fatalf("relay.New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s.Addrs()[0].String()
}

func TestBackupRestore(t *testing.T) {
	addr := vaultRelay(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	want := seed(t, src, 300, 1, 1)

	r := mustOK(t, ferry(t, nil, "--home", src, "backup", "--relay", addr))
	id, key := backupLine.FindStringSubmatch(r.stdout), recoveryKeyLine.FindStringSubmatch(r.stdout)
	if id == nil || key == nil {
		t.Fatalf("backup printed no backup or recovery key line:\n%s", r.stdout)
	}
	// Again: incremental, nothing new to send, no key shown again.
	r = mustOK(t, ferry(t, nil, "--home", src, "--json", "backup", "--relay", addr))
	var out struct {
		Backup      string `json:"backup"`
		ChunksSent  int    `json:"chunks_sent"`
		RecoveryKey string `json:"recovery_key"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("backup --json output %q: %v", r.stdout, err)
	}
	if out.Backup != id[1] || out.ChunksSent != 0 || out.RecoveryKey != "" {
		t.Errorf("second backup: %+v; want the same ID, nothing sent, no key", out)
	}

	// A new device restores with the key alone.
	dst := filepath.Join(dir, "dst")
	r = mustOK(t, ferry(t, nil, "--home", dst, "restore", "--relay", addr, "--key", key[1]))
	if !strings.HasPrefix(r.stdout, "restored ") {
		t.Errorf("restore printed %q, want it to start with %q", r.stdout, "restored ")
	}
	if got := stats(t, dst); got != want {
		t.Errorf("restored %+v, want %+v", got, want)
	}
	// A wrong key changes nothing and says why.
	bad := filepath.Join(dir, "bad")
	r = ferry(t, nil, "--home", bad, "restore", "--relay", addr, "--key", strings.Repeat("0", 64))
	if r.code == 0 || !strings.Contains(r.stderr, "no backup on this relay opens with this recovery key") {
		t.Errorf("wrong key: exit %d, stderr %q", r.code, r.stderr)
	}

	// The list is the device's own (and that of the keys it holds, see
	// TestBackupsByKey); another device can neither see nor delete.
	r = mustOK(t, ferry(t, nil, "--home", src, "--json", "backups", "--relay", addr))
	var listed struct {
		Backups []struct {
			Backup string           `json:"backup"`
			Size   int64            `json:"size"`
			Stats  *chatstore.Stats `json:"stats"`
		} `json:"backups"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &listed); err != nil {
		t.Fatalf("backups --json output %q: %v", r.stdout, err)
	}
	if len(listed.Backups) != 1 || listed.Backups[0].Backup != id[1] || listed.Backups[0].Size <= 0 ||
		listed.Backups[0].Stats == nil || *listed.Backups[0].Stats != want {
		t.Errorf("backups: %s; want %s listed with its size and counts %+v", r.stdout, id[1], want)
	}
	other := filepath.Join(dir, "other")
	seed(t, other, 10, 0, 2)
	r = mustOK(t, ferry(t, nil, "--home", other, "backups", "--relay", addr))
	if strings.Contains(r.stdout, id[1]) {
		t.Errorf("another device lists the backup: %s", r.stdout)
	}
	r = ferry(t, nil, "--home", other, "backups", "rm", id[1], "--relay", addr)
	if r.code == 0 || !strings.Contains(r.stderr, "belongs to another device") {
		t.Errorf("another device deletes: exit %d, stderr %q", r.code, r.stderr)
	}
	mustOK(t, ferry(t, nil, "--home", src, "backups", "rm", id[1], "--relay", addr))
	r = mustOK(t, ferry(t, nil, "--home", src, "backups", "--relay", addr))
	if strings.Contains(r.stdout, id[1]) {
		t.Errorf("backup still listed after rm: %s", r.stdout)
	}
}

func TestBackupRestorePassword(t *testing.T) {
	addr := vaultRelay(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	want := seed(t, src, 200, 0, 2)
	pw := []string{"FERRY_PASSWORD=correct horse battery staple"}
	r := mustOK(t, ferry(t, pw, "--home", src, "backup", "--relay", addr, "--password"))
	id := backupLine.FindStringSubmatch(r.stdout)
	if id == nil || strings.Contains(r.stdout, "recovery key") {
		t.Fatalf("password backup output:\n%s", r.stdout)
	}
	r = ferry(t, pw, "--home", filepath.Join(dir, "x"), "restore", "--relay", addr, "--password")
	if r.code == 0 || !strings.Contains(r.stderr, "--backup ID") {
		t.Errorf("restore --password without --backup: exit %d, stderr %q", r.code, r.stderr)
	}
	r = ferry(t, []string{"FERRY_PASSWORD=wrong"}, "--home", filepath.Join(dir, "y"), "restore", "--relay", addr, "--password", "--backup", id[1])
	if r.code == 0 || !strings.Contains(r.stderr, "password does not open this backup") {
		t.Errorf("wrong password: exit %d, stderr %q", r.code, r.stderr)
	}
	dst := filepath.Join(dir, "dst")
	mustOK(t, ferry(t, pw, "--home", dst, "restore", "--relay", addr, "--password", "--backup", id[1]))
	if got := stats(t, dst); got != want {
		t.Errorf("restored %+v, want %+v", got, want)
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"", 0, true}, {"4096", 4096, true}, {"10GiB", 10 << 30, true}, {"10GB", 10e9, true},
		{"1.5 MiB", 3 << 19, true}, {"2k", 2048, true}, {"-1", 0, false}, {"10 parsecs", 0, false}, {"GiB", 0, false},
	} {
		got, err := parseSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// TestRelayVaultFlags runs ferry relay with a tiny quota and a vault
// directory of its own, and backs up to it.
func TestRelayVaultFlags(t *testing.T) {
	dir := t.TempDir()
	vdir := filepath.Join(dir, "vault")
	cmd := exec.Command(ferryBin, "relay", "--listen", "/ip4/127.0.0.1/tcp/0", "--data", filepath.Join(dir, "relay"),
		"--vault", "--vault-dir", vdir, "--quota", "64KiB", "--backup-ttl", "24h", "--max-backup-size", "1MiB", "--vault-size", "1GiB")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if l, ok := strings.CutPrefix(sc.Text(), "relay: "); ok {
				lines <- l
			}
		}
		close(lines)
	}()
	var addr string
	select {
	case l, ok := <-lines:
		if !ok {
			t.Fatalf("ferry relay printed no address; stderr: %s", stderr.String())
		}
		addr = l
	case <-time.After(30 * time.Second):
		t.Fatal("ferry relay printed no address within 30s")
	}

	home := filepath.Join(dir, "src")
	seed(t, home, 100, 1, 1)
	r := ferry(t, nil, "--home", home, "backup", "--relay", addr)
	if r.code == 0 || !strings.Contains(r.stderr, "quota") {
		t.Errorf("backup over the quota: exit %d, stderr %q", r.code, r.stderr)
	}
	if _, err := os.Stat(vdir); err != nil {
		t.Errorf("--vault-dir not used: %v", err)
	}
	r = ferry(t, nil, "relay", "--data", filepath.Join(dir, "r2"), "--vault", "--quota", "lots")
	if r.code == 0 || !strings.Contains(r.stderr, "--quota") {
		t.Errorf("bad --quota: exit %d, stderr %q", r.code, r.stderr)
	}
	r = ferry(t, nil, "relay", "--data", filepath.Join(dir, "r3"), "--quota", "1GiB")
	if r.code != 2 || !strings.Contains(r.stderr, "add --vault") {
		t.Errorf("--quota without --vault: exit %d, stderr %q; want a usage error naming --vault", r.code, r.stderr)
	}
}

// TestRelayWithoutVault: ferry relay keeps no backups unless started with
// --vault, and ferry backup to such a relay says so in one sentence.
func TestRelayWithoutVault(t *testing.T) {
	dir := t.TempDir()
	addr, _ := startLoopbackRelay(t, filepath.Join(dir, "relay"))
	home := filepath.Join(dir, "src")
	seed(t, home, 10, 1, 1)
	r := ferry(t, nil, "--home", home, "backup", "--relay", addr)
	const want = "this relay keeps no backups; its operator can start it with --vault"
	if r.code != 1 || !strings.Contains(lastLine(r.stderr), want) || strings.Contains(r.stderr, "protocols not supported") {
		t.Errorf("backup to a relay without a vault: exit %d, stderr %q; want exit 1 and %q", r.code, r.stderr, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "relay", "vault")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a relay without --vault made a vault directory: %v", err)
	}
}
