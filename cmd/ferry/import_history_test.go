package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/internal/exportgen"
)

// exports is where the importers' test exports are.
var exports = filepath.Join("..", "..", "importers", "testdata")

// zipExport zips a test export folder (its files at the zip's top, as
// WhatsApp writes them) into dir/name.
func zipExport(t *testing.T, folder, dir, name string) string {
	t.Helper()
	out := filepath.Join(dir, name)
	if err := exportgen.ZipFolder(out, filepath.Join(exports, folder)); err != nil {
		t.Fatal(err)
	}
	return out
}

type importOut struct {
	Format string `json:"format"`
	Chats  int    `json:"chats"`
	Read   int64  `json:"read"`
	Owner  []string
	Added  struct {
		Conversations int64 `json:"conversations"`
		Messages      int64 `json:"messages"`
		Attachments   int64 `json:"attachments"`
		MediaBytes    int64 `json:"media_bytes"`
	} `json:"added"`
	Unreadable int `json:"unreadable"`
	Problems   []struct {
		File, Where, Text, Reason string
	} `json:"problems"`
}

func historyImport(t *testing.T, home string, args ...string) importOut {
	t.Helper()
	r := mustOK(t, ferry(t, nil, append([]string{"--home", home, "--json", "history", "import"}, args...)...))
	var out importOut
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("history import --json output %q: %v", r.stdout, err)
	}
	return out
}

func TestHistoryImport(t *testing.T) {
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	z := zipExport(t, "whatsapp/android-en-GB-media", dir, "WhatsApp Chat with Carol.zip")
	out := historyImport(t, home, z, "--tz", "UTC", "--me", "Alice")
	if out.Format != "whatsapp" || out.Chats != 1 || out.Read != 6 || out.Added.Messages != 6 || out.Added.Attachments != 3 ||
		out.Added.MediaBytes != 52 || len(out.Owner) != 1 || out.Owner[0] != "Alice" {
		t.Errorf("first import: %+v", out)
	}
	st := stats(t, home)
	if st.Messages != 6 || st.Attachments != 3 {
		t.Errorf("home holds %+v", st)
	}
	mustOK(t, ferry(t, nil, "--home", home, "history", "stats", "--verify"))
	// Again: nothing added, and the human output says so.
	r := mustOK(t, ferry(t, nil, "--home", home, "history", "import", z, "--tz", "UTC"))
	if !strings.Contains(r.stdout, "added 0 conversations, 0 messages, 0 attachments") || !strings.Contains(r.stdout, "already held all of it") {
		t.Errorf("second import said:\n%s", r.stdout)
	}
	if got := stats(t, home); got != st {
		t.Errorf("second import changed the home: %+v, was %+v", got, st)
	}
	// Lines that cannot be read are listed.
	out = historyImport(t, home, filepath.Join(exports, "whatsapp", "android-iso", "WhatsApp Chat with Dev Team.txt"), "--tz", "Europe/Berlin")
	if out.Unreadable != 1 || len(out.Problems) != 1 || out.Problems[0].Where != "line 8" || !strings.Contains(out.Problems[0].Text, "2025-02-30") {
		t.Errorf("unreadable lines: %+v", out)
	}
	r = mustOK(t, ferry(t, nil, "--home", home, "history", "import", filepath.Join(exports, "whatsapp", "android-iso", "WhatsApp Chat with Dev Team.txt"), "--tz", "Europe/Berlin"))
	if !strings.Contains(r.stdout, "1 line could not be read") || !strings.Contains(r.stdout, "line 8") {
		t.Errorf("human output does not show the unreadable line:\n%s", r.stdout)
	}
	if _, err := os.Stat(filepath.Join(home, ".staging")); !os.IsNotExist(err) {
		t.Errorf("staging left in the home: %v", err)
	}
}

