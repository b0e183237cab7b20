package pairing

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestWordlist(t *testing.T) {
	wl := words()
	if got, want := len(wl.words), 1295; got != want {
		t.Fatalf("word list has %d usable words, want %d (EFF short list #1 minus yo-yo)", got, want)
	}
	if _, ok := wl.index["yo-yo"]; ok {
		t.Error("yo-yo is usable, but - separates code words")
	}
	for _, w := range []string{"acid", "zoom", "ferry", "yoyo"} {
		if _, ok := wl.index[w]; !ok {
			t.Errorf("%q missing", w)
		}
	}
	if got := BitsPerWord(); math.Abs(got-10.339) > 0.001 {
		t.Errorf("bits per word = %.3f, want 10.339", got)
	}
	c, err := NewCode(0)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Bits(); got < 16 {
		t.Errorf("default code carries %.1f bits, want >= 16", got)
	}
}

func TestNewCode(t *testing.T) {
	for _, n := range []int{0, 2, 3, 8} {
		c, err := NewCode(n)
		if err != nil {
			t.Fatalf("NewCode(%d): %v", n, err)
		}
		want := n
		if n == 0 {
			want = DefaultCodeWords
		}
		if len(c.Words) != want || c.Nameplate < 1 || c.Nameplate > MaxNameplate {
			t.Errorf("NewCode(%d) = %v: want %d words and nameplate 1..%d", n, c, want, MaxNameplate)
		}
		back, err := ParseCode(c.String())
		if err != nil || back.String() != c.String() {
			t.Errorf("ParseCode(%q) = %v, %v; want the same code", c, back, err)
		}
	}
	for _, n := range []int{-1, 1, 9} {
		if _, err := NewCode(n); err == nil {
			t.Errorf("NewCode(%d): no error", n)
		}
	}
	// Codes vary: 20 fresh codes are not all the same.
	seen := map[string]bool{}
	for range 20 {
		c, _ := NewCode(2)
		seen[c.String()] = true
	}
	if len(seen) < 15 {
		t.Errorf("20 codes gave only %d distinct values", len(seen))
	}
}

func TestParseCode(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"7-zebra-acorn", "7-zebra-acorn"},
		{"  7 Zebra ACORN ", "7-zebra-acorn"},
		{"7--zebra__acorn", "7-zebra-acorn"},
		{"7. zebra, acorn", "7-zebra-acorn"},
		{"7\u2013zebra\u2013acorn", "7-zebra-acorn"},
		{"007-zebra-acorn", "7-zebra-acorn"},
		{"65535-zebra-acorn-acid", "65535-zebra-acorn-acid"},
	}
	for _, tt := range tests {
		c, err := ParseCode(tt.in)
		if err != nil {
			t.Errorf("ParseCode(%q): %v", tt.in, err)
			continue
		}
		if got := c.String(); got != tt.want {
			t.Errorf("ParseCode(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseCodeErrors(t *testing.T) {
	tests := []struct {
		in         string
		word, hint string // hint: suggestions joined by ","
	}{
		{"", "", ""},
		{"zebra-acorn", "", ""},
		{"0-zebra-acorn", "", ""},
		{"65536-zebra-acorn", "", ""},
		{"7-zebra", "", ""},
		{"7-a-b-c-d-e-f-g-h-i", "", ""},
		{"7-zebar-acorn", "zebar", "zebra"},       // transposition
		{"7-zebra-acron", "acron", "acorn,apron"}, // transposition or substitution
		{"7-zebra-acornn", "acornn", "acorn"},     // extra letter
		{"7-zera-acorn", "zera", "zebra,zero"},    // missing or substituted letter
		{"7-zebra-soapy", "soapy", ""},            // too many at distance 2
		{"7-zebra-qqqqq", "qqqqq", ""},            // nothing close
		{"7-zebra-yo-yo", "yo", ""},
	}
	for _, tt := range tests {
		_, err := ParseCode(tt.in)
		if !errors.Is(err, ErrInvalidCode) {
			t.Errorf("ParseCode(%q) err = %v, want ErrInvalidCode", tt.in, err)
			continue
		}
		var ce *CodeError
		if !errors.As(err, &ce) {
			t.Fatalf("ParseCode(%q): %T is not a *CodeError", tt.in, err)
		}
		if got := strings.Join(ce.Suggestions, ","); ce.Word != tt.word || got != tt.hint {
			t.Errorf("ParseCode(%q): word %q suggestions %q, want %q %q", tt.in, ce.Word, got, tt.word, tt.hint)
		}
		if tt.hint != "" && !strings.Contains(err.Error(), `did you mean "`+strings.Split(tt.hint, ",")[0]+`"`) {
			t.Errorf("ParseCode(%q) message %q lacks the hint", tt.in, err)
		}
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"a", "", 1}, {"", "abc", 3}, {"zebra", "zebra", 0},
		{"zebar", "zebra", 1}, {"kitten", "sitting", 3}, {"ca", "abc", 3}, {"acorn", "acre", 2},
	}
	for _, tt := range tests {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := editDistance(tt.b, tt.a); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.b, tt.a, got, tt.want)
		}
	}
}
