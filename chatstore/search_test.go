package chatstore

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"testing"
	"time"
)

// TestSearchText checks what a query finds across scripts: each query
// against a small history, with the bodies it must find (in any order) and
// must not.
func TestSearchText(t *testing.T) {
	bodies := []string{
		"Schöne Grüße aus München",
		"un café, s'il vous plaît",
		"un cafe\u0301 décomposé",
		"你好，今天有空吗？",
		"明天见！",
		"おはようございます",
		"カラオケ行こう",
		"친구가 왔어요",
		"नमस्ते, कैसे हो?",
		"कसरत कर रहा हूँ",
		"مَرْحَبًا يا صديقي",
		"שָׁלוֹם עֲלֵיכֶם",
		"ＦＥＲＲＹ full width",
		"let's grab lunch tomorrow",
		"tomorrow we grab lunch",
		"lunchbox",
		"NEAR(a b) OR -x col:y ^z \"quoted\"",
		"🎉🎉🎉",
		"Привет, как дела?",
	}
	f := newFixture(t)
	me := f.contact("Me")
	conv := f.conv(Direct, "Scripts", me)
	for i, b := range bodies {
		f.msg(conv, me, i, b)
	}
	s := newStore(t)
	f.into(s)
	ix := openIndex(t, s)
	tests := []struct {
		q    string
		want []int // indexes into bodies
	}{
		{"munchen", []int{0}},
		{"MÜNCHEN", []int{0}},
		{"grüsse", nil}, // ß is a letter of its own, not a diacritic
		{"cafe", []int{1, 2}},
		{"café", []int{1, 2}},
		{"今天", []int{3}},
		{"天", []int{3, 4}},
		{"今天有空", []int{3}},
		{"有今", nil},
		{"ございます", []int{5}},
		{"ｶﾗｵｹ", []int{6}}, // half-width katakana
		{"친구", []int{7}},
		{"कैसे", []int{8}},
		{"कसे", nil},
		{"नमस्ते", []int{8}},
		{"مرحبا", []int{10}},
		{"שלום", []int{11}},
		{"ferry", []int{12}},
		{"lunch", []int{13, 14}},
		{"grab lunch", []int{13, 14}},
		{`"grab lunch"`, []int{13, 14}},
		{`"lunch grab"`, nil},
		{`"we grab"`, []int{14}},
		{"lunch*", []int{13, 14, 15}},
		{`"grab lun"*`, []int{13, 14}},
		{"lunch nope", nil},
		{"NEAR(a", []int{16}},
		{"col:y", []int{16}},
		{"-x OR", []int{16}},
		{`"quoted`, []int{16}},
		{"привет", []int{18}},
	}
	for _, tt := range tests {
		got := search(t, ix, tt.q)
		var want []string
		for _, i := range tt.want {
			want = append(want, bodies[i])
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("search %q: got %q, want %q", tt.q, got, want)
		}
	}
	for _, q := range []string{"", "   ", "🎉", "!!! ???", `""`, "*"} {
		if _, err := ix.Search(context.Background(), q, SearchOptions{}); !errors.Is(err, ErrEmptyQuery) {
			t.Errorf("search %q: got %v, want ErrEmptyQuery", q, err)
		}
	}
}

func TestSearchRanking(t *testing.T) {
	f := newFixture(t)
	me := f.contact("Me")
	conv := f.conv(Direct, "Ranks", me)
	f.msg(conv, me, 1, "apple banana cherry date elderberry fig grape honeydew")
	f.msg(conv, me, 2, "apple")
	f.msg(conv, me, 3, "apple pie with apple sauce")
	f.msg(conv, me, 4, "banana")
	f.msg(conv, me, 5, "I like apple and kiwi")
	s := newStore(t)
	f.into(s)
	ix := openIndex(t, s)
	got := search(t, ix, "apple")
	want := []string{"apple", "apple pie with apple sauce", "I like apple and kiwi", "apple banana cherry date elderberry fig grape honeydew"}
	if !slices.Equal(got, want) {
		t.Errorf("ranking of apple:\ngot  %q\nwant %q", got, want)
	}
	hits, err := ix.Search(context.Background(), "apple kiwi", SearchOptions{Limit: 1})
	if err != nil || len(hits) != 1 || hits[0].Body != "I like apple and kiwi" || hits[0].Score <= 0 ||
		hits[0].ConversationTitle != "Ranks" || hits[0].SenderName != "Me" {
		t.Errorf("apple kiwi: %+v, %v", hits, err)
	}
	if _, err := ix.Search(context.Background(), "apple", SearchOptions{Limit: MaxPage + 1}); !errors.Is(err, ErrBadQuery) {
		t.Errorf("limit too large: %v", err)
	}
}

