package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/ferryhq/ferry"
)

// TestBrowserImport: a person imports a WhatsApp export by choosing the
// file: the page shows the upload, asks which person they are, then what
// the import would add and the line that could not be read, the history
// unchanged; a preview cancelled imports nothing and its upload goes; after
// the click on Import (the file not uploaded again, no second question),
// what was added, and the chat then shows in the history. A file that is
// no export says what went wrong and what to do, and changes nothing.
func TestBrowserImport(t *testing.T) {
	browser := startBrowser(t)
	dev := startUIDevice(t, "laptop", uiHome(t, 20, 0, false))
	p := newPage(t, browser, "laptop's page")
	p.open(dev.web.URL())
	p.click(`#nav a[data-view="import"]`)
	p.wait("the import view", `document.getElementById('import-file')`, 10*time.Second)
	abs, err := filepath.Abs(devTeam)
	if err != nil {
		t.Fatal(err)
	}
	p.do(chromedp.SetUploadFiles(chromedp.CSS("#import-file"), []string{abs}))
	p.do(chromedp.SetValue(chromedp.CSS("#import-zone"), "UTC"))
	p.shot("import-form")
	before0 := stats(t, dev.home)
	preview := func() {
		t.Helper()
		p.click(`#start-import`)
		p.wait("the question", `document.querySelectorAll('#owners button').length === 4`, 30*time.Second)
		p.shot("import-ask")
		p.click(`#owners button[data-owner="Tom"]`)
		p.wait("the preview", `document.getElementById('confirm-import')`, 30*time.Second)
		if got := p.str(`document.getElementById('import-would-add').textContent`); got != "The import would add 1 conversation, 8 messages and 0 files." {
			t.Errorf("the preview says %q", got)
		}
		if got := p.str(`document.getElementById('import-unreadable').textContent`); !strings.HasPrefix(got, "1 line could not be read and would be left out") {
			t.Errorf("the preview's unreadable line shows as %q", got)
		}
		if got := stats(t, dev.home); got != before0 {
			t.Errorf("the preview changed the history: %+v, was %+v", got, before0)
		}
		if stagedUploads(dev) != 1 {
			t.Errorf("%d uploads staged while the preview waits, want 1", stagedUploads(dev))
		}
	}
	preview()
	p.click(`#cancel-preview`)
	p.wait("the preview put away", `document.getElementById('import-put-away') && !document.getElementById('confirm-import')`, 30*time.Second)
	noUploadsLeft(t, dev)
	preview()
	p.shot("import-preview")
	p.click(`#confirm-import`)
	p.wait("the result", `document.getElementById('import-added')`, 30*time.Second)
	if got := p.str(`document.getElementById('import-added').textContent`); got != "Added 1 conversation, 8 messages and 0 files." {
		t.Errorf("the import says %q", got)
	}
	if got := stats(t, dev.home); got.Messages != before0.Messages+8 {
		t.Errorf("after the click the home holds %d messages, want %d", got.Messages, before0.Messages+8)
	}
	noUploadsLeft(t, dev)
	if got := p.str(`document.getElementById('import-unreadable').textContent + ' ' + document.querySelector('.problem-list').textContent`); !strings.HasPrefix(got, "1 line could not be read") || !strings.Contains(got, "2025-02-30") {
		t.Errorf("the unreadable line shows as %q", got)
	}
	p.shot("import-done")
	p.click(`#nav a[data-view="history"]`)
	p.wait("the imported chat", `[...document.querySelectorAll('a.conv .conv-title')].some(e => e.textContent.startsWith('Dev Team'))`, 20*time.Second)
	before := stats(t, dev.home)

	// A file that is no chat export, by its path on this computer.
	notes := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(notes, []byte("eggs\nmilk\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.click(`#nav a[data-view="import"]`)
	p.click(`#import-how-path`)
	p.do(chromedp.SendKeys(chromedp.CSS("#import-path"), notes))
	p.click(`#start-import`)
	p.wait("the failure", `document.querySelector('.job').dataset.state === 'failed' && document.getElementById('import-result')`, 30*time.Second)
	if got := p.str(`document.getElementById('import-result').textContent`); !strings.Contains(got, "What to do") && !strings.Contains(strings.ToLower(got), "export") {
		t.Errorf("a bad export says %q", got)
	}
	p.shot("import-bad")
	if after := stats(t, dev.home); after != before {
		t.Errorf("a bad export changed the history: %+v, then %+v", before, after)
	}

	// The new views fit a phone, in the dark theme too.
	p.viewport(390, 844, true)
	p.colorScheme("dark")
	for _, v := range []string{"import", "backup", "restore"} {
		p.click(fmt.Sprintf(`#nav a[data-view=%q]`, v))
		p.wait("the "+v+" view", fmt.Sprintf(`document.querySelector('section.%s')`, v), 10*time.Second)
		if w := p.num(`document.documentElement.scrollWidth - window.innerWidth`); w > 0 {
			t.Errorf("the %s view is %vpx wider than a phone", v, w)
		}
		p.shot("phone-" + v)
	}
}

// TestBrowserBackupRestore: back up to a real relay's vault from the page,
// see the recovery key once and confirm it was written down, list the
// backup; on a second device, a wrong key says so and restores nothing,
// the right one restores the same history.
func TestBrowserBackupRestore(t *testing.T) {
	browser := startBrowser(t)
	relayAddr := startVaultRelay(t)
	old := startUIDevice(t, "old laptop", uiHome(t, 500, 1<<20, true))
	neu := startUIDevice(t, "new laptop", uiHome(t, 0, 0, false))

	a := newPage(t, browser, "old laptop's page")
	a.open(old.web.URL())
	a.click(`#nav a[data-view="backup"]`)
	a.do(chromedp.SendKeys(chromedp.CSS("#backup-relay"), relayAddr))
	a.click(`#start-backup`)
	a.wait("the recovery key", `document.getElementById('recovery-key') && document.getElementById('backup-done')`, 60*time.Second)
	key := a.str(`document.getElementById('recovery-key').textContent`)
	if len(strings.ReplaceAll(key, " ", "")) != 64 {
		t.Fatalf("the page shows the key %q", key)
	}
	if a.str(`String(document.getElementById('key-done').disabled)`) != "true" {
		t.Error("the key can be hidden before the person said they wrote it down")
	}
	a.shot("backup-key")
	id := a.str(`document.getElementById('backup-id').textContent`)
	// The key is nowhere the page could read it again, nor kept by it.
	var again struct {
		Status int    `json:"status"`
		Jobs   string `json:"jobs"`
		Store  string `json:"store"`
	}
	a.await(`(async () => {
		const j = document.querySelector('.job').dataset.job;
		const r = await fetch('/api/jobs/' + j + '/key', { method: 'POST' });
		const jobs = await (await fetch('/api/jobs')).text();
		return { status: r.status, jobs, store: JSON.stringify(localStorage) + JSON.stringify(sessionStorage) + location.href };
	})()`, &again)
	if again.Status != http.StatusGone || strings.Contains(again.Jobs, strings.ReplaceAll(key, " ", "")) || strings.Contains(again.Jobs, key) ||
		strings.Contains(again.Store, key) || strings.Contains(again.Store, strings.ReplaceAll(key, " ", "")) {
		t.Errorf("the key again: %d; jobs %s; storage %s", again.Status, again.Jobs, again.Store)
	}
	a.click(`#key-written`)
	a.click(`#key-done`)
	a.wait("the key hidden", `!document.getElementById('recovery-key') && document.getElementById('key-hidden')`, 10*time.Second)
	a.click(`#list-backups`)
	a.wait("the backup listed", fmt.Sprintf(`document.querySelector('.backup-item[data-id=%q]')`, id), 30*time.Second)
	if got := a.str(`document.querySelector('.backup-item').textContent`); !strings.Contains(got, "506 messages") {
		t.Errorf("the listed backup reads %q", got)
	}
	a.shot("backup-list")

	b := newPage(t, browser, "new laptop's page")
	b.open(neu.web.URL())
	b.click(`#nav a[data-view="restore"]`)
	b.do(chromedp.SendKeys(chromedp.CSS("#restore-relay"), relayAddr))
	if typ := b.str(`document.getElementById('restore-password').type + ' ' + document.getElementById('restore-key').type`); typ != "password password" {
		t.Errorf("the secrets are typed into %s fields", typ)
	}
	var other [32]byte
	rand.Read(other[:])
	b.do(chromedp.SendKeys(chromedp.CSS("#restore-key"), hex.EncodeToString(other[:])))
	b.click(`#start-restore`)
	b.wait("the wrong key's failure", `document.querySelector('.job').dataset.state === 'failed' && document.getElementById('restore-result')`, 60*time.Second)
	wrong := b.str(`document.getElementById('restore-result').textContent`)
	if !strings.Contains(strings.ToLower(wrong), "key") {
		t.Errorf("a wrong key says %q", wrong)
	}
	b.shot("restore-wrong-key")
	if neu.web.hist.exists() && stats(t, neu.home).Messages != 0 {
		t.Error("a wrong key restored messages")
	}
	if got := b.str(`document.getElementById('restore-key').value`); got != "" {
		t.Errorf("the key stays in its field after the restore started: %q", got)
	}
	b.do(chromedp.SendKeys(chromedp.CSS("#restore-key"), key))
	b.click(`#start-restore`)
	b.wait("the restore", `document.getElementById('restore-done')`, 60*time.Second)
	b.shot("restore-done")
	if a, b := stats(t, old.home), stats(t, neu.home); a.Digest != b.Digest {
		t.Errorf("restored digest %s, backed up %s", b.Digest, a.Digest)
	}
	b.click(`#nav a[data-view="history"]`)
	b.wait("the restored conversations", `document.querySelectorAll('a.conv').length > 3`, 20*time.Second)

	// Deleting the backup from the old laptop's list asks first: "Keep it"
	// keeps it; "Delete it from the relay" deletes it and the list shows
	// what is left.
	listed := func() int {
		t.Helper()
		bs, err := old.d.Backups(context.Background(), relayAddr)
		if err != nil {
			t.Fatal(err)
		}
		return len(bs)
	}
	a.click(`.backup-item .delete-backup`)
	a.wait("the question", `document.getElementById('keep-backup')`, 10*time.Second)
	a.shot("backup-delete-ask")
	a.click(`#keep-backup`)
	a.wait("the list as it was", `!document.getElementById('keep-backup') && document.querySelector('.backup-item .delete-backup')`, 10*time.Second)
	if n := listed(); n != 1 {
		t.Fatalf("after Keep it the relay holds %d backups", n)
	}
	a.click(`.backup-item .delete-backup`)
	a.click(`#confirm-delete-backup`)
	a.wait("the list refreshed", `document.getElementById('backup-list-note') && !document.querySelector('.backup-item') && document.querySelector('#backup-list .empty')`, 30*time.Second)
	if got := a.str(`document.getElementById('backup-list-note').textContent`); !strings.HasPrefix(got, "Deleted the backup of") {
		t.Errorf("after the delete the page says %q", got)
	}
	if n := listed(); n != 0 {
		t.Errorf("after the delete the relay holds %d backups", n)
	}
}

// TestBrowserSendTo: with a paired device, the send view offers it by
// name; a send to it shows no code, then that the receiver connected and
// how, and the verified result.
func TestBrowserSendTo(t *testing.T) {
	browser := startBrowser(t)
	old := startUIDevice(t, "old phone", uiHome(t, 300, 0, false))
	neu := startUIDevice(t, "new phone", uiHome(t, 0, 0, false))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := old.d.Send(ctx, ferry.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	link := s.Link()
	if _, err := neu.d.Receive(ctx, link, ferry.ReceiveOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	u, err := ferry.ParseURI(link)
	if err != nil {
		t.Fatal(err)
	}

	p := newPage(t, browser, "old phone's page")
	p.open(old.web.URL())
	p.click(`#nav a[data-view="send"]`)
	p.wait("the paired device offered", `document.querySelectorAll('#send-to option').length === 2`, 10*time.Second)
	p.do(chromedp.SetValue(chromedp.CSS("#send-to"), neu.peerID(t)))
	p.eval(`document.getElementById('send-to').dispatchEvent(new Event('change')), true`, nil)
	if got := p.str(`document.getElementById('send-help').textContent`); !strings.Contains(got, "new phone") {
		t.Errorf("the help reads %q", got)
	}
	p.click(`#start-send`)
	p.wait("the receiver named", `document.querySelector('.job .receiver')`, 30*time.Second)
	if n := p.num(`document.querySelectorAll('#send-code').length`); n != 0 {
		t.Error("a send to a paired device shows a code")
	}
	p.shot("send-to")
	if _, err := neu.d.Receive(ctx, "", ferry.ReceiveOptions{Addrs: u.Peers}); err != nil {
		t.Fatalf("receive with no code: %v", err)
	}
	p.wait("the result", `document.getElementById('send-verified')`, 30*time.Second)
	if got := p.str(`document.getElementById('send-connected').dataset.path + ' | ' + document.getElementById('send-connected').textContent`); !strings.HasPrefix(got, "direct (loopback) | Connected") {
		t.Errorf("the sender's page says %q", got)
	}
	p.shot("send-to-done")
}

// TestBrowserHostilePage: a page of another site (here, another port of
// 127.0.0.1, which the browser counts as the same site and sends the app's
// cookie to) open in the same browser as the signed-in app tries every
// endpoint that changes something or holds a secret — import by path and
// by upload, the import of a waiting preview, backup, a backup's key,
// deleting a backup, restore, send to a device, forget —
// by fetch (with and without CORS), by a form post and by reading the
// answers. It reads nothing and starts nothing.
func TestBrowserHostilePage(t *testing.T) {
	browser := startBrowser(t)
	dev := startUIDevice(t, "laptop", uiHome(t, 200, 0, false))
	ev := dev.events(t)
	// A finished backup whose key the page has not taken yet.
	relayAddr := startVaultRelay(t)
	bj := ev.until(t, dev.startJob(t, "/api/backup", webBackupRequest{Relay: relayAddr}).ID, "the end", ended)
	if !bj.Backup.KeyReady {
		t.Fatalf("backup: %+v", bj)
	}
	abs, _ := filepath.Abs(devTeam)
	// A preview that waits for its import.
	pj := ev.until(t, dev.startJob(t, "/api/import", webImportRequest{Path: abs, TimeZone: "UTC", Owner: "Tom", Preview: true}).ID, "the end", ended)
	if !pj.Ready {
		t.Fatalf("preview: %s %q", pj.State, pj.Error)
	}
	app := newPage(t, browser, "the app")
	app.open(dev.web.URL())
	before := stats(t, dev.home)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	evil := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><title>evil</title><body><form id="f" method="POST" enctype="text/plain" action="%[1]s/api/import"><input name='{"path":"%[2]s","x":"' value='"}'></form>
<script>
const app = %[1]q;
const tries = [
  ['/api/import', 'POST', JSON.stringify({path: %[2]q, owner: 'Tom'})],
  ['/api/import/upload?name=chat.txt', 'POST', '3/8/25, 9:05 AM - Bob: Morning!\n'],
  ['/api/backup', 'POST', JSON.stringify({relay: %[3]q})],
  ['/api/jobs/%[4]s/key', 'POST', ''],
  ['/api/restore', 'POST', JSON.stringify({relay: %[3]q, key: '%[5]s'})],
  ['/api/send', 'POST', JSON.stringify({to: 'laptop'})],
  ['/api/backups?relay=' + encodeURIComponent(%[3]q), 'GET', null],
  ['/api/jobs', 'GET', null],
  ['/api/jobs/%[6]s/import', 'POST', ''],
  ['/api/backups/%[7]s?relay=' + encodeURIComponent(%[3]q), 'DELETE', null],
];
window.results = [];
(async () => {
  for (const [p, method, body] of tries) {
    for (const mode of ['cors', 'no-cors']) {
      let r;
      try {
        const res = await fetch(app + p, { method, body, mode, credentials: 'include', headers: mode === 'cors' ? {'Content-Type': 'application/json'} : {} });
        r = { p, mode, status: res.status, type: res.type, body: await res.text() };
      } catch (e) {
        r = { p, mode, error: String(e) };
      }
      results.push(r);
    }
  }
  window.done = true;
})();
</script>`, strings.TrimSuffix(dev.base, "/"), abs, relayAddr, bj.ID, strings.Repeat("0", 64), pj.ID, bj.Backup.ID)
	})}
	go evil.Serve(ln)
	t.Cleanup(func() { evil.Close() })
	evilURL := "http://" + ln.Addr().String() + "/"

	// The hostile page opens in the tab that signed in: the browser holds
	// the app's cookie.
	p := app
	p.do(chromedp.Navigate(evilURL))
	p.wait("the hostile page's tries", `window.done === true`, 30*time.Second)
	var results []map[string]any
	p.eval(`window.results`, &results)
	if len(results) != 20 {
		t.Fatalf("the hostile page made %d tries: %v", len(results), results)
	}
	for _, r := range results {
		if body, _ := r["body"].(string); body != "" && !strings.Contains(body, "another site") && !strings.Contains(body, "Ferry's page") {
			t.Errorf("the hostile page read %v", r)
		}
		if st, ok := r["status"].(float64); ok && st != 0 && st != http.StatusForbidden {
			t.Errorf("the hostile page got %v", r)
		}
	}
	// The form post (a navigation, which carries the cookie and no CORS).
	p.do(chromedp.Navigate(evilURL))
	p.eval(`document.getElementById('f').submit(), true`, nil)
	p.waitAcrossNavigation("the form's answer", `location.href.includes('/api/import') && document.readyState === 'complete'`, 20*time.Second)
	if body := p.str(`document.body.innerText`); !strings.Contains(body, "another site") {
		t.Errorf("the form post was answered %q", body)
	}

	var jobs []webJob
	dev.getJSON(t, "/api/jobs", &jobs)
	if len(jobs) != 2 || jobs[0].ID != bj.ID || !jobs[0].Backup.KeyReady || jobs[1].ID != pj.ID || !jobs[1].Ready {
		t.Errorf("after the hostile page: %+v", jobs)
	}
	if bs, err := dev.d.Backups(context.Background(), relayAddr); err != nil || len(bs) != 1 {
		t.Errorf("after the hostile page the relay holds %d backups (%v)", len(bs), err)
	}
	if after := stats(t, dev.home); after != before {
		t.Errorf("the hostile page changed the history")
	}
	noUploadsLeft(t, dev)
	// The app's own page, opened again (signed in by its cookie), still
	// gets the key, once.
	app.open(dev.base + "/")
	var status float64
	app.await(fmt.Sprintf(`(async () => (await fetch('/api/jobs/%s/key', {method: 'POST'})).status)()`, bj.ID), &status)
	if status != http.StatusOK {
		t.Errorf("the app's page asked for the key: %v", status)
	}
}

// waitAcrossNavigation is wait for a page that is navigating: a check
// that the navigation cut off is made again in the new document.
func (p *page) waitAcrossNavigation(what, script string, timeout time.Duration) {
	p.t.Helper()
	end := time.Now().Add(timeout)
	js := waitScript(script, 2*time.Second)
	for time.Now().Before(end) {
		ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js, chromedp.EvalAwaitPromise))
		cancel()
		if err == nil && ok {
			return
		}
	}
	p.t.Fatalf("%s: no %s within %v", p.name, what, timeout)
}

// await runs a script whose value is a promise and decodes what it
// resolves to into v.
func (p *page) await(script string, v any) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 60*time.Second)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](script, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("%s: %s: %v", p.name, script, err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		p.t.Fatalf("%s: %s gave %s: %v", p.name, script, raw, err)
	}
}
