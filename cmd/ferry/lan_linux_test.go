package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	lib "github.com/ferryhq/ferry"

	"github.com/ferryhq/ferry/internal/netns"
)

// startFerry starts ferry with args inside ns.
func startFerry(t *testing.T, ns *netns.NS, args ...string) *proc {
	t.Helper()
	cmd := ns.Command(context.Background(), ferryBin, args...)
	return startCmd(t, cmd, args, func() error { return ns.Start(cmd) })
}

// event parses a --json event line (nil if the line is not one).
func event(l string) *lib.Event {
	var e lib.Event
	if json.Unmarshal([]byte(l), &e) != nil || e.Kind == "" {
		return nil
	}
	return &e
}

func isEvent(kind lib.EventKind) func(string) bool {
	return func(l string) bool { e := event(l); return e != nil && e.Kind == kind }
}

// result reads the final {"event":"result"} line of a send or receive.
func (p *proc) result(timeout time.Duration) lib.Report {
	p.t.Helper()
	l := p.waitLine(func(l string) bool { return strings.Contains(l, `"event":"result"`) }, timeout)
	var r struct {
		Report lib.Report `json:"report"`
	}
	if err := json.Unmarshal([]byte(l), &r); err != nil {
		p.t.Fatalf("result line %q: %v", l, err)
	}
	return r.Report
}

// lan is two phones on one Wi-Fi: namespaces a and b on one bridge.
type lan struct {
	lab  *netns.Lab
	wifi *netns.Bridge
	a, b *netns.NS
	dir  string
}

func newLAN(t *testing.T) *lan {
	lab := netns.New(t)
	wifi := lab.Bridge("wifi")
	return &lan{lab: lab, wifi: wifi, a: lab.Host("a", wifi), b: lab.Host("b", wifi), dir: t.TempDir()}
}

// sendCode starts ferry send in ns and returns it with its code.
func sendCode(t *testing.T, ns *netns.NS, home string, extra ...string) (*proc, string) {
	t.Helper()
	p := startFerry(t, ns, append([]string{"--home", home, "--json", "send"}, extra...)...)
	l := p.waitLine(isEvent(lib.EventCode), 60*time.Second)
	return p, event(l).Code
}

