package importers

import (
	"strings"
	"time"
	"unicode/utf8"
)

// header is the start of a WhatsApp line that begins a message: its date
// and time as written, and what follows.
type header struct {
	n      [3]int // the date's three numbers, in the order written
	digits [3]int // how many digits each had
	hour   int
	min    int
	sec    int
	sep    byte // the date's separator: / . -
	ampm   int  // 0 none (24-hour clock), 1 before noon, 2 after
	ios    bool // "[date, time] " rather than "date, time - "
	rest   string
}

// Marks that WhatsApp puts around names and attachments (left-to-right
// and right-to-left marks, embeddings, isolates) and a byte order mark.
func isBidi(r rune) bool {
	return r == '\u200e' || r == '\u200f' || r == '\ufeff' || (r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069')
}

// trimBidi removes bidi marks and spaces at both ends of s.
func trimBidi(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return isBidi(r) || r == ' ' })
}

// stripBidi removes every bidi mark from s (for names).
func stripBidi(s string) string {
	if !strings.ContainsFunc(s, isBidi) {
		return strings.TrimSpace(s)
	}
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if isBidi(r) {
			return -1
		}
		return r
	}, s))
}

// ampmMarkers are the 12-hour clock markers found after the time, lower
// case: English, Spanish ("p. m."), Portuguese, German ("nachm.") and more.
var ampmMarkers = []struct {
	text string
	pm   bool
}{
	{"a. m.", false}, {"p. m.", true}, {"a.m.", false}, {"p.m.", true},
	{"am", false}, {"pm", true}, {"vorm.", false}, {"nachm.", true},
	{"a.m", false}, {"p.m", true}, {"μ.μ.", true}, {"π.μ.", false},
}

// dateTimeWords may stand between a date and its time ("18/03/2025 à
// 17:49", "18.3.2025 klo 17.49").
var dateTimeWords = []string{"à ", "a las ", "às ", "um ", "klo ", "kl. ", "o "}

// parseHeader reads the header of line, or reports that the line does not
// start with one (it is then a continuation of the message before).
func parseHeader(line string) (header, bool) {
	var h header
	s := line
	for s != "" {
		r, size := utf8.DecodeRuneInString(s)
		if !isBidi(r) {
			break
		}
		s = s[size:]
	}
	if strings.HasPrefix(s, "[") {
		h.ios = true
		s = s[1:]
	}
	// The date: three numbers with one separator.
	var sep byte
	for i := range 3 {
		v, d, rest := leadingNumber(s, 4)
		if d == 0 {
			return h, false
		}
		h.n[i], h.digits[i], s = v, d, rest
		if i == 2 {
			break
		}
		if s == "" || (s[0] != '/' && s[0] != '.' && s[0] != '-') || (sep != 0 && s[0] != sep) {
			return h, false
		}
		sep = s[0]
		s = s[1:]
		if sep == '.' && strings.HasPrefix(s, " ") {
			s = s[1:] // "2025. 03. 18."
		}
	}
	if h.digits[1] > 2 || (h.digits[0] > 2 && h.digits[0] != 4) || (h.digits[2] > 2 && h.digits[2] != 4) {
		return h, false
	}
	h.sep = sep
	if sep == '.' && strings.HasPrefix(s, ".") {
		s = s[1:]
	}
	// Between date and time: a comma and/or spaces, maybe a word.
	comma := strings.HasPrefix(s, ",")
	s = strings.TrimPrefix(s, ",")
	sp := skipSpaces(s)
	if sp == 0 && !comma {
		return h, false
	}
	s = s[sp:]
	for _, w := range dateTimeWords {
		if strings.HasPrefix(s, w) {
			s = s[len(w):]
			break
		}
	}
	// The time: H:MM or H.MM, then maybe :SS.
	v, d, rest := leadingNumber(s, 2)
	if d == 0 || rest == "" || (rest[0] != ':' && rest[0] != '.') {
		return h, false
	}
	tsep := rest[0]
	h.hour, s = v, rest[1:]
	v, d, s = leadingNumber(s, 2)
	if d != 2 {
		return h, false
	}
	h.min = v
	if len(s) > 0 && s[0] == tsep {
		v, d, rest = leadingNumber(s[1:], 2)
		if d != 2 {
			return h, false
		}
		h.sec, s = v, rest
	}
	// Maybe a 12-hour marker, after a space, U+00A0 or U+202F, or none.
	t := s[skipSpaces(s):]
	for _, m := range ampmMarkers {
		if after, ok := cutMarker(t, m.text); ok {
			if (h.ios && strings.HasPrefix(after, "]")) || (!h.ios && strings.HasPrefix(after, " -")) {
				h.ampm = 1
				if m.pm {
					h.ampm = 2
				}
				s = after
				break
			}
		}
	}
	if h.ios {
		if !strings.HasPrefix(s, "]") {
			return h, false
		}
		s = s[1:]
		s = strings.TrimPrefix(s, " ")
	} else {
		if !strings.HasPrefix(s, " - ") {
			if s != " -" {
				return h, false
			}
			s = " - "
		}
		s = s[3:]
	}
	h.rest = s
	return h, true
}

