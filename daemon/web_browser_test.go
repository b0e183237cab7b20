package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/importers"
)

// Browser tests: the web app in headless Chromium (Debian's chromium
// package), driven over the DevTools protocol. They start real web apps on
// real daemons and click through as a person would. Screenshots go to
// $FERRY_UI_SCREENSHOTS (default: the test's temporary folder).

// chromiumPath finds the browser, or skips the test.
func chromiumPath(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("FERRY_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium binary on PATH (apt-get install chromium, or set FERRY_CHROMIUM): the browser tests skip")
	return ""
}

// startBrowser starts a headless Chromium with a fresh profile that talks
// to nothing but the pages it is sent to.
func startBrowser(t testing.TB) context.Context {
	t.Helper()
	path := chromiumPath(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.Flag("disable-client-side-phishing-detection", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider,AutofillServerCommunication,CertificateTransparencyComponentUpdater"),
		chromedp.Flag("no-proxy-server", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.WindowSize(1280, 860),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	// Start the browser now, so that a broken install fails here.
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		cancelBrowser()
		cancelAlloc()
		t.Fatalf("start %s: %v", path, err)
	}
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
	})
	return bctx
}

// page is one browser tab, in a browser context of its own (its own
// cookies: another device).
type page struct {
	t     testing.TB
	ctx   context.Context
	name  string
	shots string // where screenshots go
}

func newPage(t testing.TB, browser context.Context, name string) *page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	p := &page{t: t, ctx: ctx, name: name, shots: screenshotDir(t)}
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("%s: new tab: %v", name, err)
	}
	return p
}

func (p *page) do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("%s: %v", p.name, err)
	}
}

// eval runs a script in the page and decodes its value into v.
func (p *page) eval(script string, v any) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 60*time.Second)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](script))
	if err != nil {
		p.t.Fatalf("%s: %s: %v", p.name, script, err)
	}
	if v != nil {
		if err := json.Unmarshal(raw, v); err != nil {
			p.t.Fatalf("%s: %s gave %s: %v", p.name, script, raw, err)
		}
	}
}

func (p *page) str(script string) string {
	p.t.Helper()
	var s string
	p.eval(script, &s)
	return s
}

func (p *page) num(script string) float64 {
	p.t.Helper()
	var n float64
	p.eval(script, &n)
	return n
}

// wait waits until script is true in the page: the page's own event
// loop checks it every few milliseconds (a promise that the expression's
// truth resolves), for at most timeout.
func (p *page) wait(what, script string, timeout time.Duration) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, timeout+10*time.Second)
	defer cancel()
	ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](waitScript(script, timeout), chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("%s: waiting for %s: %v", p.name, what, err)
	}
	if !ok {
		p.shot("failed-" + strings.ReplaceAll(what, " ", "-"))
		var body string
		p.eval(`document.body.innerText.slice(0, 2000)`, &body)
		p.t.Fatalf("%s: no %s within %v; the page says:\n%s", p.name, what, timeout, body)
	}
}

// waitScript is a promise that resolves to whether script became true
// within timeout, checked by the page's own event loop every 20 ms.
func waitScript(script string, timeout time.Duration) string {
	return fmt.Sprintf(`new Promise((resolve) => {
		const end = performance.now() + %d;
		const check = () => {
			let ok = false;
			try { ok = !!(%s); } catch (e) {}
			if (ok || performance.now() > end) return resolve(ok);
			setTimeout(check, 20);
		};
		check();
	})`, timeout.Milliseconds(), script)
}

// open loads the app from its printed URL and waits for its first view.
func (p *page) open(url string) {
	p.t.Helper()
	p.do(chromedp.Navigate(url))
	p.wait("the app", `document.documentElement.dataset.routed === 'true'`, 30*time.Second)
}

func (p *page) click(css string) {
	p.t.Helper()
	// chromedp clicks at the element's coordinates: wait until it stands
	// still (the same box over two frames), or a redraw that moves it in
	// between (a card that shrinks above it) sends the click elsewhere.
	var still bool
	p.await(fmt.Sprintf(`(async () => {
		let last = '';
		for (let i = 0; i < 200; i++) {
			const e = document.querySelector(%q);
			if (e) {
				e.scrollIntoView({ block: 'nearest' });
				const r = e.getBoundingClientRect();
				const now = [r.x, r.y, r.width, r.height].join();
				if (now === last && r.width > 0) return true;
				last = now;
			}
			await new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(ok)));
		}
		return false;
	})()`, css), &still)
	p.do(chromedp.Click(chromedp.CSS(css), chromedp.NodeVisible))
}

