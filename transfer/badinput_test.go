package transfer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/chatstore/storetest"
	"github.com/ferryhq/ferry/internal/archive"
	"github.com/ferryhq/ferry/internal/treetest"
)

// TestImportBadInput feeds damaged archives into a store that holds
// history: each gives its sentinel and leaves the home exactly as it was
// (staging included, except where resuming makes sense).
func TestImportBadInput(t *testing.T) {
	ctx := context.Background()
	src := storetest.New(t)
	storetest.Seed(t, src, 400, 1<<20, 11)
	key := testKey(t)
	arc, _ := exportBytes(t, src, ExportOptions{Key: key})
	pwArc, _ := exportBytes(t, src, ExportOptions{Password: []byte("correct horse"), Params: fastParams})
	other := testKey(t)

	// An archive whose (authentic) manifest is of a newer format.
	var newer bytes.Buffer
	aw, err := archive.NewWriter(&newer, *key, 1)
	if err != nil {
		t.Fatal(err)
	}
	aw.WriteFrame([]byte("FRYM\x02rest of a future manifest"))
	if err := aw.Close(); err != nil {
		t.Fatal(err)
	}
	newerArchive := bytes.Clone(arc)
	newerArchive[8] = archive.FormatVersion + 1

	flip := func(off int) []byte {
		b := bytes.Clone(arc)
		b[off] ^= 0x10
		return b
	}
	tests := []struct {
		name  string
		in    []byte
		opts  ImportOptions
		want  error
		keeps bool // staging kept for a resume
	}{
		{"wrong key", arc, ImportOptions{Key: other}, ErrWrongKey, false},
		{"wrong password", pwArc, ImportOptions{Password: []byte("wrong")}, ErrWrongPassword, false},
		{"password for key archive", arc, ImportOptions{Password: []byte("x")}, ErrWrongPassword, false},
		{"no key", arc, ImportOptions{}, ErrNoKey, false},
		{"not an archive", []byte("hello, this is a text file"), ImportOptions{Key: key}, ErrNotArchive, false},
		{"empty file", nil, ImportOptions{Key: key}, ErrTruncated, false},
		{"newer archive", newerArchive, ImportOptions{Key: key}, ErrNewerVersion, false},
		{"newer manifest", newer.Bytes(), ImportOptions{Key: key}, ErrNewerVersion, false},
		{"flip in header", flip(20), ImportOptions{Key: key}, nil, false}, // wrong key or corrupt
		{"flip in manifest", flip(300), ImportOptions{Key: key}, ErrCorrupt, false},
		{"flip in middle chunk", flip(len(arc) / 2), ImportOptions{Key: key}, ErrCorrupt, false},
		{"flip in last byte", flip(len(arc) - 1), ImportOptions{Key: key}, ErrCorrupt, false},
		{"trailing garbage", append(bytes.Clone(arc), 0), ImportOptions{Key: key}, ErrCorrupt, false},
		{"truncated in header", arc[:40], ImportOptions{Key: key}, ErrTruncated, false},
		{"truncated in manifest", arc[:200], ImportOptions{Key: key}, ErrTruncated, false},
		{"truncated in middle", arc[:len(arc)/2], ImportOptions{Key: key}, ErrTruncated, true},
		{"truncated by one byte", arc[:len(arc)-1], ImportOptions{Key: key}, ErrTruncated, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := storetest.New(t)
			storetest.Seed(t, dst, 100, 256<<10, 12)
			beforeStats := storetest.Stats(t, dst)
			before := treetest.Tree(t, dst.Home())
			_, err := Import(ctx, bytes.NewReader(tc.in), dst, tc.opts)
			switch {
			case err == nil:
				t.Fatal("Import succeeded")
			case tc.want == nil:
				if !errors.Is(err, ErrWrongKey) && !errors.Is(err, ErrCorrupt) {
					t.Errorf("Import = %v, want ErrWrongKey or ErrCorrupt", err)
				}
			case !errors.Is(err, tc.want):
				t.Errorf("Import = %v, want %v", err, tc.want)
			}
			if got := storetest.Stats(t, dst); got != beforeStats {
				t.Errorf("target stats changed: %+v, was %+v", got, beforeStats)
			}
			after := treetest.Tree(t, dst.Home())
			staged := false
			for p := range after {
				if strings.HasPrefix(p, StagingDir+string(filepath.Separator)) {
					staged = true
					delete(after, p)
				}
			}
			treetest.Same(t, "target", after, before)
			if staged != tc.keeps {
				t.Errorf("staging kept = %v, want %v", staged, tc.keeps)
			}
			if tc.keeps {
				// Resuming with the whole archive completes the import,
				// without reading again what was verified.
				res, err := Import(ctx, bytes.NewReader(arc), dst, ImportOptions{Key: key})
				if err != nil {
					t.Fatalf("resumed Import: %v", err)
				}
				if res.Resumed == 0 {
					t.Error("resumed import found nothing staged")
				}
				if res.Received+res.Resumed > res.Chunks {
					t.Errorf("received %d + resumed %d > %d chunks", res.Received, res.Resumed, res.Chunks)
				}
				treetest.Empty(t, filepath.Join(dst.Home(), StagingDir))
			}
		})
	}
}

