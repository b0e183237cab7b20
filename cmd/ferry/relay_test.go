package main

import (
	"bufio"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestListenAddrs(t *testing.T) {
	good := map[string][]string{
		"127.0.0.1:4001":       {"/ip4/127.0.0.1/tcp/4001", "/ip4/127.0.0.1/udp/4001/quic-v1"},
		"0.0.0.0:0":            {"/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"},
		"[::1]:4001":           {"/ip6/::1/tcp/4001", "/ip6/::1/udp/4001/quic-v1"},
		"[::ffff:10.0.0.1]:9":  {"/ip4/10.0.0.1/tcp/9", "/ip4/10.0.0.1/udp/9/quic-v1"},
		"/ip4/127.0.0.1/tcp/0": {"/ip4/127.0.0.1/tcp/0"},
	}
	for in, want := range good {
		if got, err := listenAddrs([]string{in}); err != nil || !slices.Equal(got, want) {
			t.Errorf("%q: %q, %v; want %q", in, got, err, want)
		}
	}
	if got, err := listenAddrs(nil); err != nil || !slices.Equal(got, defaultListen) {
		t.Errorf("no --listen: %q, %v; want %q", got, err, defaultListen)
	}
	for _, in := range []string{"127.0.0.1", "localhost:4001", "127.0.0.1:70000", "127.0.0.1:x",
		"ip4/127.0.0.1/tcp/1", "/ip4/nope/tcp/1", "/nope", "", "[fe80::1%eth0]:1"} {
		_, err := listenAddrs([]string{in})
		if err == nil || !strings.Contains(err.Error(), "127.0.0.1:4001") || !strings.Contains(err.Error(), "/ip4/0.0.0.0/tcp/4001") {
			t.Errorf("%q: %v, want an error with an example of each form", in, err)
		}
	}
}

// TestRelayListenHostPort: ferry relay --listen HOST:PORT listens on TCP
// and QUIC there and prints both, whole; an address it cannot use is a
// usage error with an example, before anything listens.
func TestRelayListenHostPort(t *testing.T) {
	dir := t.TempDir()
	relay := exec.Command(ferryBin, "relay", "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "relay"))
	out, err := relay.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := relay.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { relay.Process.Kill(); relay.Wait() })
	r := bufio.NewReader(out)
	var tcp, quic bool
	for range 2 {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("relay printed %q, %v", line, err)
		}
		addr, ok := strings.CutPrefix(strings.TrimSpace(line), "relay: /ip4/127.0.0.1/")
		if !ok || !strings.Contains(addr, "/p2p/12D3KooW") {
			t.Fatalf("relay printed %q, want a loopback address with its /p2p/ ID", line)
		}
		tcp = tcp || strings.HasPrefix(addr, "tcp/")
		quic = quic || strings.Contains(addr, "/quic-v1/")
	}
	if !tcp || !quic {
		t.Errorf("tcp %v, quic %v: want both", tcp, quic)
	}

	res := ferry(t, nil, "relay", "--listen", "localhost:4001", "--data", filepath.Join(dir, "r2"))
	if res.code != 2 || !strings.Contains(res.stderr, "127.0.0.1:4001") || strings.Contains(res.stdout, "relay:") {
		t.Errorf("--listen localhost:4001: exit %d, stdout %q, stderr %q; want 2 and an example", res.code, res.stdout, res.stderr)
	}
}
