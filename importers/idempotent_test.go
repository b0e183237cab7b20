package importers

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/chatstore/seed"
	"github.com/ferryhq/ferry/transfer"
)

func mustImport(t testing.TB, st *chatstore.Store, path string, opts Options) Result {
	t.Helper()
	res, err := Import(context.Background(), st, path, opts)
	if err != nil {
		t.Fatalf("Import %s: %v", path, err)
	}
	return res
}

func digest(t testing.TB, st *chatstore.Store) chatstore.Stats {
	t.Helper()
	s, err := st.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// migrate moves the whole history of src into dst as `ferry export` and
// `ferry import` do: through a sealed archive.
func migrate(t testing.TB, src, dst *chatstore.Store) {
	t.Helper()
	ctx := context.Background()
	var buf bytes.Buffer
	ex, err := transfer.Export(ctx, src, &buf, transfer.ExportOptions{WorkDir: t.TempDir()})
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	if _, err := transfer.Import(ctx, &buf, dst, transfer.ImportOptions{Key: &ex.Key}); err != nil {
		t.Fatalf("transfer Import: %v", err)
	}
}

// TestSameExportOneHistory: every fixture imported into two homes gives
// one digest; importing it again adds nothing; migrating one home into the
// other (and into an empty third) and importing the export once more
// leaves that digest as it is.
func TestSameExportOneHistory(t *testing.T) {
	for _, f := range fixtures(t) {
		t.Run(f.name, func(t *testing.T) {
			p := f.path(t)
			a, b := newHome(t), newHome(t)
			mustImport(t, a, p, f.opts)
			// b already holds other history: the import merges.
			if _, err := seed.Add(context.Background(), b, seed.Options{Messages: 50, Seed: 3}); err != nil {
				t.Fatal(err)
			}
			mustImport(t, b, p, f.opts)
			again := mustImport(t, a, p, f.opts)
			if again.Added != (Added{}) {
				t.Errorf("second import added %+v, want nothing", again.Added)
			}
			da := digest(t, a)
			if da.Messages == 0 {
				t.Fatal("nothing imported")
			}
			migrate(t, a, b)
			db := digest(t, b)
			if db.Messages != da.Messages+50 {
				t.Errorf("after the migration b holds %d messages, want %d", db.Messages, da.Messages+50)
			}
			mustImport(t, b, p, f.opts)
			if got := digest(t, b); got != db {
				t.Errorf("import after the migration changed b: %+v, was %+v", got, db)
			}
			c := newHome(t)
			migrate(t, a, c)
			if res := mustImport(t, c, p, f.opts); res.Added != (Added{}) {
				t.Errorf("import after migrating into an empty home added %+v", res.Added)
			}
			if got := digest(t, c); got != da {
				t.Errorf("migrated home: %+v, want %+v", got, da)
			}
		})
	}
}

// cutLines writes the first n lines of a testdata chat file to a file of
// the same name in a new directory.
func cutLines(t testing.TB, src string, n int) string {
	t.Helper()
	lines := strings.SplitAfter(string(readTestdata(t, src)), "\n")
	return writeFile(t, filepath.Base(src), []byte(strings.Join(lines[:n], "")))
}

// TestLongerExportAddsNew: a later, longer export of a chat adds only the
// messages the earlier one did not have, and the order of the two imports
// does not matter.
func TestLongerExportAddsNew(t *testing.T) {
	const chat = "whatsapp/android-en-US/WhatsApp Chat with Bob Smith.txt"
	opts := Options{Location: time.UTC}
	full := filepath.Join("testdata", filepath.FromSlash(chat))
	// The first 9 lines end after the two equal "ok" lines: positions
	// among equal lines carry over.
	short := cutLines(t, chat, 9)
	a := newHome(t)
	first := mustImport(t, a, short, opts)
	second := mustImport(t, a, full, opts)
	if first.Added.Messages != 6 || second.Added.Messages != 5 {
		t.Errorf("added %d then %d messages, want 6 then 5", first.Added.Messages, second.Added.Messages)
	}
	b := newHome(t)
	mustImport(t, b, full, opts)
	mustImport(t, b, short, opts)
	if da, db := digest(t, a), digest(t, b); da != db {
		t.Errorf("short then long: %s; long then short: %s", da.Digest, db.Digest)
	}

	// Telegram: the account export and the single-chat export overlap in
	// one chat and in its people.
	tgA, tgB := newHome(t), newHome(t)
	single := filepath.Join("testdata", "telegram", "single", "ChatExport_2023-03-13")
	account := filepath.Join("testdata", "telegram", "account", "DataExport_2023-04-02")
	tz := Options{Location: mustZone(t, "Europe/Berlin")}
	r1 := mustImport(t, tgA, single, tz)
	r2 := mustImport(t, tgA, account, tz)
	mustImport(t, tgB, account, tz)
	mustImport(t, tgB, single, tz)
	if r2.Added.Conversations != 3 {
		t.Errorf("account export added %d conversations, want the 3 the single export lacked", r2.Added.Conversations)
	}
	if da, db := digest(t, tgA), digest(t, tgB); da != db || da.Messages != r1.Read+r2.Read {
		t.Errorf("single then account: %+v; account then single: %+v; want %d messages", da, db, r1.Read+r2.Read)
	}
}

// TestMediaLaterExport: a chat exported without media, then with it,
// is one history: the second import adds the attachments to the messages
// the first one made, and no message.
func TestMediaLaterExport(t *testing.T) {
	txt := string(readTestdata(t, "whatsapp/android-en-GB-media/WhatsApp Chat with Carol.txt"))
	for _, name := range []string{"IMG-20250318-WA0001.jpg", "PTT-20250318-WA0002.opus"} {
		txt = strings.ReplaceAll(txt, name+" (file attached)", "<Media omitted>")
	}
	bare := writeFile(t, "WhatsApp Chat with Carol.txt", []byte(txt))
	withMedia := zipDir(t, filepath.Join("testdata", "whatsapp", "android-en-GB-media"), "WhatsApp Chat with Carol.zip")
	opts := Options{Location: time.UTC}
	st := newHome(t)
	first := mustImport(t, st, bare, opts)
	second := mustImport(t, st, withMedia, opts)
	if first.Added.Messages != 6 || first.Added.Attachments != 0 {
		t.Errorf("without media: added %+v", first.Added)
	}
	if second.Added.Messages != 0 || second.Added.Attachments != 3 || second.Added.MediaBytes != 52 {
		t.Errorf("with media: added %+v, want 0 messages, 3 attachments, 52 bytes", second.Added)
	}
	if err := st.Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestZoneDecidesTimes: a WhatsApp export's times are read in the zone
// given, and so are its IDs: another zone is another history.
func TestZoneDecidesTimes(t *testing.T) {
	p := filepath.Join("testdata", "whatsapp", "android-de", "WhatsApp-Chat mit Familie.txt")
	utc, berlin := newHome(t), newHome(t)
	mustImport(t, utc, p, Options{Location: time.UTC})
	mustImport(t, berlin, p, Options{Location: mustZone(t, "Europe/Berlin")})
	if !strings.Contains(dump(t, utc), "2025-02-01 08:02:00 Mama") || !strings.Contains(dump(t, berlin), "2025-02-01 07:02:00 Mama") {
		t.Errorf("times not read in the zone given:\n%s\n%s", dump(t, utc), dump(t, berlin))
	}
	if digest(t, utc).Digest == digest(t, berlin).Digest {
		t.Error("same digest for two zones")
	}
}

// TestImportCancelled: an import stopped half way writes nothing.
func TestImportCancelled(t *testing.T) {
	st := newHome(t)
	before := homeFiles(t, st.Home())
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	_, err := Import(ctx, st, filepath.Join("testdata", "whatsapp", "android-de", "WhatsApp-Chat mit Familie.txt"), Options{
		AskOwner: func(context.Context, []string) (string, error) { calls++; cancel(); return "Mama", nil },
	})
	if err == nil || calls != 1 {
		t.Fatalf("got %v after %d questions, want the cancellation", err, calls)
	}
	if empty, _ := st.IsEmpty(context.Background()); !empty {
		t.Error("a cancelled import wrote history")
	}
	if after := homeFiles(t, st.Home()); len(after) != len(before) {
		t.Errorf("files changed: %v, were %v", after, before)
	}
	if _, err := os.Stat(filepath.Join(st.Home(), stagingDir)); !os.IsNotExist(err) {
		t.Errorf("staging left behind: %v", err)
	}
}
