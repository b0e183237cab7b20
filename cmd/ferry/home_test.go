package main

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/internal/archive"
	"github.com/ferryhq/ferry/p2p"
	"github.com/ferryhq/ferry/pairing"
	"github.com/ferryhq/ferry/transfer"
)

// runIn runs the CLI in this process, as main would, and returns its output
// and the sentence main would print.
func runIn(t *testing.T, args ...string) (stdout, stderr, msg string, err error) {
	t.Helper()
	// A command that should have been refused and was not stops here.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	err = run(ctx, args, strings.NewReader(""), &out, &errb)
	if err != nil {
		msg = userMessage(err)
	}
	return out.String(), errb.String(), msg, err
}

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
		_, _, msg, err := runIn(t, append([]string{"--home", other}, args...)...)
		if err == nil || !strings.Contains(msg, "not a Ferry home") || strings.Contains(msg, "\n") {
			t.Errorf("%v: error %v, sentence %q; want one sentence saying it is not a Ferry home", args, err, msg)
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
	if _, _, msg, err := runIn(t, "--home", missing, "status"); err == nil || !strings.Contains(msg, "does not exist") {
		t.Errorf("status of a missing home: %v, %q; want a sentence saying it does not exist", err, msg)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("status created the home %s (%v)", missing, err)
	}
	home := filepath.Join(dir, "home")
	mustRun(t, "--home", home, "history", "seed", "--messages", "10", "--media-mb", "0")
	before := tree(t, home)
	out, _, _, err := runIn(t, "--home", home, "status")
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
	mustRun(t, "--home", home, "history", "seed", "--messages", "200", "--media-mb", "1")
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
	mustRun(t, "--home", home, "history", "stats")
	private()
}

// TestHomeNames: the names chatstore takes for Ferry's are the ones the
// packages that write them use.
func TestHomeNames(t *testing.T) {
	for _, name := range []string{p2p.IdentityFile, pairing.StoreFile, pairing.StoreFile + ".lock",
		transfer.StagingDir, transfer.VaultFile, filepath.Base(socketPath("h")), chatstore.DBName, chatstore.MediaDir} {
		if !chatstore.IsHomeName(name) {
			t.Errorf("chatstore.IsHomeName(%q) = false: chatstore does not know a file Ferry writes into a home", name)
		}
	}
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, stderr, msg, err := runIn(t, args...)
	if err != nil {
		t.Fatalf("%v: %v (%s)\n%s", args, err, msg, stderr)
	}
	return out
}
