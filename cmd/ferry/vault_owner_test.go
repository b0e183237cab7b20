package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/chatstore"
)

// listedBackup is one entry of `ferry backups --json`.
type listedBackup struct {
	Backup string           `json:"backup"`
	Size   int64            `json:"size"`
	Stats  *chatstore.Stats `json:"stats"`
}

// listBackups runs `ferry backups --json` in home and returns the
// entries by backup ID.
func listBackups(t *testing.T, home, addr string) map[string]listedBackup {
	t.Helper()
	r := mustOK(t, ferry(t, nil, "--home", home, "--json", "backups", "--relay", addr))
	var out struct {
		Backups []listedBackup `json:"backups"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("backups --json output %q: %v", r.stdout, err)
	}
	m := map[string]listedBackup{}
	for _, b := range out.Backups {
		m[b.Backup] = b
	}
	return m
}

// TestBackupsByKey: a home restored on a new device lists the old
// device's backup with its counts, and deletes it, because it holds the
// backup's key; a device with another key, and one that holds none, can
// neither list nor delete it.
func TestBackupsByKey(t *testing.T) {
	addr := vaultRelay(t)
	dir := t.TempDir()
	old := filepath.Join(dir, "old")
	want := seed(t, old, 200, 1, 3)
	r := mustOK(t, ferry(t, nil, "--home", old, "backup", "--relay", addr))
	id, key := backupLine.FindStringSubmatch(r.stdout), recoveryKeyLine.FindStringSubmatch(r.stdout)
	if id == nil || key == nil {
		t.Fatalf("backup printed no backup or recovery key line:\n%s", r.stdout)
	}

	// The new device restores with the key and finds the backup.
	restored := filepath.Join(dir, "new")
	mustOK(t, ferry(t, nil, "--home", restored, "restore", "--relay", addr, "--key", key[1]))
	got, ok := listBackups(t, restored, addr)[id[1]]
	if !ok || got.Size <= 0 || got.Stats == nil || *got.Stats != want {
		t.Errorf("restored home lists %+v (found %v); want %s with its size and counts %+v", got, ok, id[1], want)
	}
	r = mustOK(t, ferry(t, nil, "--home", restored, "backups", "--relay", addr))
	if !strings.Contains(r.stdout, id[1]) || strings.Contains(r.stdout, "no backups") {
		t.Errorf("restored home's backups:\n%s\nwant %s listed", r.stdout, id[1])
	}

	// A device with a backup (and key) of its own, and a device with no
	// backup at all: neither sees nor deletes it.
	other := filepath.Join(dir, "other")
	seed(t, other, 20, 0, 4)
	mustOK(t, ferry(t, nil, "--home", other, "backup", "--relay", addr))
	stranger := filepath.Join(dir, "stranger")
	seed(t, stranger, 10, 0, 5)
	for _, home := range []string{other, stranger} {
		if _, ok := listBackups(t, home, addr)[id[1]]; ok {
			t.Errorf("%s lists the backup of a key it does not hold", filepath.Base(home))
		}
		r = ferry(t, nil, "--home", home, "backups", "rm", id[1], "--relay", addr)
		if r.code == 0 || !strings.Contains(r.stderr, "belongs to another device") {
			t.Errorf("%s deletes the backup: exit %d, stderr %q", filepath.Base(home), r.code, r.stderr)
		}
	}
	if _, ok := listBackups(t, old, addr)[id[1]]; !ok {
		t.Fatalf("the backup is gone after the refused deletions")
	}

	// The key deletes it, whoever made it.
	r = mustOK(t, ferry(t, nil, "--home", restored, "backups", "rm", id[1], "--relay", addr))
	if !strings.Contains(r.stdout, "deleted backup "+id[1]) {
		t.Errorf("rm printed %q", r.stdout)
	}
	for _, home := range []string{old, restored} {
		if _, ok := listBackups(t, home, addr)[id[1]]; ok {
			t.Errorf("%s still lists the deleted backup", filepath.Base(home))
		}
	}
	r = ferry(t, nil, "--home", filepath.Join(dir, "again"), "restore", "--relay", addr, "--key", key[1])
	if r.code == 0 {
		t.Errorf("restore of the deleted backup succeeded:\n%s", r.stdout)
	}
}

// TestBackupKeySwitch: switching a home between a recovery key and a
// password starts a new backup and says what becomes of the old one,
// which stays listed with its counts and can be deleted.
func TestBackupKeySwitch(t *testing.T) {
	addr := vaultRelay(t)
	home := filepath.Join(t.TempDir(), "home")
	want := seed(t, home, 100, 0, 6)
	pw := []string{"FERRY_PASSWORD=correct horse battery staple"}

	r := mustOK(t, ferry(t, nil, "--home", home, "backup", "--relay", addr))
	keyID := backupLine.FindStringSubmatch(r.stdout)[1]

	r = mustOK(t, ferry(t, pw, "--home", home, "backup", "--relay", addr, "--password"))
	pwID := backupLine.FindStringSubmatch(r.stdout)[1]
	if pwID == keyID {
		t.Fatalf("the password backup kept the ID of the recovery key's")
	}
	for _, s := range []string{"a new backup", keyID, "recovery key", "stays on the relay", "ferry backups rm " + keyID} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("switch to --password printed:\n%s\nwant it to say %q", r.stdout, s)
		}
	}
	var j struct {
		Previous string `json:"previous_backup"`
	}
	r = mustOK(t, ferry(t, pw, "--home", home, "--json", "backup", "--relay", addr, "--password"))
	if err := json.Unmarshal([]byte(r.stdout), &j); err != nil || j.Previous != "" {
		t.Errorf("a backup that switched nothing reports a previous backup: %s (%v)", r.stdout, err)
	}

	// And back: a recovery key again, and the password backup is kept.
	r = mustOK(t, ferry(t, nil, "--home", home, "--json", "backup", "--relay", addr))
	if err := json.Unmarshal([]byte(r.stdout), &j); err != nil || j.Previous != pwID {
		t.Errorf("switch back to a recovery key: %s (%v); want previous_backup %s", r.stdout, err, pwID)
	}

	list := listBackups(t, home, addr)
	if len(list) != 3 {
		t.Errorf("listed %d backups, want 3 (two earlier ones and the current): %+v", len(list), list)
	}
	for _, id := range []string{keyID, pwID} {
		if b, ok := list[id]; !ok || b.Stats == nil || *b.Stats != want {
			t.Errorf("earlier backup %s listed as %+v (found %v); want its counts %+v", id, b, ok, want)
		}
	}
	mustOK(t, ferry(t, nil, "--home", home, "backups", "rm", keyID, "--relay", addr))
	if _, ok := listBackups(t, home, addr)[keyID]; ok {
		t.Errorf("the first backup is still listed after rm")
	}
}
