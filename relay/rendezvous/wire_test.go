package rendezvous

import (
	"bytes"
	"crypto/rand"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

func testPeer(t testing.TB) peer.ID {
	t.Helper()
	_, pk, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(pk)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestRequestRoundTrip(t *testing.T) {
	full := make([]peer.ID, MaxAllow)
	for i := range full {
		full[i] = testPeer(t)
	}
	for _, req := range []Request{
		{Op: OpRegister, Nameplate: "7"},
		{Op: OpRegister, Nameplate: "42", Allow: full[:1]},
		{Op: OpRegister, Nameplate: strings.Repeat("z", MaxNameplateLen), Allow: full},
		{Op: OpClaim, Nameplate: "abcXYZ019"},
		{Op: OpUnregister, Nameplate: strings.Repeat("z", MaxNameplateLen)},
	} {
		b, err := req.MarshalBinary()
		if err != nil {
			t.Fatalf("marshal %+v: %v", req, err)
		}
		got, err := ParseRequest(b)
		if err != nil {
			t.Fatalf("parse %x: %v", b, err)
		}
		if !reflect.DeepEqual(got, req) {
			t.Errorf("round trip: got %+v, want %+v", got, req)
		}
		if len(b) > MaxRequestLen {
			t.Errorf("request of %d bytes, more than MaxRequestLen %d", len(b), MaxRequestLen)
		}
	}
}

func TestParseRequestRejects(t *testing.T) {
	p, q := testPeer(t), testPeer(t)
	allow := func(op Op, ids ...peer.ID) []byte {
		b := []byte{byte(op), 1, '7', byte(len(ids))}
		for _, id := range ids {
			b = append(b, byte(len(id)))
			b = append(b, id...)
		}
		return b
	}
	many := make([]peer.ID, MaxAllow+1)
	for i := range many {
		many[i] = testPeer(t)
	}
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"one byte", []byte{1}},
		{"version 1", []byte{1, 1, '7'}},
		{"op zero", []byte{0, 1, '7', 0}},
		{"op four", []byte{4, 1, '7', 0}},
		{"empty nameplate", []byte{1, 0, 0}},
		{"short", []byte{1, 3, '7', '8'}},
		{"trailing", []byte{1, 1, '7', 0, 0}},
		{"dash", []byte{2, 3, '7', '-', 'a', 0}},
		{"space", []byte{2, 1, ' ', 0}},
		{"non-ascii", []byte{2, 2, 0xc3, 0xa9, 0}},
		{"too long", append(append([]byte{2, 33}, bytes.Repeat([]byte{'a'}, 33)...), 0)},
		{"http", []byte("GET / HTTP/1.1\r\n\r\n")},
		{"allow on claim", allow(OpClaim, p)},
		{"allow on unregister", allow(OpUnregister, p)},
		{"allow twice", allow(OpRegister, p, q, p)},
		{"allow too many", allow(OpRegister, many...)},
		{"allow bad peer", allow(OpRegister, peer.ID("xyz"))},
		{"allow empty peer", []byte{1, 1, '7', 1, 0}},
		{"allow truncated", allow(OpRegister, p)[:10]},
		{"allow count without peers", []byte{1, 1, '7', 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRequest(tc.in)
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("ParseRequest(%q) error = %v, want ErrMalformed", tc.in, err)
			}
		})
	}
}

func TestResponseRoundTrip(t *testing.T) {
	p := testPeer(t)
	for _, resp := range []Response{
		{Status: StatusOK, Seconds: 600},
		{Status: StatusOK, Peer: p, Message: "claimed"},
		{Status: StatusOK, Peer: p, Relay: []ma.Multiaddr{
			ma.StringCast("/ip4/203.0.113.7/tcp/4001/p2p/" + p.String()),
			ma.StringCast("/dns4/relay.example.org/udp/4001/quic-v1/p2p/" + p.String()),
		}},
		{Status: StatusRateLimited, Seconds: 3, Message: "slow down"},
		{Status: StatusLimit, Message: "this device holds 4 nameplates"},
		{Status: StatusUnavailable, Message: strings.Repeat("é", MaxMessageLen/2)},
	} {
		b, err := resp.MarshalBinary()
		if err != nil {
			t.Fatalf("marshal %+v: %v", resp, err)
		}
		got, err := ParseResponse(b)
		if err != nil {
			t.Fatalf("parse %x: %v", b, err)
		}
		if !reflect.DeepEqual(got, resp) {
			t.Errorf("round trip: got %+v, want %+v", got, resp)
		}
	}
}

