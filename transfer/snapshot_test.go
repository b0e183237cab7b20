package transfer

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/chatstore/storetest"
)

// TestSnapshotIsPrivate: a snapshot's directory is 0700 and every file in
// it 0600 (it is the history in plaintext).
func TestSnapshotIsPrivate(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file modes do not control access on Windows")
	}
	src := storetest.New(t)
	storetest.Seed(t, src, 300, 256<<10, 1)
	work := t.TempDir()
	snap, err := snapshot(context.Background(), src, work, testChunk)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	n := 0
	filepath.WalkDir(snap.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := d.Info()
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %04o, want %04o", p, fi.Mode().Perm(), want)
		}
		n++
		return nil
	})
	if n < 2 {
		t.Errorf("the snapshot holds %d entries: the test checks nothing", n)
	}
	if err := snap.Close(); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(work); len(ents) != 0 {
		t.Errorf("Close left %d entries in the work directory", len(ents))
	}
}

// TestKilledSenderSnapshotSwept: a process killed (SIGKILL) while it holds
// a snapshot leaves it behind; the next snapshot in the same place removes
// it, and leaves the snapshot of a process still running alone.
func TestKilledSenderSnapshotSwept(t *testing.T) {
	if os.Getenv("FERRY_TEST_SNAP_CHILD") != "" {
		snapChild()
		return
	}
	src := storetest.New(t)
	storetest.Seed(t, src, 300, 256<<10, 1)
	home := src.Home()
	src.Close()
	work := t.TempDir()
	start := func() (*exec.Cmd, string) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKilledSenderSnapshotSwept$")
		cmd.Env = append(os.Environ(), "FERRY_TEST_SNAP_CHILD=1", "SNAP_HOME="+home, "SNAP_WORK="+work)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pw.Close() })
		cmd.Stdin = pr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pr.Close()
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		line, _ := bufio.NewReader(out).ReadString('\n')
		dir, ok := strings.CutPrefix(strings.TrimSpace(line), "snapshot ")
		if !ok {
			t.Fatalf("child: %q", line)
		}
		return cmd, dir
	}
	killed, dead := start()
	_, alive := start()
	if err := killed.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed.Wait()
	if !strings.Contains(filepath.Base(dead), fmt.Sprint(killed.Process.Pid)) {
		t.Errorf("snapshot directory %s does not name its process %d", dead, killed.Process.Pid)
	}
	if _, err := os.Stat(filepath.Join(dead, "db.zst")); err != nil {
		t.Fatalf("the killed sender left no copy (%v): the test checks nothing", err)
	}
	s := storetest.Open(t, home, chatstore.Options{ReadOnly: true})
	snap, err := snapshot(context.Background(), s, work, testChunk)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("the killed sender's snapshot %s is still there (%v)", dead, err)
	}
	if _, err := os.Stat(filepath.Join(alive, "db.zst")); err != nil {
		t.Errorf("the running sender's snapshot went: %v", err)
	}
}

// snapChild takes a snapshot, says where, and waits to be killed.
func snapChild() {
	s, err := chatstore.Open(context.Background(), os.Getenv("SNAP_HOME"), chatstore.Options{ReadOnly: true})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	snap, err := snapshot(context.Background(), s, os.Getenv("SNAP_WORK"), testChunk)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("snapshot", snap.dir)
	var b [1]byte
	os.Stdin.Read(b[:]) // blocks until killed or the pipe closes
	snap.Close()
	os.Exit(0)
}