// TestSearchEditsAndDeletions merges a newer version of the history: an
// edited message must be found by its new text only, a deleted one not at
// all, and the index must learn of it from the merge alone (a few pending
// messages, not a rebuild).
func TestSearchEditsAndDeletions(t *testing.T) {
	f := newFixture(t)
	me, ann := f.contact("Me"), f.contact("Ann")
	conv := f.conv(Direct, "Ann", me, ann)
	edited := f.msg(conv, ann, 1, "meet at the old bridge")
	deleted := f.msg(conv, ann, 2, "my pin is 4711 secretword")
	f.msg(conv, me, 3, "see you at the bridge")
	s := newStore(t)
	s2 := newStore(t) // the other device, which started with the same history
	f.into(s2)
	f.into(s)
	ix := openIndex(t, s)
	if got := search(t, ix, "secretword"); len(got) != 1 {
		t.Fatalf("before: secretword found %q", got)
	}
	// On the other device, Ann edited one message and deleted another.
	db2, _ := s2.handle()
	at := fixtureEpoch.Add(time.Hour).UnixMilli()
	for _, q := range []struct {
		sql string
		id  ID
	}{
		{`UPDATE messages SET body = 'meet at the new tower', edited = ? WHERE id = ?`, edited},
		{`UPDATE messages SET deleted = ? WHERE id = ?`, deleted},
	} {
		if _, err := db2.Exec(q.sql, at, q.id[:]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Merge(context.Background(), snapshot(t, s2)); err != nil {
		t.Fatal(err)
	}
	if n, err := ix.Behind(context.Background()); err != nil || n != 2 {
		t.Errorf("after merging an edit and a deletion: the index is %d behind (%v), want the 2 messages pending", n, err)
	}
	for q, want := range map[string][]string{
		"old":        nil,
		"tower":      {"meet at the new tower"},
		"bridge":     {"see you at the bridge"},
		"secretword": nil,
		"4711":       nil,
	} {
		if got := search(t, ix, q); !slices.Equal(got, want) {
			t.Errorf("after the merge, %q finds %q, want %q", q, got, want)
		}
	}
}

// FuzzCompileQuery feeds any text to the query compiler: the result must
// be ErrEmptyQuery or a query FTS5 accepts.
func FuzzCompileQuery(f *testing.F) {
	for _, s := range []string{"hello", `"a b"*`, "NEAR(x y, 2)", "a OR b", "-x", "col:y", "^z", `"`, `""`, "*", "今天", "a\"b", "\x00", "\xff\xfe", "é*", "ﷺ", "a*b*c"} {
		f.Add(s)
	}
	db, err := sql.Open("sqlite", "file::memory:")
	if err != nil {
		f.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE VIRTUAL TABLE fts USING fts5(body, content='', contentless_delete=1, tokenize="` + searchTokenizer + `")`); err != nil {
		f.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO fts (rowid, body) VALUES (1, ?)`, searchText("hello a b 今天 x y")); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, q string) {
		expr, err := compileQuery(q)
		if errors.Is(err, ErrEmptyQuery) {
			return
		}
		if err != nil {
			t.Fatalf("compileQuery(%q): %v", q, err)
		}
		rows, err := db.Query(`SELECT rowid FROM fts WHERE fts MATCH ?`, expr)
		if err != nil {
			t.Fatalf("compileQuery(%q) = %q, which FTS5 refuses: %v", q, expr, err)
		}
		for rows.Next() {
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("compileQuery(%q) = %q, which FTS5 refuses: %v", q, expr, err)
		}
		rows.Close()
	})
}