func TestResponseRejects(t *testing.T) {
	p := testPeer(t)
	for _, tc := range []struct {
		name string
		in   Response
	}{
		{"unknown status", Response{Status: maxStatus + 1}},
		{"relay without peer", Response{Status: StatusOK, Relay: []ma.Multiaddr{ma.StringCast("/ip4/1.2.3.4/tcp/1")}}},
		{"too many relay addrs", Response{Status: StatusOK, Peer: p, Relay: make([]ma.Multiaddr, MaxRelayAddrs+1)}},
		{"peer on error", Response{Status: StatusClaimed, Peer: p}},
		{"bad peer", Response{Status: StatusOK, Peer: peer.ID("xyz")}},
		{"control char", Response{Status: StatusOK, Message: "a\nb"}},
		{"not utf-8", Response{Status: StatusOK, Message: "\xff"}},
		{"too long", Response{Status: StatusOK, Message: strings.Repeat("a", MaxMessageLen+1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.in.MarshalBinary(); !errors.Is(err, ErrMalformed) {
				t.Errorf("marshal error = %v, want ErrMalformed", err)
			}
		})
	}
	good, err := Response{Status: StatusOK, Peer: p, Relay: []ma.Multiaddr{ma.StringCast("/ip4/1.2.3.4/tcp/1")}, Message: "hi"}.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	for i := range len(good) {
		if _, err := ParseResponse(good[:i]); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseResponse(truncated to %d) error = %v, want ErrMalformed", i, err)
		}
	}
	if _, err := ParseResponse(append(good, 0)); !errors.Is(err, ErrMalformed) {
		t.Errorf("ParseResponse(trailing byte) error = %v, want ErrMalformed", err)
	}
}

func FuzzParseRequest(f *testing.F) {
	for _, r := range []Request{
		{Op: OpRegister, Nameplate: "7"},
		{Op: OpRegister, Nameplate: "42", Allow: []peer.ID{testPeer(f), testPeer(f)}},
		{Op: OpClaim, Nameplate: "abc12"},
		{Op: OpUnregister, Nameplate: "9"},
	} {
		b, err := r.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{1, 1, '7'})
	f.Add([]byte{3, 0})
	f.Add([]byte("GET / HTTP/1.1\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := ParseRequest(b)
		if err != nil {
			return
		}
		out, err := req.MarshalBinary()
		if err != nil {
			t.Fatalf("parsed %x but cannot marshal %+v: %v", b, req, err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("round trip: got %x, want %x", out, b)
		}
	})
}

func FuzzParseResponse(f *testing.F) {
	p := testPeer(f)
	for _, r := range []Response{
		{Status: StatusOK, Seconds: 600},
		{Status: StatusOK, Peer: p, Message: "ok"},
		{Status: StatusOK, Peer: p, Relay: []ma.Multiaddr{ma.StringCast("/ip6/::1/udp/9/quic-v1/p2p/" + p.String())}},
		{Status: StatusRateLimited, Seconds: 2, Message: "slow down"},
	} {
		b, err := r.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{9, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{10, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		resp, err := ParseResponse(b)
		if err != nil {
			return
		}
		out, err := resp.MarshalBinary()
		if err != nil {
			t.Fatalf("parsed %x but cannot marshal %+v: %v", b, resp, err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("round trip: got %x, want %x", out, b)
		}
	})
}