// TestHistoryImportMigrate: the same export imported into two homes,
// one of them migrated into the other (ferry export, ferry import) and the
// export imported again: one digest, and a home made by migration alone
// agrees with one made by the import alone.
func TestHistoryImportMigrate(t *testing.T) {
	dir := t.TempDir()
	z := zipExport(t, "whatsapp/ios-en-GB-media/WhatsApp Chat - Weekend Trip", dir, "WhatsApp Chat - Weekend Trip.zip")
	tg := filepath.Join(exports, "telegram", "single", "ChatExport_2023-03-13")
	a, b, c := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "c")
	for _, h := range []string{a, b} {
		historyImport(t, h, z, "--tz", "Europe/London", "--me", "Alice")
		historyImport(t, h, tg, "--tz", "Europe/Berlin")
	}
	sa, sb := stats(t, a), stats(t, b)
	if sa != sb {
		t.Fatalf("two homes, one export: %+v vs %+v", sa, sb)
	}
	// a is migrated into b and into an empty c.
	file := filepath.Join(dir, "a.ferry")
	r := mustOK(t, ferry(t, nil, "--home", a, "export", "--out", file))
	key := recoveryKeyLine.FindStringSubmatch(r.stdout)
	if key == nil {
		t.Fatalf("no recovery key in %q", r.stdout)
	}
	mustOK(t, ferry(t, nil, "--home", b, "import", file, "--key", key[1]))
	mustOK(t, ferry(t, nil, "--home", c, "import", file, "--key", key[1]))
	for _, h := range []string{b, c} {
		if out := historyImport(t, h, z, "--tz", "Europe/London"); out.Added.Messages != 0 || out.Added.Attachments != 0 {
			t.Errorf("%s: re-import after the migration added %+v", h, out.Added)
		}
		historyImport(t, h, tg, "--tz", "Europe/Berlin")
		if got := stats(t, h); got != sa {
			t.Errorf("%s: %+v, want the one digest %+v", h, got, sa)
		}
	}
}

