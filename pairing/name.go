package pairing

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrBadName: a device name (or software version) that could not be shown
// safely: invalid UTF-8, or characters that control a terminal or change the
// direction or the look of the text around them.
var ErrBadName = errors.New("the device name holds control or text-direction characters, which could disguise it; use a plain name")

// CheckName returns an error wrapping ErrBadName unless s is a name a device
// may present (its own name, or software version): see checkName.
func CheckName(s string) error { return checkName(s) }

// checkName is the rule every name a device presents must follow, on both
// sides of a pairing: valid UTF-8 without any rune hiddenRune reports. The
// error quotes s with %q, which escapes those runes.
func checkName(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%q is not UTF-8: %w", s, ErrBadName)
	}
	for _, r := range s {
		if hiddenRune(r) {
			return fmt.Errorf("%q holds %U: %w", s, r, ErrBadName)
		}
	}
	return nil
}

// hiddenRune reports whether r may not appear in a device name: the C0 and C1
// controls (a terminal acts on them), the bidirectional formatting
// characters (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069: they
// reorder what follows, so "evil\u202Egpj.exe" reads "evilexe.jpg"), the
// line and paragraph separators, and every other invisible format character
// (Unicode category Cf: soft hyphen, zero-width space, word joiner, BOM,
// tags...) except the zero-width non-joiner and joiner (U+200C, U+200D),
// which Persian, Indic scripts and emoji sequences need. U+FFFD is refused
// too: it is what invalid UTF-8 decodes to.
func hiddenRune(r rune) bool {
	switch {
	case r == utf8.RuneError:
		return true
	case r == 0x200C || r == 0x200D:
		return false
	case unicode.IsControl(r), unicode.Is(unicode.Cf, r), unicode.Is(unicode.Zl, r), unicode.Is(unicode.Zp, r):
		return true
	}
	return false
}

// DisplayName returns a name from the trust store or the other device in a
// form that is safe to print: every rune a device name may not hold (see
// checkName) is shown as its escape, \u202e or \x1b, so that a name stored
// before this rule, or received from an older device, can neither drive the
// terminal nor disguise itself. Invalid UTF-8 bytes become \xNN. Names that
// follow the rule come back unchanged.
func DisplayName(s string) string {
	if checkName(s) == nil {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case hiddenRune(r) && r < utf8.RuneSelf:
			fmt.Fprintf(&b, `\x%02x`, r)
		case hiddenRune(r) && r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		case hiddenRune(r):
			fmt.Fprintf(&b, `\U%08x`, r)
		default:
			b.WriteRune(r)
		}
		i += n
	}
	return b.String()
}
