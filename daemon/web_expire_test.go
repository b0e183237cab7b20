package daemon

import (
	"net/http"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/fakeclock"
)

// TestWebBackupKeyExpires: a new recovery key that the page does not take
// is wiped from the job 10 minutes (the web app's clock) after the backup
// ended, and is then handed out no more; one taken is wiped at once.
func TestWebBackupKeyExpires(t *testing.T) {
	relayAddr := startVaultRelay(t)
	clock := fakeclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	u := startUIDeviceClock(t, "laptop", uiHome(t, 50, 0, false), clock.Now)
	ev := u.events(t)
	j := ev.until(t, u.startJob(t, "/api/backup", webBackupRequest{Relay: relayAddr}).ID, "the end", ended)
	if j.State != jobDone || !j.Backup.KeyReady {
		t.Fatalf("backup: %s %q %+v", j.State, j.Error, j.Backup)
	}
	e := u.web.jobs.find(j.ID)
	held := func() bool {
		u.web.jobs.mu.Lock()
		defer u.web.jobs.mu.Unlock()
		return !e.key.IsZero()
	}
	clock.Advance(webKeyTTL - time.Second)
	u.web.jobs.expire() // what the server's ticker runs
	if !held() {
		t.Fatal("the key was wiped before its time")
	}
	clock.Advance(time.Second)
	u.web.jobs.expire()
	if held() {
		t.Fatal("the key is still held 10 minutes after the backup")
	}
	j = ev.until(t, j.ID, "the key no more ready", func(j webJob) bool { return !j.Backup.KeyReady })
	if res := u.request(t, http.MethodPost, "/api/jobs/"+j.ID+"/key", nil, nil); res.StatusCode != http.StatusGone {
		t.Errorf("the key after 10 minutes: %s %s", res.Status, res.body)
	}

	// Taken (on another device, whose first backup this is): wiped at once.
	u2 := startUIDeviceClock(t, "phone", uiHome(t, 50, 0, false), clock.Now)
	ev2 := u2.events(t)
	j = ev2.until(t, u2.startJob(t, "/api/backup", webBackupRequest{Relay: relayAddr}).ID, "the end", ended)
	if !j.Backup.KeyReady {
		t.Fatalf("second device's backup: %s %q %+v", j.State, j.Error, j.Backup)
	}
	if res := u2.request(t, http.MethodPost, "/api/jobs/"+j.ID+"/key", nil, nil); res.StatusCode != http.StatusOK {
		t.Fatalf("the key: %s %s", res.Status, res.body)
	}
	e = u2.web.jobs.find(j.ID)
	u2.web.jobs.mu.Lock()
	kept := !e.key.IsZero()
	u2.web.jobs.mu.Unlock()
	if kept {
		t.Error("a key taken is still held")
	}
}
