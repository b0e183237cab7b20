package daemon

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"github.com/ferryhq/ferry"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lukechampine.com/blake3"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/chatstore/seed"
)

// uiDevice is one device for the web app's tests: a real daemon (libp2p on
// loopback, no mDNS) and its web app on a port of loopback, over a home
// with a real history.
type uiDevice struct {
	home  string
	d     *ferry.Device
	web   *WebServer
	base  string // http://127.0.0.1:PORT
	host  string // 127.0.0.1:PORT
	token string
}

// uiHome makes a home with messages seeded messages (none: no history at
// all) and the hand-made fixture when fixture is set.
func uiHome(t testing.TB, messages int, mediaBytes int64, fixture bool) string {
	t.Helper()
	ctx := context.Background()
	home := filepath.Join(t.TempDir(), "home")
	if messages == 0 && !fixture {
		if err := os.Mkdir(home, 0o700); err != nil {
			t.Fatal(err)
		}
		return home
	}
	st, err := chatstore.Open(ctx, home, chatstore.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	if messages > 0 {
		if _, err := seed.Add(ctx, st, seed.Options{Messages: messages, MediaBytes: mediaBytes, Seed: 7}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	if fixture {
		addUIFixture(t, home)
	}
	return home
}

// startUIDevice starts a device and its web app on home.
func startUIDevice(t testing.TB, name, home string) *uiDevice {
	t.Helper()
	return startUIDeviceClock(t, name, home, nil)
}

// startUIDeviceClock is startUIDevice with the web app's clock (nil: the
// real one).
func startUIDeviceClock(t testing.TB, name, home string, now func() time.Time) *uiDevice {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := &ferry.Device{Home: home, Name: name, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, NoMDNS: true, WorkDir: t.TempDir()}
	if err := d.Start(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	web, err := NewWebServer(d, WebConfig{Home: home, Now: now})
	if err != nil {
		cancel()
		d.Close()
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- web.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("web app of %s: %v", name, err)
		}
		d.Close()
	})
	u, err := url.Parse(web.URL())
	if err != nil {
		t.Fatal(err)
	}
	return &uiDevice{home: home, d: d, web: web, base: "http://" + u.Host, host: u.Host,
		token: strings.TrimPrefix(u.Fragment, "token=")}
}

// uiResponse is an answer read whole.
type uiResponse struct {
	*http.Response
	body []byte
}

// request sends one request to the device's web app: with the bearer token
// unless hdr says otherwise (an "Authorization" of "" sends none), and the
// app's own Origin on requests that change something unless hdr names
// another ("" sends none).
func (u *uiDevice) request(t testing.TB, method, path string, body any, hdr map[string]string) uiResponse {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	// A bounded wait: an answer that does not end (an event stream that
	// should have been refused) fails the test instead of hanging it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+u.token)
	if method != http.MethodGet && method != http.MethodHead {
		req.Header.Set("Origin", u.base)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read: %v", method, path, err)
	}
	return uiResponse{res, b}
}

func (u *uiDevice) getJSON(t testing.TB, path string, v any) {
	t.Helper()
	r := u.request(t, http.MethodGet, path, nil, nil)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %s", path, r.Status, r.body)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, r.body)
	}
}

// The fixture: a conversation made by hand to hold what a hostile import
// could bring, and real images to preview. Its IDs are fixed.
var (
	fixConv    = fixID(1)
	fixSender  = fixID(2)
	fixHostile = fixID(10) // body: uiHostileText; files with hostile names and types
	fixPhotos  = fixID(11) // a JPEG, a PNG and a GIF
	fixReply   = fixID(12) // answers fixHostile, edited
	fixDeleted = fixID(13)
	fixMedia   = fixID(14) // audio and video
	fixBomb    = fixID(15) // a PNG that claims 12000 × 12000 pixels

	// attachments
	fixJPEG   = fixID(30)
	fixPNG    = fixID(31)
	fixGIF    = fixID(32)
	fixHTML   = fixID(33) // text/html, named uiHostileText + ".html"
	fixSVG    = fixID(34) // image/svg+xml
	fixOdd    = fixID(35) // "image/jpeg\" onload=\"x" as its type
	fixAudio  = fixID(36)
	fixVideo  = fixID(37)
	fixBombAt = fixID(38)
)

// uiHostileText is a message body, a sender's name and a file name from a
// hostile import: it must show as these characters.
const uiHostileText = `<img src=x onerror="document.title='pwned'">`

func fixID(b byte) chatstore.ID {
	var id chatstore.ID
	binary.BigEndian.PutUint64(id[:8], uint64(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixMilli())<<16)
	id[8], id[15] = 0xf1, b
	return id
}

func addUIFixture(t testing.TB, home string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(home, chatstore.DBName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixMilli()
	exec(`INSERT INTO contacts (id, name, phone, updated) VALUES (?, ?, '', 1)`, fixSender[:], "Mallory "+uiHostileText)
	exec(`INSERT INTO conversations (id, kind, title, created, updated) VALUES (?, 1, ?, ?, ?)`, fixConv[:], "Fixture chat", at, at)
	msg := func(id chatstore.ID, n int64, body string, replyTo *chatstore.ID, edited, deleted int64) {
		var rt any
		if replyTo != nil {
			rt = replyTo[:]
		}
		exec(`INSERT INTO messages (id, conversation, sender, sent, received, body, reply_to, edited, deleted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			id[:], fixConv[:], fixSender[:], at+n*1000, at+n*1000, body, rt, edited, deleted)
	}
	msg(fixHostile, 0, uiHostileText, nil, 0, 0)
	msg(fixPhotos, 1, "three photos", nil, 0, 0)
	msg(fixReply, 2, "an answer, edited", &fixHostile, at+5000, 0)
	msg(fixDeleted, 3, "what was deleted", nil, 0, at+6000)
	msg(fixMedia, 4, "a voice note and a video", nil, 0, 0)
	msg(fixBomb, 5, "a bomb", nil, 0, 0)
	file := func(id, m chatstore.ID, name, mime string, data []byte) {
		h := blake3.Sum256(data)
		exec(`INSERT INTO attachments (id, message, hash, size, mime, name) VALUES (?, ?, ?, ?, ?, ?)`, id[:], m[:], h[:], len(data), mime, name)
		p := filepath.Join(home, chatstore.MediaDir, fmt.Sprintf("%x", h[:1]), fmt.Sprintf("%x", h))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	file(fixJPEG, fixHostile, uiHostileText+".jpg", "image/jpeg", testJPEG(t, 1600, 1200))
	file(fixHTML, fixHostile, uiHostileText+".html", "text/html", []byte(`<script>document.title='pwned'</script>`))
	file(fixSVG, fixHostile, "drawing.svg", "image/svg+xml", []byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`))
	file(fixOdd, fixHostile, "odd.jpg", `image/jpeg" onload="x`, testJPEG(t, 10, 10))
	file(fixPNG, fixPhotos, "photo.png", "image/png", testPNG(t, 800, 600))
	file(fixGIF, fixPhotos, "anim.gif", "image/gif", testGIF(t, 300, 200))
	file(fixAudio, fixMedia, "voice.ogg", "audio/ogg; codecs=opus", bytes.Repeat([]byte("OggS audio bytes "), 4096))
	file(fixVideo, fixMedia, "clip.mp4", "video/mp4", bytes.Repeat([]byte("video bytes "), 8192))
	file(fixBombAt, fixBomb, "bomb.png", "image/png", pngBomb(t, 12000, 12000))
	// The index learns of rows through Merge, Seed and importers, not of
	// rows written by hand: let the first search build it again.
	os.Remove(filepath.Join(home, chatstore.IndexName))
}

// testImage is a gradient, so that a thumbnail shows something.
func testImage(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.NRGBA{uint8(255 * x / w), uint8(255 * y / h), 160, 255})
		}
	}
	return img
}