func screenshotDir(t testing.TB) string {
	if d := os.Getenv("FERRY_UI_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

func (p *page) shot(name string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	b, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Logf("%s: screenshot %s: %v", p.name, name, err)
		return
	}
	path := filepath.Join(p.shots, name+".png")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot: %s", path)
}

func (p *page) viewport(width, height int64, mobile bool) {
	p.t.Helper()
	p.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
			Width: width, Height: height, DeviceScaleFactor: 1, Mobile: mobile})
		return err
	}))
}

func (p *page) colorScheme(scheme string) {
	p.t.Helper()
	p.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
		return err
	}))
}

// TestBrowserMigration clicks through the app on two devices: read a
// conversation and scroll back, see a hostile import stay text, search
// and jump to a hit, start a send, type its link in the other device's
// page, accept the offer, and see progress reach 100 % and both digests
// checked.
func TestBrowserMigration(t *testing.T) {
	browser := startBrowser(t)
	old := startUIDevice(t, "old phone", uiHome(t, 4000, 6<<20, true))
	neu := startUIDevice(t, "new phone", uiHome(t, 0, 0, false))
	a := newPage(t, browser, "old phone's page")
	a.open(old.web.URL())
	if a.str(`location.hash`) != "#/history" {
		t.Errorf("after signing in the page is at %q: the key must leave the address bar", a.str(`location.href`))
	}

	// Read the busiest conversation, and scroll back through it.
	var convs []webConversation
	old.getJSON(t, "/api/conversations", &convs)
	big := convs[0]
	for _, c := range convs {
		if c.Messages > big.Messages {
			big = c
		}
	}
	a.wait("the conversations", `document.querySelectorAll('a.conv').length > 5`, 20*time.Second)
	a.click(fmt.Sprintf(`a.conv[data-id="%s"]`, big.ID))
	a.wait("the newest messages", `document.querySelectorAll('.messages li.msg').length >= 50`, 20*time.Second)
	a.shot("history")
	var shownLast string
	a.eval(`[...document.querySelectorAll('.messages li.msg')].pop().dataset.id`, &shownLast)
	var newest webPage
	old.getJSON(t, "/api/conversations/"+big.ID+"/messages?limit=1", &newest)
	if shownLast != newest.Messages[0].ID {
		t.Errorf("the last message shown is %s, the newest is %s", shownLast, newest.Messages[0].ID)
	}
	for i := 0; i < 3; i++ {
		before := a.num(`document.querySelectorAll('.messages li.msg').length`)
		firstBefore := a.str(`document.querySelector('.messages li.msg').dataset.id`)
		a.eval(`document.querySelector('.scroller').scrollTop = 0, true`, nil)
		a.wait("older messages", fmt.Sprintf(`document.querySelector('.messages li.msg').dataset.id !== %q`, firstBefore), 20*time.Second)
		if after := a.num(`document.querySelectorAll('.messages li.msg').length`); after <= before && after < 400 {
			t.Errorf("scrolling back: %v messages, then %v", before, after)
		}
	}
	var perf []struct {
		What string  `json:"what"`
		MS   float64 `json:"ms"`
	}
	a.eval(`globalThis.ferryPerf`, &perf)
	t.Logf("page timings: %+v", perf)

	// The hostile import: text stays text, in a body, a name and a file name.
	a.click(fmt.Sprintf(`a.conv[data-id="%s"]`, fixConv))
	a.wait("the fixture", fmt.Sprintf(`document.getElementById('m-%s')`, fixHostile), 20*time.Second)
	a.wait("the thumbnails", `[...document.querySelectorAll('img.thumb')].filter(i => i.complete && i.naturalWidth > 0).length >= 3`, 20*time.Second)
	a.shot("fixture")
	msg := fmt.Sprintf(`document.getElementById('m-%s')`, fixHostile)
	if got := a.str(msg + `.querySelector('.body').textContent`); got != uiHostileText {
		t.Errorf("the hostile body shows as %q", got)
	}
	if got := a.str(msg + `.querySelector('.sender').textContent`); got != "Mallory "+uiHostileText {
		t.Errorf("the hostile sender shows as %q", got)
	}
	if got := a.str(msg + `.querySelector('.file-name').textContent`); got != uiHostileText+".jpg" {
		t.Errorf("the hostile file name shows as %q", got)
	}
	if n := a.num(`document.querySelectorAll('img[src="x"], img:not([src^="/"]), script:not([src^="/"]), [onerror], [onload]').length`); n != 0 {
		t.Errorf("%v elements made of the hostile text", n)
	}
	if title := a.str(`document.title`); title != "Ferry" {
		t.Errorf("the page's title is %q: a script of the history ran", title)
	}
	if got := a.str(fmt.Sprintf(`document.getElementById('m-%s').querySelector('.body').textContent`, fixDeleted)); !strings.Contains(got, "deleted") {
		t.Errorf("the deleted message shows %q", got)
	}
	if got := a.str(fmt.Sprintf(`document.getElementById('m-%s').textContent`, fixReply)); !strings.Contains(got, "edited") || !strings.Contains(got, uiHostileText) {
		t.Errorf("the edited answer shows %q", got)
	}
	if n := a.num(fmt.Sprintf(`document.getElementById('m-%s').querySelectorAll('audio[controls], video[controls]').length`, fixMedia)); n != 2 {
		t.Errorf("%v players for the voice note and the video", n)
	}
	// Trusted Types: the page cannot turn text into HTML, even by mistake.
	if got := a.str(`(() => { try { document.body.insertAdjacentHTML('beforeend', '<b>x</b>'); return 'allowed' } catch (e) { return e.name } })()`); got != "TypeError" {
		t.Errorf("inserting HTML text: %s, want a TypeError from Trusted Types", got)
	}

	// Search, with the words found marked, and the jump to the message.
	a.click(`#nav a[data-view="search"]`)
	a.do(chromedp.SendKeys(chromedp.CSS("#q"), "onerror"+kb.Enter))
	a.wait("the hits", `document.querySelectorAll('.hits li.hit').length >= 1`, 30*time.Second)
	if got := a.str(`[...document.querySelectorAll('.hits mark')].map(m => m.textContent).join(',')`); got != "onerror" {
		t.Errorf("marked words %q, want onerror", got)
	}
	a.shot("search")
	a.click(`.hits li.hit a.jump`)
	a.wait("the message found", fmt.Sprintf(`document.querySelector('li.msg.target') && document.querySelector('li.msg.target').dataset.id === %q && document.activeElement.dataset.id === %q`, fixHostile.String(), fixHostile.String()), 20*time.Second)

	// Send: the code in large type and its QR code.
	a.click(`#nav a[data-view="send"]`)
	a.click(`#start-send`)
	a.wait("the code", `document.getElementById('send-code') && document.querySelector('img.qr') && document.querySelector('img.qr').complete && document.querySelector('img.qr').naturalWidth > 200`, 30*time.Second)
	code := a.str(`document.getElementById('send-code').textContent`)
	link := a.str(`document.querySelector('code.link').textContent`)
	if !strings.HasPrefix(link, "ferry:"+code+"?peer=") {
		t.Errorf("the page shows the code %q and the link %q", code, link)
	}
	if size := a.num(`parseFloat(getComputedStyle(document.getElementById('send-code')).fontSize)`); size < 30 {
		t.Errorf("the code is in %vpx type", size)
	}
	a.shot("send")

	// The other device: nothing yet; receive by the link, accept.
	b := newPage(t, browser, "new phone's page")
	b.open(neu.web.URL())
	b.wait("the empty history", `document.querySelector('.conv-list .empty')`, 10*time.Second)
	b.click(`#nav a[data-view="receive"]`)
	b.do(chromedp.SendKeys(chromedp.CSS("#code"), link))
	b.click(`#start-receive`)
	b.wait("the offer", `document.getElementById('accept')`, 30*time.Second)
	if got := b.str(`document.querySelector('.offer-text').textContent`); !strings.Contains(got, "old phone offers 4,006 messages") {
		t.Errorf("the offer reads %q", got)
	}
	b.shot("receive-offer")
	b.click(`#accept`)
	b.wait("the result", `document.getElementById('receive-verified')`, 60*time.Second)
	if got := b.str(`document.getElementById('receive-verified').textContent`); !strings.HasPrefix(got, "✓ Verified") {
		t.Errorf("the receiver shows %q", got)
	}
	if got := b.str(`document.getElementById('receive-progress').textContent`); !strings.HasPrefix(got, "100 %") {
		t.Errorf("the receiver's progress reads %q", got)
	}
	if got := b.num(`document.querySelector('.job progress').value / document.querySelector('.job progress').max`); got != 1 {
		t.Errorf("the progress bar stands at %v", got)
	}
	b.shot("receive-done")
	a.wait("the sender's result", `document.getElementById('send-verified')`, 30*time.Second)
	if got := a.str(`document.getElementById('send-verified').textContent`); !strings.HasPrefix(got, "✓ Verified") {
		t.Errorf("the sender shows %q", got)
	}
	a.shot("send-done")

	// The new device now reads the history it received.
	b.click(`#nav a[data-view="history"]`)
	b.wait("the received conversations", fmt.Sprintf(`document.querySelectorAll('a.conv').length === %d`, len(convs)), 20*time.Second)
	b.click(fmt.Sprintf(`a.conv[data-id="%s"]`, fixConv))
	b.wait("a received message", fmt.Sprintf(`document.getElementById('m-%s')`, fixHostile), 20*time.Second)

	// Devices: each now lists the other; forget it.
	b.click(`#nav a[data-view="devices"]`)
	b.wait("the paired device", `document.querySelectorAll('li.device').length === 1`, 10*time.Second)
	if got := b.str(`document.querySelector('.device-name').textContent`); got != "old phone" {
		t.Errorf("paired device %q", got)
	}
	b.click(`li.device .actions button`)
	b.click(`li.device .actions button.danger`)
	b.wait("no paired device", `document.querySelector('.devices .empty')`, 10*time.Second)
	if ds, _ := neu.d.Devices(context.Background()); len(ds) != 0 {
		t.Errorf("after forgetting: %v", ds)
	}
}

