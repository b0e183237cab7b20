package mobile

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ferryhq/ferry"
	"github.com/ferryhq/ferry/relay"
	"github.com/ferryhq/ferry/relay/vaultstore"
)

// TestBackupRestore: a mobile device backs its history up to a relay's
// vault (a real relay on loopback) and shows the recovery key; another
// restores it with the key as typed, and with a password backup, with the
// password and the backup's ID. Both end with the sender's digest; a wrong
// password restores nothing and says so with a sentence and a code.
func TestBackupRestore(t *testing.T) {
	st, err := vaultstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := relay.New(context.Background(), relay.Config{DataDir: t.TempDir(), Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Vault: st})
	if err != nil {
		t.Fatalf("relay.New: %v", err)
	}
	defer srv.Close()
	opts, _ := json.Marshal(map[string]string{"relay": srv.Addrs()[0].String()})

	old := newDevice(t, seeded(t, t.TempDir(), 3), "old phone")
	want := stats(t, old).Digest
	var events recorder
	op, err := old.Backup(string(opts), nil, &events)
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	js, err := wait(t, op)
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	var b backupResult
	if err := json.Unmarshal([]byte(js), &b); err != nil || b.RecoveryKey == "" || b.ID == "" || !b.NewKey {
		t.Fatalf("backup result %s (%v): want a new backup with its recovery key", js, err)
	}
	events.checkJSON(t, "backup")
	if !slices.Contains(events.kinds(), ferry.EventProgress) {
		t.Errorf("backup events %v: want progress", events.kinds())
	}

	phone := newDevice(t, filepath.Join(t.TempDir(), "new"), "new phone")
	op, err = phone.Restore(string(opts), b.RecoveryKey, nil, nil)
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if _, err := wait(t, op); err != nil {
		t.Fatalf("restore with the recovery key: %v", err)
	}
	if got := stats(t, phone).Digest; got != want {
		t.Errorf("restored digest %s, want %s", got, want)
	}

	// A password backup (a new key, locked under the password).
	pw := []byte("correct horse battery staple, on a phone")
	op, err = old.Backup(string(opts), pw, nil)
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	if js, err = wait(t, op); err != nil {
		t.Fatalf("password backup: %v", err)
	}
	var pb backupResult
	json.Unmarshal([]byte(js), &pb)
	if pb.RecoveryKey != "" {
		t.Errorf("a password backup shows a recovery key: %s", js)
	}
	ropts, _ := json.Marshal(map[string]string{"relay": srv.Addrs()[0].String(), "backup_id": pb.ID})

	other := newDevice(t, filepath.Join(t.TempDir(), "other"), "other phone")
	op, err = other.Restore(string(ropts), "", []byte("wrong horse"), nil)
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	_, err = wait(t, op)
	if err == nil {
		t.Fatal("restore with a wrong password: no error")
	}
	if f := failureOf(t, err); f.Code != string(ferry.CodeBackupPassword) {
		t.Errorf("wrong password: %q (code %q), want code %s", f.Error(), f.Code, ferry.CodeBackupPassword)
	}
	noHistory(t, other)

	op, err = other.Restore(string(ropts), "", pw, nil)
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if _, err := wait(t, op); err != nil {
		t.Fatalf("restore with the password: %v", err)
	}
	if got := stats(t, other).Digest; got != want {
		t.Errorf("restored digest %s, want %s", got, want)
	}
}