func TestLANMigrationWithDaemons(t *testing.T) {
	n := newLAN(t)
	homeA, homeB := filepath.Join(n.dir, "a"), filepath.Join(n.dir, "b")
	want := seed(t, homeA, 4000, 4, 1)
	if err := os.Mkdir(homeB, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, d := range []struct {
		ns   *netns.NS
		home string
	}{{n.a, homeA}, {n.b, homeB}} {
		p := startFerry(t, d.ns, "--home", d.home, "daemon")
		p.waitLine(func(l string) bool { return strings.HasPrefix(l, "control: ") }, 30*time.Second)
		t.Cleanup(func() {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			if err := p.wait(); err != nil {
				t.Errorf("daemon in %s did not stop cleanly on SIGTERM: %v\n%s", d.home, err, p.errText())
			}
			if _, err := os.Stat(socketPath(d.home)); !os.IsNotExist(err) {
				t.Errorf("daemon left its socket %s behind", socketPath(d.home))
			}
		})
	}
	var st lib.Status
	if err := json.Unmarshal([]byte(mustOK(t, ferry(t, nil, "--home", homeB, "--json", "status")).stdout), &st); err != nil || st.PeerID == "" {
		t.Fatalf("status of B: %+v, %v", st, err)
	}
	send, code := sendCode(t, n.a, homeA)
	recv := startFerry(t, n.b, "--home", homeB, "--json", "receive", code, "--yes")
	got := recv.result(2 * time.Minute)
	recv.waitOK(10 * time.Second)
	sent := send.result(30 * time.Second)
	send.waitOK(10 * time.Second)
	if got.TargetDigest != want.Digest || sent.TargetDigest != want.Digest {
		t.Errorf("digests: receiver %s, sender saw %s, want %s", got.TargetDigest, sent.TargetDigest, want.Digest)
	}
	if sent.ReceiverID != st.PeerID {
		t.Errorf("the sender's report names %q (%s), want B (%s)", sent.Receiver, sent.ReceiverID, st.PeerID)
	}
	if s := stats(t, homeB); s != want {
		t.Errorf("receiver holds %+v, want %+v", s, want)
	}

	// A second migration later moves only what is new, and needs no code
	// when the sender names the paired device it sends to.
	mustOK(t, ferry(t, nil, "--home", homeA, "history", "seed", "--messages", "500", "--media-mb", "1", "--seed", "2"))
	want2 := stats(t, homeA)
	send = startFerry(t, n.a, "--home", homeA, "--json", "send", "--to", st.PeerID[:20])
	if e := event(send.waitLine(isEvent(lib.EventReceiver), 60*time.Second)); e.Device == nil || e.Device.PeerID != st.PeerID {
		t.Fatalf("send --to B serves %+v, want B", e.Device)
	}
	recv = startFerry(t, n.b, "--home", homeB, "--json", "receive", "--yes")
	got2 := recv.result(2 * time.Minute)
	recv.waitOK(10 * time.Second)
	sent2 := send.result(30 * time.Second)
	send.waitOK(10 * time.Second)
	if s := stats(t, homeB); s != want2 {
		t.Errorf("after the second migration the receiver holds %+v, want %+v", s, want2)
	}
	if got2.Bytes >= got.Bytes/2 {
		t.Errorf("second migration moved %d bytes, the first %d: want only the new data", got2.Bytes, got.Bytes)
	}
	// Its offer counts what B lacks, not the whole history, and the sender,
	// which cannot know that, says "up to".
	var offer *lib.Offer
	for _, l := range strings.Split(recv.outText(), "\n") {
		if e := event(l); e != nil && e.Kind == lib.EventOffer {
			offer = e.Offer
		}
	}
	switch {
	case offer == nil:
		t.Errorf("the second receive showed no offer:\n%s", recv.outText())
	case offer.Needed >= offer.Bytes || got2.Bytes > offer.Needed:
		t.Errorf("the second offer: %d bytes needed of %d, and %d moved; want what B lacks, less than the whole, and no more moved", offer.Needed, offer.Bytes, got2.Bytes)
	}
	if !strings.Contains(send.outText(), "up to ") {
		t.Errorf("the sender's offer line does not say \"up to\":\n%s", send.outText())
	}
	if sent2.ReceiverID != st.PeerID {
		t.Errorf("the second report names %s, want B (%s)", sent2.ReceiverID, st.PeerID)
	}
	if strings.Contains(recv.outText(), `"event":"paired"`) {
		t.Errorf("second migration paired again; want the trusted device recognised")
	}
}

func TestLANWrongCodeAndGuess(t *testing.T) {
	n := newLAN(t)
	c := n.lab.Host("c", n.wifi) // a third device on the same Wi-Fi
	homeA, homeB, homeC := filepath.Join(n.dir, "a"), filepath.Join(n.dir, "b"), filepath.Join(n.dir, "c")
	want := seed(t, homeA, 1000, 1, 1)
	for _, h := range []string{homeB, homeC} {
		if err := os.Mkdir(h, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	send, code := sendCode(t, n.a, homeA)
	parts := strings.Split(code, "-")
	wrong := parts[0] + "-" + swapWord(parts[1]) + "-" + parts[2]

	// The right device mistypes; a third device guesses. Both fail the same way.
	for _, try := range []struct {
		ns   *netns.NS
		home string
	}{{n.b, homeB}, {c, homeC}} {
		p := startFerry(t, try.ns, "--home", try.home, "receive", wrong, "--yes")
		err := p.wait()
		if err == nil || !strings.Contains(p.errText(), "the code did not match") {
			t.Fatalf("receive with a wrong code: err %v, stderr %q; want a failure saying the code did not match", err, p.errText())
		}
	}
	for i := 0; i < 2; i++ {
		send.waitLine(isEvent(lib.EventPairFailed), 10*time.Second)
	}
	if _, err := os.Stat(filepath.Join(homeC, "history.db")); !os.IsNotExist(err) {
		t.Errorf("the guessing device got a history database (stat: %v)", err)
	}
	// The right code still works after two failures.
	recv := startFerry(t, n.b, "--home", homeB, "--json", "receive", code, "--yes")
	got := recv.result(2 * time.Minute)
	recv.waitOK(10 * time.Second)
	send.waitOK(30 * time.Second)
	if got.TargetDigest != want.Digest {
		t.Errorf("digest %s, want %s", got.TargetDigest, want.Digest)
	}
	// The device that guessed is not trusted by the sender.
	r := mustOK(t, ferry(t, nil, "--home", homeA, "--json", "devices"))
	var ds []lib.PairedDevice
	if err := json.Unmarshal([]byte(r.stdout), &ds); err != nil || len(ds) != 1 {
		t.Errorf("sender's devices %q: want exactly the one receiver", r.stdout)
	}
}

// swapWord returns a different word of the same list for w.
func swapWord(w string) string {
	if w == "acid" {
		return "acorn"
	}
	return "acid"
}

// progressPast waits until a --json process reports progress beyond frac.
func progressPast(p *proc, frac float64) {
	p.waitLine(func(l string) bool {
		e := event(l)
		return e != nil && e.Kind == lib.EventProgress && e.Total > 0 && float64(e.Done) > frac*float64(e.Total)
	}, 2*time.Minute)
}

func TestLANResumeAfterReceiverKilled(t *testing.T) {
	n := newLAN(t)
	homeA, homeB := filepath.Join(n.dir, "a"), filepath.Join(n.dir, "b")
	want := seed(t, homeA, 20000, 160, 1)
	if err := os.Mkdir(homeB, 0o700); err != nil {
		t.Fatal(err)
	}
	send, code := sendCode(t, n.a, homeA)
	recv := startFerry(t, n.b, "--home", homeB, "--json", "receive", code, "--yes")
	progressPast(recv, 0.3)
	recv.kill9()
	if s := stats(t, homeB); s.Messages != 0 {
		t.Fatalf("a killed receiver shows %d messages: want nothing until commit", s.Messages)
	}
	// The same command again: paired already, so the used code is not needed.
	recv = startFerry(t, n.b, "--home", homeB, "--json", "receive", code, "--yes")
	got := recv.result(2 * time.Minute)
	recv.waitOK(10 * time.Second)
	send.waitOK(30 * time.Second)
	if s := stats(t, homeB); s != want {
		t.Errorf("after resume the receiver holds %+v, want %+v", s, want)
	}
	if total := want.MediaBytes; got.Bytes > total*8/10 {
		t.Errorf("resumed run fetched %d bytes of %d media: want what was verified before the kill not fetched again", got.Bytes, total)
	}
}

func TestLANResumeAfterSenderKilled(t *testing.T) {
	n := newLAN(t)
	homeA, homeB := filepath.Join(n.dir, "a"), filepath.Join(n.dir, "b")
	want := seed(t, homeA, 20000, 160, 1)
	if err := os.Mkdir(homeB, 0o700); err != nil {
		t.Fatal(err)
	}
	send, code := sendCode(t, n.a, homeA)
	recv := startFerry(t, n.b, "--home", homeB, "--json", "receive", code, "--yes")
	progressPast(recv, 0.3)
	send.kill9()
	// The receiver waits for the sender; the user runs ferry send again.
	recv.waitLine(func(l string) bool {
		e := event(l)
		return e != nil && e.Kind == lib.EventWaiting && strings.Contains(e.Message, "lost the connection")
	}, time.Minute)
	send, _ = sendCode(t, n.a, homeA)
	got := recv.result(3 * time.Minute)
	recv.waitOK(10 * time.Second)
	send.waitOK(30 * time.Second)
	if s := stats(t, homeB); s != want {
		t.Errorf("after resume the receiver holds %+v, want %+v", s, want)
	}
	if total := want.MediaBytes; got.Bytes > total*8/10 {
		t.Errorf("receiver fetched %d bytes after the sender restarted, of %d: want verified chunks kept", got.Bytes, total)
	}
}

func TestLANReceiverDiskFull(t *testing.T) {
	n := newLAN(t)
	homeA := filepath.Join(n.dir, "a")
	seed(t, homeA, 2000, 24, 1)
	mnt := filepath.Join(n.dir, "small")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	homeB := filepath.Join(mnt, "b")
	before := seed(t, homeB, 100, 0, 5)
	send, code := sendCode(t, n.a, homeA)
	recv := startFerry(t, n.b, "--home", homeB, "receive", code, "--yes")
	err := recv.wait()
	if err == nil || !strings.Contains(recv.errText(), "not enough free disk space") {
		t.Fatalf("receive onto a full disk: err %v, stderr %q; want a failure saying the disk is full", err, recv.errText())
	}
	if s := stats(t, homeB); s != before {
		t.Errorf("receiver's history changed on a full disk: %+v, want %+v", s, before)
	}
	if ents, _ := os.ReadDir(filepath.Join(homeB, ".staging")); len(ents) != 0 {
		t.Errorf("a failed receive onto a full disk left staging behind: %v", ents)
	}
	send.cmd.Process.Signal(syscall.SIGINT)
	_ = send.wait()
	_, _ = io.Discard.Write(nil)
}
