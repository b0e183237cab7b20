package daemon

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// devTeam is a WhatsApp group export with three people and one line whose
// date does not exist.
var devTeam = filepath.Join("..", "importers", "testdata", "whatsapp", "android-iso", "WhatsApp Chat with Dev Team.txt")

// upload posts data to /api/import/upload as the page does.
func (u *uiDevice) upload(t testing.TB, name string, data []byte, params url.Values) uiResponse {
	t.Helper()
	if params == nil {
		params = url.Values{}
	}
	params.Set("name", name)
	req, err := http.NewRequest(http.MethodPost, u.base+"/api/import/upload?"+params.Encode(), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+u.token)
	req.Header.Set("Origin", u.base)
	req.Header.Set("Content-Type", "application/octet-stream")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(res.Body)
	return uiResponse{res, b.Bytes()}
}

// noUploadsLeft checks that nothing is staged in the home.
func noUploadsLeft(t *testing.T, u *uiDevice) {
	t.Helper()
	if left, _ := filepath.Glob(filepath.Join(u.home, ".staging", "upload-*")); len(left) != 0 {
		t.Errorf("staged uploads left behind: %v", left)
	}
}

// TestWebImport: an export uploaded from the page is imported; the app
// asks which of its people is the user, and the end says what was added
// and which line could not be read. The same export named by its path adds
// nothing twice. The staged upload is gone afterwards.
func TestWebImport(t *testing.T) {
	u := startUIDevice(t, "laptop", uiHome(t, 0, 0, false))
	ev := u.events(t)
	data, err := os.ReadFile(devTeam)
	if err != nil {
		t.Fatal(err)
	}
	res := u.upload(t, filepath.Base(devTeam), data, url.Values{"time_zone": {"UTC"}})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("upload: %s %s", res.Status, res.body)
	}
	var j webJob
	mustJSON(t, res.body, &j)
	j = ev.until(t, j.ID, "the question", func(j webJob) bool { return j.State == jobAsk })
	if strings.Join(j.Owners, ",") != "+49 170 1234567,Priya,Tom" && len(j.Owners) != 3 {
		t.Errorf("asked about %q", j.Owners)
	}
	if r := u.request(t, http.MethodPost, "/api/jobs/"+j.ID+"/owner", map[string]string{"owner": "Mallory"}, nil); r.StatusCode != http.StatusBadRequest {
		t.Errorf("an owner not in the export: %s %s", r.Status, r.body)
	}
	if r := u.request(t, http.MethodPost, "/api/jobs/"+j.ID+"/owner", map[string]string{"owner": "Tom"}, nil); r.StatusCode != http.StatusNoContent {
		t.Fatalf("owner: %s %s", r.Status, r.body)
	}
	j = ev.until(t, j.ID, "the end", func(j webJob) bool { return j.Ended })
	if j.State != jobDone || j.Import == nil {
		t.Fatalf("import: %s %s %s", j.State, j.Error, j.Hint)
	}
	r := j.Import
	if r.Added.Messages != 8 || r.Unreadable != 1 || len(r.Problems) != 1 || !strings.Contains(r.Problems[0].Text, "2025-02-30") ||
		len(r.Owner) != 1 || r.Owner[0] != "Tom" || j.Source != filepath.Base(devTeam) {
		t.Errorf("import result %+v (source %q)", r, j.Source)
	}
	if s := stats(t, u.home); s.Messages != 8 {
		t.Errorf("the home holds %d messages", s.Messages)
	}
	noUploadsLeft(t, u)

	// Again, by its path on this machine: nothing twice.
	abs, _ := filepath.Abs(devTeam)
	res = u.request(t, http.MethodPost, "/api/import", webImportRequest{Path: abs, TimeZone: "UTC", Owner: "Tom"}, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("import by path: %s %s", res.Status, res.body)
	}
	mustJSON(t, res.body, &j)
	j = ev.until(t, j.ID, "the end", func(j webJob) bool { return j.Ended })
	if j.State != jobDone || j.Import.Added.Messages != 0 || j.Import.Read != 8 {
		t.Errorf("the same export again: %s %+v", j.State, j.Import)
	}
	for _, c := range []struct{ path, want string }{
		{"", "give the path"},
		{"relative/chat.txt", "not a full path"},
		{"/no/such/export.zip", "there is no file"},
	} {
		res := u.request(t, http.MethodPost, "/api/import", webImportRequest{Path: c.path}, nil)
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(res.body), c.want) {
			t.Errorf("import %q: %s %s", c.path, res.Status, res.body)
		}
	}
}

