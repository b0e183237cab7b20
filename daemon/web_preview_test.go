package daemon

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/fakeclock"
)

// stagedUploads counts the uploads staged in the home.
func stagedUploads(u *uiDevice) int {
	left, _ := filepath.Glob(filepath.Join(u.home, ".staging", "upload-*"))
	return len(left)
}

// TestWebImportPreview: an upload with preview=1 is read as the import
// would read it, asks who the user is, and ends with what it would add and
// the line it could not read, the history unchanged and the upload kept;
// POST /api/jobs/{id}/import then imports that same staged file (no second
// upload, no second question), adds exactly what the preview said, and the
// staged upload is gone. A preview imports once; one that is cancelled
// removes its upload and imports nothing.
func TestWebImportPreview(t *testing.T) {
	u := startUIDevice(t, "laptop", uiHome(t, 50, 0, false))
	ev := u.events(t)
	data, err := os.ReadFile(devTeam)
	if err != nil {
		t.Fatal(err)
	}
	before := stats(t, u.home)
	res := u.upload(t, filepath.Base(devTeam), data, url.Values{"time_zone": {"UTC"}, "preview": {"1"}})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("upload: %s %s", res.Status, res.body)
	}
	var j webJob
	mustJSON(t, res.body, &j)
	j = ev.until(t, j.ID, "the question", func(j webJob) bool { return j.State == jobAsk })
	if r := u.request(t, http.MethodPost, "/api/jobs/"+j.ID+"/owner", map[string]string{"owner": "Tom"}, nil); r.StatusCode != http.StatusNoContent {
		t.Fatalf("owner: %s %s", r.Status, r.body)
	}
	p := ev.until(t, j.ID, "the end", ended)
	if p.State != jobDone || !p.Preview || !p.Ready || p.Import == nil || !p.Import.DryRun {
		t.Fatalf("preview: %s %q, preview %v, ready %v, %+v", p.State, p.Error, p.Preview, p.Ready, p.Import)
	}
	if a := p.Import.Added; a.Messages != 8 || a.Conversations != 1 || p.Import.Unreadable != 1 || len(p.Import.Owner) != 1 || p.Import.Owner[0] != "Tom" {
		t.Errorf("preview says %+v", p.Import)
	}
	if after := stats(t, u.home); after != before {
		t.Errorf("the preview changed the history: %+v, then %+v", before, after)
	}
	if n := stagedUploads(u); n != 1 {
		t.Errorf("%d staged uploads while the preview waits, want 1", n)
	}

	res = u.request(t, http.MethodPost, "/api/jobs/"+p.ID+"/import", nil, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("import the preview: %s %s", res.Status, res.body)
	}
	mustJSON(t, res.body, &j)
	j = ev.until(t, j.ID, "the end", func(j webJob) bool { return j.Ended || j.State == jobAsk })
	if j.State != jobDone || j.Preview || j.Import == nil || j.Import.DryRun || j.Source != p.Source {
		t.Fatalf("import: %s %q (asked %q), %+v", j.State, j.Error, j.Owners, j.Import)
	}
	if j.Import.Added != p.Import.Added || j.Import.Read != p.Import.Read || j.Import.Unreadable != p.Import.Unreadable ||
		len(j.Import.Owner) != 1 || j.Import.Owner[0] != "Tom" {
		t.Errorf("the import did %+v; the preview said %+v", j.Import, p.Import)
	}
	if after := stats(t, u.home); after.Messages != before.Messages+8 {
		t.Errorf("the home holds %d messages, want %d", after.Messages, before.Messages+8)
	}
	noUploadsLeft(t, u)
	if r := u.request(t, http.MethodPost, "/api/jobs/"+p.ID+"/import", nil, nil); r.StatusCode != http.StatusConflict {
		t.Errorf("a preview imported twice: %s %s", r.Status, r.body)
	}
	if r := u.request(t, http.MethodPost, "/api/jobs/"+j.ID+"/import", nil, nil); r.StatusCode != http.StatusConflict {
		t.Errorf("an import (no preview) imported again: %s %s", r.Status, r.body)
	}

	// Cancelled after it ended: the upload goes, nothing is imported.
	before = stats(t, u.home)
	res = u.upload(t, "WhatsApp Chat with Bob.txt", []byte("3/8/25, 9:05 AM - Bob: Morning!\n"), url.Values{"time_zone": {"UTC"}, "preview": {"1"}})
	mustJSON(t, res.body, &j)
	p = ev.until(t, j.ID, "the end", ended)
	if !p.Ready || p.Import.Added.Messages != 1 || stagedUploads(u) != 1 {
		t.Fatalf("second preview: %s %q ready %v %+v, %d uploads", p.State, p.Error, p.Ready, p.Import, stagedUploads(u))
	}
	if r := u.request(t, http.MethodPost, "/api/jobs/"+p.ID+"/cancel", nil, nil); r.StatusCode != http.StatusNoContent {
		t.Fatalf("cancel: %s %s", r.Status, r.body)
	}
	noUploadsLeft(t, u)
	p = ev.until(t, p.ID, "not ready", func(j webJob) bool { return !j.Ready })
	if r := u.request(t, http.MethodPost, "/api/jobs/"+p.ID+"/import", nil, nil); r.StatusCode != http.StatusConflict {
		t.Errorf("a cancelled preview imported: %s %s", r.Status, r.body)
	}
	if after := stats(t, u.home); after != before {
		t.Errorf("a cancelled preview changed the history")
	}

	// By path: the same, with nothing staged; nothing new to add now.
	abs, _ := filepath.Abs(devTeam)
	p = ev.until(t, u.startJob(t, "/api/import", webImportRequest{Path: abs, TimeZone: "UTC", Owner: "Tom", Preview: true}).ID, "the end", ended)
	if !p.Ready || p.Import.Added.Messages != 0 || p.Import.Read != 8 {
		t.Errorf("preview by path: %s %q ready %v %+v", p.State, p.Error, p.Ready, p.Import)
	}
}

// TestWebImportPreviewExpires: a preview the page neither imports nor
// cancels is put away after 30 minutes (the web app's clock): its staged
// upload is removed and it imports nothing.
func TestWebImportPreviewExpires(t *testing.T) {
	clock := fakeclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	u := startUIDeviceClock(t, "laptop", uiHome(t, 10, 0, false), clock.Now)
	ev := u.events(t)
	res := u.upload(t, "WhatsApp Chat with Bob.txt", []byte("3/8/25, 9:05 AM - Bob: Morning!\n"), url.Values{"time_zone": {"UTC"}, "preview": {"1"}})
	var j webJob
	mustJSON(t, res.body, &j)
	p := ev.until(t, j.ID, "the end", ended)
	if !p.Ready || stagedUploads(u) != 1 {
		t.Fatalf("preview: %s %q ready %v, %d uploads", p.State, p.Error, p.Ready, stagedUploads(u))
	}
	clock.Advance(webPreviewTTL - time.Second)
	u.web.jobs.expire() // what the server's ticker runs
	if stagedUploads(u) != 1 {
		t.Fatal("the preview was put away before its time")
	}
	clock.Advance(time.Second)
	u.web.jobs.expire()
	noUploadsLeft(t, u)
	ev.until(t, p.ID, "not ready", func(j webJob) bool { return !j.Ready })
	if r := u.request(t, http.MethodPost, "/api/jobs/"+p.ID+"/import", nil, nil); r.StatusCode != http.StatusConflict {
		t.Errorf("an expired preview imported: %s %s", r.Status, r.body)
	}
}
