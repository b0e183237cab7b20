package transfer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/chatstore/storetest"
	"github.com/ferryhq/ferry/internal/archive"
	"github.com/ferryhq/ferry/internal/treetest"
)

// TestResumeAfterKill kills (SIGKILL) a process in the middle of receiving
// an archive, after it has staged k chunks; the next Import resumes with
// exactly those k and fetches the rest.
func TestResumeAfterKill(t *testing.T) {
	if os.Getenv("FERRY_TEST_KILL_CHILD") != "" {
		killChild()
		return
	}
	src := storetest.New(t)
	want := storetest.Seed(t, src, testMsgs, testMedia, 21)
	key := testKey(t)
	arc, _ := exportBytes(t, src, ExportOptions{Key: key})
	arcPath := filepath.Join(t.TempDir(), "history.ferry")
	if err := os.WriteFile(arcPath, arc, 0o600); err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(t.TempDir(), "home")
	s := storetest.Open(t, home, chatstore.Options{Create: true})
	s.Close()

	const k = 5
	cmd := exec.Command(os.Args[0], "-test.run=^TestResumeAfterKill$")
	cmd.Env = append(os.Environ(), "FERRY_TEST_KILL_CHILD=1", "KILL_HOME="+home, "KILL_ARCHIVE="+arcPath,
		"KILL_KEY="+hex.EncodeToString(key[:]), "KILL_K="+strconv.Itoa(k))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	// The child blocks reading a pipe that we never write to.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	cmd.Stdin = pr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pr.Close()
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if line != "staged\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child: %q", line)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	dst := storetest.Open(t, home, chatstore.Options{})
	res, err := Import(context.Background(), bytes.NewReader(arc), dst, ImportOptions{Key: key})
	if err != nil {
		t.Fatalf("Import after kill: %v", err)
	}
	if res.Resumed != k || res.Received != res.Chunks-k {
		t.Errorf("resumed %d, received %d of %d chunks; want %d, %d", res.Resumed, res.Received, res.Chunks, k, res.Chunks-k)
	}
	if got := storetest.Stats(t, dst); got != want {
		t.Errorf("target %+v, want %+v", got, want)
	}
	treetest.Empty(t, filepath.Join(home, StagingDir))
}

// killChild stages KILL_K chunks of the archive, says so, and waits to be
// killed.
func killChild() {
	fail := func(err error) { fmt.Println("error:", err); os.Exit(1) }
	ctx := context.Background()
	s, err := chatstore.Open(ctx, os.Getenv("KILL_HOME"), chatstore.Options{})
	if err != nil {
		fail(err)
	}
	f, err := os.Open(os.Getenv("KILL_ARCHIVE"))
	if err != nil {
		fail(err)
	}
	var key archive.Key
	if b, err := hex.DecodeString(os.Getenv("KILL_KEY")); err != nil || copy(key[:], b) != len(key) {
		fail(fmt.Errorf("bad key"))
	}
	k, _ := strconv.Atoi(os.Getenv("KILL_K"))
	ar, err := archive.NewReader(f)
	if err != nil {
		fail(err)
	}
	if err := ar.Unlock(key); err != nil {
		fail(err)
	}
	mb, err := ar.Next()
	if err != nil {
		fail(err)
	}
	m, err := ParseManifest(mb)
	if err != nil {
		fail(err)
	}
	r, err := NewReceiver(s, m)
	if err != nil {
		fail(err)
	}
	for i := 0; i < k; i++ {
		data, err := ar.Next()
		if err != nil {
			fail(err)
		}
		if err := r.Put(i, data); err != nil {
			fail(err)
		}
	}
	fmt.Println("staged")
	var b [1]byte
	os.Stdin.Read(b[:]) // blocks until killed
	os.Exit(0)
}
