package importers

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.want from what the importer gives")

// fixture is one export in testdata and how to import it.
type fixture struct {
	name string // also testdata/<name>.want
	dir  string // under testdata
	file string // in dir: the path to import ("" dir itself)
	zip  string // when set, zip dir under this name and import that
	opts Options
}

func mustZone(t testing.TB, name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func fixtures(t testing.TB) []fixture {
	ny, berlin, saoPaulo := mustZone(t, "America/New_York"), mustZone(t, "Europe/Berlin"), mustZone(t, "America/Sao_Paulo")
	return []fixture{
		{name: "android-en-US", dir: "whatsapp/android-en-US", file: "WhatsApp Chat with Bob Smith.txt", opts: Options{Location: ny, Owner: "Alice Jones"}},
		{name: "android-de", dir: "whatsapp/android-de", file: "WhatsApp-Chat mit Familie.txt", opts: Options{Location: berlin}},
		{name: "android-en-GB-media", dir: "whatsapp/android-en-GB-media", zip: "WhatsApp Chat with Carol.zip", opts: Options{Location: time.UTC, Owner: "Alice"}},
		{name: "android-iso", dir: "whatsapp/android-iso", file: "WhatsApp Chat with Dev Team.txt", opts: Options{Location: berlin}},
		{name: "android-es", dir: "whatsapp/android-es", file: "Chat de WhatsApp con Lucía.txt", opts: Options{Location: mustZone(t, "Europe/Madrid"), Owner: "alice"}},
		{name: "ios-en-GB-media", dir: "whatsapp/ios-en-GB-media/WhatsApp Chat - Weekend Trip", zip: "WhatsApp Chat - Weekend Trip.zip", opts: Options{Location: time.UTC, Owner: "Alice"}},
		{name: "ios-en-GB-folder", dir: "whatsapp/ios-en-GB-media", file: "WhatsApp Chat - Weekend Trip", opts: Options{Location: time.UTC, Owner: "Alice"}},
		{name: "ios-en-US", dir: "whatsapp/ios-en-US/WhatsApp Chat - Frank", zip: "WhatsApp Chat - Frank.zip", opts: Options{Location: ny}},
		{name: "ios-pt-BR", dir: "whatsapp/ios-pt-BR/WhatsApp Chat - Grupo da Praia", zip: "WhatsApp Chat - Grupo da Praia.zip", opts: Options{Location: saoPaulo}},
		{name: "telegram-single", dir: "telegram/single", file: "ChatExport_2023-03-13", opts: Options{Location: berlin, Owner: "Alice"}},
		{name: "telegram-single-zip", dir: "telegram/single", zip: "ChatExport_2023-03-13.zip", opts: Options{Location: berlin, Owner: "user1001"}},
		{name: "telegram-account", dir: "telegram/account", file: "DataExport_2023-04-02/result.json", opts: Options{Location: time.UTC}},
	}
}

// path is where the fixture's export is, zipping it first if need be.
func (f fixture) path(t testing.TB) string {
	dir := filepath.Join("testdata", filepath.FromSlash(f.dir))
	if f.zip != "" {
		return zipDir(t, dir, f.zip)
	}
	return filepath.Join(dir, f.file)
}

func TestFixtures(t *testing.T) {
	ctx := context.Background()
	for _, f := range fixtures(t) {
		t.Run(f.name, func(t *testing.T) {
			st := newHome(t)
			res, err := Import(ctx, st, f.path(t), f.opts)
			if err != nil {
				t.Fatalf("Import: %v", err)
			}
			got := dumpResult(res) + dump(t, st)
			want := filepath.Join("testdata", f.name+".want")
			if *update {
				if err := os.WriteFile(want, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			b, err := os.ReadFile(want)
			if err != nil {
				t.Fatalf("%v (run with -update to write it)", err)
			}
			if got != string(b) {
				t.Errorf("got:\n%s\nwant (%s):\n%s", got, want, b)
			}
			if err := st.Verify(ctx); err != nil {
				t.Errorf("Verify: %v", err)
			}
			if ents, _ := os.ReadDir(filepath.Join(st.Home(), stagingDir)); len(ents) > 0 {
				t.Errorf("staging left behind: %v", ents)
			}
		})
	}
}
