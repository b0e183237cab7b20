package netns

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// helperEnv switches the test binary into a helper that runs inside a
// namespace (see TestHelperProcess).
const helperEnv = "FERRY_NETNS_HELPER"

// TestHelperProcess is not a real test: re-executed inside a namespace with
// helperEnv set, it listens on or dials a TCP address.
//
//	listen ADDR: print "ready", then answer every connection with "hello\n".
//	dial ADDR:   connect, print what the server wrote, or "error: …".
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		t.Skip("helper process only")
	}
	addr := os.Getenv(helperEnv + "_ADDR")
	switch mode {
	case "listen":
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(2)
		}
		fmt.Println("ready")
		for {
			c, err := ln.Accept()
			if err != nil {
				os.Exit(2)
			}
			_, _ = io.WriteString(c, "hello\n")
			_ = c.Close()
		}
	case "dial":
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(0)
		}
		line, _ := bufio.NewReader(c).ReadString('\n')
		fmt.Print(line)
		os.Exit(0)
	}
	os.Exit(3)
}

func helper(ctx context.Context, t *testing.T, n *NS, mode, addr string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := n.Command(ctx, exe, "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, helperEnv+"_ADDR="+addr)
	return cmd
}

// listen starts a "listen" helper in n on port 7000 of its address on b and
// waits until it is ready.
func listen(ctx context.Context, t *testing.T, n *NS, b *Bridge) string {
	t.Helper()
	addr := net.JoinHostPort(n.Addr(b).String(), "7000")
	cmd := helper(ctx, t, n, "listen", addr)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(cmd); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait() }() // reaped here, killed by the lab's cleanup
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "ready\n" {
		t.Fatalf("listener in %s: got %q, want ready", n.Name, line)
	}
	return addr
}

func TestTopology(t *testing.T) {
	lab := New(t)
	net1, net2 := lab.Bridge("net1"), lab.Bridge("net2")
	a := lab.Host("a", net1)
	b := lab.Host("b", net1)
	c := lab.Host("c", net2)
	r := lab.Host("r", net1, net2)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	onNet1 := listen(ctx, t, a, net1)
	onNet2 := listen(ctx, t, c, net2)

	tests := []struct {
		from *NS
		to   string
		want string
	}{
		{b, onNet1, "hello"},  // same bridge
		{r, onNet1, "hello"},  // the router reaches net1 ...
		{r, onNet2, "hello"},  // ... and net2
		{c, onNet1, "error:"}, // but nothing routes between them
		{a, onNet2, "error:"},
	}
	for _, tt := range tests {
		got, err := helper(ctx, t, tt.from, "dial", tt.to).Output()
		if err != nil {
			t.Fatalf("dial %s from %s: %v", tt.to, tt.from.Name, err)
		}
		if !strings.HasPrefix(string(got), tt.want) {
			t.Errorf("dial %s from %s: got %q, want prefix %q", tt.to, tt.from.Name, got, tt.want)
		}
	}

	// Each link has the multicast route mDNS needs.
	out, err := r.Run(ctx, "ip", "route", "show", "224.0.0.0/4")
	if err != nil {
		t.Fatal(err)
	}
	for _, link := range []string{r.Link(net1), r.Link(net2)} {
		if !strings.Contains(string(out), "dev "+link) {
			t.Errorf("routes in %s: got %q, want a 224.0.0.0/4 route on %s", r.Name, out, link)
		}
	}
}

func TestCleanupRemovesEverything(t *testing.T) {
	var names []string
	waited := make(chan error, 1)
	t.Run("lab", func(t *testing.T) {
		lab := New(t)
		net1 := lab.Bridge("net1")
		x := lab.Host("x", net1)
		cmd := x.Command(context.Background(), "sleep", "60")
		if err := x.Start(cmd); err != nil {
			t.Fatal(err)
		}
		go func() { waited <- cmd.Wait() }()
		names = append(names, x.Name, lab.sw)
	})
	if len(names) == 0 {
		t.Skip("namespaces not available")
	}
	select {
	case err := <-waited:
		if err == nil {
			t.Errorf("process started in the lab: exited cleanly, want killed")
		}
	case <-time.After(10 * time.Second):
		t.Errorf("process started in the lab: still running after cleanup")
	}
	for _, name := range names {
		if _, err := os.Stat("/run/netns/" + name); !os.IsNotExist(err) {
			t.Errorf("after cleanup: /run/netns/%s: got err %v, want it gone", name, err)
		}
	}
}
