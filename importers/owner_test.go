package importers

import (
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestOwner(t *testing.T) {
	german := filepath.Join("testdata", "whatsapp", "android-de", "WhatsApp-Chat mit Familie.txt")
	oneWriter := writeFile(t, "WhatsApp Chat with Zoe.txt", []byte(androidHead+"18/03/2025, 17:50 - Zoe: hi\n"))
	account := filepath.Join("testdata", "telegram", "account", "DataExport_2023-04-02")
	tests := []struct {
		name  string
		path  string
		owner string
		ask   string // what AskOwner answers; "-" not set
		asked []string
		want  []string
	}{
		{"named", german, "Oma", "-", nil, []string{"Oma"}},
		{"named, other case", german, "oma", "-", nil, []string{"Oma"}},
		{"asked", german, "", "Ben", []string{"Ben", "Mama", "Oma"}, []string{"Ben"}},
		{"asked, none", german, "", "", []string{"Ben", "Mama", "Oma"}, nil},
		{"not asked: no terminal", german, "", "-", nil, nil},
		{"not asked: one person", oneWriter, "", "Zoe", nil, nil},
		{"account export names its owner", account, "", "x", nil, []string{"Alice"}},
		{"by Telegram id", account, "user2002", "-", nil, []string{"Alice", "Jana"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newHome(t)
			var asked []string
			opts := Options{Location: time.UTC, Owner: tt.owner}
			if tt.ask != "-" {
				opts.AskOwner = func(_ context.Context, names []string) (string, error) {
					asked = names
					return tt.ask, nil
				}
			}
			res := mustImport(t, st, tt.path, opts)
			if !reflect.DeepEqual(asked, tt.asked) {
				t.Errorf("asked about %q, want %q", asked, tt.asked)
			}
			got := res.Owner
			if len(got) == 0 {
				got = nil
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("owner %q, want %q", got, tt.want)
			}
			// Each owner is marked in the home (once per conversation they are in).
			d := dump(t, st)
			for _, w := range tt.want {
				if !strings.Contains(d, w+" (owner)") && !strings.Contains(d, w+" [") {
					t.Errorf("%s not in the home", w)
				}
			}
			if marked := strings.Count(d, "(owner)"); (marked > 0) != (len(tt.want) > 0) {
				t.Errorf("%d owner marks in the home, want owners %q:\n%s", marked, tt.want, d)
			}
		})
	}
}