// cutMarker matches marker (lower case, with plain spaces) at the start of
// s, case-insensitively and with any space of s (U+00A0, U+202F) matching a
// space, and returns what follows it.
func cutMarker(s, marker string) (string, bool) {
	for i := 0; i < len(marker); i++ {
		if marker[i] == ' ' {
			n := skipSpaces(s)
			if n == 0 {
				return "", false
			}
			s = s[n:]
			continue
		}
		if s == "" {
			return "", false
		}
		r, size := utf8.DecodeRuneInString(s)
		m, msize := utf8.DecodeRuneInString(marker[i:])
		if !strings.EqualFold(string(r), string(m)) {
			return "", false
		}
		s = s[size:]
		i += msize - 1
	}
	return s, true
}

// leadingNumber reads up to max ASCII digits at the start of s.
func leadingNumber(s string, max int) (v, digits int, rest string) {
	for digits < len(s) && digits < max && s[digits] >= '0' && s[digits] <= '9' {
		v = v*10 + int(s[digits]-'0')
		digits++
	}
	if digits < len(s) && s[digits] >= '0' && s[digits] <= '9' {
		return 0, 0, s // too many digits
	}
	return v, digits, s[digits:]
}

// skipSpaces returns the length of the run of spaces (ASCII, U+00A0,
// U+202F) at the start of s.
func skipSpaces(s string) int {
	i := 0
	for i < len(s) {
		switch {
		case s[i] == ' ':
			i++
		case strings.HasPrefix(s[i:], "\u00a0"):
			i += len("\u00a0")
		case strings.HasPrefix(s[i:], "\u202f"):
			i += len("\u202f")
		default:
			return i
		}
	}
	return i
}

// dateOrder is how a chat writes its dates.
type dateOrder int

const (
	orderDMY dateOrder = iota
	orderMDY
	orderYMD
)

func (o dateOrder) String() string {
	return [...]string{"day/month/year", "month/day/year", "year/month/day"}[o]
}

// at is the time of h read with order in loc, as Unix milliseconds; false
// if there is no such date or time.
func (h *header) at(o dateOrder, loc *time.Location) (int64, bool) {
	var y, m, d, yd int
	switch o {
	case orderDMY:
		d, m, y, yd = h.n[0], h.n[1], h.n[2], h.digits[2]
	case orderMDY:
		m, d, y, yd = h.n[0], h.n[1], h.n[2], h.digits[2]
	case orderYMD:
		y, m, d, yd = h.n[0], h.n[1], h.n[2], h.digits[0]
	}
	switch yd {
	case 2:
		y += 2000
	case 4:
	default:
		return 0, false
	}
	if (o == orderYMD) != (h.digits[0] == 4) {
		return 0, false
	}
	if m < 1 || m > 12 || d < 1 || d > daysIn(time.Month(m), y) {
		return 0, false
	}
	hour := h.hour
	switch h.ampm {
	case 0:
		if hour > 23 {
			return 0, false
		}
	default:
		if hour < 1 || hour > 12 {
			return 0, false
		}
		hour %= 12
		if h.ampm == 2 {
			hour += 12
		}
	}
	if h.min > 59 || h.sec > 59 {
		return 0, false
	}
	t := time.Date(y, time.Month(m), d, hour, h.min, h.sec, 0, loc).UnixMilli()
	if t < 0 || t >= 1<<47 {
		return 0, false
	}
	return t, true
}

func daysIn(m time.Month, year int) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// orderVote gathers, over every header of a chat, the evidence for its
// date order: the file decides, never one line alone.
type orderVote struct {
	headers  int
	yearLead int // headers whose first number has four digits
	dotSep   bool
	ampm     bool
	// Per order (DMY, MDY): headers that are no valid date read that way,
	// and steps back in time from one header to the next.
	invalid [2]int
	back    [2]int
	last    [2]int64
}

func (v *orderVote) add(h *header) {
	v.headers++
	if h.digits[0] == 4 {
		v.yearLead++
	}
	if h.ampm != 0 {
		v.ampm = true
	}
	if h.sep == '.' {
		v.dotSep = true
	}
	for i, o := range []dateOrder{orderDMY, orderMDY} {
		t, ok := h.at(o, time.UTC)
		if !ok {
			v.invalid[i]++
			continue
		}
		if t < v.last[i] {
			v.back[i]++
		}
		v.last[i] = t
	}
}

// decide picks the order. Year first if most headers start with a
// four-digit year; else the order under which fewer headers are impossible
// dates, then fewer steps back in time (a chat runs forward); a chat that
// fits both exactly (its days never pass 12) is month first with a 12-hour
// clock (the US habit) and day first otherwise.
func (v *orderVote) decide() dateOrder {
	switch {
	case v.yearLead*2 > v.headers:
		return orderYMD
	case v.invalid[0] != v.invalid[1]:
		if v.invalid[0] < v.invalid[1] {
			return orderDMY
		}
		return orderMDY
	case v.back[0] != v.back[1]:
		if v.back[0] < v.back[1] {
			return orderDMY
		}
		return orderMDY
	case v.ampm && !v.dotSep:
		return orderMDY
	default:
		return orderDMY
	}
}
