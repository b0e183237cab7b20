package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/netns"
)

// startVaultRelay runs ferry relay --vault on the router host of s, with a
// fixed port, data and vault directory (so a restart keeps its address and
// its backups), and returns it and its address as seen from each network.
func (s *split) startVaultRelay(t *testing.T) (p *proc, fromNet1, fromNet2 string) {
	t.Helper()
	p = startFerry(t, s.r, "relay", "--listen", "/ip4/0.0.0.0/tcp/4012", "--data", filepath.Join(s.dir, "relay"),
		"--vault", "--vault-dir", filepath.Join(s.dir, "vault"))
	l := p.waitLine(func(l string) bool { return strings.HasPrefix(l, "relay: ") }, 30*time.Second)
	i := strings.LastIndex(l, "/p2p/")
	if i < 0 {
		t.Fatalf("relay line %q has no peer ID", l)
	}
	id := l[i+len("/p2p/"):]
	return p, "/ip4/" + s.r.Addr(s.net1).String() + "/tcp/4012/p2p/" + id, "/ip4/" + s.r.Addr(s.net2).String() + "/tcp/4012/p2p/" + id
}

// shape paces what ns sends on its link to b like a fast home uplink, so
// that a backup or restore of tens of MiB lasts seconds and a kill lands
// in its middle.
func shape(t *testing.T, ns *netns.NS, b *netns.Bridge) {
	t.Helper()
	if out, err := ns.Run(t.Context(), "tc", "qdisc", "add", "dev", ns.Link(b), "root", "tbf", "rate", "64mbit", "burst", "64kb", "latency", "400ms"); err != nil {
		t.Skipf("cannot shape the link with tc (apt-get install iproute2): %v: %s", err, out)
	}
}

// TestVaultRelayKilledInNamespaces: the device that backs up is on one
// network, the one that restores on another, and the relay on a host that
// reaches both, each a real process in a network namespace of the test's
// own. The ferry relay process is killed with SIGKILL in the middle of the
// backup and in the middle of the restore; each time, once the relay is
// back (same address, data and vault directory), the same command again
// finishes, sending or fetching only what did not get across, and the
// restored history is the source's.
func TestVaultRelayKilledInNamespaces(t *testing.T) {
	s := newSplit(t)
	shape(t, s.a, s.net1)
	shape(t, s.r, s.net2)
	relay, addr1, addr2 := s.startVaultRelay(t)
	defer func() { relay.kill9() }()
	src := filepath.Join(s.dir, "src")
	want := seed(t, src, 5000, 48, 1)

	backup := []string{"--home", src, "--json", "backup", "--relay", addr1, "--relay-wait", "0"}
	p := startFerry(t, s.a, backup...)
	cut := p.progressPast("backing up", 0.25)
	relay.kill9()
	code, _, stderr := p.exit(time.Minute)
	checkRunAgain(t, "backup", code, stderr)
	relay, _, _ = s.startVaultRelay(t)
	p = startFerry(t, s.a, backup...)
	code, stdout, stderr := p.exit(2 * time.Minute)
	if code != 0 {
		t.Fatalf("backup again: exit %d, stderr:\n%s", code, stderr)
	}
	var bk struct {
		Chunks, ChunksSent, ChunksSkipped int
		BytesSent                         int64  `json:"bytes_sent"`
		RecoveryKey                       string `json:"recovery_key"`
	}
	if err := json.Unmarshal([]byte(stdout), &bk); err != nil || bk.RecoveryKey == "" {
		t.Fatalf("backup again printed %q (%v): want a backup and its key", stdout, err)
	}
	if limit := cut.Total - cut.Done*3/4; bk.BytesSent > limit {
		t.Errorf("backup again sent %d bytes; %d of %d were stored before the kill: want at most %d", bk.BytesSent, cut.Done, cut.Total, limit)
	}

	dst := filepath.Join(s.dir, "dst")
	restore := []string{"--home", dst, "--json", "restore", "--relay", addr2, "--key", bk.RecoveryKey, "--relay-wait", "0"}
	p = startFerry(t, s.b, restore...)
	cut = p.progressPast("restoring", 0.25)
	relay.kill9()
	code, _, stderr = p.exit(time.Minute)
	checkRunAgain(t, "restore", code, stderr)
	if got := stats(t, dst); got.Messages != 0 || got.Attachments != 0 {
		t.Errorf("after the cut restore the home holds %+v: want nothing until the whole backup is verified", got)
	}
	relay, _, _ = s.startVaultRelay(t)
	p = startFerry(t, s.b, restore...)
	code, stdout, stderr = p.exit(2 * time.Minute)
	if code != 0 {
		t.Fatalf("restore again: exit %d, stderr:\n%s", code, stderr)
	}
	var rs struct {
		Resumed     int   `json:"resumed"`
		Bytes       int64 `json:"bytes"`
		DigestEqual bool  `json:"digest_equal"`
	}
	if err := json.Unmarshal([]byte(stdout), &rs); err != nil {
		t.Fatalf("restore again printed %q: %v", stdout, err)
	}
	if got := stats(t, dst); got != want || !rs.DigestEqual {
		t.Errorf("restore again: home holds %+v (digest equal %v), want %+v", got, rs.DigestEqual, want)
	}
	if limit := cut.Total - cut.Done*3/4; rs.Resumed == 0 || rs.Bytes > limit {
		t.Errorf("restore again resumed %d chunks and fetched %d bytes; %d of %d were staged before the kill: want them kept", rs.Resumed, rs.Bytes, cut.Done, cut.Total)
	}
}
