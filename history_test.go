package ferry_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/ferryhq/ferry"
)

// TestImportHistoryDryRun: a dry run into a missing home says what the
// import would add and creates no home; into a home that holds part of
// the chat it changes nothing there (same stats, digest and files) and
// says what the import after it then adds.
func TestImportHistoryDryRun(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const first = "3/8/25, 9:05 AM - Bob: Morning! Are we still on for Saturday?\n3/8/25, 9:07 AM - Alice: Yes! Meet at the station at ten.\n"
	short := write("WhatsApp Chat with Bob.txt", first)
	d := &ferry.Device{Home: filepath.Join(dir, "home"), NoMDNS: true}
	defer d.Close()
	opt := ferry.HistoryImportOptions{TimeZone: "UTC", DryRun: true}

	p, err := d.ImportHistory(ctx, short, opt)
	if err != nil {
		t.Fatalf("dry run into no home: %v", err)
	}
	if _, err := os.Stat(d.Home); !os.IsNotExist(err) {
		t.Errorf("the dry run made the home (%v)", err)
	}
	if !p.DryRun || p.Added.Conversations != 1 || p.Added.Messages != 2 {
		t.Errorf("dry run into no home: %+v, want DryRun, 1 conversation, 2 messages", p.Result)
	}
	if _, err := d.ImportHistory(ctx, short, ferry.HistoryImportOptions{TimeZone: "UTC"}); err != nil {
		t.Fatal(err)
	}

	longer := filepath.Join(dir, "later", "WhatsApp Chat with Bob.txt")
	os.Mkdir(filepath.Dir(longer), 0o700)
	if err := os.WriteFile(longer, []byte(first+"3/8/25, 9:08 AM - Bob: See you there.\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before, err := d.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p, err = d.ImportHistory(ctx, longer, opt)
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	after, err := d.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("the dry run changed the history: %+v, then %+v", before, after)
	}
	if ents, _ := os.ReadDir(filepath.Join(d.Home, ".staging")); len(ents) > 0 {
		t.Errorf("the dry run left staging behind: %v", ents)
	}
	real, err := d.ImportHistory(ctx, longer, ferry.HistoryImportOptions{TimeZone: "UTC"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Added != real.Added || p.Added.Messages != 1 || real.DryRun {
		t.Errorf("dry run said %+v (DryRun %v); the import added %+v (DryRun %v); want 1 message by both", p.Added, p.DryRun, real.Added, real.DryRun)
	}

	if _, err := d.ImportHistory(ctx, write("notes.txt", "milk\n"), opt); err == nil || ferry.AsError(err).Code == "" {
		t.Errorf("dry run of a file that is no export: %v, want a coded error", err)
	}
}
