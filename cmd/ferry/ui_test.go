package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	lib "github.com/ferryhq/ferry"

	"github.com/ferryhq/ferry/pairing"
)

// TestUI runs ferry ui as a person would (without opening a browser): it
// prints the app's address with its key, serves the history there and the
// control socket meanwhile, and stops cleanly on Ctrl-C.
func TestUI(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	seed(t, home, 300, 0, 1)
	p := startProc(t, "--home", home, "ui", "--no-open")
	line := p.waitLine(func(l string) bool { return strings.HasPrefix(l, "ui: ") }, 30*time.Second)
	u, err := url.Parse(strings.TrimPrefix(line, "ui: "))
	if err != nil || u.Scheme != "http" || !strings.HasPrefix(u.Host, "127.0.0.1:") || u.Path != "/" || !strings.HasPrefix(u.Fragment, "token=") {
		t.Fatalf("ferry ui printed %q: want ui: http://127.0.0.1:PORT/#token=…", line)
	}
	token := strings.TrimPrefix(u.Fragment, "token=")
	get := func(path, auth string) (int, []byte) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+u.Host+path, nil)
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	if code, _ := get("/api/conversations", ""); code != http.StatusUnauthorized {
		t.Errorf("without the key: %d, want 401", code)
	}
	code, b := get("/api/conversations", token)
	var convs []map[string]any
	if code != http.StatusOK || json.Unmarshal(b, &convs) != nil || len(convs) == 0 {
		t.Errorf("with the key: %d %.200s", code, b)
	}
	if _, err := os.Stat(filepath.Join(home, "ferry.sock")); err != nil {
		t.Errorf("the control socket while ferry ui runs: %v", err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	p.waitOK(30 * time.Second)
	if _, err := os.Stat(filepath.Join(home, "ferry.sock")); err == nil {
		t.Error("the control socket is left behind")
	}
	if entries, _ := os.ReadDir(filepath.Join(home, "cache")); len(entries) > 1 {
		t.Errorf("ferry ui left files in the cache: %v", entries)
	}
}

func TestUIListensOnThisMachineOnly(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	seed(t, home, 10, 0, 1)
	for _, listen := range []string{"0.0.0.0:0", ":8080", "192.0.2.1:80"} {
		r := ferry(t, nil, "--home", home, "ui", "--no-open", "--listen", listen)
		if r.code != 2 || !strings.Contains(r.stderr, "this machine only") {
			t.Errorf("ferry ui --listen %s: exit %d, %q", listen, r.code, r.stderr)
		}
	}
}

// TestReceiveByLink: ferry receive takes the ferry: link of a sender's QR
// code as its CODE and dials the addresses it holds (no local-network
// search); a garbled link is a usage error with a sentence.
func TestReceiveByLink(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := filepath.Join(t.TempDir(), "src")
	want := seed(t, src, 500, 1, 3)
	d := &lib.Device{Home: src, Name: "old laptop", Listen: []string{"/ip4/127.0.0.1/tcp/0"}, NoMDNS: true, WorkDir: t.TempDir()}
	defer d.Close()
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := d.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s, err := d.Send(ctx, lib.SendOptions{})
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	c, err := pairing.ParseCode(s.Code())
	if err != nil {
		t.Fatal(err)
	}
	link := lib.URI{Code: c, Peers: st.Addrs}.String()

	dst := filepath.Join(t.TempDir(), "dst")
	if r := ferry(t, nil, "--home", dst, "receive", "ferry:7-zebra-acorn?peer=/ip4/127.0.0.1/tcp/1", "--yes"); r.code != 2 || !strings.Contains(r.stderr, "/p2p/") {
		t.Errorf("a link without a peer ID: exit %d, %q", r.code, r.stderr)
	}
	r := mustOK(t, ferry(t, nil, "--home", dst, "receive", link, "--yes"))
	if !strings.Contains(r.stdout, "done: ") {
		t.Errorf("receive by link printed %q", r.stdout)
	}
	if got := stats(t, dst); got.Digest != want.Digest {
		t.Errorf("received digest %s, want %s", got.Digest, want.Digest)
	}
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if _, err := s.Wait(wctx); err != nil {
		t.Errorf("send: %v", err)
	}
}

// TestDaemonUI: ferry daemon --ui serves the app beside the control socket.
func TestDaemonUI(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	seed(t, home, 50, 0, 1)
	p := startProc(t, "--home", home, "daemon", "--ui", "--listen", "/ip4/127.0.0.1/tcp/0")
	line := p.waitLine(func(l string) bool { return strings.HasPrefix(l, "ui: ") }, 30*time.Second)
	u, err := url.Parse(strings.TrimPrefix(line, "ui: "))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+u.Host+"/api/status", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimPrefix(u.Fragment, "token="))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("the daemon's app: %s", res.Status)
	}
	// The CLI meanwhile uses the daemon through its socket.
	r := mustOK(t, ferry(t, nil, "--home", home, "status", "--json"))
	if !strings.Contains(r.stdout, `"peer_id"`) {
		t.Errorf("ferry status beside the daemon: %s", r.stdout)
	}
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	p.waitOK(30 * time.Second)
}