// TestImportFullDisk imports into a home on a small tmpfs: the import fails
// with "not enough free disk space in <home>" and the home is as before.
func TestImportFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs (mount -t tmpfs)")
	}
	ctx := context.Background()
	src := storetest.New(t)
	storetest.Seed(t, src, 1000, 6<<20, 13)
	key := testKey(t)
	arc, _ := exportBytes(t, src, ExportOptions{Key: key})

	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount tmpfs (%v: %s)", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	// Export onto the full disk: the error names the output's directory.
	out, err := os.Create(filepath.Join(mnt, "history.ferry"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Export(ctx, src, out, ExportOptions{Key: key, WorkDir: t.TempDir(), chunkSize: testChunk})
	out.Close()
	if want := fmt.Sprintf("not enough free disk space in %s", mnt); !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), want) {
		t.Errorf("Export to a full disk = %v, want ErrNoSpace saying %q", err, want)
	}
	os.Remove(out.Name())

	home := filepath.Join(mnt, "home")
	dst := storetest.Open(t, home, chatstore.Options{Create: true})
	storetest.Seed(t, dst, 50, 64<<10, 14)
	beforeStats := storetest.Stats(t, dst)
	before := treetest.Tree(t, home)

	_, err = Import(ctx, bytes.NewReader(arc), dst, ImportOptions{Key: key})
	if !errors.Is(err, ErrNoSpace) {
		t.Fatalf("Import = %v, want ErrNoSpace", err)
	}
	if want := fmt.Sprintf("not enough free disk space in %s", home); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	if got := storetest.Stats(t, dst); got != beforeStats {
		t.Errorf("target stats changed: %+v, was %+v", got, beforeStats)
	}
	treetest.Same(t, "target", treetest.Tree(t, home), before)
}

// TestLockedTarget: a store held by another process cannot be opened as an
// import target, and stays as it was.
func TestLockedTarget(t *testing.T) {
	if os.Getenv("FERRY_TEST_HOLD_LOCK") != "" {
		holdLock()
		return
	}
	ctx := context.Background()
	home := filepath.Join(t.TempDir(), "home")
	s := storetest.Open(t, home, chatstore.Options{Create: true})
	storetest.Seed(t, s, 50, 0, 15)
	want := storetest.Stats(t, s)
	s.Close()
	before := treetest.Tree(t, home)

	// Another process holds the store until we close its stdin.
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockedTarget$")
	cmd.Env = append(os.Environ(), "FERRY_TEST_HOLD_LOCK="+home)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	var b [6]byte
	if _, err := stdout.Read(b[:]); err != nil || string(b[:]) != "locked" {
		t.Fatalf("helper did not lock the store: %q, %v", b, err)
	}
	_, err = chatstore.Open(ctx, home, chatstore.Options{})
	if !errors.Is(err, chatstore.ErrLocked) {
		t.Fatalf("Open of a locked store = %v, want ErrLocked", err)
	}
	stdin.Close()
	cmd.Wait()
	treetest.Same(t, "locked target", treetest.Tree(t, home), before)
	if got := storetest.Stats(t, storetest.Open(t, home, chatstore.Options{})); got != want {
		t.Errorf("stats %+v, want %+v", got, want)
	}
}

// holdLock runs in the helper process: open the store, say so, and hold it
// until stdin closes.
func holdLock() {
	s, err := chatstore.Open(context.Background(), os.Getenv("FERRY_TEST_HOLD_LOCK"), chatstore.Options{})
	if err != nil {
		fmt.Println("error", err)
		return
	}
	defer s.Close()
	os.Stdout.WriteString("locked")
	var b [1]byte
	os.Stdin.Read(b[:])
}
