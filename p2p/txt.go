package p2p

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"
)

// TXT keys of a _ferry._tcp service instance (see doc.go).
const (
	txtVersion   = "v"
	txtNameplate = "np"
	txtID        = "id"
	txtQUIC      = "quic"

	txtVersion1 = "1"
)

// maxNameplate bounds a nameplate's length.
const maxNameplate = 32

// txtRecord is the decoded TXT data of one advertised sender.
type txtRecord struct {
	Nameplate string
	ID        peer.ID
	QUICPort  int // 0 when the sender advertises no QUIC port
}

// marshal encodes r as DNS-SD TXT strings, in a fixed order.
func (r txtRecord) marshal() []string {
	txt := []string{
		txtVersion + "=" + txtVersion1,
		txtNameplate + "=" + r.Nameplate,
		txtID + "=" + r.ID.String(),
	}
	if r.QUICPort != 0 {
		txt = append(txt, txtQUIC+"="+strconv.Itoa(r.QUICPort))
	}
	return txt
}

var errMalformedTXT = errors.New("malformed _ferry._tcp TXT record")

// parseTXT decodes the TXT strings of a _ferry._tcp instance. Following
// RFC 6763 section 6, keys are case-insensitive, only the first occurrence of
// a key counts, and strings with an empty key or an unknown key are ignored.
// v must be 1; np must be a valid nameplate; id a valid peer ID; quic, if
// present, a port number.
func parseTXT(txt []string) (txtRecord, error) {
	var r txtRecord
	seen := make(map[string]bool, 4)
	for _, s := range txt {
		key, value, hasValue := strings.Cut(s, "=")
		key = strings.ToLower(key)
		if key == "" || seen[key] {
			continue
		}
		seen[key] = true
		switch key {
		case txtVersion, txtNameplate, txtID, txtQUIC:
			if !hasValue {
				return txtRecord{}, fmt.Errorf("%w: %q has no value", errMalformedTXT, key)
			}
		default:
			continue
		}
		switch key {
		case txtVersion:
			if value != txtVersion1 {
				return txtRecord{}, fmt.Errorf("%w: version %q, want %s", errMalformedTXT, value, txtVersion1)
			}
		case txtNameplate:
			if err := checkNameplate(value); err != nil {
				return txtRecord{}, fmt.Errorf("%w: %w", errMalformedTXT, err)
			}
			r.Nameplate = value
		case txtID:
			id, err := peer.Decode(value)
			if err != nil {
				return txtRecord{}, fmt.Errorf("%w: id: %w", errMalformedTXT, err)
			}
			r.ID = id
		case txtQUIC:
			port, ok := parsePort(value)
			if !ok {
				return txtRecord{}, fmt.Errorf("%w: quic port %q", errMalformedTXT, value)
			}
			r.QUICPort = port
		}
	}
	for _, k := range []string{txtVersion, txtNameplate, txtID} {
		if !seen[k] {
			return txtRecord{}, fmt.Errorf("%w: no %q key", errMalformedTXT, k)
		}
	}
	return r, nil
}

// checkNameplate accepts 1 to maxNameplate ASCII letters and digits.
func checkNameplate(np string) error {
	if np == "" || len(np) > maxNameplate {
		return fmt.Errorf("nameplate must be 1 to %d characters, got %d", maxNameplate, len(np))
	}
	for i := 0; i < len(np); i++ {
		c := np[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return fmt.Errorf("nameplate %q: only letters and digits are allowed", np)
		}
	}
	return nil
}

// parsePort accepts a canonical decimal port 1..65535 (no sign, no leading
// zeros), so that parse and marshal round-trip.
func parsePort(s string) (int, bool) {
	if s == "" || len(s) > 5 || s[0] == '0' {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, n <= 65535
}
