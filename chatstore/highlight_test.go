package chatstore

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestHighlight(t *testing.T) {
	for _, c := range []struct {
		query, text string
		want        []Segment
	}{
		{"ferry", "Take the ferry home", []Segment{{"Take the ", false}, {"ferry", true}, {" home", false}}},
		{"FERRY", "ferry, Ferry; FERRY!", []Segment{{"ferry", true}, {", ", false}, {"Ferry", true}, {"; ", false}, {"FERRY", true}, {"!", false}}},
		{"munchen", "nach München fahren", []Segment{{"nach ", false}, {"München", true}, {" fahren", false}}},
		{"münchen", "nach Munchen", []Segment{{"nach ", false}, {"Munchen", true}}},
		{"fer*", "ferry fern offer", []Segment{{"ferry", true}, {" ", false}, {"fern", true}, {" offer", false}}},
		{"fer", "ferry", []Segment{{"ferry", false}}},
		{`"see you"`, "see me, see you, you see", []Segment{{"see me, ", false}, {"see", true}, {" ", false}, {"you", true}, {", you see", false}}},
		{"今天", "我今天有空", []Segment{{"我", false}, {"今", true}, {"天", true}, {"有空", false}}},
		{"ｆｅｒｒｙ", "ferry", []Segment{{"ferry", true}}},
		{"<img", `<img src=x onerror=alert(1)>`, []Segment{{"<", false}, {"img", true}, {" src=x onerror=alert(1)>", false}}},
		{"***", "nothing to find", []Segment{{"nothing to find", false}}},
		{"x", "", []Segment{{"", false}}},
		{"كتاب", "هذا كـتاب", []Segment{{"هذا ", false}, {"كـتاب", true}}},
	} {
		got := Highlight(c.query, c.text)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("Highlight(%q, %q) = %+v, want %+v", c.query, c.text, got, c.want)
		}
	}
}

// TestHighlightFindsWhatSearchFinds: for every hit of a search in a seeded
// history (several scripts, emoji), the highlighted words are there.
func TestHighlightFindsWhatSearchFinds(t *testing.T) {
	st, _ := seeded(t, seedOptions{Messages: 3000, Seed: 3})
	ix := openIndex(t, st)
	ctx := context.Background()
	for _, q := range []string{"the", "you*", "कैसे", "今天", "sabado", "munchen", "مرحبا", "내일", `"see you"`, "ok"} {
		hits, err := ix.Search(ctx, q, SearchOptions{Limit: 50})
		if err != nil {
			t.Fatal(err)
		}
		if len(hits) == 0 {
			t.Errorf("search %q found nothing in the seeded history: pick a word it holds", q)
		}
		for _, h := range hits {
			segs := Highlight(q, h.Body)
			var b strings.Builder
			marked := false
			for _, s := range segs {
				b.WriteString(s.Text)
				marked = marked || s.Match
			}
			if b.String() != h.Body {
				t.Fatalf("segments of %q put back together are %q", h.Body, b.String())
			}
			if !marked {
				t.Errorf("search %q found %q, Highlight marks nothing in it", q, h.Body)
			}
		}
	}
}

// FuzzHighlight: any query and text split into segments that put back
// together give the text, matches are never empty, and nothing panics.
func FuzzHighlight(f *testing.F) {
	f.Add("ferry", "Take the ferry home")
	f.Add(`"see you"*`, "see youth")
	f.Add("今天", "我今天有空")
	f.Add("x*", "\xff\xfe x\u0301 ｘ")
	f.Fuzz(func(t *testing.T, query, text string) {
		if len(text) > 1<<16 || len(query) > 1<<10 {
			return
		}
		var b strings.Builder
		for i, s := range Highlight(query, text) {
			if s.Match && s.Text == "" {
				t.Fatalf("segment %d is an empty match", i)
			}
			b.WriteString(s.Text)
		}
		if b.String() != text {
			t.Fatalf("segments put back together are %q, want %q", b.String(), text)
		}
		if utf8.ValidString(text) && !utf8.ValidString(b.String()) {
			t.Fatal("segments split a character")
		}
	})
}
