//go:build unix

package daemon

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestControlRefusesOtherUser runs a client as uid 65534 against a socket
// whose file permissions would let it in, to prove the peer-credential check.
func TestControlRefusesOtherUser(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a client as another uid")
	}
	dir, err := os.MkdirTemp("", "ferry-peercred-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "daemon.test")
	if err := os.Link(self, bin); err != nil {
		b, err := os.ReadFile(self)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bin, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{dir, bin} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s := startServer(t, dir)
	if err := os.Chmod(s.path, 0o666); err != nil { // only the peer check is left
		t.Fatal(err)
	}

	cmd := exec.CommandContext(t.Context(), bin, "-test.run=^TestPeerCredHelper$", "-test.v")
	cmd.Dir = dir
	cmd.Env = []string{"FERRY_PEERCRED_SOCKET=" + s.path}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("client as uid 65534: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("refused:")) {
		t.Fatalf("client as uid 65534 was not refused:\n%s", out)
	}
	line, err := s.logs.Wait(t.Context(), "refused connection")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(line, "uid 65534") {
		t.Errorf("log: got %q, want it to name uid 65534", line)
	}
	if _, err := dialClient(t, s.path).Status(t.Context()); err != nil {
		t.Fatalf("our own uid: %v", err)
	}
	s.api.mu.Lock()
	defer s.api.mu.Unlock()
	if s.api.statuses != 1 {
		t.Errorf("Status calls: got %d, want 1 (ours only)", s.api.statuses)
	}
}

// TestPeerCredHelper is the client side of TestControlRefusesOtherUser.
func TestPeerCredHelper(t *testing.T) {
	path := os.Getenv("FERRY_PEERCRED_SOCKET")
	if path == "" {
		t.Skip("helper process for TestControlRefusesOtherUser")
	}
	c, err := Dial(t.Context(), path)
	if err != nil {
		t.Fatalf("Dial as uid %d: %v", os.Getuid(), err)
	}
	defer c.Close()
	if st, err := c.Status(t.Context()); err == nil {
		t.Fatalf("uid %d got an answer: %+v", os.Getuid(), st)
	} else {
		fmt.Println("refused:", err)
	}
}
