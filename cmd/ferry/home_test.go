package main

import (
	lib "github.com/ferryhq/ferry"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/backup"
	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/internal/archive"
	"github.com/ferryhq/ferry/p2p"
	"github.com/ferryhq/ferry/pairing"
	"github.com/ferryhq/ferry/transfer"
)

// tree lists every path under dir with its mode and size.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, rel+" "+fi.Mode().String()+" "+itoa(int(fi.Size())))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// testPeer is a well-formed peer ID no one has.
const testPeer = "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"

// TestHomeThatIsNotOneIsRefused: every command that writes into a home
// refuses an existing folder that holds other things (a typo such as
// --home ~/Downloads, or /etc), in one sentence that says so, and writes
// nothing into it.
func TestHomeThatIsNotOneIsRefused(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "Downloads")
	for _, f := range []string{"report.pdf", "photos/cat.jpg"} {
		p := filepath.Join(other, f)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte("mine"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	key, err := archive.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	arc := filepath.Join(dir, "a.ferry")
	os.WriteFile(arc, []byte("an archive"), 0o600)
	before := tree(t, other)
	for _, args := range [][]string{
		{"import", arc, "--key", key.RecoveryString()},
		{"history", "seed", "--messages", "10", "--media-mb", "0"},
		{"history", "import", arc},
		// Loopback addresses only: were the check missing, nothing would
		// leave this machine. (send, which has no such flag, goes through
		// the same check as receive.)
		{"receive", "1-abandon-ability", "--yes", "--peer", "/ip4/127.0.0.1/tcp/1/p2p/" + testPeer},
		{"restore", "--relay", "/ip4/127.0.0.1/tcp/1/p2p/" + testPeer, "--key", key.RecoveryString()},
		{"daemon", "--listen", "/ip4/127.0.0.1/tcp/0"},
		{"backup", "--relay", "/ip4/127.0.0.1/tcp/1/p2p/" + testPeer, "--relay-wait", "0"},
		{"backups", "--relay", "/ip4/127.0.0.1/tcp/1/p2p/" + testPeer, "--relay-wait", "0"},
		{"devices"},
		{"devices", "forget", testPeer},
		{"status"},
		{"history", "stats"},
		{"export", "--out", filepath.Join(dir, "out.ferry")},
	} {
		_, _, err := runCLI(t, append([]string{"--home", other}, args...)...)
		if msg := said(err); err == nil || !strings.Contains(msg, "not a Ferry home") || strings.Contains(msg, "\n") {
			t.Errorf("%v: error %v, sentence %q; want one sentence saying it is not a Ferry home", args, err, said(err))
		}
		if got := tree(t, other); !slices.Equal(got, before) {
			t.Fatalf("%v wrote into the folder:\n%v\nwant\n%v", args, got, before)
		}
	}
}

// TestStatusCreatesNothing: ferry status only looks. Where no home is it
// says so and creates none; in a home without an identity it makes none.
func TestStatusCreatesNothing(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope")
	if _, _, err := runCLI(t, "--home", missing, "status"); err == nil || !strings.Contains(said(err), "does not exist") {
		t.Errorf("status of a missing home: %v, %q; want a sentence saying it does not exist", err, said(err))
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("status created the home %s (%v)", missing, err)
	}
	home := filepath.Join(dir, "home")
	mustCLI(t, "--home", home, "history", "seed", "--messages", "10", "--media-mb", "0")
	before := tree(t, home)
	out, _, err := runCLI(t, "--home", home, "status")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "none yet") || !strings.Contains(out, "not running") {
		t.Errorf("status of a home without an identity or daemon: %q", out)
	}
	if got := tree(t, home); !slices.Equal(got, before) {
		t.Errorf("status changed the home:\n%v\nwant\n%v", got, before)
	}
	if _, err := os.Stat(filepath.Join(home, p2p.IdentityFile)); !os.IsNotExist(err) {
		t.Errorf("status made an identity (%v)", err)
	}
}

// TestHomeMadePrivate: a folder made with mkdir (0755) and used as a home
// ends up 0700 with its files 0600; so does a home an older Ferry left
// open to others.
func TestHomeMadePrivate(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file modes do not control access on Windows")
	}
	home := filepath.Join(t.TempDir(), "home")
	if err := os.Mkdir(home, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(home, 0o755)
	mustCLI(t, "--home", home, "history", "seed", "--messages", "200", "--media-mb", "1")
	private := func() {
		t.Helper()
		for _, e := range tree(t, home) {
			mode := strings.Fields(e)[1]
			if mode != "-rw-------" && mode != "drwx------" {
				t.Errorf("%s: not private", e)
			}
		}
	}
	private()
	filepath.WalkDir(home, func(p string, d fs.DirEntry, err error) error {
		if d.IsDir() {
			return os.Chmod(p, 0o755)
		}
		return os.Chmod(p, 0o644)
	})
	mustCLI(t, "--home", home, "history", "stats")
	private()
}

// TestHomeNames: the names chatstore takes for Ferry's are the ones the
// packages that write them use.
func TestHomeNames(t *testing.T) {
	for _, name := range []string{p2p.IdentityFile, pairing.StoreFile, pairing.StoreFile + ".lock",
		transfer.StagingDir, transfer.SendCacheDir, transfer.ReceivedFile, lib.SendRecordFile, backup.StateFile, filepath.Base(socketPath("h")), chatstore.DBName, chatstore.MediaDir} {
		if !chatstore.IsHomeName(name) {
			t.Errorf("chatstore.IsHomeName(%q) = false: chatstore does not know a file Ferry writes into a home", name)
		}
	}
}

// said is what main prints for err (nothing for nil).
func said(err error) string {
	if err == nil {
		return ""
	}
	return userMessage(err)
}
