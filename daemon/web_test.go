package daemon

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/jpeg"
	"io/fs"
	"mime"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/pairing"
)

// The web app's security tests (see SECURITY.md, "A web page in the user's
// browser"), against the real server on loopback over a real daemon and a
// real history; the browser tests (web_browser_test.go) show the same in
// Chromium.

func TestWebListensOnLoopbackOnly(t *testing.T) {
	home := uiHome(t, 0, 0, false)
	for _, listen := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:0", "[fe80::1%lo]:0", "example.com:0", "127.0.0.1", "127.0.0.1:http", "127.0.0.1:70000"} {
		w, err := NewWebServer(nil, WebConfig{Home: home, Listen: listen})
		if err == nil {
			w.Close()
			t.Errorf("NewWebServer(%q) listens on %s: want refused", listen, w.Addr())
		}
	}
	for _, listen := range []string{"", "127.0.0.1:0", "localhost:0", "127.0.0.2:0"} {
		w, err := NewWebServer(nil, WebConfig{Home: home, Listen: listen})
		if err != nil {
			t.Errorf("NewWebServer(%q): %v", listen, err)
			continue
		}
		if ip := w.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
			t.Errorf("NewWebServer(%q) listens on %s", listen, w.Addr())
		}
		if !strings.HasPrefix(w.URL(), "http://127.0.0.") || !strings.Contains(w.URL(), "/#token=") {
			t.Errorf("URL %q: want http://127.0.0.x:PORT/#token=…", w.URL())
		}
		w.Close()
	}
	if _, err := NewWebServer(nil, WebConfig{Home: home, Listen: "0.0.0.0:0"}); !errors.Is(err, ErrNotLoopback) {
		t.Errorf("0.0.0.0: %v, want ErrNotLoopback", err)
	}
}

// apiPaths are the /api/ routes of the table, with their parameters filled.
func apiPaths(t *testing.T, u *uiDevice) []webRoute {
	var out []webRoute
	for _, r := range u.web.table() {
		p := strings.NewReplacer("{id}", fixConv.String()).Replace(r.path)
		switch {
		case strings.HasPrefix(r.path, "/api/media/"), strings.HasPrefix(r.path, "/api/thumbs/"):
			p = strings.Replace(r.path, "{id}", fixJPEG.String(), 1)
		case strings.HasPrefix(r.path, "/api/jobs/"):
			p = strings.Replace(r.path, "{id}", "j-000000000000", 1)
		case r.path == "/api/search":
			p += "?q=onerror"
		}
		out = append(out, webRoute{path: p, method: r.method})
	}
	if len(out) < 10 {
		t.Fatalf("the handler table has %d routes", len(out))
	}
	return out
}

// secrets are strings of the fixture that no refused request may show.
var uiSecrets = []string{"Fixture chat", "Mallory", "three photos", fixConv.String(), "\xff\xd8\xff"}

