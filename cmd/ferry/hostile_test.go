package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/chatstore"
	chatseed "github.com/ferryhq/ferry/chatstore/seed"
	"github.com/ferryhq/ferry/internal/archive"
	"github.com/ferryhq/ferry/transfer/transfertest"
)

// TestImportHostileArchive: someone else's archive whose history.db carries
// a trigger of the sender's (the attack of issue 10) is refused by ferry
// import, into a new home and into one that holds history, in one sentence
// that names the trigger; the home is as it was (a new one is not left
// behind).
func TestImportHostileArchive(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src, err := chatstore.Open(ctx, filepath.Join(dir, "src"), chatstore.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := chatseed.Add(ctx, src, chatseed.Options{Messages: 300, MediaBytes: 256 << 10, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	hs, err := transfertest.Hostile(ctx, src, t.TempDir(), transfertest.EvilTrigger)
	if err != nil {
		t.Fatal(err)
	}
	key, err := archive.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	arc := filepath.Join(dir, "theirs.ferry")
	f, err := os.Create(arc)
	if err != nil {
		t.Fatal(err)
	}
	if err := transfertest.WriteArchive(ctx, f, key, hs); err != nil {
		t.Fatal(err)
	}
	f.Close()

	fresh := filepath.Join(dir, "new")
	mine := filepath.Join(dir, "mine")
	mustCLI(t, "--home", mine, "history", "seed", "--messages", "100", "--media-mb", "0", "--seed", "2")
	before := tree(t, mine)
	for _, home := range []string{fresh, mine} {
		_, _, err := runCLI(t, "--home", home, "import", arc, "--key", key.RecoveryString())
		if msg := said(err); err == nil || !strings.Contains(msg, "schema is not exactly Ferry's") || !strings.Contains(msg, `trigger "evil"`) || strings.Contains(msg, "\n") {
			t.Errorf("import into %s: %v, %q; want one sentence refusing the schema and naming the trigger", filepath.Base(home), err, said(err))
		}
	}
	if _, err := os.Stat(fresh); !os.IsNotExist(err) {
		t.Errorf("the refused import left the new home %s (%v)", fresh, err)
	}
	after := tree(t, mine)
	if strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Errorf("the refused import changed the home:\n%v\nwant\n%v", after, before)
	}
}
