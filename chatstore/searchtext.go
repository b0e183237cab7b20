package chatstore

import (
	"database/sql/driver"
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
	"modernc.org/sqlite"
)

// Text as the search index sees it. FTS5's unicode61 tokenizer (with
// remove_diacritics 2, so "munchen" finds "München" and "sabado" finds
// "sábado") splits words at spaces and punctuation; the tokenizer is told to
// keep combining marks inside words (categories 'L* N* Co M*'), since the
// vowel signs of Devanagari and other Indic scripts are marks, and with the
// default a word like "कैसे" falls apart into single consonants. Before the
// tokenizer, searchText brings both the indexed bodies and the queries into
// one form:
//
//   - control characters become spaces;
//   - NFKC, so that composed and decomposed accents, full-width Latin and
//     half-width katakana compare equal;
//   - the vowel and cantillation marks of Arabic and Hebrew are dropped
//     (texts are mostly written without them, and a query without them must
//     find a text with them), as is the Arabic tatweel;
//   - every Han, Hiragana, Katakana, Hangul and Bopomofo character becomes a
//     token of its own. These scripts do not separate words by spaces, so
//     unicode61 would make one token of a whole clause ("今天有空吗") and a
//     search for "今天" would find nothing; as single-character tokens, a
//     query becomes a phrase of adjacent characters and finds any run of
//     them, of any length. FTS5's trigram tokenizer was the other candidate:
//     it cannot match fewer than three characters, and most Chinese words
//     have two.
//
// Emoji and other symbols are not indexed. Scripts without spaces other than
// those above (Thai, Lao, Khmer, Burmese) are split at spaces and
// punctuation only.
const searchTokenizer = `unicode61 remove_diacritics 2 categories 'L* N* Co M*'`

// maxIndexedText bounds how much of one body is indexed, so that a hostile
// history's 100 MB message costs no more than a long one.
const maxIndexedText = 256 << 10

// searchTextFunc is the SQL name of searchText.
const searchTextFunc = "ferry_search_text"

func init() {
	sqlite.MustRegisterDeterministicScalarFunction(searchTextFunc, 1,
		func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
			// A body is TEXT, but nothing forces a hostile history to
			// store text there: anything else indexes as its bytes, or
			// as nothing.
			switch v := args[0].(type) {
			case string:
				return searchText(v), nil
			case []byte:
				return searchText(string(v)), nil
			}
			return "", nil
		})
}

// searchText is s in the form the index holds (see searchTokenizer).
func searchText(s string) string {
	if len(s) > maxIndexedText {
		cut := maxIndexedText
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	s = norm.NFKC.String(strings.ToValidUTF8(s, "\uFFFD"))
	var b strings.Builder
	b.Grow(len(s) + len(s)/2)
	dropMarks := false // the last base character was Arabic or Hebrew
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Mn, r):
			if dropMarks {
				continue
			}
		case r == 'ـ': // tatweel
			continue
		case r < ' ' || r == 0x7f:
			// Control characters separate words; a NUL would also end
			// FTS5's reading of a query.
			r = ' '
			dropMarks = false
		case splitChar(r):
			dropMarks = false
			b.WriteByte(' ')
			b.WriteRune(r)
			b.WriteByte(' ')
			continue
		default:
			dropMarks = unicode.In(r, unicode.Arabic, unicode.Hebrew)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// splitChar reports whether r is indexed as a token of its own.
func splitChar(r rune) bool {
	if r < 0x2e80 {
		return false
	}
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul, unicode.Bopomofo) ||
		r == 'ー' || r == 'ｰ' // the prolonged sound mark, part of katakana words
}

// ErrEmptyQuery means a search has nothing in it to look for.
var ErrEmptyQuery = errors.New("chatstore: the search has no letters or digits to look for")

// compileQuery turns what a person typed into an FTS5 query. Words are
// separated by spaces and must all appear; "quoted words" must appear one
// after the other; a word or quote ending in * also finds longer words that
// start with it. Each part becomes a quoted FTS5 string, so no character has
// a meaning of its own to FTS5 (AND, NEAR, column filters, ^, - ...): any
// input is a valid query. Parts without a letter or digit are skipped; a
// query with none is ErrEmptyQuery.
func compileQuery(q string) (string, error) {
	var parts []string
	for _, t := range queryTerms(q) {
		p := `"` + strings.ReplaceAll(t.text, `"`, `""`) + `"`
		if t.prefix {
			p += "*"
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return "", ErrEmptyQuery
	}
	return strings.Join(parts, " "), nil
}

// queryTerm is one part of a query: a word or a quoted phrase, in the form
// the index holds (searchText), and whether it ended in *.
type queryTerm struct {
	text   string
	prefix bool
}

// queryTerms splits a query into its parts, as compileQuery describes;
// Highlight reads queries with it too.
func queryTerms(q string) []queryTerm {
	var out []queryTerm
	for len(q) > 0 {
		q = strings.TrimLeftFunc(q, unicode.IsSpace)
		if q == "" {
			break
		}
		var term string
		if q[0] == '"' {
			end := strings.IndexByte(q[1:], '"')
			if end < 0 {
				term, q = q[1:], ""
			} else {
				term, q = q[1:1+end], q[2+end:]
				if strings.HasPrefix(q, "*") {
					term += "*"
					q = q[1:]
				}
			}
		} else {
			end := strings.IndexFunc(q, unicode.IsSpace)
			if end < 0 {
				end = len(q)
			}
			term, q = q[:end], q[end:]
		}
		prefix := strings.HasSuffix(term, "*")
		text := searchText(strings.TrimRight(term, "*"))
		if !strings.ContainsFunc(text, isTokenChar) {
			continue
		}
		out = append(out, queryTerm{text: text, prefix: prefix})
	}
	return out
}

// isTokenChar reports whether the tokenizer keeps r in a word.
func isTokenChar(r rune) bool {
	return unicode.In(r, unicode.L, unicode.N, unicode.M, unicode.Co)
}
