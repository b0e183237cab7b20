package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/chatstore/storetest"
	"github.com/ferryhq/ferry/internal/archive"
	"github.com/ferryhq/ferry/p2p/p2ptest"
	"github.com/ferryhq/ferry/relay/vaultproto"
)

// Known-answer vaults: a relay's vault directory holding a small password
// backup, as a relay wrote it, kept in testdata/kat with what it holds
// (vault-vN.json). Today's code must restore each (or refuse it with the
// sentence its doc promises): a change that breaks reading what an older
// Ferry left on a relay fails here. A new format version adds a directory;
// the old ones stay. Written by `FERRY_WRITE_KAT=1 go test -run
// TestWriteVaultKAT ./backup`, never over one that is there.
//
//	vault-v1/        key slot version 1 (Argon2id of the password and a
//	                 salt alone, SHA-256 of a fixed proof), written by the
//	                 Ferry before the challenge; password "an old password",
//	                 backup df5c4e3d2cb4d2cef320342e544d0dc3
//	vault-v2/        key slot version 2 (salt bound to the backup ID,
//	                 Ed25519 proof of a challenge), manifest version 2, every
//	                 object in the legacy seal
//	vault-v3/        manifest version 3: the manifest and every object in
//	                 the archive envelope; two backups of a growing history,
//	                 the second referring to packs of the first
const (
	katVaultV1ID       = "df5c4e3d2cb4d2cef320342e544d0dc3"
	katVaultV1Password = "an old password"
)

type vaultKATFacts struct {
	Password string          `json:"password"`
	BackupID string          `json:"backup_id"`
	Key      string          `json:"key,omitempty"` // the recovery key (since vault-v3)
	Seq      uint64          `json:"seq,omitempty"` // the manifest's sequence (since vault-v3)
	Stats    chatstore.Stats `json:"stats"`
}

func katFacts(t *testing.T, name string) vaultKATFacts {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(katDir, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var f vaultKATFacts
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f
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

// TestWriteVaultKAT writes the known-answer vault of the current manifest
// version; it runs only when asked to.
func TestWriteVaultKAT(t *testing.T) {
	name := fmt.Sprintf("vault-v%d", manifestVersion)
	if os.Getenv("FERRY_WRITE_KAT") == "" {
		t.Skipf("writes testdata/kat/%s only with FERRY_WRITE_KAT=1 (never for a format version already there)", name)
	}
	out := filepath.Join(katDir, name)
	if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%s exists: a format version is written once", out)
	}
	r := &vaultRelay{t: t, dataDir: t.TempDir(), vaultDir: out}
	r.start()
	s := storetest.New(t)
	storetest.Seed(t, s, 5, 2000, 8)
	pw := fmt.Sprintf("a password of manifest version %d", manifestVersion)
	c := dial(t, p2ptest.Host(t), r)
	backup(t, s, c, Options{Password: []byte(pw)})
	want := storetest.Seed(t, s, 40, 30000, 9) // grown: the second backup keeps packs of the first
	res := backup(t, s, c, Options{Password: []byte(pw)})
	f := vaultKATFacts{Password: pw, BackupID: FormatID(res.ID), Key: res.Key.RecoveryString(), Seq: res.Seq, Stats: want}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out+".json", append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestVaultKATv3: the backup of manifest version 3 restores with its
// password and with its recovery key, and its manifest marshals back to
// the bytes it was written with.
func TestVaultKATv3(t *testing.T) {
	f := katFacts(t, "vault-v3")
	key, err := archive.ParseRecoveryKey(f.Key)
	if err != nil {
		t.Fatal(err)
	}
	for _, how := range []string{"password", "key"} {
		t.Run(how, func(t *testing.T) {
			r := katRelay(t, "vault-v3")
			opts := RestoreOptions{Password: []byte(f.Password), BackupID: f.BackupID, floor: cheapParams}
			if how == "key" {
				opts = RestoreOptions{Key: &key}
			}
			dst := storetest.New(t)
			got, err := Restore(context.Background(), dial(t, p2ptest.Host(t), r), dst, opts)
			if err != nil {
				t.Fatalf("restore of the known-answer vault: %v", err)
			}
			if got.Target.Digest != f.Stats.Digest || storetest.Stats(t, dst) != f.Stats {
				t.Errorf("restored %+v (digest %s), want %+v", storetest.Stats(t, dst), got.Target.Digest, f.Stats)
			}
			// Its relay record predates owner keys: the restored home
			// lists it from its manifest, and cannot delete it.
			c := dial(t, p2ptest.Host(t), r)
			known, err := Known(context.Background(), c, dst.Home())
			if err != nil || len(known) != 1 || FormatID(known[0].ID) != f.BackupID || !known[0].NoOwnerKey || known[0].Stats == nil || *known[0].Stats != f.Stats {
				t.Errorf("the restored home knows %+v, %v; want %s from its manifest, with no owner key", known, err, f.BackupID)
			}
			id, _ := ParseID(f.BackupID)
			if err := Delete(context.Background(), c, dst.Home(), id); !errors.Is(err, vaultproto.ErrNoOwnerKey) {
				t.Errorf("the restored home deletes a backup without an owner key: %v, want ErrNoOwnerKey", err)
			}
		})
	}
	vk, err := deriveKeys(key)
	if err != nil {
		t.Fatal(err)
	}
	defer vk.wipe()
	plain, env, err := vk.openManifest(readFile(t, manifestFile(t, filepath.Join(katDir, "vault-v3"))))
	if err != nil || !env {
		t.Fatalf("the known manifest: envelope %v, %v", env, err)
	}
	vm, err := parseManifest(plain)
	if err != nil {
		t.Fatal(err)
	}
	if vm.version != 3 || vm.seq != f.Seq || len(vm.packs) < 2 {
		t.Errorf("the known manifest: version %d, sequence %d, %d packs; want 3, %d, several", vm.version, vm.seq, len(vm.packs), f.Seq)
	}
	if !bytes.Equal(vm.marshal(), plain) {
		t.Error("the known manifest does not marshal back to its bytes: the format changed")
	}
}

// TestVaultKATv2: a password backup of key slot version 2 restores with
// its password.
func TestVaultKATv2(t *testing.T) {
	f := katFacts(t, "vault-v2")
	r := katRelay(t, "vault-v2")
	dst := storetest.New(t)
	got, err := Restore(context.Background(), dial(t, p2ptest.Host(t), r), dst, RestoreOptions{Password: []byte(f.Password), BackupID: f.BackupID, floor: cheapParams})
	if err != nil {
		t.Fatalf("restore of the known-answer vault: %v", err)
	}
	if got.Target.Digest != f.Stats.Digest || storetest.Stats(t, dst) != f.Stats {
		t.Errorf("restored %+v (digest %s), want %+v", storetest.Stats(t, dst), got.Target.Digest, f.Stats)
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
	dst := storetest.New(t)
	_, err = Restore(context.Background(), c, dst, RestoreOptions{Password: []byte(katVaultV1Password), BackupID: katVaultV1ID, floor: cheapParams})
	if !errors.Is(err, vaultproto.ErrOldKeySlot) {
		t.Errorf("restore of a version 1 key slot: %v, want vaultproto.ErrOldKeySlot", err)
	}
	if st := storetest.Stats(t, dst); st.Messages != 0 {
		t.Errorf("the refused restore wrote %d messages", st.Messages)
	}
}
