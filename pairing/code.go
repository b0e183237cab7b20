package pairing

import (
	"bufio"
	"crypto/rand"
	_ "embed"
	"errors"
	"fmt"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"sync"
)

//go:embed wordlist.txt
var wordlistFile string

// Code limits.
const (
	// DefaultCodeWords is the number of words in a code made by NewCode(0).
	DefaultCodeWords = 2
	// MinCodeWords keeps every code at or above 16 bits of secret (2 words: 20.7 bits).
	MinCodeWords = 2
	// MaxCodeWords bounds what ParseCode and NewCode accept.
	MaxCodeWords = 8
	// MaxNameplate is the largest nameplate NewCode picks; ParseCode accepts up to 65535.
	MaxNameplate = 99
)

// Code is a pairing code, <nameplate>-<word>-<word>...: the nameplate only picks a
// session among others nearby (or on a relay) and is public; the words are the
// secret, drawn uniformly from the EFF short word list.
type Code struct {
	Nameplate uint16
	Words     []string
}

// ErrInvalidCode is wrapped by every error ParseCode returns.
var ErrInvalidCode = errors.New("invalid code")

// CodeError describes a code that does not parse. Suggestions, when set, are list
// words close to Word (a likely typo); Error shows them as "did you mean ...?".
type CodeError struct {
	Input       string   // the code as typed
	Word        string   // the offending word, if the problem is a word
	Suggestions []string // closest list words (at most 3), or nil
	Reason      string
}

func (e *CodeError) Error() string {
	if e.Word == "" {
		return "invalid code: " + e.Reason
	}
	msg := fmt.Sprintf("invalid code: %q is not a code word", e.Word)
	if len(e.Suggestions) > 0 {
		q := make([]string, len(e.Suggestions))
		for i, s := range e.Suggestions {
			q[i] = strconv.Quote(s)
		}
		msg += "; did you mean " + strings.Join(q, " or ") + "?"
	}
	return msg
}

func (e *CodeError) Unwrap() error { return ErrInvalidCode }

// wordlist is the parsed, embedded list: words in list order and their index.
type wordlist struct {
	words []string
	index map[string]int
}

// words returns the code word list: the EFF short word list #1 minus the entries
// that are not plain lowercase ASCII words (only "yo-yo": "-" separates words).
var words = sync.OnceValue(func() *wordlist {
	wl := &wordlist{index: make(map[string]int)}
	sc := bufio.NewScanner(strings.NewReader(wordlistFile))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		_, w, ok := strings.Cut(line, "\t")
		if !ok || !isPlainWord(w) {
			continue
		}
		if _, dup := wl.index[w]; dup {
			continue
		}
		wl.index[w] = len(wl.words)
		wl.words = append(wl.words, w)
	}
	return wl
})

