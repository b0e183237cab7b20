package daemon

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/relay"
	"github.com/ferryhq/ferry/relay/vaultstore"
)

// startVaultRelay starts a relay with a vault on loopback until the test
// ends, and returns its address.
func startVaultRelay(t testing.TB) string {
	t.Helper()
	st, err := vaultstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := relay.New(context.Background(), relay.Config{DataDir: t.TempDir(), Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Vault: st})
	if err != nil {
		t.Fatalf("relay.New: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv.Addrs()[0].String()
}

// startJob posts body to path and returns the job it started.
func (u *uiDevice) startJob(t testing.TB, path string, body any) webJob {
	t.Helper()
	res := u.request(t, http.MethodPost, path, body, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %s %s", path, res.Status, res.body)
	}
	var j webJob
	mustJSON(t, res.body, &j)
	return j
}

func ended(j webJob) bool { return j.Ended }

// TestWebBackupRestore: a backup from the page against a real relay's
// vault; its recovery key is handed out once, by POST, and is in no job,
// event or list; the backup is listed; a second device restores it with
// the key after a wrong key and a malformed one changed nothing there.
func TestWebBackupRestore(t *testing.T) {
	relayAddr := startVaultRelay(t)
	old := startUIDevice(t, "old laptop", uiHome(t, 400, 1<<20, false))
	neu := startUIDevice(t, "new laptop", uiHome(t, 0, 0, false))
	oldEv, newEv := old.events(t), neu.events(t)

	j := oldEv.until(t, old.startJob(t, "/api/backup", webBackupRequest{Relay: relayAddr}).ID, "the end", ended)
	if j.State != jobDone || j.Backup == nil || !j.Backup.KeyReady || !j.Backup.NewKey || j.Backup.Stats.Messages != 400 {
		t.Fatalf("backup: %s %q %q %+v", j.State, j.Error, j.Hint, j.Backup)
	}
	var key webKey
	res := old.request(t, http.MethodPost, "/api/jobs/"+j.ID+"/key", nil, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("the key: %s %s", res.Status, res.body)
	}
	mustJSON(t, res.body, &key)
	if len(strings.ReplaceAll(key.Key, " ", "")) != 64 {
		t.Fatalf("key %q", key.Key)
	}
	hexKey := strings.ReplaceAll(key.Key, " ", "")
	if res := old.request(t, http.MethodPost, "/api/jobs/"+j.ID+"/key", nil, nil); res.StatusCode != http.StatusGone {
		t.Errorf("the key a second time: %s %s", res.Status, res.body)
	}
	if res := old.request(t, http.MethodGet, "/api/jobs/"+j.ID+"/key", nil, nil); res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET the key: %s", res.Status)
	}
	jobsRes := old.request(t, http.MethodGet, "/api/jobs", nil, nil)
	seen, _ := json.Marshal(j)
	for what, b := range map[string][]byte{"GET /api/jobs": jobsRes.body, "the job's events": seen} {
		if bytes.Contains(b, []byte(key.Key)) || bytes.Contains(b, []byte(hexKey)) {
			t.Errorf("%s holds the recovery key: %s", what, b)
		}
	}

	var list []struct {
		ID    string `json:"backup"`
		Stats *struct {
			Messages int64 `json:"messages"`
		} `json:"stats"`
	}
	old.getJSON(t, "/api/backups?"+url.Values{"relay": {relayAddr}}.Encode(), &list)
	if len(list) != 1 || list[0].ID != j.Backup.ID || list[0].Stats == nil || list[0].Stats.Messages != 400 {
		t.Errorf("backups: %+v, want %s", list, j.Backup.ID)
	}
	if res := old.request(t, http.MethodGet, "/api/backups?relay=/ip4/127.0.0.1/tcp/1", nil, nil); res.StatusCode < 400 || !strings.Contains(string(res.body), "relay") {
		t.Errorf("backups on a bad relay address: %s %s", res.Status, res.body)
	}

	// The new device: wrong and malformed keys change nothing.
	var other [32]byte
	rand.Read(other[:])
	for _, c := range []struct {
		req    webRestoreRequest
		status int
		want   string
	}{
		{webRestoreRequest{Relay: relayAddr, Key: "1234"}, http.StatusBadRequest, "key"},
		{webRestoreRequest{Relay: relayAddr}, http.StatusBadRequest, "recovery key"},
		{webRestoreRequest{Relay: relayAddr, Password: []byte("pw")}, http.StatusBadRequest, "backup's id"},
		{webRestoreRequest{Relay: relayAddr, Key: hexKey, Password: []byte("pw")}, http.StatusBadRequest, "not both"},
		{webRestoreRequest{Relay: relayAddr, Key: hexKey, Backup: "xyz"}, http.StatusBadRequest, "backup id"},
	} {
		res := neu.request(t, http.MethodPost, "/api/restore", c.req, nil)
		if res.StatusCode != c.status || !strings.Contains(strings.ToLower(string(res.body)), c.want) {
			t.Errorf("restore %+v: %s %s", c.req, res.Status, res.body)
		}
	}
	wrong := newEv.until(t, neu.startJob(t, "/api/restore", webRestoreRequest{Relay: relayAddr, Key: hex.EncodeToString(other[:])}).ID, "the end", ended)
	if wrong.State != jobFailed || wrong.Error == "" || wrong.Restored != nil {
		t.Errorf("a wrong key: %s %q %q", wrong.State, wrong.Error, wrong.Hint)
	}
	if neu.web.hist.exists() && stats(t, neu.home).Messages != 0 {
		t.Error("a restore with a wrong key wrote messages")
	}
	r := newEv.until(t, neu.startJob(t, "/api/restore", webRestoreRequest{Relay: relayAddr, Key: key.Key}).ID, "the end", ended)
	if r.State != jobDone || r.Restored == nil || r.Restored.Target.Digest != stats(t, old.home).Digest {
		t.Fatalf("restore: %s %q %+v", r.State, r.Error, r.Restored)
	}
	if got := stats(t, neu.home); got.Digest != stats(t, old.home).Digest {
		t.Errorf("restored digest %s, backed up %s", got.Digest, stats(t, old.home).Digest)
	}
}

// TestWebBackupPassword: a password backup shows no key at all; a restore
// with the wrong password says so and changes nothing; the right one, with
// the backup's ID, restores.
func TestWebBackupPassword(t *testing.T) {
	relayAddr := startVaultRelay(t)
	old := startUIDevice(t, "old laptop", uiHome(t, 150, 0, false))
	neu := startUIDevice(t, "new laptop", uiHome(t, 0, 0, false))
	oldEv, newEv := old.events(t), neu.events(t)
	pw := []byte("correct horse battery staple, at length")
	j := oldEv.until(t, old.startJob(t, "/api/backup", webBackupRequest{Relay: relayAddr, Password: pw}).ID, "the end", ended)
	if j.State != jobDone || j.Backup == nil || j.Backup.KeyReady || !j.Backup.Password {
		t.Fatalf("password backup: %s %q %+v", j.State, j.Error, j.Backup)
	}
	if res := old.request(t, http.MethodPost, "/api/jobs/"+j.ID+"/key", nil, nil); res.StatusCode != http.StatusGone {
		t.Errorf("the key of a password backup: %s %s", res.Status, res.body)
	}
	wrong := newEv.until(t, neu.startJob(t, "/api/restore", webRestoreRequest{Relay: relayAddr, Password: []byte("wrong horse"), Backup: j.Backup.ID}).ID, "the end", ended)
	if wrong.State != jobFailed || !strings.Contains(strings.ToLower(wrong.Error+wrong.Hint), "password") {
		t.Errorf("a wrong password: %s %q %q", wrong.State, wrong.Error, wrong.Hint)
	}
	if neu.web.hist.exists() && stats(t, neu.home).Messages != 0 {
		t.Error("a wrong password wrote messages")
	}
	r := newEv.until(t, neu.startJob(t, "/api/restore", webRestoreRequest{Relay: relayAddr, Password: pw, Backup: j.Backup.ID}).ID, "the end", ended)
	if r.State != jobDone || stats(t, neu.home).Digest != stats(t, old.home).Digest {
		t.Errorf("restore by password: %s %q %q", r.State, r.Error, r.Hint)
	}
}
