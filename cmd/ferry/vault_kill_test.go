package main

import (
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestVaultRelayKilledProcesses kills the ferry relay process with SIGKILL
// in the middle of a ferry backup and, separately, in the middle of a ferry
// restore, all three as real processes. With --relay-wait 0 the command
// fails at once with one sentence that tells the user to run it again;
// after the relay comes back (same port, data and vault directory) the
// same command again finishes, sending or fetching only what did not get
// across before, and the restored history has the source's digest. With
// the default --relay-wait the command says it lost the relay, waits, and
// finishes by itself once the relay is back.
//
// On loopback a backup of tens of MiB takes a fraction of a second, less
// than the interval of --json progress lines, so the device reaches the
// relay through slowLink, a TCP forwarder paced like a phone's uplink:
// the transfers then last seconds and the kill lands in their middle.
func TestVaultRelayKilledProcesses(t *testing.T) {
	dir := t.TempDir()
	r := startRelayProc(t, filepath.Join(dir, "relay"), filepath.Join(dir, "vault"))
	link := newSlowLink(t, fmt.Sprintf("127.0.0.1:%d", r.port), 16<<20)
	slowAddr := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", link.port(), r.id)
	directAddr := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", r.port, r.id)
	src := filepath.Join(dir, "src")
	want := seed(t, src, 5000, 48, 1)

	// Upload: the relay dies once part of the backup is stored.
	backup := []string{"--home", src, "--json", "backup", "--relay", slowAddr, "--relay-wait", "0"}
	p := startProc(t, backup...)
	cut := p.progressPast("backing up", 0.25)
	killed := time.Now()
	r.kill9()
	code, stdout, stderr := p.exit(time.Minute)
	t.Logf("backup cut at %d of %d bytes: exit %d %s after the kill, stdout %q, stderr:\n%s", cut.Done, cut.Total, code, time.Since(killed), stdout, stderr)
	checkRunAgain(t, "backup", code, stderr)
	if strings.Contains(stdout, "recovery_key") {
		t.Errorf("the cut backup printed %q: want no backup and no key before it is complete", stdout)
	}
	// Too early: the relay is still down. One sentence, nothing raw.
	again := ferry(t, nil, backup...)
	if msg := lastLine(again.stderr); again.code != 1 || !strings.Contains(msg, "cannot reach the relay") || strings.Contains(again.stderr, "dial") {
		t.Errorf("backup while the relay is down: exit %d, stderr %q; want exit 1 and one sentence saying the relay cannot be reached", again.code, again.stderr)
	}
	r.start()
	var bk struct {
		New           bool   `json:"new"`
		Chunks        int    `json:"chunks"`
		ChunksSent    int    `json:"chunks_sent"`
		ChunksSkipped int    `json:"chunks_skipped"`
		BytesSent     int64  `json:"bytes_sent"`
		RecoveryKey   string `json:"recovery_key"`
	}
	out := mustOK(t, ferry(t, nil, backup...)).stdout
	if err := json.Unmarshal([]byte(out), &bk); err != nil {
		t.Fatalf("backup --json output %q: %v", out, err)
	}
	t.Logf("backup again: %s", out)
	if bk.ChunksSkipped == 0 || bk.ChunksSent+bk.ChunksSkipped != bk.Chunks {
		t.Errorf("backup again sent %d and skipped %d of %d chunks: want the chunks stored before the kill skipped", bk.ChunksSent, bk.ChunksSkipped, bk.Chunks)
	}
	if limit := cut.Total - cut.Done*3/4; bk.BytesSent > limit {
		t.Errorf("backup again sent %d bytes; %d of %d were stored before the kill: want at most %d", bk.BytesSent, cut.Done, cut.Total, limit)
	}
	if !bk.New || bk.RecoveryKey == "" {
		t.Fatalf("backup again: new %v, recovery key %q; want the key shown (the cut backup never showed it)", bk.New, bk.RecoveryKey)
	}
	fresh := filepath.Join(dir, "fresh")
	mustOK(t, ferry(t, nil, "--home", fresh, "restore", "--relay", directAddr, "--key", bk.RecoveryKey))
	if got := stats(t, fresh); got != want {
		t.Errorf("restore of the resumed backup holds %+v, want %+v", got, want)
	}

	// Download: the relay dies once part of the backup is staged.
	dst := filepath.Join(dir, "dst")
	restore := []string{"--home", dst, "--json", "restore", "--relay", slowAddr, "--key", bk.RecoveryKey, "--relay-wait", "0"}
	p = startProc(t, append([]string{"--verbose"}, restore...)...)
	cut = p.progressPast("restoring", 0.25)
	killed = time.Now()
	r.kill9()
	code, stdout, stderr = p.exit(time.Minute)
	t.Logf("restore cut at %d of %d bytes: exit %d %s after the kill, stdout %q, stderr:\n%s", cut.Done, cut.Total, code, time.Since(killed), stdout, stderr)
	checkRunAgain(t, "restore", code, stderr)
	if !strings.Contains(stderr, "level=DEBUG msg=vault") || !strings.Contains(stderr, "get chunk") {
		t.Errorf("restore --verbose cut by the relay's death: stderr %q; want the cause behind the sentence logged", stderr)
	}
	if got := stats(t, dst); got.Messages != 0 || got.Attachments != 0 || got.Conversations != 0 {
		t.Errorf("after the cut restore the home holds %+v: want nothing until the whole backup is verified", got)
	}
	r.start()
	var rs struct {
		Target      struct{ Digest string } `json:"target"`
		Chunks      int                     `json:"chunks"`
		Resumed     int                     `json:"resumed"`
		Bytes       int64                   `json:"bytes"`
		DigestEqual bool                    `json:"digest_equal"`
	}
	out = mustOK(t, ferry(t, nil, restore...)).stdout
	if err := json.Unmarshal([]byte(out), &rs); err != nil {
		t.Fatalf("restore --json output %q: %v", out, err)
	}
	t.Logf("restore again: %s", out)
	if got := stats(t, dst); got != want || !rs.DigestEqual || rs.Target.Digest != want.Digest {
		t.Errorf("restore again: home holds %+v, reported digest %s (equal %v); want %+v", got, rs.Target.Digest, rs.DigestEqual, want)
	}
	if rs.Resumed == 0 {
		t.Errorf("restore again resumed 0 of %d chunks: want those staged before the kill kept", rs.Chunks)
	}
	if limit := cut.Total - cut.Done*3/4; rs.Bytes > limit {
		t.Errorf("restore again fetched %d bytes; %d of %d media bytes were staged before the kill: want at most %d", rs.Bytes, cut.Done, cut.Total, limit)
	}

	// The default --relay-wait: the commands ride out the relay's restart.
	rideOut := func(phase string, args ...string) string {
		t.Helper()
		p := startProc(t, args...)
		p.progressPast(phase, 0.25)
		r.kill9()
		p.waitRelayLost()
		r.start()
		code, stdout, stderr := p.exit(time.Minute)
		if code != 0 {
			t.Fatalf("ferry %v across the relay's restart: exit %d, stderr:\n%s", args, code, stderr)
		}
		return stdout
	}
	src2 := filepath.Join(dir, "src2")
	want2 := seed(t, src2, 5000, 48, 2)
	out = rideOut("backing up", "--home", src2, "--json", "backup", "--relay", slowAddr)
	bk.New, bk.RecoveryKey = false, ""
	if err := json.Unmarshal([]byte(out), &bk); err != nil || !bk.New || bk.RecoveryKey == "" || bk.ChunksSent != bk.Chunks {
		t.Fatalf("backup across the relay's restart printed %q (%v): want a new backup, all its objects sent, and its key", out, err)
	}
	dst2 := filepath.Join(dir, "dst2")
	stdout = rideOut("restoring", "--home", dst2, "--json", "restore", "--relay", slowAddr, "--key", bk.RecoveryKey)
	if got := stats(t, dst2); got != want2 || !strings.Contains(stdout, `"digest_equal":true`) {
		t.Errorf("restore across the relay's restart: home holds %+v, output %q; want %+v", got, stdout, want2)
	}
}

// waitRelayLost waits for the --json event saying the connection to the
// relay was lost and the command is trying again.
func (p *proc) waitRelayLost() {
	p.t.Helper()
	if _, ok := p.line(p.errLines, func(l string) bool { return strings.Contains(l, `"event":"relay_lost"`) }, 30*time.Second); !ok {
		code, stdout, stderr := p.exit(time.Minute)
		p.t.Fatalf("ferry %v: no relay_lost event after the relay was killed: exit %d\nstdout: %s\nstderr: %s", p.name, code, stdout, stderr)
	}
}

// checkRunAgain checks that a command cut by the relay's death failed with
// one sentence that says to run it again.
func checkRunAgain(t *testing.T, what string, code int, stderr string) {
	t.Helper()
	msg := lastLine(stderr)
	if code != 1 || !strings.HasPrefix(msg, "ferry: ") || !strings.Contains(msg, "run the same command again") {
		t.Errorf("%s cut by the relay's death: exit %d, message %q; want exit 1 and one sentence saying to run the same command again", what, code, msg)
	}
	for _, raw := range []string{"stream reset", "failed to dial", "connection refused", "/p2p/", "EOF"} {
		if strings.Contains(msg, raw) {
			t.Errorf("%s cut by the relay's death: message %q shows the raw error (%q)", what, msg, raw)
		}
	}
}

// lastLine is the last line of s that is not a --json progress line; an
// error printed as JSON (with --json) reads as the line it is without.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		var e struct{ Error, Hint string }
		if json.Unmarshal([]byte(lines[i]), &e) == nil && e.Error != "" {
			if e.Hint != "" {
				e.Error += ": " + e.Hint
			}
			return "ferry: " + e.Error
		}
		if !strings.HasPrefix(lines[i], "{") {
			return lines[i]
		}
	}
	return ""
}