// TestBrowserPhoneKeyboardDark: the app at a phone's width, by keyboard
// only, and in the dark theme.
func TestBrowserPhoneKeyboardDark(t *testing.T) {
	browser := startBrowser(t)
	dev := startUIDevice(t, "phone", uiHome(t, 600, 0, true))
	p := newPage(t, browser, "phone")
	p.viewport(390, 844, true)
	p.open(dev.web.URL())
	p.wait("the conversations", `document.querySelectorAll('a.conv').length > 3`, 20*time.Second)
	if w := p.num(`document.documentElement.scrollWidth - window.innerWidth`); w > 0 {
		t.Errorf("the page is %vpx wider than a phone", w)
	}
	p.shot("phone-list")
	// Keyboard: Tab from the start reaches the navigation in order, each
	// with a visible focus ring, and Enter follows a link or presses a button.
	p.eval(`document.activeElement.blur(), true`, nil)
	var order []string
	for i := 0; i < 6; i++ {
		p.do(chromedp.KeyEvent(kb.Tab))
		var el struct {
			Text    string `json:"text"`
			Tag     string `json:"tag"`
			Outline string `json:"outline"`
		}
		p.eval(`(() => { const e = document.activeElement; return { text: e.textContent.trim(), tag: e.tagName, outline: getComputedStyle(e).outlineStyle } })()`, &el)
		order = append(order, el.Text)
		if el.Outline == "none" {
			t.Errorf("%s %q has focus but no visible outline", el.Tag, el.Text)
		}
	}
	if want := "History Search Send Receive Devices"; strings.Join(order[:5], " ") != want {
		t.Errorf("Tab order %q, want %s first", order, want)
	}
	// Open the first conversation by keyboard: the list gives way to it.
	p.eval(`document.querySelector('a.conv').focus(), true`, nil)
	p.do(chromedp.KeyEvent(kb.Enter))
	p.wait("the messages", `document.querySelectorAll('.messages li.msg').length > 0`, 20*time.Second)
	if vis := p.num(`document.querySelector('.conversations').offsetWidth`); vis != 0 {
		t.Errorf("at phone width the list stays beside the conversation (%vpx)", vis)
	}
	if w := p.num(`document.documentElement.scrollWidth - window.innerWidth`); w > 0 {
		t.Errorf("the conversation is %vpx wider than a phone", w)
	}
	p.shot("phone-conversation")
	p.click(`a.back`)
	p.wait("the list again", `document.querySelector('.conversations').offsetWidth > 0`, 10*time.Second)

	// Send by keyboard: the Send link, then the button, with Enter.
	p.eval(`document.querySelector('#nav a[data-view="send"]').focus(), true`, nil)
	p.do(chromedp.KeyEvent(kb.Enter))
	p.wait("the send view", `document.getElementById('start-send')`, 10*time.Second)
	p.eval(`document.getElementById('start-send').focus(), true`, nil)
	if tag := p.str(`document.activeElement.tagName`); tag != "BUTTON" {
		t.Errorf("the send control is a %s, not a button", tag)
	}
	p.do(chromedp.KeyEvent(kb.Enter))
	p.wait("the code", `document.getElementById('send-code')`, 30*time.Second)
	p.shot("phone-send")
	p.eval(`document.querySelector('.job button[data-focus="cancel"]').focus(), true`, nil)
	p.do(chromedp.KeyEvent(kb.Enter))
	p.wait("the cancelled send", `document.querySelector('.job').dataset.state === 'cancelled'`, 20*time.Second)

	// Dark theme: the system's choice is followed.
	p.viewport(1280, 860, false)
	light := p.str(`getComputedStyle(document.body).backgroundColor`)
	p.colorScheme("dark")
	p.click(`#nav a[data-view="history"]`)
	p.click(fmt.Sprintf(`a.conv[data-id="%s"]`, fixConv))
	p.wait("the fixture", fmt.Sprintf(`document.getElementById('m-%s')`, fixPhotos), 20*time.Second)
	dark := p.str(`getComputedStyle(document.body).backgroundColor`)
	var rgb [3]int
	if _, err := fmt.Sscanf(dark, "rgb(%d, %d, %d)", &rgb[0], &rgb[1], &rgb[2]); err != nil || rgb[0]+rgb[1]+rgb[2] > 120 || dark == light {
		t.Errorf("dark theme background %q (light %q)", dark, light)
	}
	p.shot("dark")
}