func testJPEG(t testing.TB, w, h int) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, testImage(w, h), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func testPNG(t testing.TB, w, h int) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, testImage(w, h)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func testGIF(t testing.TB, w, h int) []byte {
	var b bytes.Buffer
	if err := gif.Encode(&b, testImage(w, h), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// pngBomb is a small PNG whose header claims w × h pixels: a valid
// picture of a few rows, cut short.
func pngBomb(t testing.TB, w, h int) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, w, 2))); err != nil {
		t.Fatal(err)
	}
	data := b.Bytes()
	// IHDR's height is at bytes 20..24 (after the 8-byte signature, the
	// chunk length and type, and the width); its CRC follows the 13 bytes.
	binary.BigEndian.PutUint32(data[20:24], uint32(h))
	crc := crc32.ChecksumIEEE(data[12:29])
	binary.BigEndian.PutUint32(data[29:33], crc)
	return data
}

// uiEvents reads a device's event stream as the page does.
type uiEvents struct {
	jobs chan webJob
	stop context.CancelFunc
	done chan struct{}
}

func (u *uiDevice) events(t testing.TB) *uiEvents {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.base+"/api/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+u.token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		cancel()
		t.Fatalf("GET /api/events: %s %s", res.Status, res.Header.Get("Content-Type"))
	}
	e := &uiEvents{jobs: make(chan webJob, 4096), stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(e.done)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		kind := ""
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				kind = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: ") && kind == "job":
				var j webJob
				if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &j); err == nil {
					select {
					case e.jobs <- j:
					default:
					}
				}
			case line == "":
				kind = ""
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-e.done
	})
	return e
}

// until waits for a state of job id that ok accepts.
func (e *uiEvents) until(t testing.TB, id string, what string, ok func(webJob) bool) webJob {
	t.Helper()
	timeout := time.After(60 * time.Second)
	var last webJob
	for {
		select {
		case j := <-e.jobs:
			if j.ID != id {
				continue
			}
			last = j
			if ok(j) {
				return j
			}
			if j.Ended && !ok(j) {
				t.Fatalf("job %s (%s) ended before %s: %s %s; log %+v", id, j.Kind, what, j.State, j.Error, j.Log)
			}
		case <-timeout:
			t.Fatalf("job %s: no %s within a minute; last %+v", id, what, last)
		}
	}
}

func mustJSON(t testing.TB, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v in %s", err, b)
	}
}

func newPeerID(t *testing.T) peer.ID {
	t.Helper()
	_, pub, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// peerID is the device's peer ID.
func (u *uiDevice) peerID(t testing.TB) string {
	t.Helper()
	st, err := u.d.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.PeerID
}
