package main

import (
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	lib "github.com/ferryhq/ferry"

	"github.com/ferryhq/ferry/internal/netns"
)

// split is two phones on two networks that cannot reach each other, and a
// relay on a host that reaches both (and routes nothing between them).
type split struct {
	lab        *netns.Lab
	a, b, r    *netns.NS
	net1, net2 *netns.Bridge
	dir        string
}

func newSplit(t *testing.T) *split {
	lab := netns.New(t)
	net1, net2 := lab.Bridge("net1"), lab.Bridge("net2")
	s := &split{lab: lab, net1: net1, net2: net2, dir: t.TempDir()}
	s.a = lab.Host("a", net1)
	s.b = lab.Host("b", net2)
	s.r = lab.Host("relay", net1, net2)
	apart(t, s.a, s.b.Addr(net2))
	return s
}

// apart fails the test if from reaches addr: by ping when there is one,
// else (without ping, loudly) by the route table, which must have no route
// there (ip is there: the namespaces need it).
func apart(t *testing.T, from *netns.NS, addr netip.Addr) {
	t.Helper()
	if _, err := exec.LookPath("ping"); err == nil {
		if out, err := from.Run(t.Context(), "ping", "-c", "1", "-W", "1", addr.String()); err == nil {
			t.Fatalf("phone A reaches phone B directly; the test needs separate networks: %s", out)
		}
		return
	}
	t.Log("no ping (apt-get install iputils-ping): checking by the route table that the phones cannot reach each other")
	if out, err := from.Run(t.Context(), "ip", "route", "get", addr.String()); err == nil {
		t.Fatalf("phone A has a route to phone B; the test needs separate networks: %s", out)
	}
}

// startRelay runs ferry relay on the router host with a fixed port and data
// directory (so a restart keeps its address) and returns its address as seen
// from each network.
func (s *split) startRelay(t *testing.T) (p *proc, fromNet1, fromNet2 string) {
	t.Helper()
	p = startFerry(t, s.r, "relay", "--listen", "/ip4/0.0.0.0/tcp/4011", "--data", filepath.Join(s.dir, "relay"))
	var id string
	l := p.waitLine(func(l string) bool { return strings.HasPrefix(l, "relay: ") }, 30*time.Second)
	if i := strings.LastIndex(l, "/p2p/"); i >= 0 {
		id = l[i+len("/p2p/"):]
	}
	if id == "" {
		t.Fatalf("relay line %q has no peer ID", l)
	}
	return p, "/ip4/" + s.r.Addr(s.net1).String() + "/tcp/4011/p2p/" + id, "/ip4/" + s.r.Addr(s.net2).String() + "/tcp/4011/p2p/" + id
}

func TestRelayedMigration(t *testing.T) {
	s := newSplit(t)
	relay, addr1, addr2 := s.startRelay(t)
	defer relay.kill9()
	homeA, homeB := filepath.Join(s.dir, "a"), filepath.Join(s.dir, "b")
	want := seed(t, homeA, 3000, 6, 1)
	if err := os.Mkdir(homeB, 0o700); err != nil {
		t.Fatal(err)
	}
	send, code := sendCode(t, s.a, homeA, "--relay", addr1)
	recv := startFerry(t, s.b, "--home", homeB, "--json", "receive", code, "--yes", "--relay", addr2)
	l := recv.waitLine(isEvent(lib.EventConnected), time.Minute)
	if e := event(l); e.Path != "relayed" {
		t.Errorf("path %q, want relayed (the phones cannot reach each other)", e.Path)
	}
	got := recv.result(2 * time.Minute)
	recv.waitOK(10 * time.Second)
	send.waitOK(30 * time.Second)
	if got.TargetDigest != want.Digest {
		t.Errorf("digest %s, want %s", got.TargetDigest, want.Digest)
	}
	if st := stats(t, homeB); st != want {
		t.Errorf("receiver holds %+v, want %+v", st, want)
	}
}

func TestRelayRestartMidTransfer(t *testing.T) {
	s := newSplit(t)
	relay, addr1, addr2 := s.startRelay(t)
	homeA, homeB := filepath.Join(s.dir, "a"), filepath.Join(s.dir, "b")
	want := seed(t, homeA, 20000, 200, 1)
	if err := os.Mkdir(homeB, 0o700); err != nil {
		t.Fatal(err)
	}
	send, code := sendCode(t, s.a, homeA, "--relay", addr1)
	recv := startFerry(t, s.b, "--home", homeB, "--json", "receive", code, "--yes", "--relay", addr2)
	progressPast(recv, 0.2)
	relay.kill9()
	relay, _, _ = s.startRelay(t)
	defer relay.kill9()
	got := recv.result(3 * time.Minute)
	recv.waitOK(10 * time.Second)
	send.waitOK(30 * time.Second)
	if st := stats(t, homeB); st != want {
		t.Errorf("after the relay restarted the receiver holds %+v, want %+v", st, want)
	}
	if got.TargetDigest != want.Digest {
		t.Errorf("digest %s, want %s", got.TargetDigest, want.Digest)
	}
}

