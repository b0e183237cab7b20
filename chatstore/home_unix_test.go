//go:build unix

package chatstore

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestOtherUserCannotReadHome: a user makes a folder with mkdir (mode 0755
// under the usual umask) and uses it as a home. Another local user (uid
// 65534, run as a child process) can then read nothing of it: not the
// database, not its listing, not a media file.
func TestOtherUserCannotReadHome(t *testing.T) {
	if os.Getenv("FERRY_OTHER_USER_HOME") != "" {
		otherUserReads(t, os.Getenv("FERRY_OTHER_USER_HOME"))
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a process as another user")
	}
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "ferry-otheruser-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	home := filepath.Join(dir, "home")
	for _, d := range []string{dir, home} {
		if err := os.Mkdir(d, 0o755); err != nil && !os.IsExist(err) {
			t.Fatal(err)
		}
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s, err := Open(ctx, home, Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := addSeed(ctx, s, seedOptions{Messages: 100, MediaBytes: 64 << 10, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	atts, err := ListAttachments(ctx, s.DBPath())
	if err != nil || len(atts) == 0 {
		t.Fatalf("attachments: %v, %v", atts, err)
	}
	paths := []string{home, s.DBPath(), s.DBPath() + "-wal", s.MediaPath(atts[0].Hash)}
	// While the store is open, its -wal is there too.
	defer s.Close()
	bin := filepath.Join(dir, "chatstore.test")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Link(self, bin); err != nil {
		b, err := os.ReadFile(self)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bin, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, bin, "-test.run=^TestOtherUserCannotReadHome$", "-test.v")
	cmd.Dir = dir
	cmd.Env = []string{"FERRY_OTHER_USER_HOME=" + strings.Join(paths, "\n")}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS") {
		t.Fatalf("as uid 65534: %v\n%s", err, out)
	}
}

// otherUserReads is the other user's side: every read must be refused.
func otherUserReads(t *testing.T, paths string) {
	ps := strings.Split(paths, "\n")
	if _, err := os.ReadDir(ps[0]); !os.IsPermission(err) {
		t.Errorf("list the home %s: %v, want permission denied", ps[0], err)
	}
	for _, p := range ps[1:] {
		if _, err := os.ReadFile(p); !os.IsPermission(err) {
			t.Errorf("read %s: %v, want permission denied", p, err)
		}
	}
}