// TestWebImportBadExport: a file that is no export, or an unknown time
// zone, ends the job with a sentence and what to do, and changes nothing.
func TestWebImportBadExport(t *testing.T) {
	u := startUIDevice(t, "laptop", uiHome(t, 300, 0, false))
	before := stats(t, u.home)
	ev := u.events(t)
	for _, c := range []struct {
		name, zone string
		data       []byte
		want       string
	}{
		{"notes.txt", "UTC", []byte("my shopping list\neggs\nmilk\n"), "not"},
		{"chat.zip", "UTC", []byte("PK\x03\x04 this is not a zip at all"), "zip"},
		{filepath.Base(devTeam), "Mars/Olympus", nil, "time zone"},
	} {
		data := c.data
		if data == nil {
			data, _ = os.ReadFile(devTeam)
		}
		res := u.upload(t, c.name, data, url.Values{"time_zone": {c.zone}, "owner": {"Tom"}})
		if res.StatusCode != http.StatusOK {
			t.Fatalf("upload %s: %s %s", c.name, res.Status, res.body)
		}
		var j webJob
		mustJSON(t, res.body, &j)
		j = ev.until(t, j.ID, "the end", func(j webJob) bool { return j.Ended })
		if j.State != jobFailed || !strings.Contains(strings.ToLower(j.Error+" "+j.Hint), c.want) {
			t.Errorf("%s: %s %q, hint %q", c.name, j.State, j.Error, j.Hint)
		}
	}
	if after := stats(t, u.home); after != before {
		t.Errorf("bad exports changed the history: %+v, then %+v", before, after)
	}
	noUploadsLeft(t, u)
}

// TestWebUploadCutOrTooLarge: an upload whose connection drops before the
// announced size arrived, one announcing more than an upload may be, one
// without a size or a name: nothing is staged or imported, no job starts.
func TestWebUploadCutOrTooLarge(t *testing.T) {
	u := startUIDevice(t, "laptop", uiHome(t, 100, 0, false))
	before := stats(t, u.home)
	data, err := os.ReadFile(devTeam)
	if err != nil {
		t.Fatal(err)
	}
	raw := func(header string, body []byte) string {
		t.Helper()
		c, err := net.Dial("tcp", u.host)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "%sHost: %s\r\nAuthorization: Bearer %s\r\nOrigin: %s\r\n\r\n", header, u.host, u.token, u.base)
		c.Write(body)
		if tc, ok := c.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, _ := bufio.NewReader(c).ReadString('\n')
		return line
	}
	// Cut: half the bytes, then the connection closes.
	got := raw(fmt.Sprintf("POST /api/import/upload?name=chat.txt HTTP/1.1\r\nContent-Length: %d\r\n", len(data)), data[:len(data)/2])
	// (The answer comes after the staged part is removed.)
	if !strings.Contains(got, " 400 ") {
		t.Errorf("a cut upload: %q", got)
	}
	// Too large: refused before a byte is read.
	if got := raw("POST /api/import/upload?name=chat.zip HTTP/1.1\r\nContent-Length: 5368709120\r\n", nil); !strings.Contains(got, " 413 ") {
		t.Errorf("an upload of 5 GiB: %q, want 413", got)
	}
	// No size (chunked): refused.
	if got := raw("POST /api/import/upload?name=chat.txt HTTP/1.1\r\nTransfer-Encoding: chunked\r\n", []byte("5\r\nhello\r\n0\r\n\r\n")); !strings.Contains(got, " 411 ") {
		t.Errorf("an upload without a size: %q, want 411", got)
	}
	for _, name := range []string{"", "..", "/", "a\x00b"} {
		if res := u.upload(t, name, data, nil); res.StatusCode != http.StatusBadRequest {
			t.Errorf("upload named %q: %s %s", name, res.Status, res.body)
		}
	}
	noUploadsLeft(t, u)
	var jobs []webJob
	u.getJSON(t, "/api/jobs", &jobs)
	for _, j := range jobs {
		if j.Kind == "import" {
			t.Errorf("a refused upload started %+v", j)
		}
	}
	if after := stats(t, u.home); after != before {
		t.Errorf("refused uploads changed the history")
	}
}
