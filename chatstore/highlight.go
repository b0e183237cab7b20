package chatstore

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Segment is a piece of a text that Highlight split: Match says whether it
// is a word that the query found.
type Segment struct {
	Text  string
	Match bool
}

// Highlight splits text into segments whose concatenation is text, marking
// the words that query finds by Search's rules: a word, a run of quoted
// words one after the other, or the start of a word for a term ending in *,
// compared without regard to case or Latin accents, with each Chinese,
// Japanese or Korean character a word of its own. Only the first 256 KiB of
// a text are looked at, as only they are indexed. It is for showing where a
// hit matched: the segments are text, to be shown as text.
func Highlight(query, text string) []Segment {
	terms := highlightTerms(query)
	if len(terms) == 0 || text == "" {
		return []Segment{{Text: text}}
	}
	limit := min(len(text), maxIndexedText)
	toks := wordsOf(text[:limit])
	marked := make([]bool, len(toks))
	for _, q := range terms {
		for i := 0; i+len(q.words) <= len(toks); i++ {
			if matchAt(toks[i:i+len(q.words)], q) {
				for j := range q.words {
					marked[i+j] = true
				}
			}
		}
	}
	var out []Segment
	at := 0
	add := func(end int, match bool) {
		if end <= at {
			return
		}
		s := text[at:end]
		if n := len(out); n > 0 && out[n-1].Match == match {
			out[n-1].Text += s
		} else {
			out = append(out, Segment{Text: s, Match: match})
		}
		at = end
	}
	for i, tk := range toks {
		if !marked[i] {
			continue
		}
		add(tk.start, false)
		// Adjacent marked words stay apart: each is a word found.
		out = append(out, Segment{Text: text[tk.start:tk.end], Match: true})
		at = tk.end
	}
	add(len(text), false)
	return out
}

// highlightTerm is a query term as a run of folded words.
type highlightTerm struct {
	words  []string
	prefix bool // the last word may be the start of a longer one
}

func highlightTerms(query string) []highlightTerm {
	var out []highlightTerm
	for _, t := range queryTerms(query) {
		var ws []string
		for _, w := range wordsOf(t.text) {
			ws = append(ws, w.fold)
		}
		if len(ws) > 0 {
			out = append(out, highlightTerm{words: ws, prefix: t.prefix})
		}
	}
	return out
}

func matchAt(toks []word, q highlightTerm) bool {
	last := len(q.words) - 1
	for j, w := range q.words {
		got := toks[j].fold
		if got == w || j == last && q.prefix && strings.HasPrefix(got, w) {
			continue
		}
		return false
	}
	return true
}

// word is one word of a text: its bytes text[start:end] and its folded form.
type word struct {
	start, end int
	fold       string
}

// wordsOf splits s into words as the index's tokenizer does (see
// searchTokenizer): runs of letters, digits and marks, each character of
// the scripts without spaces alone.
func wordsOf(s string) []word {
	var out []word
	start := -1
	flush := func(end int) {
		if start >= 0 {
			out = append(out, word{start: start, end: end, fold: foldWord(s[start:end])})
			start = -1
		}
	}
	for i, r := range s {
		_, size := utf8.DecodeRuneInString(s[i:])
		inWord, alone := classify(r)
		switch {
		case alone:
			flush(i)
			out = append(out, word{start: i, end: i + size, fold: foldWord(s[i : i+size])})
		case inWord:
			if start < 0 {
				start = i
			}
		default:
			flush(i)
		}
	}
	flush(len(s))
	return out
}

// classify says whether r belongs in a word, and whether it is a word of its
// own, judging by its compatibility form as searchText does (a full-width
// letter is a letter, ㎏ is two).
func classify(r rune) (inWord, alone bool) {
	if r < utf8.RuneSelf {
		return isTokenChar(r), false
	}
	k := norm.NFKC.String(string(r))
	for i, kr := range k {
		if i == 0 && splitChar(kr) {
			return true, true
		}
		if isTokenChar(kr) {
			inWord = true
		}
	}
	return inWord, false
}

// foldWord is a word compared without case, without the accents of Latin
// letters and without the marks of Arabic and Hebrew (and the tatweel), as
// the index compares them.
func foldWord(s string) string {
	s = norm.NFD.String(norm.NFKC.String(s))
	var b strings.Builder
	b.Grow(len(s))
	var base rune
	for _, r := range s {
		switch {
		case r == 'ـ':
			continue
		case unicode.Is(unicode.Mn, r):
			if unicode.In(base, unicode.Latin, unicode.Arabic, unicode.Hebrew) {
				continue
			}
		default:
			base = r
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return norm.NFC.String(b.String())
}