func TestWebNeedsTheToken(t *testing.T) {
	u := startUIDevice(t, "phone", uiHome(t, 200, 1<<20, true))
	for _, r := range apiPaths(t, u) {
		if r.path == "/api/login" {
			continue
		}
		for name, hdr := range map[string]map[string]string{
			"no key":       {"Authorization": ""},
			"wrong bearer": {"Authorization": "Bearer " + strings.Repeat("A", len(u.token))},
			"bare token":   {"Authorization": u.token},
			"wrong cookie": {"Authorization": "", "Cookie": u.web.guard.cookie.Name + "=" + u.token},
			"other cookie": {"Authorization": "", "Cookie": "ferry_ui_1=" + u.web.guard.cookie.Value},
		} {
			res := u.request(t, r.method, r.path, nil, hdr)
			if res.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s %s with %s: %s, want 401", r.method, r.path, name, res.Status)
			}
			for _, s := range uiSecrets {
				if bytes.Contains(res.body, []byte(s)) {
					t.Errorf("%s %s with %s answered with the history (%q): %s", r.method, r.path, name, s, res.body)
				}
			}
		}
	}

	// The login trades the token for the cookie, and only the token.
	res := u.request(t, http.MethodPost, "/api/login", loginRequest{Token: u.token + "x"}, map[string]string{"Authorization": ""})
	if res.StatusCode != http.StatusUnauthorized || len(res.Cookies()) != 0 {
		t.Errorf("login with a wrong token: %s, cookies %v", res.Status, res.Cookies())
	}
	res = u.request(t, http.MethodPost, "/api/login", loginRequest{Token: u.token}, map[string]string{"Authorization": ""})
	if res.StatusCode != http.StatusNoContent || len(res.Cookies()) != 1 {
		t.Fatalf("login: %s, cookies %v", res.Status, res.Cookies())
	}
	c := res.Cookies()[0]
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Value == u.token {
		t.Errorf("cookie %s: want HttpOnly, SameSite=Strict, Path=/, and not the token itself", res.Header.Get("Set-Cookie"))
	}
	res = u.request(t, http.MethodGet, "/api/conversations", nil, map[string]string{"Authorization": "", "Cookie": c.Name + "=" + c.Value})
	if res.StatusCode != http.StatusOK || !bytes.Contains(res.body, []byte("Fixture chat")) {
		t.Errorf("with the cookie: %s %.200s", res.Status, res.body)
	}
	// The page itself holds no history and needs no key.
	res = u.request(t, http.MethodGet, "/", nil, map[string]string{"Authorization": ""})
	if res.StatusCode != http.StatusOK || !bytes.Contains(res.body, []byte("/js/app.js")) {
		t.Errorf("GET / without a key: %s", res.Status)
	}
}

func TestWebChecksHost(t *testing.T) {
	u := startUIDevice(t, "phone", uiHome(t, 50, 0, true))
	_, port, _ := net.SplitHostPort(u.host)
	other := strconv.Itoa(mustAtoi(t, port) + 1)
	for _, host := range []string{"evil.example", "evil.example:" + port, "127.0.0.1:" + other, "localhost." + "evil.example:" + port,
		"127.0.0.1", "127.0.0.1.nip.io:" + port, "0.0.0.0:" + port, "[::ffff:127.0.0.1]:" + port, " "} {
		for _, p := range []string{"/", "/js/app.js", "/api/conversations", "/api/status"} {
			res := u.request(t, http.MethodGet, p, nil, map[string]string{"Host": host})
			if res.StatusCode != http.StatusMisdirectedRequest {
				t.Errorf("GET %s with Host %q: %s, want 421", p, host, res.Status)
			}
			if bytes.Contains(res.body, []byte("Fixture chat")) || bytes.Contains(res.body, []byte("import")) {
				t.Errorf("GET %s with Host %q answered %.100s", p, host, res.body)
			}
		}
	}
	for _, host := range []string{"127.0.0.1:" + port, "localhost:" + port, "LocalHost:" + port, "[::1]:" + port} {
		if res := u.request(t, http.MethodGet, "/api/conversations", nil, map[string]string{"Host": host}); res.StatusCode != http.StatusOK {
			t.Errorf("Host %q: %s, want 200", host, res.Status)
		}
	}
}