// TestRelayResumeAfterKills: over the relay too, kill -9 of the receiver
// (the same command again continues) and of the sender (ferry send again;
// the waiting receiver reconnects through the relay) are survived, and
// nothing verified is fetched again.
func TestRelayResumeAfterKills(t *testing.T) {
	s := newSplit(t)
	relay, addr1, addr2 := s.startRelay(t)
	defer relay.kill9()
	homeA := filepath.Join(s.dir, "a")
	want := seed(t, homeA, 20000, 160, 1)

	t.Run("receiver killed", func(t *testing.T) {
		homeB := filepath.Join(s.dir, "b1")
		if err := os.Mkdir(homeB, 0o700); err != nil {
			t.Fatal(err)
		}
		send, code := sendCode(t, s.a, homeA, "--relay", addr1)
		recv := startFerry(t, s.b, "--home", homeB, "--json", "receive", code, "--yes", "--relay", addr2)
		progressPast(recv, 0.3)
		recv.kill9()
		recv = startFerry(t, s.b, "--home", homeB, "--json", "receive", code, "--yes", "--relay", addr2)
		got := recv.result(3 * time.Minute)
		recv.waitOK(10 * time.Second)
		send.waitOK(30 * time.Second)
		if st := stats(t, homeB); st != want {
			t.Errorf("receiver holds %+v, want %+v", st, want)
		}
		if got.Bytes > want.MediaBytes*8/10 {
			t.Errorf("resumed run fetched %d bytes of %d: want verified chunks kept", got.Bytes, want.MediaBytes)
		}
	})
	t.Run("sender killed", func(t *testing.T) {
		homeB := filepath.Join(s.dir, "b2")
		if err := os.Mkdir(homeB, 0o700); err != nil {
			t.Fatal(err)
		}
		send, code := sendCode(t, s.a, homeA, "--relay", addr1)
		recv := startFerry(t, s.b, "--home", homeB, "--json", "receive", code, "--yes", "--relay", addr2)
		progressPast(recv, 0.3)
		send.kill9()
		recv.waitLine(func(l string) bool {
			e := event(l)
			return e != nil && e.Kind == lib.EventWaiting && strings.Contains(e.Message, "lost the connection")
		}, time.Minute)
		send, _ = sendCode(t, s.a, homeA, "--relay", addr1)
		got := recv.result(3 * time.Minute)
		recv.waitOK(10 * time.Second)
		send.waitOK(30 * time.Second)
		if st := stats(t, homeB); st != want {
			t.Errorf("receiver holds %+v, want %+v", st, want)
		}
		if got.Bytes > want.MediaBytes*8/10 {
			t.Errorf("receiver fetched %d bytes of %d after the sender restarted: want verified chunks kept", got.Bytes, want.MediaBytes)
		}
	})
}

// TestRelayedSenderWithoutMulticast: a sender with --relay on a device
// with no multicast interface is told that the receiver finds it through
// the relay, not to use a relay; it still registers its code there.
func TestRelayedSenderWithoutMulticast(t *testing.T) {
	lab := netns.New(t)
	ns := lab.Host("a") // loopback only: no interface can do multicast
	dir := t.TempDir()
	relay := startFerry(t, ns, "relay", "--listen", "/ip4/127.0.0.1/tcp/4011", "--data", filepath.Join(dir, "relay"))
	l := relay.waitLine(func(l string) bool { return strings.HasPrefix(l, "relay: ") }, 30*time.Second)
	addr := "/ip4/127.0.0.1/tcp/4011" + l[strings.LastIndex(l, "/p2p/"):]
	home := filepath.Join(dir, "a")
	seed(t, home, 10, 0, 1)
	send := startFerry(t, ns, "--home", home, "--json", "send", "--relay", addr)
	var waiting []string
	for {
		l, ok := send.line(send.stdout, isEvent(lib.EventWaiting), 60*time.Second)
		if !ok {
			t.Fatalf("the send ended or said nothing more; it said %q\nstderr: %s", waiting, send.errText())
		}
		waiting = append(waiting, event(l).Message)
		if strings.Contains(l, "local network") {
			break // after the registration, which comes first
		}
	}
	said := strings.Join(waiting, "\n")
	if !strings.Contains(said, "through the relay") || strings.Contains(said, "use a relay") || strings.Contains(said, "--relay") {
		t.Errorf("a sender with --relay and no multicast said:\n%s\nwant that the receiver finds it through the relay, and no advice to use one", said)
	}
	if !strings.Contains(said, "registered on the relay") {
		t.Errorf("the send said:\n%s\nwant its code registered on the relay", said)
	}
	// A clean stop, so that its snapshot goes with it.
	if err := send.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	send.exit(time.Minute)
	relay.kill9()
}