// relayProc is a ferry relay process. Its port, data directory (identity)
// and vault directory are fixed, so that after a kill start brings back the
// same relay at the same address with the same backups.
type relayProc struct {
	t           *testing.T
	port        int
	data, vault string
	id          string
	p           *proc
}

func startRelayProc(t *testing.T, data, vault string) *relayProc {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relayProc{t: t, port: l.Addr().(*net.TCPAddr).Port, data: data, vault: vault}
	l.Close()
	r.start()
	return r
}

// start runs the relay and waits for its address line. A port still held
// for a moment after a kill makes the relay exit; start then tries again.
func (r *relayProc) start() {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		p := startProc(r.t, "relay", "--listen", fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", r.port), "--data", r.data, "--vault", "--vault-dir", r.vault)
		l, ok := p.line(p.stdout, func(l string) bool { return strings.HasPrefix(l, "relay: ") }, time.Until(deadline))
		if ok {
			id := l[strings.LastIndex(l, "/p2p/")+len("/p2p/"):]
			if r.id != "" && id != r.id {
				r.t.Fatalf("restarted relay has peer ID %s, want %s (same --data)", id, r.id)
			}
			r.id, r.p = id, p
			return
		}
		code, _, stderr := p.exit(10 * time.Second)
		if time.Now().After(deadline) || !strings.Contains(stderr, "address already in use") {
			r.t.Fatalf("ferry relay on port %d: exit %d, no address line; stderr:\n%s", r.port, code, stderr)
		}
		time.Sleep(100 * time.Millisecond) // pacing the retries, not a synchronisation
	}
}