func isPlainWord(w string) bool {
	if w == "" {
		return false
	}
	for _, c := range w {
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// BitsPerWord is the secret each code word carries: log2 of the list size.
func BitsPerWord() float64 { return math.Log2(float64(len(words().words))) }

// Bits is the secret carried by the code's words (the nameplate is public).
func (c Code) Bits() float64 { return float64(len(c.Words)) * BitsPerWord() }

// NewCode returns a fresh random code with n words (0 means DefaultCodeWords) and
// a nameplate in 1..MaxNameplate.
func NewCode(n int) (Code, error) {
	if n == 0 {
		n = DefaultCodeWords
	}
	if n < MinCodeWords || n > MaxCodeWords {
		return Code{}, fmt.Errorf("new code: %d words: want %d to %d", n, MinCodeWords, MaxCodeWords)
	}
	np, err := rand.Int(rand.Reader, big.NewInt(MaxNameplate))
	if err != nil {
		return Code{}, fmt.Errorf("new code: %w", err)
	}
	wl := words()
	c := Code{Nameplate: uint16(np.Int64()) + 1, Words: make([]string, n)}
	for i := range c.Words {
		k, err := rand.Int(rand.Reader, big.NewInt(int64(len(wl.words))))
		if err != nil {
			return Code{}, fmt.Errorf("new code: %w", err)
		}
		c.Words[i] = wl.words[k.Int64()]
	}
	return c, nil
}

// String formats the code as nameplate-word-word.
func (c Code) String() string {
	return strconv.Itoa(int(c.Nameplate)) + "-" + strings.Join(c.Words, "-")
}

// IsZero reports whether c is the zero Code.
func (c Code) IsZero() bool { return c.Nameplate == 0 && len(c.Words) == 0 }

// validate checks a Code built by hand (not by ParseCode or NewCode).
func (c Code) validate() error {
	if c.Nameplate == 0 {
		return &CodeError{Input: c.String(), Reason: "nameplate must be a number from 1 to 65535"}
	}
	if len(c.Words) < MinCodeWords || len(c.Words) > MaxCodeWords {
		return &CodeError{Input: c.String(), Reason: fmt.Sprintf("want %d to %d words after the number", MinCodeWords, MaxCodeWords)}
	}
	for _, w := range c.Words {
		if _, ok := words().index[w]; !ok {
			return &CodeError{Input: c.String(), Word: w, Suggestions: suggest(w)}
		}
	}
	return nil
}

// prs is CPace's password-related string: the normalised words.
func (c Code) prs() []byte { return []byte(strings.Join(c.Words, "-")) }

// ParseCode normalises and checks a code typed by a person: case is ignored, and
// spaces, hyphens, underscores, dots and commas (and runs of them) all separate
// parts, so "7 Zebra  acorn" and "7-zebra-acorn" are the same code. A word that
// is not in the list is reported with the closest list word, if there is one
// within a small edit distance, so that the user can fix a typo before anything
// is sent.
func ParseCode(s string) (Code, error) {
	parts := strings.FieldsFunc(strings.ToLower(strings.TrimSpace(s)), func(r rune) bool {
		switch r {
		case ' ', '\t', '\n', '\r', '-', '_', '.', ',', '\u2010', '\u2011', '\u2012', '\u2013', '\u2014', '\u2212', '\u00a0', '\u3000':
			return true
		}
		return false
	})
	if len(parts) == 0 {
		return Code{}, &CodeError{Input: s, Reason: "empty; a code looks like 7-zebra-acorn"}
	}
	np, err := strconv.ParseUint(parts[0], 10, 16)
	if err != nil || np == 0 || len(parts[0]) > 5 {
		return Code{}, &CodeError{Input: s, Reason: "a code starts with a number from 1 to 65535, like 7-zebra-acorn"}
	}
	c := Code{Nameplate: uint16(np), Words: parts[1:]}
	if len(c.Words) < MinCodeWords || len(c.Words) > MaxCodeWords {
		return Code{}, &CodeError{Input: s, Reason: fmt.Sprintf("want %d to %d words after the number, got %d", MinCodeWords, MaxCodeWords, len(c.Words))}
	}
	for _, w := range c.Words {
		if _, ok := words().index[w]; !ok {
			return Code{}, &CodeError{Input: s, Word: w, Suggestions: suggest(w)}
		}
	}
	return c, nil
}

// suggest returns the list words closest to w (Damerau-Levenshtein distance at
// most 1 for words under 5 letters, 2 otherwise), at most three of them, those
// sharing w's first letter first; nil when none is close or too many are.
func suggest(w string) []string {
	if len(w) == 0 || len(w) > 32 {
		return nil
	}
	limit := 1
	if len(w) >= 5 {
		limit = 2
	}
	var best []string
	bestD := limit + 1
	for _, cand := range words().words {
		switch d := editDistance(w, cand); {
		case d < bestD:
			best, bestD = []string{cand}, d
		case d == bestD:
			best = append(best, cand)
		}
	}
	if bestD > limit {
		return nil
	}
	if len(best) > 3 {
		var same []string
		for _, c := range best {
			if c[0] == w[0] {
				same = append(same, c)
			}
		}
		best = same
	}
	if len(best) == 0 || len(best) > 3 {
		return nil
	}
	sort.SliceStable(best, func(i, j int) bool {
		return best[i][0] == w[0] && best[j][0] != w[0]
	})
	return best
}

// editDistance is the optimal string alignment (restricted Damerau-Levenshtein)
// distance: insertions, deletions, substitutions and adjacent transpositions.
func editDistance(a, b string) int {
	if a == b {
		return 0
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
