package daemon

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestWebDeleteBackup: DELETE /api/backups/{id} deletes one of this
// device's backups from the relay (the list no longer shows it); a
// malformed ID, a backup the relay does not hold, or a request from
// another site's page deletes nothing.
func TestWebDeleteBackup(t *testing.T) {
	relayAddr := startVaultRelay(t)
	u := startUIDevice(t, "laptop", uiHome(t, 100, 0, false))
	ev := u.events(t)
	j := ev.until(t, u.startJob(t, "/api/backup", webBackupRequest{Relay: relayAddr, Password: []byte("correct horse battery staple")}).ID, "the end", ended)
	if j.State != jobDone || j.Backup == nil {
		t.Fatalf("backup: %s %q", j.State, j.Error)
	}
	relay := "?" + url.Values{"relay": {relayAddr}}.Encode()
	list := func() []string {
		t.Helper()
		var bs []struct {
			ID string `json:"backup"`
		}
		u.getJSON(t, "/api/backups"+relay, &bs)
		var ids []string
		for _, b := range bs {
			ids = append(ids, b.ID)
		}
		return ids
	}
	if ids := list(); len(ids) != 1 || ids[0] != j.Backup.ID {
		t.Fatalf("backups: %v, want %s", ids, j.Backup.ID)
	}
	for _, c := range []struct {
		what, id string
		hdr      map[string]string
		status   int
		want     string
	}{
		{"a malformed ID", "xyz", nil, http.StatusBadRequest, "not a backup id"},
		{"a backup the relay lacks", strings.Repeat("0f", 16), nil, http.StatusNotFound, ""},
		{"another site's page", j.Backup.ID, map[string]string{"Authorization": "", "Origin": "http://127.0.0.1:1"}, http.StatusForbidden, ""},
	} {
		res := u.request(t, http.MethodDelete, "/api/backups/"+c.id+relay, nil, c.hdr)
		if res.StatusCode != c.status || !strings.Contains(strings.ToLower(string(res.body)), c.want) {
			t.Errorf("%s: %s %s", c.what, res.Status, res.body)
		}
	}
	if ids := list(); len(ids) != 1 {
		t.Fatalf("refused deletes deleted: %v", ids)
	}
	if res := u.request(t, http.MethodDelete, "/api/backups/"+j.Backup.ID+relay, nil, nil); res.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %s %s", res.Status, res.body)
	}
	if ids := list(); len(ids) != 0 {
		t.Errorf("after the delete the relay lists %v", ids)
	}
	if res := u.request(t, http.MethodDelete, "/api/backups/"+j.Backup.ID+relay, nil, nil); res.StatusCode != http.StatusNotFound {
		t.Errorf("deleted twice: %s %s", res.Status, res.body)
	}
}