// TestBrowserImportedEvents: in an imported WhatsApp chat, the encryption
// notice reads as an event (no sender, no "Unknown"), and a message whose
// media the export left out says so.
func TestBrowserImportedEvents(t *testing.T) {
	browser := startBrowser(t)
	home := filepath.Join(t.TempDir(), "home")
	ctx := context.Background()
	st, err := chatstore.Open(ctx, home, chatstore.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	export := filepath.Join("..", "importers", "testdata", "whatsapp", "android-en-US", "WhatsApp Chat with Bob Smith.txt")
	if _, err := importers.Import(ctx, st, export, importers.Options{Location: time.UTC, Owner: "Alice Jones"}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	dev := startUIDevice(t, "laptop", home)
	p := newPage(t, browser, "laptop")
	p.open(dev.web.URL())
	p.wait("the conversation", `document.querySelectorAll('a.conv').length === 1`, 20*time.Second)
	p.click(`a.conv`)
	p.wait("the messages", `document.querySelectorAll('.messages li.msg').length > 5`, 20*time.Second)
	if n := p.num(`document.querySelectorAll('.messages li.msg.event').length`); n != 1 {
		t.Errorf("%v events shown, want 1", n)
	}
	if s := p.str(`document.querySelector('.messages li.msg.event').textContent`); !strings.Contains(s, "end-to-end encrypted") {
		t.Errorf("the event reads %q", s)
	}
	if s := p.str(`document.querySelector('.messages').textContent`); strings.Contains(s, "Unknown (") {
		t.Errorf("a sender is shown as unknown:\n%s", s)
	}
	if s := p.str(`[...document.querySelectorAll('.messages .omitted')].map((e) => e.textContent).join('|')`); s != "An attachment the export did not include." {
		t.Errorf("media left out of the export: %q", s)
	}
	p.shot("imported-events")
}
