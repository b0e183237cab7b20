package ferry

import (
	"errors"
	"fmt"
	manet "github.com/multiformats/go-multiaddr/net"
	"net/url"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ferryhq/ferry/pairing"
)

// A ferry: URI is what a sender's QR code holds: the pairing code and the
// addresses at which the receiver can dial the sender, so that a receiver
// on a network where local discovery (mDNS) does not work still finds it.
//
//	ferry:<code>[?peer=<multiaddr>[&peer=<multiaddr>...]][&relay=<multiaddr>]
//
// for example ferry:7-zebra-acorn?peer=/ip4/192.168.1.20/tcp/4001/p2p/12D3KooW…
//
//   - <code> is a pairing code, as ferry send shows it;
//   - each peer is a full multiaddr of the sender, ending in /p2p/<peer ID>,
//     all of them with the same peer ID; at most MaxURIPeers;
//   - relay, at most one, is the full multiaddr of a relay the sender waits
//     on (the receiver then finds it there by code when no peer address
//     answers);
//   - values are percent-encoded where they hold a character other than
//     A-Z a-z 0-9 and / . : _ ~ - (a multiaddr seldom does);
//   - parameters of other names are ignored, so that a later version may
//     add some; "ferry://" is read like "ferry:", and the scheme in any case;
//   - the whole URI is at most MaxURILen bytes.
//
// The code is the secret of a pairing, so the URI is too: it is shown to the
// person at the sender only, like the code.

// URI limits.
const (
	URIScheme   = "ferry"
	MaxURIPeers = 8
	MaxURILen   = 2048
)

// URI is a parsed ferry: URI.
type URI struct {
	Code  pairing.Code
	Peers []string // the sender's full multiaddrs, in their canonical form
	Relay string   // a relay's full multiaddr, or empty
}

// ErrBadURI is wrapped by every error ParseURI returns.
var ErrBadURI = errors.New("not a ferry: link")

// IsURI reports whether s is meant as a ferry: URI rather than a code.
func IsURI(s string) bool {
	s = strings.TrimSpace(s)
	return len(s) > len(URIScheme) && strings.EqualFold(s[:len(URIScheme)+1], URIScheme+":")
}

// ParseURI reads a ferry: URI; see the format above.
func ParseURI(s string) (URI, error) {
	s = strings.TrimSpace(s)
	bad := func(format string, args ...any) (URI, error) {
		return URI{}, fmt.Errorf("%w: "+format, append([]any{ErrBadURI}, args...)...)
	}
	if len(s) > MaxURILen {
		return bad("it is %d bytes long, more than the %d a link can be", len(s), MaxURILen)
	}
	if !IsURI(s) {
		return bad("it does not start with %s:", URIScheme)
	}
	rest := strings.TrimPrefix(s[len(URIScheme)+1:], "//")
	codePart, query, _ := strings.Cut(rest, "?")
	codeText, err := url.PathUnescape(codePart)
	if err != nil {
		return bad("the code is garbled")
	}
	code, err := pairing.ParseCode(codeText)
	if err != nil {
		return URI{}, fmt.Errorf("%w: %w", ErrBadURI, err)
	}
	vals, err := url.ParseQuery(query)
	if err != nil {
		return bad("its parameters are garbled")
	}
	u := URI{Code: code}
	var id peer.ID
	seen := make(map[string]bool)
	for _, a := range vals["peer"] {
		addr, pid, err := fullAddr(a)
		if err != nil {
			return bad("peer %q: %v", a, err)
		}
		if id != "" && pid != id {
			return bad("its peer addresses name two different devices")
		}
		id = pid
		if seen[addr] {
			continue
		}
		seen[addr] = true
		if len(u.Peers) == MaxURIPeers {
			return bad("it lists more than %d peer addresses", MaxURIPeers)
		}
		u.Peers = append(u.Peers, addr)
	}
	switch rs := vals["relay"]; len(rs) {
	case 0:
	case 1:
		addr, _, err := fullAddr(rs[0])
		if err != nil {
			return bad("relay %q: %v", rs[0], err)
		}
		u.Relay = addr
	default:
		return bad("it names more than one relay")
	}
	return u, nil
}

// fullAddr checks that s is a multiaddr that says where a peer is and which
// peer it is, and returns its canonical form and the peer's ID.
func fullAddr(s string) (string, peer.ID, error) {
	m, err := ma.NewMultiaddr(s)
	if err != nil {
		return "", "", errors.New("not a multiaddr")
	}
	transport, id := peer.SplitAddr(m)
	if id == "" {
		return "", "", errors.New("does not end in /p2p/ and a peer ID")
	}
	if transport == nil {
		return "", "", errors.New("says which device but not where: want /ip4/…/tcp/…/p2p/ID")
	}
	return m.String(), id, nil
}

// String is the URI in the format above.
func (u URI) String() string {
	var b strings.Builder
	b.WriteString(URIScheme + ":")
	b.WriteString(u.Code.String())
	sep := byte('?')
	param := func(k, v string) {
		b.WriteByte(sep)
		sep = '&'
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(escapeURIValue(v))
	}
	for _, p := range u.Peers {
		param("peer", p)
	}
	if u.Relay != "" {
		param("relay", u.Relay)
	}
	return b.String()
}

func escapeURIValue(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '/', c == '.', c == ':', c == '_', c == '~', c == '-':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// LinkAddrs picks the addresses a ferry: link carries: those other devices
// can dial (loopback only when there is nothing else), at most max.
func LinkAddrs(addrs []string, max int) []string {
	var others, loop []string
	for _, a := range addrs {
		if _, _, err := fullAddr(a); err != nil {
			continue
		}
		if isLoopbackAddr(a) {
			loop = append(loop, a)
		} else {
			others = append(others, a)
		}
	}
	if len(others) == 0 {
		others = loop
	}
	return others[:min(len(others), max)]
}

// isLoopbackAddr reports whether a multiaddr dials this machine only.
func isLoopbackAddr(a string) bool {
	m, err := ma.NewMultiaddr(a)
	if err != nil {
		return false
	}
	ip, err := manet.ToIP(m)
	return err == nil && ip.IsLoopback()
}