func mustAtoi(t *testing.T, s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestWebChecksOrigin(t *testing.T) {
	u := startUIDevice(t, "phone", uiHome(t, 50, 0, true))
	// A paired device, which a forged forget must not remove.
	trust, err := pairing.Open(u.home)
	if err != nil {
		t.Fatal(err)
	}
	pid := newPeerID(t)
	if err := trust.Add(pairing.Device{PeerID: pid, NoiseStatic: make([]byte, 32), Name: "laptop", PairedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	login := u.request(t, http.MethodPost, "/api/login", loginRequest{Token: u.token}, map[string]string{"Authorization": ""})
	cookie := login.Cookies()[0]
	asPage := map[string]string{"Authorization": "", "Cookie": cookie.Name + "=" + cookie.Value}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range asPage {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	_, port, _ := net.SplitHostPort(u.host)
	foreign := []string{"http://evil.example", "http://127.0.0.1:" + strconv.Itoa(mustAtoi(t, port)+1), "null", "https://127.0.0.1:" + port, "http://127.0.0.1:" + port + ".evil.example"}
	for _, origin := range foreign {
		for _, r := range []webRoute{{"/api/send", http.MethodPost, nil}, {"/api/receive", http.MethodPost, nil},
			{"/api/devices/" + pid.String(), http.MethodDelete, nil}, {"/api/login", http.MethodPost, nil},
			{"/api/events", http.MethodGet, nil}, {"/api/conversations", http.MethodGet, nil},
			{"/api/import", http.MethodPost, nil}, {"/api/import/upload?name=chat.txt", http.MethodPost, nil},
			{"/api/backup", http.MethodPost, nil}, {"/api/restore", http.MethodPost, nil},
			{"/api/jobs/j-000000000000/key", http.MethodPost, nil}, {"/api/jobs/j-000000000000/owner", http.MethodPost, nil},
			{"/api/backups", http.MethodGet, nil}, {"/api/jobs/j-000000000000/import", http.MethodPost, nil},
			{"/api/backups/" + strings.Repeat("0f", 16), http.MethodDelete, nil}} {
			var body any
			switch r.path {
			case "/api/receive":
				body = webReceiveRequest{Code: "7-zebra-acorn"}
			case "/api/login":
				body = loginRequest{Token: u.token}
			case "/api/import":
				body = webImportRequest{Path: "/etc/hostname"}
			case "/api/import/upload?name=chat.txt":
				body = "3/8/25, 9:05 AM - Bob: Morning!"
			case "/api/restore":
				body = webRestoreRequest{Key: strings.Repeat("0", 64)}
			}
			res := u.request(t, r.method, r.path, body, with(map[string]string{"Origin": origin}))
			if res.StatusCode != http.StatusForbidden {
				t.Errorf("%s %s from %s: %s, want 403", r.method, r.path, origin, res.Status)
			}
		}
	}
	// Requests the browser marks as coming from another site or page.
	for _, site := range []string{"cross-site", "same-site"} {
		for _, p := range []string{"/api/events", "/api/conversations", "/api/media/" + fixJPEG.String()} {
			if res := u.request(t, http.MethodGet, p, nil, with(map[string]string{"Sec-Fetch-Site": site})); res.StatusCode != http.StatusForbidden {
				t.Errorf("GET %s with Sec-Fetch-Site %s: %s, want 403", p, site, res.Status)
			}
		}
	}
	// A change with the cookie but no Origin at all (no browser sends that).
	if res := u.request(t, http.MethodPost, "/api/send", nil, with(map[string]string{"Origin": ""})); res.StatusCode != http.StatusForbidden {
		t.Errorf("POST /api/send without Origin: %s, want 403", res.Status)
	}
	var jobs []webJob
	u.getJSON(t, "/api/jobs", &jobs)
	if len(jobs) != 0 {
		t.Errorf("refused requests started %d jobs: %+v", len(jobs), jobs)
	}
	if ds, err := trust.List(); err != nil || len(ds) != 1 {
		t.Errorf("the paired device after refused forgets: %v, %v", ds, err)
	}
	// The app's own page is let through.
	res := u.request(t, http.MethodDelete, "/api/devices/"+pid.String(), nil, with(map[string]string{"Origin": u.base, "Sec-Fetch-Site": "same-origin"}))
	if res.StatusCode != http.StatusNoContent {
		t.Errorf("DELETE from the app's page: %s %s", res.Status, res.body)
	}
	if ds, _ := trust.List(); len(ds) != 0 {
		t.Errorf("the device was not forgotten: %v", ds)
	}
}

func TestWebNoCORSAndStrictHeaders(t *testing.T) {
	u := startUIDevice(t, "phone", uiHome(t, 50, 0, true))
	for _, c := range []struct {
		method, path string
		hdr          map[string]string
	}{
		{http.MethodGet, "/", nil},
		{http.MethodGet, "/js/app.js", nil},
		{http.MethodGet, "/app.css", nil},
		{http.MethodGet, "/api/conversations", map[string]string{"Origin": u.base}},
		{http.MethodGet, "/api/conversations", map[string]string{"Authorization": ""}},
		{http.MethodOptions, "/api/send", map[string]string{"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}},
		{http.MethodOptions, "/api/conversations", map[string]string{"Origin": u.base, "Access-Control-Request-Method": "GET"}},
		{http.MethodGet, "/api/nothing", nil},
		{http.MethodGet, "/nothing.js", nil},
		{http.MethodGet, "/", map[string]string{"Host": "evil.example"}},
	} {
		res := u.request(t, c.method, c.path, nil, c.hdr)
		for k := range res.Header {
			if strings.HasPrefix(strings.ToLower(k), "access-control-") {
				t.Errorf("%s %s: CORS header %s: %s", c.method, c.path, k, res.Header.Get(k))
			}
		}
		if c.method == http.MethodOptions && res.StatusCode < 400 {
			t.Errorf("preflight %s %s: %s, want refused", c.method, c.path, res.Status)
		}
		if got := res.Header.Get("Content-Security-Policy"); got != webCSP {
			t.Errorf("%s %s: CSP %q", c.method, c.path, got)
		}
		for k, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
			"Cross-Origin-Resource-Policy": "same-origin"} {
			if got := res.Header.Get(k); got != want {
				t.Errorf("%s %s: %s %q, want %q", c.method, c.path, k, got, want)
			}
		}
	}
	for _, want := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "require-trusted-types-for 'script'"} {
		if !strings.Contains(webCSP, want) {
			t.Errorf("CSP lacks %s", want)
		}
	}
	if strings.Contains(webCSP, "unsafe") || strings.Contains(webCSP, "*") || strings.Contains(webCSP, "data:") {
		t.Errorf("CSP allows too much: %s", webCSP)
	}
}

// TestWebPageHasNoInlineScript reads the embedded page: scripts only from
// files, no inline handlers or styles, and no script that turns text into
// HTML (innerHTML and its kin) or code (eval).
func TestWebPageHasNoInlineScript(t *testing.T) {
	sawJS := 0
	err := fs.WalkDir(webFiles, "webui", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := webFiles.ReadFile(p)
		if err != nil {
			return err
		}
		switch filepath.Ext(p) {
		case ".html":
			doc, err := html.Parse(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			var walk func(*html.Node)
			walk = func(n *html.Node) {
				if n.Type == html.ElementNode {
					if n.Data == "style" {
						t.Errorf("%s: a <style> element", p)
					}
					hasSrc := false
					for _, a := range n.Attr {
						k := strings.ToLower(a.Key)
						if strings.HasPrefix(k, "on") || k == "style" {
							t.Errorf("%s: <%s %s=%q>", p, n.Data, a.Key, a.Val)
						}
						if k == "src" {
							hasSrc = true
							if !strings.HasPrefix(a.Val, "/") || strings.HasPrefix(a.Val, "//") {
								t.Errorf("%s: <%s src=%q> not from the app", p, n.Data, a.Val)
							}
						}
						if k == "href" && strings.Contains(a.Val, ":") {
							t.Errorf("%s: <%s href=%q>", p, n.Data, a.Val)
						}
					}
					if n.Data == "script" && (!hasSrc || n.FirstChild != nil) {
						t.Errorf("%s: an inline script", p)
					}
				}
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					walk(c)
				}
			}
			walk(doc)
		case ".js":
			sawJS++
			src := string(b)
			for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "setTimeout('", "setTimeout(\"",
				".style.", "cssText", "javascript:", "http://", "https://", "createContextualFragment", "DOMParser"} {
				if strings.Contains(src, bad) {
					t.Errorf("%s uses %s", p, bad)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if sawJS < 5 {
		t.Fatalf("read %d scripts: the walk is broken", sawJS)
	}
}

func TestWebMediaTypes(t *testing.T) {
	u := startUIDevice(t, "phone", uiHome(t, 0, 0, true))
	for _, c := range []struct {
		id          chatstore.ID
		ctype, disp string
		name        string
	}{
		{fixJPEG, "image/jpeg", "inline", uiHostileText + ".jpg"},
		{fixPNG, "image/png", "inline", "photo.png"},
		{fixGIF, "image/gif", "inline", "anim.gif"},
		{fixAudio, "audio/ogg", "inline", "voice.ogg"},
		{fixVideo, "video/mp4", "inline", "clip.mp4"},
		{fixSVG, "application/octet-stream", "attachment", "drawing.svg"},
		{fixHTML, "application/octet-stream", "attachment", uiHostileText + ".html"},
		{fixOdd, "application/octet-stream", "attachment", "odd.jpg"},
	} {
		res := u.request(t, http.MethodGet, "/api/media/"+c.id.String(), nil, nil)
		if res.StatusCode != http.StatusOK {
			t.Errorf("%s: %s %s", c.name, res.Status, res.body)
			continue
		}
		if got := res.Header.Get("Content-Type"); got != c.ctype {
			t.Errorf("%s: Content-Type %q, want %q", c.name, got, c.ctype)
		}
		if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options %q", c.name, got)
		}
		if got := res.Header.Get("Content-Security-Policy"); !strings.Contains(got, "sandbox") {
			t.Errorf("%s: CSP %q, want a sandbox", c.name, got)
		}
		disp, params, err := mime.ParseMediaType(res.Header.Get("Content-Disposition"))
		if err != nil || disp != c.disp {
			t.Errorf("%s: Content-Disposition %q (%v), want %s", c.name, res.Header.Get("Content-Disposition"), err, c.disp)
		}
		if want := strings.ReplaceAll(c.name, "/", "_"); params["filename"] != want {
			t.Errorf("%s: download name %q", c.name, params["filename"])
		}
		dl := u.request(t, http.MethodGet, "/api/media/"+c.id.String()+"?download=1", nil, nil)
		if d, _, _ := mime.ParseMediaType(dl.Header.Get("Content-Disposition")); d != "attachment" {
			t.Errorf("%s?download=1: %q", c.name, dl.Header.Get("Content-Disposition"))
		}
	}
	// Audio and video players ask for ranges.
	full := u.request(t, http.MethodGet, "/api/media/"+fixVideo.String(), nil, nil)
	part := u.request(t, http.MethodGet, "/api/media/"+fixVideo.String(), nil, map[string]string{"Range": "bytes=100-199"})
	if part.StatusCode != http.StatusPartialContent || !bytes.Equal(part.body, full.body[100:200]) ||
		part.Header.Get("Content-Range") != "bytes 100-199/"+strconv.Itoa(len(full.body)) {
		t.Errorf("Range 100-199: %s %q, %d bytes", part.Status, part.Header.Get("Content-Range"), len(part.body))
	}
}

func TestMediaKindOf(t *testing.T) {
	for in, want := range map[string]string{
		"image/jpeg": "image/jpeg", "IMAGE/PNG": "image/png", "image/webp": "image/webp", "audio/ogg; codecs=opus": "audio/ogg",
		"video/mp4": "video/mp4", "image/svg+xml": "application/octet-stream", "image/SVG": "application/octet-stream",
		"text/html": "application/octet-stream", "application/xhtml+xml": "application/octet-stream", "video/vnd.foo+xml": "application/octet-stream",
		"application/pdf": "application/octet-stream", "": "application/octet-stream", "image/": "application/octet-stream",
		"image/jpeg\r\nX-Evil: 1": "application/octet-stream", "text/plain": "application/octet-stream", "image/x-icon": "image/x-icon",
		"audio/../../x": "application/octet-stream",
	} {
		if _, got := mediaKindOf(in); got != want {
			t.Errorf("mediaKindOf(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestWebMediaPathTraversal: media are asked for by attachment ID; nothing
// else in a URL reaches a file.
func TestWebMediaPathTraversal(t *testing.T) {
	u := startUIDevice(t, "phone", uiHome(t, 50, 1<<20, true))
	hash := blakeOfFile(t, u, fixJPEG)
	client := &http.Client{Timeout: 10 * time.Second}
	for _, p := range []string{
		"/api/media/../history.db", "/api/media/..%2fhistory.db", "/api/media/%2e%2e%2fhistory.db", "/api/media/%2e%2e/%2e%2e/history.db",
		"/api/media/..%2F..%2F..%2F..%2Fetc%2Fpasswd", "/api/media//etc/passwd", "/api/media/%2Fetc%2Fpasswd", "/api/media/" + hash,
		"/api/media/" + hash[:2] + "/" + hash, "/api/media/" + fixJPEG.String() + "/../../history.db", "/api/media/" + fixJPEG.String() + "%2f..%2f..%2fhistory.db",
		"/api/thumbs/../history.db", "/api/thumbs/..%2f..%2fhistory.db", "/api/thumbs//etc/passwd", "/media/" + hash[:2] + "/" + hash,
		"/history.db", "/../history.db", "/%2e%2e/history.db", "/..%2fhistory.db", "/js/../../web.go", "/js/..%2f..%2fweb.go", "/webui/index.html",
		"/devices.json", "/" + chatstore.IndexName, "/api/media/C:%5cWindows%5cwin.ini", "/api/media/" + strings.ToUpper(fixJPEG.String()) + "x",
	} {
		req, err := http.NewRequest(http.MethodGet, u.base+p, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+u.token)
		res, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", p, err)
		}
		var b bytes.Buffer
		b.ReadFrom(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusNotFound && res.StatusCode != http.StatusBadRequest {
			t.Errorf("GET %s: %s (ended at %s), want 404", p, res.Status, res.Request.URL.Path)
		}
		for _, leak := range []string{"SQLite format 3", "root:", "\xff\xd8\xff", "package daemon", "Fixture chat"} {
			if bytes.Contains(b.Bytes(), []byte(leak)) {
				t.Errorf("GET %s answered with %q", p, leak)
			}
		}
	}
}

// blakeOfFile is the media hash of an attachment, as its path in the home names it.
func blakeOfFile(t *testing.T, u *uiDevice, id chatstore.ID) string {
	st, err := chatstore.Open(context.Background(), u.home, chatstore.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	f, err := st.AttachedFile(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return f.Hash.String()
}

func TestWebThumbnails(t *testing.T) {
	u := startUIDevice(t, "phone", uiHome(t, 0, 0, true))
	for _, c := range []struct {
		id   chatstore.ID
		w, h int
	}{{fixJPEG, 480, 360}, {fixPNG, 480, 360}, {fixGIF, 300, 200}} {
		res := u.request(t, http.MethodGet, "/api/thumbs/"+c.id.String(), nil, nil)
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "image/jpeg" {
			t.Errorf("thumbnail of %s: %s %s %.100s", c.id, res.Status, res.Header.Get("Content-Type"), res.body)
			continue
		}
		img, err := jpeg.Decode(bytes.NewReader(res.body))
		if err != nil {
			t.Errorf("thumbnail of %s: %v", c.id, err)
			continue
		}
		if b := img.Bounds(); b.Dx() != c.w || b.Dy() != c.h {
			t.Errorf("thumbnail of %s is %v, want %d × %d", c.id, b.Size(), c.w, c.h)
		}
		cache := filepath.Join(u.home, "cache", "thumbs", blakeOfFile(t, u, c.id)+".jpg")
		fi, err := os.Stat(cache)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("cached thumbnail %s: %v %v, want mode 0600", cache, fi.Mode(), err)
			continue
		}
		if di, _ := os.Stat(filepath.Dir(cache)); di.Mode().Perm() != 0o700 {
			t.Errorf("thumbnail folder mode %v, want 0700", di.Mode())
		}
		// The next request is served from the cache.
		marker := testJPEG(t, 7, 5)
		if err := os.WriteFile(cache, marker, 0o600); err != nil {
			t.Fatal(err)
		}
		if again := u.request(t, http.MethodGet, "/api/thumbs/"+c.id.String(), nil, nil); !bytes.Equal(again.body, marker) {
			t.Errorf("second thumbnail of %s was not the cached one", c.id)
		}
	}
	for _, id := range []chatstore.ID{fixHTML, fixSVG, fixAudio, fixID(99)} {
		res := u.request(t, http.MethodGet, "/api/thumbs/"+id.String(), nil, nil)
		if res.StatusCode == http.StatusOK {
			t.Errorf("thumbnail of %s: %s %s", id, res.Status, res.Header.Get("Content-Type"))
		}
	}
}

// TestWebThumbnailBomb: an image whose header claims 12000 × 12000 pixels
// (a few hundred bytes on disk, 144 MB decoded) is refused from its
// header, before anything is decoded.
func TestWebThumbnailBomb(t *testing.T) {
	u := startUIDevice(t, "phone", uiHome(t, 0, 0, true))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	res := u.request(t, http.MethodGet, "/api/thumbs/"+fixBombAt.String(), nil, nil)
	runtime.ReadMemStats(&after)
	if res.StatusCode != http.StatusUnprocessableEntity || !bytes.Contains(res.body, []byte("too large")) {
		t.Errorf("thumbnail of the bomb: %s %s", res.Status, res.body)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 32<<20 {
		t.Errorf("refusing the bomb allocated %d MiB", n>>20)
	}
	if _, err := os.Stat(filepath.Join(u.home, "cache", "thumbs", blakeOfFile(t, u, fixBombAt)+".jpg")); err == nil {
		t.Error("a thumbnail of the bomb was kept")
	}
	// The same check in makeThumb, at the limits.
	for _, c := range []struct {
		w, h int
		ok   bool
	}{{100000, 1, false}, {1, 100000, false}, {16384, 16, true}} {
		_, err := makeThumb(bytes.NewReader(pngBomb(t, c.w, c.h)), thumbMaxBytes)
		if tooLarge := err != nil && strings.Contains(err.Error(), "too large"); tooLarge == c.ok {
			t.Errorf("makeThumb of %d × %d: %v", c.w, c.h, err)
		}
	}
}

func TestScaleDown(t *testing.T) {
	for _, c := range []struct{ w, h, ww, wh int }{{1600, 1200, 480, 360}, {1200, 1600, 360, 480}, {100, 50, 100, 50}, {5000, 3, 480, 1}, {480, 480, 480, 480}} {
		got := scaleDown(testImage(c.w, c.h), thumbSize).Bounds()
		if got.Dx() != c.ww || got.Dy() != c.wh {
			t.Errorf("scaleDown %d × %d = %v, want %d × %d", c.w, c.h, got.Size(), c.ww, c.wh)
		}
	}
	// Transparent pixels come out white; colours are kept.
	img := image.NewNRGBA(image.Rect(0, 0, 4, 4))
	if r, g, b, _ := scaleDown(img, 2).At(0, 0).RGBA(); r>>8 != 255 || g>>8 != 255 || b>>8 != 255 {
		t.Errorf("a transparent pixel became %d %d %d", r>>8, g>>8, b>>8)
	}
	src := testImage(64, 64)
	if r, _, _, _ := scaleDown(src, 8).At(7, 0).RGBA(); r>>8 < 200 {
		t.Errorf("the red of the right edge became %d", r>>8)
	}
}

var cursorRE = regexp.MustCompile(`^[0-9]+\.[0-9a-f]{32}$`)

func TestWebMessagesPaging(t *testing.T) {
	u := startUIDevice(t, "phone", uiHome(t, 3000, 0, false))
	var convs []webConversation
	u.getJSON(t, "/api/conversations", &convs)
	if len(convs) < 5 {
		t.Fatalf("%d conversations", len(convs))
	}
	big := convs[0]
	for _, c := range convs {
		if c.Messages > big.Messages {
			big = c
		}
		if c.Messages > 0 && (c.Last == nil || c.LastText == nil) {
			t.Errorf("conversation %q lacks its last message", c.Title)
		}
	}
	if big.Messages < 200 {
		t.Fatalf("the largest conversation has %d messages", big.Messages)
	}
	base := "/api/conversations/" + big.ID + "/messages"
	// Back from the newest page to the start, then forward again.
	var page webPage
	u.getJSON(t, base+"?limit=37", &page)
	if page.MoreAfter || !page.MoreBefore || len(page.Messages) != 37 {
		t.Fatalf("newest page: %d messages, more before %v, after %v", len(page.Messages), page.MoreBefore, page.MoreAfter)
	}
	back := page.Messages
	for page.MoreBefore {
		cursor := page.Messages[0].Cursor
		page = webPage{}
		u.getJSON(t, base+"?limit=37&before="+cursor, &page)
		back = append(page.Messages, back...)
	}
	if int64(len(back)) != big.Messages {
		t.Fatalf("paging back read %d messages of %d", len(back), big.Messages)
	}
	seen := map[string]bool{}
	for i, m := range back {
		if seen[m.ID] {
			t.Fatalf("message %s twice", m.ID)
		}
		seen[m.ID] = true
		if !cursorRE.MatchString(m.Cursor) {
			t.Fatalf("cursor %q", m.Cursor)
		}
		if i > 0 && m.Sent < back[i-1].Sent {
			t.Fatalf("message %d is older than the one before it", i)
		}
	}
	fwd := []webMessage{back[0]}
	for more := true; more; {
		page = webPage{}
		u.getJSON(t, base+"?limit=50&after="+fwd[len(fwd)-1].Cursor, &page)
		fwd, more = append(fwd, page.Messages...), page.MoreAfter
	}
	if len(fwd) != len(back) {
		t.Fatalf("paging forward read %d messages, back %d", len(fwd), len(back))
	}
	for i := range fwd {
		if fwd[i].ID != back[i].ID {
			t.Fatalf("message %d: %s forward, %s back", i, fwd[i].ID, back[i].ID)
		}
	}
	// Around a message: it is in the middle.
	mid := back[len(back)/2]
	page = webPage{}
	u.getJSON(t, base+"?limit=20&around="+mid.ID, &page)
	if len(page.Messages) != 21 || page.Messages[10].ID != mid.ID || !page.MoreBefore || !page.MoreAfter {
		t.Errorf("around %s: %d messages, the 11th %s", mid.ID, len(page.Messages), page.Messages[10].ID)
	}
	for _, bad := range []string{"?limit=0", "?limit=201", "?limit=x", "?before=123", "?before=x.y", "?after=1." + mid.ID + "0",
		"?before=" + mid.Cursor + "&after=" + mid.Cursor, "?around=" + mid.ID + "&before=" + mid.Cursor, "?around=nothex"} {
		if res := u.request(t, http.MethodGet, base+bad, nil, nil); res.StatusCode != http.StatusBadRequest {
			t.Errorf("GET messages%s: %s, want 400", bad, res.Status)
		}
	}
	if res := u.request(t, http.MethodGet, "/api/conversations/"+convs[1].ID+"/messages?around="+mid.ID, nil, nil); res.StatusCode != http.StatusNotFound {
		t.Errorf("around a message of another conversation: %s, want 404", res.Status)
	}
}

func TestWebSearchHighlights(t *testing.T) {
	u := startUIDevice(t, "phone", uiHome(t, 500, 0, true))
	var res webSearch
	u.getJSON(t, "/api/search?q=ONERROR", &res)
	if len(res.Hits) != 1 || res.Hits[0].ID != fixHostile.String() {
		t.Fatalf("search onerror: %+v", res.Hits)
	}
	var b strings.Builder
	var marked []string
	for _, s := range res.Hits[0].Highlight {
		b.WriteString(s.Text)
		if s.Match {
			marked = append(marked, s.Text)
		}
	}
	if b.String() != uiHostileText || len(marked) != 1 || marked[0] != "onerror" {
		t.Errorf("highlight %+v", res.Hits[0].Highlight)
	}
	if r := u.request(t, http.MethodGet, "/api/search?q=%22%22", nil, nil); r.StatusCode != http.StatusBadRequest {
		t.Errorf("an empty search: %s", r.Status)
	}
	// A home without a history answers with nothing, not an error.
	empty := startUIDevice(t, "new", uiHome(t, 0, 0, false))
	var none webSearch
	empty.getJSON(t, "/api/search?q=hello", &none)
	var convs []webConversation
	empty.getJSON(t, "/api/conversations", &convs)
	if len(none.Hits) != 0 || len(convs) != 0 {
		t.Errorf("an empty home: %v %v", none, convs)
	}
}
