package backup

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/p2p/p2ptest"
	"github.com/ferryhq/ferry/relay/vaultproto"
)

// Known-answer vaults: a relay's vault directory holding one small
// password backup, as a relay wrote it (see kat_test.go for the rules).
//
//	vault-v1/        key slot version 1 (Argon2id of the password and a
//	                 salt alone, SHA-256 of a fixed proof), written by the
//	                 Ferry before the challenge; password "an old password",
//	                 backup df5c4e3d2cb4d2cef320342e544d0dc3
//	vault-v2/        key slot version 2 (salt bound to the backup ID,
//	                 Ed25519 proof of a challenge); vault-v2.json says its
//	                 password, backup ID and history
const (
	katVaultV1ID       = "df5c4e3d2cb4d2cef320342e544d0dc3"
	katVaultV1Password = "an old password"
)

type vaultKATFacts struct {
	Password string          `json:"password"`
	BackupID string          `json:"backup_id"`
	Stats    chatstore.Stats `json:"stats"`
}

// katRelay serves a copy of a known-answer vault directory, with a TTL
// that keeps its backups alive.
func katRelay(t *testing.T, name string) *vaultRelay {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(katDir, name))); err != nil {
		t.Fatal(err)
	}
	r := &vaultRelay{t: t, dataDir: t.TempDir(), vaultDir: dir, ttl: 100 * 365 * 24 * time.Hour}
	r.start()
	return r
}

// TestWriteVaultKAT writes vault-v2; it runs only when asked to.
func TestWriteVaultKAT(t *testing.T) {
	if os.Getenv("FERRY_WRITE_KAT") == "" {
		t.Skip("writes testdata/kat/vault-v2 only with FERRY_WRITE_KAT=1 (never for a format version already there)")
	}
	out := filepath.Join(katDir, "vault-v2")
	if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%s exists: a format version is written once", out)
	}
	r := &vaultRelay{t: t, dataDir: t.TempDir(), vaultDir: out}
	r.start()
	s := newStore(t)
	want := seed(t, s, 5, 2000, 8)
	pw := "a password of key slot version 2"
	res := backup(t, s, dial(t, p2ptest.Host(t), r), Options{Password: []byte(pw)})
	b, err := json.MarshalIndent(vaultKATFacts{Password: pw, BackupID: FormatID(res.ID), Stats: want}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(katDir, "vault-v2.json"), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestVaultKATv2: a password backup of key slot version 2 restores with
// its password.
func TestVaultKATv2(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(katDir, "vault-v2.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f vaultKATFacts
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	r := katRelay(t, "vault-v2")
	dst := newStore(t)
	got, err := Restore(context.Background(), dial(t, p2ptest.Host(t), r), dst, RestoreOptions{Password: []byte(f.Password), BackupID: f.BackupID, floor: cheapParams})
	if err != nil {
		t.Fatalf("restore of the known-answer vault: %v", err)
	}
	if got.Target.Digest != f.Stats.Digest || stats(t, dst) != f.Stats {
		t.Errorf("restored %+v (digest %s), want %+v", stats(t, dst), got.Target.Digest, f.Stats)
	}
}

// TestVaultKATv1: a password backup of key slot version 1 stays on the
// relay, readable object by object, but a device no longer opens it with
// the password: it would have to send the fixed proof that whoever saw it
// could replay, computed with a salt the relay alone chose.
func TestVaultKATv1(t *testing.T) {
	r := katRelay(t, "vault-v1")
	c := dial(t, p2ptest.Host(t), r)
	id, err := ParseID(katVaultV1ID)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := c.GetManifest(context.Background(), id); err != nil || len(m) == 0 {
		t.Errorf("the old backup's manifest: %d bytes, %v", len(m), err)
	}
	dst := newStore(t)
	_, err = Restore(context.Background(), c, dst, RestoreOptions{Password: []byte(katVaultV1Password), BackupID: katVaultV1ID, floor: cheapParams})
	if !errors.Is(err, vaultproto.ErrOldKeySlot) {
		t.Errorf("restore of a version 1 key slot: %v, want vaultproto.ErrOldKeySlot", err)
	}
	if st := stats(t, dst); st.Messages != 0 {
		t.Errorf("the refused restore wrote %d messages", st.Messages)
	}
}
