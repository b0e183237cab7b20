package importers

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/chatstore/seed"
)

// writeFile writes b to name in a fresh temporary directory.
func writeFile(t testing.TB, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeZip writes a zip named name holding files (name → content, in
// order of the keys as given by names).
func writeZip(t testing.TB, name string, names []string, files map[string]string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, n := range names {
		w, err := zw.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(files[n]))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return writeFile(t, name, buf.Bytes())
}

func readTestdata(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", filepath.FromSlash(p)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// copyTree copies testdata/src into a new temporary directory named name.
func copyTree(t testing.TB, src, name string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), name)
	root := filepath.Join("testdata", filepath.FromSlash(src))
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

const androidHead = "18/03/2025, 17:49 - Messages and calls are end-to-end encrypted.\n"

// TestBadInput: every kind of bad export is refused with its own kind of
// error and a sentence, and the home, which already holds history, is left
// exactly as it was: same digest, same files.
func TestBadInput(t *testing.T) {
	ctx := context.Background()
	st := newHome(t)
	if _, err := Import(ctx, st, filepath.Join("testdata", "telegram", "account", "DataExport_2023-04-02"), Options{Location: time.UTC}); err != nil {
		t.Fatal(err)
	}
	if _, err := seed.Add(ctx, st, seed.Options{Messages: 200, MediaBytes: 64 << 10, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	before, err := st.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	filesBefore := homeFiles(t, st.Home())

	iosZip := zipDir(t, filepath.Join("testdata", "whatsapp", "ios-en-GB-media", "WhatsApp Chat - Weekend Trip"), "WhatsApp Chat - Weekend Trip.zip")
	iosBytes, err := os.ReadFile(iosZip)
	if err != nil {
		t.Fatal(err)
	}
	tgSingle := readTestdata(t, "telegram/single/ChatExport_2023-03-13/result.json")
	tgAccount := readTestdata(t, "telegram/account/DataExport_2023-04-02/result.json")

	// corruptEntry flips bytes in the middle of the compressed data of
	// one entry of the iOS zip.
	corruptEntry := func(entry string) string {
		zr, err := zip.NewReader(bytes.NewReader(iosBytes), int64(len(iosBytes)))
		if err != nil {
			t.Fatal(err)
		}
		b := bytes.Clone(iosBytes)
		for _, f := range zr.File {
			if f.Name == entry {
				off, err := f.DataOffset()
				if err != nil {
					t.Fatal(err)
				}
				mid := off + int64(f.CompressedSize64)/2
				for i := mid; i < mid+4 && i < off+int64(f.CompressedSize64); i++ {
					b[i] ^= 0x55
				}
			}
		}
		return writeFile(t, "WhatsApp Chat - Weekend Trip.zip", b)
	}
	// tgWith is the single-chat Telegram export, media included, with
	// result.json replaced by b.
	tgWith := func(b []byte) string {
		dir := copyTree(t, "telegram/single/ChatExport_2023-03-13", "ChatExport")
		if err := os.WriteFile(filepath.Join(dir, "result.json"), b, 0o600); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	symlinked := func() string {
		dir := copyTree(t, "whatsapp/android-en-GB-media", "export")
		os.Remove(filepath.Join(dir, "IMG-20250318-WA0001.jpg"))
		outside := writeFile(t, "secret.jpg", []byte("outside the export"))
		if err := os.Symlink(outside, filepath.Join(dir, "IMG-20250318-WA0001.jpg")); err != nil {
			t.Skip("no symbolic links here")
		}
		return filepath.Join(dir, "WhatsApp Chat with Carol.txt")
	}

	type badCase struct {
		name string
		path func() string
		opts Options
		kind error
		says string // a piece of the sentence
	}
	tests := []badCase{
		{"truncated zip", func() string { return writeFile(t, "chat.zip", iosBytes[:len(iosBytes)/2]) }, Options{}, ErrDamaged, "not a readable zip"},
		{"zip cut before its directory", func() string { return writeFile(t, "chat.zip", iosBytes[:len(iosBytes)-30]) }, Options{}, ErrDamaged, "cut off or damaged"},
		{"corrupt chat in zip", func() string { return corruptEntry("_chat.txt") }, Options{}, ErrDamaged, "_chat.txt"},
		{"corrupt photo in zip", func() string { return corruptEntry("00000004-PHOTO-2018-11-29-10-52-13.jpg") }, Options{}, ErrDamaged, "PHOTO"},
		{"not an export: text", func() string { return writeFile(t, "notes.txt", []byte("shopping list\nmilk\n")) }, Options{}, ErrNotExport, "does not look like a WhatsApp chat"},
		{"not an export: empty", func() string { return writeFile(t, "empty.txt", nil) }, Options{}, ErrNotExport, "empty"},
		{"not an export: image", func() string { return writeFile(t, "photo.png", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")) }, Options{}, ErrNotExport, "WhatsApp"},
		{"not an export: JSON", func() string { return writeFile(t, "result.json", []byte(`{"foo": [1, 2, {"bar": null}]}`)) }, Options{}, ErrNotExport, "no chats"},
		{"not an export: JSON array", func() string { return writeFile(t, "result.json", []byte(`[1, 2]`)) }, Options{}, ErrNotExport, "not a JSON object"},
		{"not an export: folder", func() string { d := t.TempDir(); writeFile(t, "x", nil); return d }, Options{}, ErrNotExport, "holds no chat export"},
		{"not an export: zip of other files", func() string {
			return writeZip(t, "photos.zip", []string{"a.jpg"}, map[string]string{"a.jpg": "x"})
		}, Options{}, ErrNotExport, "holds no chat export"},
		{"two chats in one zip", func() string {
			return writeZip(t, "chats.zip", []string{"WhatsApp Chat with A.txt", "WhatsApp Chat with B.txt"},
				map[string]string{"WhatsApp Chat with A.txt": androidHead, "WhatsApp Chat with B.txt": androidHead})
		}, Options{}, ErrNotExport, "several chats"},
		{"Telegram's HTML export", func() string { return writeFile(t, "ChatExport/messages.html", []byte("<!DOCTYPE html>")) }, Options{}, ErrNotExport, "JSON"},
		{"Telegram's HTML export folder", func() string {
			return filepath.Dir(writeFile(t, "ChatExport/messages.html", []byte("<!DOCTYPE html>")))
		}, Options{}, ErrNotExport, "Machine-readable JSON"},
		{"Telegram given as WhatsApp", func() string { return writeFile(t, "result.json", tgSingle) }, Options{Format: FormatWhatsApp}, ErrNotExport, "WhatsApp"},
		{"WhatsApp given as Telegram", func() string { return writeFile(t, "chat.txt", []byte(androidHead)) }, Options{Format: FormatTelegram}, ErrNotExport, "not a Telegram export"},
		{"JSON stops half way", func() string { return tgWith(tgSingle[:len(tgSingle)/2]) }, Options{}, ErrDamaged, "stops in the middle"},
		{"JSON stops before its end", func() string { return tgWith(bytes.TrimRight(tgSingle, "}\n ")) }, Options{}, ErrDamaged, "stops in the middle"},
		{"account JSON stops in a chat list", func() string { return writeFile(t, "result.json", tgAccount[:len(tgAccount)*2/3]) }, Options{}, ErrDamaged, "stops in the middle"},
		{"JSON damaged", func() string {
			return tgWith(bytes.Replace(tgSingle, []byte(`"id": 3,`), []byte(`"id": 3,,`), 1))
		}, Options{}, ErrDamaged, "not valid JSON"},
		{"JSON with data after its end", func() string { return tgWith(append(bytes.Clone(tgSingle), "{}"...)) }, Options{}, ErrDamaged, "after its end"},
		{"unknown date format", func() string {
			return writeFile(t, "WhatsApp Chat with A.txt", []byte("2025年3月18日 17:49 - A: hi\n"))
		}, Options{}, ErrDateFormat, "does not know this form"},
		{"impossible dates throughout", func() string {
			return writeFile(t, "WhatsApp Chat with A.txt", []byte("31/31/2025, 17:49 - A: hi\n32/13/2025, 17:50 - A: ho\n"))
		}, Options{}, ErrDateFormat, "no real date"},
		{"attachment missing from zip", func() string {
			txt := string(readTestdata(t, "whatsapp/android-en-GB-media/WhatsApp Chat with Carol.txt"))
			return writeZip(t, "WhatsApp Chat with Carol.zip", []string{"WhatsApp Chat with Carol.txt", "PTT-20250318-WA0002.opus"},
				map[string]string{"WhatsApp Chat with Carol.txt": txt, "PTT-20250318-WA0002.opus": "x"})
		}, Options{}, ErrMissingMedia, "IMG-20250318-WA0001.jpg"},
		{"attachment missing from folder", func() string {
			dir := copyTree(t, "telegram/single/ChatExport_2023-03-13", "ChatExport")
			os.Remove(filepath.Join(dir, "files", "plan.pdf"))
			return dir
		}, Options{}, ErrMissingMedia, "files/plan.pdf"},
		{"attachment link leads outside", symlinked, Options{}, ErrUnsafeName, "outside the export"},
		{"unknown owner", func() string {
			return filepath.Join("testdata", "whatsapp", "android-de", "WhatsApp-Chat mit Familie.txt")
		}, Options{Owner: "Opa"}, ErrUnknownOwner, "Ben, Mama, Oma"},
	}
	for _, name := range []string{"../../etc/passwd", "/etc/passwd", "..\\..\\x.jpg", "C:\\x.jpg", "a\x00b.jpg", "sub/../../x.jpg"} {
		tests = append(tests,
			badCase{"WhatsApp Android name " + name, func() string {
				return writeFile(t, "WhatsApp Chat with A.txt", []byte(androidHead+"18/03/2025, 17:50 - A: "+name+" (file attached)\n"))
			}, Options{}, ErrUnsafeName, "outside the export"},
			badCase{"WhatsApp iOS name " + name, func() string {
				return writeFile(t, "_chat.txt", []byte("[18/03/2025, 17:49:00] A: hi\n[18/03/2025, 17:50:00] A: \u200e<attached: "+name+">\n"))
			}, Options{}, ErrUnsafeName, "outside the export"},
			badCase{"Telegram path " + name, func() string {
				j := strings.Replace(string(tgSingle), `"photos/photo_1@12-03-2023_10-05-00.jpg"`, strconvQuote(name), 1)
				return writeFile(t, "export/result.json", []byte(j))
			}, Options{}, ErrUnsafeName, "outside the export"},
		)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Import(ctx, st, tt.path(), tt.opts)
			if !errors.Is(err, tt.kind) {
				t.Fatalf("got %v, want %v", err, tt.kind)
			}
			t.Log(err)
			var ie *Error
			if !errors.As(err, &ie) || !strings.Contains(err.Error(), tt.says) {
				t.Errorf("error %q is not the sentence expected (with %q)", err, tt.says)
			}
			after, err := st.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if after != before {
				t.Errorf("history changed: %+v, was %+v", after, before)
			}
			if got := homeFiles(t, st.Home()); !reflect.DeepEqual(got, filesBefore) {
				t.Errorf("home's files changed:\n%v\nwere\n%v", got, filesBefore)
			}
		})
	}
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
