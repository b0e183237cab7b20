package archive

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

func TestRecoveryString(t *testing.T) {
	format := regexp.MustCompile(`^[0-9a-f]{4}( [0-9a-f]{4}){15}$`)
	for range 20 {
		key := mustKey(t)
		s := key.RecoveryString()
		if !format.MatchString(s) {
			t.Fatalf("RecoveryString() = %q, want 16 space-separated groups of 4 lowercase hex digits", s)
		}
		got, err := ParseRecoveryKey(s)
		if err != nil || got != key {
			t.Fatalf("ParseRecoveryKey(RecoveryString()) = %v, %v; want the key back", got == key, err)
		}
	}
	var k Key
	for i := range k {
		k[i] = byte(i)
	}
	if got, want := k.RecoveryString(), "0001 0203 0405 0607 0809 0a0b 0c0d 0e0f 1011 1213 1415 1617 1819 1a1b 1c1d 1e1f"; got != want {
		t.Errorf("RecoveryString() = %q, want %q", got, want)
	}
}

func TestParseRecoveryKey(t *testing.T) {
	var k Key
	for i := range k {
		k[i] = byte(0xa0 + i)
	}
	canon := k.RecoveryString()
	plain := strings.ReplaceAll(canon, " ", "")
	tests := []struct {
		name, in string
	}{
		{"canonical", canon},
		{"no spaces", plain},
		{"upper case", strings.ToUpper(canon)},
		{"mixed case", strings.ToUpper(plain[:20]) + plain[20:]},
		{"hyphens", strings.ReplaceAll(canon, " ", "-")},
		{"groups of eight", plain[:8] + " " + plain[8:16] + "  " + plain[16:]},
		{"surrounding white space", "  \t" + canon + "\n"},
		{"line breaks", plain[:32] + "\r\n" + plain[32:]},
		{"no-break spaces", strings.ReplaceAll(canon, " ", "\u00a0")},
		{"pasted with label", "recovery key: " + canon},
		{"pasted with label, upper case", "Recovery Key:" + plain},
	}
	for _, tt := range tests {
		got, err := ParseRecoveryKey(tt.in)
		if err != nil {
			t.Errorf("%s: ParseRecoveryKey(%q): %v", tt.name, tt.in, err)
			continue
		}
		if got != k {
			t.Errorf("%s: ParseRecoveryKey(%q) gave a different key", tt.name, tt.in)
		}
	}
}

func TestParseRecoveryKeyErrors(t *testing.T) {
	var k Key
	plain := strings.ReplaceAll(k.RecoveryString(), " ", "")
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "it has 0 digits, but a recovery key has 64"},
		{"only spaces", "   ", "it has 0 digits"},
		{"one digit short", plain[:63], "it has 63 digits, but a recovery key has 64"},
		{"one digit long", plain + "0", "it has 65 digits, but a recovery key has 64"},
		{"twice", plain + plain, "it has 128 digits"},
		{"letter g", "000g" + plain[4:], `character 'g' at position 4 is not a hexadecimal digit`},
		{"position counts spaces", "0000 000x", `character 'x' at position 9`},
		{"position counts leading space", "  0000 000x", `character 'x' at position 11`},
		{"position counts runes", "ö0", `character 'ö' at position 1`},
		{"position after label", "recovery key: z", `character 'z' at position 15`},
		{"underscore", plain[:10] + "_" + plain[10:], `character '_' at position 11`},
		{"control character", "\x00" + plain, `character '\x00' at position 1`},
		{"0x prefix", "0x" + plain, `character 'x' at position 2`},
	}
	for _, tt := range tests {
		_, err := ParseRecoveryKey(tt.in)
		if !errors.Is(err, ErrBadRecoveryKey) {
			t.Errorf("%s: ParseRecoveryKey(%q) = %v, want ErrBadRecoveryKey", tt.name, tt.in, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: ParseRecoveryKey(%q) error %q, want it to contain %q", tt.name, tt.in, err, tt.want)
		}
	}
}

// TestParseRecoveryKeyDoesNotEcho checks that a wrong-length key is not
// repeated in the error, which might end up on a screen or in a log.
func TestParseRecoveryKeyDoesNotEcho(t *testing.T) {
	in := strings.ReplaceAll(mustKey(t).RecoveryString(), " ", "")[:60]
	_, err := ParseRecoveryKey(in)
	if err == nil || strings.Contains(err.Error(), in[:8]) {
		t.Errorf("ParseRecoveryKey error %v echoes the key", err)
	}
}