// TestHistoryImportBadInputChangesNothing: bad exports fail with one
// sentence and exit 1, and the home's history and files stay as they were;
// a home the command would have created is not left behind.
func TestHistoryImportBadInputChangesNothing(t *testing.T) {
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	seed(t, home, 300, 1, 1)
	historyImport(t, home, filepath.Join(exports, "telegram", "account", "DataExport_2023-04-02"), "--tz", "UTC")
	before, beforeFiles := stats(t, home), treeDigest(t, home)

	write := func(name string, b []byte) string {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := zipExport(t, "whatsapp/android-en-GB-media", dir, "WhatsApp Chat with Carol.zip")
	zb, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	tgb, err := os.ReadFile(filepath.Join(exports, "telegram", "account", "DataExport_2023-04-02", "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	noMedia := t.TempDir()
	txt, err := os.ReadFile(filepath.Join(exports, "whatsapp", "android-en-GB-media", "WhatsApp Chat with Carol.txt"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(noMedia, "WhatsApp Chat with Carol.txt"), txt, 0o600)

	const head = "18/03/2025, 17:49 - Messages and calls are end-to-end encrypted.\n"
	tests := []struct {
		name, path string
		says       string
	}{
		{"truncated zip", write("WhatsApp Chat with Carol.zip", zb[:len(zb)/2]), "not a readable zip"},
		{"not an export", write("notes.txt", []byte("milk\neggs\n")), "does not look like a WhatsApp chat"},
		{"JSON cut half way", write("result.json", tgb[:len(tgb)/2]), "stops in the middle"},
		{"unknown date format", write("WhatsApp Chat with A.txt", []byte("2025年3月18日 17:49 - A: hi\n")), "form of date and time"},
		{"attachment missing", filepath.Join(noMedia, "WhatsApp Chat with Carol.txt"), "does not hold it"},
		{"name outside the export", write("WhatsApp Chat with A.txt", []byte(head+"18/03/2025, 17:50 - A: ../../../etc/passwd (file attached)\n")), "outside the export"},
		{"absolute name", write("_chat.txt", []byte("[18/03/2025, 17:50:00] A: \u200e<attached: /etc/passwd>\n")), "outside the export"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ferry(t, nil, "--home", home, "history", "import", tt.path, "--tz", "UTC")
			msg := strings.TrimSpace(r.stderr)
			if r.code != 1 || !strings.Contains(msg, tt.says) || strings.Contains(msg, "\n") {
				t.Errorf("exit %d, stderr %q; want exit 1 and one sentence with %q", r.code, r.stderr, tt.says)
			}
			if got := stats(t, home); got != before {
				t.Errorf("history changed: %+v, was %+v", got, before)
			}
			if got := treeDigest(t, home); got != beforeFiles {
				t.Errorf("files changed:\n%s\nwere\n%s", got, beforeFiles)
			}
			if _, err := os.Stat(filepath.Join(home, ".staging")); !os.IsNotExist(err) {
				t.Errorf("staging left in the home: %v", err)
			}
			fresh := filepath.Join(t.TempDir(), "new-home")
			if r := ferry(t, nil, "--home", fresh, "history", "import", tt.path); r.code != 1 {
				t.Errorf("into a new home: exit %d", r.code)
			}
			if _, err := os.Stat(fresh); !os.IsNotExist(err) {
				t.Errorf("a failed import left the home it created: %v", err)
			}
		})
	}
}

func TestHistoryImportUsage(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	chat := filepath.Join(exports, "whatsapp", "android-de", "WhatsApp-Chat mit Familie.txt")
	for _, tt := range []struct {
		args []string
		says string
	}{
		{[]string{chat, "--me", "Opa"}, "Ben, Mama, Oma"},
		{[]string{chat, "--tz", "Mars/Olympus"}, "unknown time zone"},
		{[]string{chat, "--format", "signal"}, "unknown export format"},
		{[]string{}, "accepts 1 arg"},
	} {
		r := ferry(t, nil, append([]string{"--home", home, "history", "import"}, tt.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, tt.says) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tt.args, r.code, r.stderr, tt.says)
		}
	}
	if _, err := os.Stat(home); !os.IsNotExist(err) {
		t.Errorf("a refused command left a home: %v", err)
	}
}

func TestAskOwner(t *testing.T) {
	names := []string{"Ben", "Mama", "Oma"}
	for _, tt := range []struct{ in, want string }{
		{"2\n", "Mama"},
		{"0\n", ""},
		{"oma\n", "Oma"},
		{"7\nx\n3\n", "Oma"},
		{"9\n9\n9\n1\n", ""}, // three wrong answers: no one
		{"", ""},
	} {
		var out strings.Builder
		got, err := askOwner(strings.NewReader(tt.in), &out)(context.Background(), names)
		if err != nil || got != tt.want {
			t.Errorf("answers %q: got %q, %v; want %q", tt.in, got, err, tt.want)
		}
		if !strings.Contains(out.String(), "2) Mama") {
			t.Errorf("the question does not list the names:\n%s", out.String())
		}
	}
}

// TestHistoryImportDryRun: --dry-run --json says what the import would add
// and writes nothing (no home made; a home's history and files the same),
// the import after it adds exactly that, and the human output says that
// nothing was written.
func TestHistoryImportDryRun(t *testing.T) {
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	z := zipExport(t, "whatsapp/android-en-GB-media", dir, "WhatsApp Chat with Carol.zip")
	var dry importOut
	r := mustOK(t, ferry(t, nil, "--home", home, "--json", "history", "import", "--dry-run", z, "--tz", "UTC", "--me", "Alice"))
	if err := json.Unmarshal([]byte(r.stdout), &dry); err != nil {
		t.Fatalf("--dry-run --json output %q: %v", r.stdout, err)
	}
	var flag struct {
		DryRun bool `json:"dry_run"`
	}
	json.Unmarshal([]byte(r.stdout), &flag)
	if !flag.DryRun || dry.Added.Messages != 6 || dry.Added.Attachments != 3 || dry.Added.MediaBytes != 52 {
		t.Errorf("dry run into no home: %s", r.stdout)
	}
	if _, err := os.Stat(home); !os.IsNotExist(err) {
		t.Fatalf("the dry run made the home (%v)", err)
	}
	iso := filepath.Join(exports, "whatsapp", "android-iso", "WhatsApp Chat with Dev Team.txt")
	historyImport(t, home, iso, "--tz", "Europe/Berlin")
	st := stats(t, home)
	before := dirFiles(t, home)
	dry = historyImport(t, home, "--dry-run", z, "--tz", "UTC", "--me", "Alice")
	if got := stats(t, home); got != st {
		t.Errorf("the dry run changed the history: %+v, was %+v", got, st)
	}
	if after := dirFiles(t, home); after != before {
		t.Errorf("the dry run changed the home's files:\n%s\nwas:\n%s", after, before)
	}
	real := historyImport(t, home, z, "--tz", "UTC", "--me", "Alice")
	if real.Added != dry.Added || real.Read != dry.Read || real.Unreadable != dry.Unreadable {
		t.Errorf("dry run said %+v; the import did %+v", dry, real)
	}
	r = mustOK(t, ferry(t, nil, "--home", home, "history", "import", "--dry-run", iso, "--tz", "Europe/Berlin"))
	for _, want := range []string{"dry run, nothing written", "would add 0 conversations, 0 messages", "already holds all of it", "1 line could not be read and would not be imported"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("human output lacks %q:\n%s", want, r.stdout)
		}
	}
}

// dirFiles lists the files under dir with their sizes and contents' hashes,
// leaving out SQLite's shared-memory index and an empty write-ahead log
// (which any reader makes).
func dirFiles(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.HasSuffix(p, "-shm") || (strings.HasSuffix(p, "-wal") && len(data) == 0) {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(&b, "%s %d %x\n", rel, len(data), sha256.Sum256(data))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