// kill9 kills the relay with SIGKILL, by PID, and waits for it to be gone.
func (r *relayProc) kill9() { r.p.kill9() }

type progressLine struct {
	Event string `json:"event"`
	Phase string `json:"phase"`
	Done  int64  `json:"done"`
	Total int64  `json:"total"`
}

// progressPast waits for a --json progress line of phase beyond frac of its
// total, and fails if the work ends first.
func (p *proc) progressPast(phase string, frac float64) progressLine {
	p.t.Helper()
	var pl progressLine
	_, ok := p.line(p.errLines, func(l string) bool {
		pl = progressLine{}
		return json.Unmarshal([]byte(l), &pl) == nil && pl.Event == "progress" && pl.Phase == phase &&
			pl.Total > 0 && float64(pl.Done) > frac*float64(pl.Total)
	}, time.Minute)
	if !ok {
		code, stdout, stderr := p.exit(time.Minute)
		p.t.Fatalf("ferry %v: no %s progress past %.0f%%: exit %d\nstdout: %s\nstderr: %s", p.name, phase, frac*100, code, stdout, stderr)
	}
	if pl.Done >= pl.Total {
		p.t.Fatalf("ferry %v: %s finished (%d of %d) before it could be cut: the link is too fast", p.name, phase, pl.Done, pl.Total)
	}
	return pl
}

// slowLink forwards TCP connections from a port of its own to target,
// paced at rate bytes per second in each direction of each connection.
type slowLink struct {
	ln     net.Listener
	target string
	rate   int64

	mu    sync.Mutex
	conns []net.Conn // guarded by mu: to close at the end
}

func newSlowLink(t *testing.T, target string, rate int64) *slowLink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &slowLink{ln: ln, target: target, rate: rate}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.forward(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		wg.Wait()
	})
	return s
}

func (s *slowLink) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// forward joins c to a new connection to the target; when either side ends
// both are closed, as a dead relay's connection would be.
func (s *slowLink) forward(c net.Conn) {
	up, err := net.Dial("tcp", s.target)
	if err != nil {
		c.Close()
		return
	}
	s.mu.Lock()
	s.conns = append(s.conns, c, up)
	s.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.pace(up, c) }()
	go func() { defer wg.Done(); s.pace(c, up) }()
	wg.Wait()
}

// pace copies src to dst no faster than s.rate, then closes both.
func (s *slowLink) pace(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 16<<10)
	start := time.Now()
	var n int64
	for {
		k, err := src.Read(buf)
		if k > 0 {
			if _, err := dst.Write(buf[:k]); err != nil {
				return
			}
			n += int64(k)
			if ahead := time.Duration(n*int64(time.Second)/s.rate) - time.Since(start); ahead > 0 {
				time.Sleep(ahead) // pacing the bytes, not a synchronisation
			}
		}
		if err != nil {
			return
		}
	}
}
