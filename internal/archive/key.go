package archive

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"unicode"
	"unicode/utf8"
)

// KeySize is the size of an archive key in bytes (256 bits).
const KeySize = 32

// Key is the secret that opens an archive. Its fmt and slog forms are
// redacted so that it cannot reach a log by accident; use RecoveryString to
// show it to the user on purpose.
type Key [KeySize]byte

// NewKey returns a fresh random key from crypto/rand.
func NewKey() (Key, error) {
	var k Key
	if _, err := rand.Read(k[:]); err != nil {
		return Key{}, fmt.Errorf("archive: new key: %w", err)
	}
	return k, nil
}

// RecoveryString returns the key as 64 lowercase hex digits in groups of
// four separated by single spaces, e.g. "3f9a 01c2 ...".
func (k Key) RecoveryString() string {
	var hx [2 * KeySize]byte
	hex.Encode(hx[:], k[:])
	var b strings.Builder
	b.Grow(len(hx) + len(hx)/4 - 1)
	for i := 0; i < len(hx); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.Write(hx[i : i+4])
	}
	clear(hx[:])
	return b.String()
}

// String redacts the key.
func (k Key) String() string { return "archive.Key(REDACTED)" }

// GoString redacts the key.
func (k Key) GoString() string { return k.String() }

// LogValue redacts the key in log/slog output.
func (k Key) LogValue() slog.Value { return slog.StringValue(k.String()) }

// Wipe overwrites the key with zeros.
func (k *Key) Wipe() { clear(k[:]) }

// ParseRecoveryKey parses a recovery key as written by RecoveryString. It
// accepts any case, with or without separators (spaces, other white space,
// hyphens), and a leading "recovery key:" as printed by the CLI. A malformed
// key gives an error matching ErrBadRecoveryKey whose message says what is
// wrong (the number of digits, or which character is not a hex digit).
func ParseRecoveryKey(s string) (Key, error) {
	// offset counts the runes dropped from the front, so that a reported
	// position is a position in the caller's input.
	trimmed := strings.TrimLeftFunc(s, unicode.IsSpace)
	offset := utf8.RuneCountInString(s[:len(s)-len(trimmed)])
	s = trimmed
	const label = "recovery key:"
	if len(s) >= len(label) && strings.EqualFold(s[:len(label)], label) {
		s = s[len(label):]
		offset += len(label)
	}
	var hx [2 * KeySize]byte
	defer clear(hx[:])
	n := 0
	pos := offset
	for _, c := range s {
		pos++
		switch {
		case c == '-' || unicode.IsSpace(c):
			continue
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
			if n < len(hx) {
				hx[n] = byte(c)
			}
			n++
		default:
			return Key{}, badKey(fmt.Sprintf("character %q at position %d is not a hexadecimal digit (0-9, a-f)", c, pos))
		}
	}
	if n != len(hx) {
		return Key{}, badKey(fmt.Sprintf("it has %d digits, but a recovery key has %d", n, len(hx)))
	}
	var k Key
	if _, err := hex.Decode(k[:], hx[:]); err != nil {
		// Unreachable: every byte was checked above.
		return Key{}, badKey("it is not hexadecimal")
	}
	return k, nil
}

func badKey(detail string) error {
	return &detailError{
		msg:  "that is not a valid recovery key: " + detail + "; type it exactly as it was shown",
		kind: ErrBadRecoveryKey,
	}
}
