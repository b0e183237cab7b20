package pairing

import (
	"bytes"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"
)

// Seeds from the known-answer transcript: real frames of every type.
func katFrames(f *testing.F) [][]byte {
	raw, err := os.ReadFile("testdata/pair-kat.txt")
	if err != nil {
		f.Fatal(err)
	}
	var out [][]byte
	for _, l := range strings.Split(string(raw), "\n") {
		if len(l) > 2 && (l[0] == 'I' || l[0] == 'R') && l[1] == ' ' {
			b, err := hex.DecodeString(l[2:])
			if err != nil {
				f.Fatal(err)
			}
			out = append(out, b)
		}
	}
	return out
}

func FuzzReadFrame(f *testing.F) {
	for _, fr := range katFrames(f) {
		f.Add(fr)
	}
	f.Add([]byte{0, 2, frameAbort, abortCodeMismatch})
	f.Add([]byte{0, 0})
	f.Add([]byte{0xff, 0xff, 9})
	f.Fuzz(func(t *testing.T, in []byte) {
		typ, body, err := readFrame(bytes.NewReader(in))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := writeFrame(&buf, typ, body); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), in[:buf.Len()]) {
			t.Fatalf("round trip: %x, want prefix of %x", buf.Bytes(), in)
		}
	})
}

func FuzzParseCPaceA(f *testing.F) {
	for _, fr := range katFrames(f) {
		if fr[2] == frameCPaceA {
			f.Add(fr[3:])
		}
	}
	f.Add(make([]byte, 1+sidLen+cpacePointLen))
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := parseCPaceA(in)
		if err != nil {
			return
		}
		if got := m.marshal(); !bytes.Equal(got, in) {
			t.Fatalf("round trip: %x, want %x", got, in)
		}
	})
}

func FuzzParseCPaceB(f *testing.F) {
	for _, fr := range katFrames(f) {
		if fr[2] == frameCPaceB {
			f.Add(fr[3:])
		}
	}
	f.Add(make([]byte, cpacePointLen))
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := parseCPaceB(in)
		if err != nil {
			return
		}
		if got := m.marshal(); !bytes.Equal(got, in) {
			t.Fatalf("round trip: %x, want %x", got, in)
		}
	})
}

func FuzzIdentityPayload(f *testing.F) {
	recv, _ := newSides(f)
	static, _ := recv.id.noiseKey()
	p := &noiseParams{proto: protoPair, local: recv.id, localStatic: static, offer: []byte("offer")}
	good, err := p.ownPayload()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte{identityVer, 0, 1, 'k', 0, 0, 0, 0, 0, 0, 0, 1, 's'})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		ip, err := parseIdentityPayload(in)
		if err != nil {
			return
		}
		if got := ip.marshal(); !bytes.Equal(got, in) {
			t.Fatalf("round trip: %x, want %x", got, in)
		}
		// Whatever parses must never verify against an unrelated peer.
		q := *p
		q.remotePeer = "not a peer"
		if _, err := q.verifyPeer(static.Public, in); err == nil {
			t.Fatal("verified against a bogus peer ID")
		}
	})
}

func FuzzParseCode(f *testing.F) {
	for _, s := range []string{"7-zebra-acorn", " 7 Zebra ACORN", "7-zebar-acorn", "", "65535-a-b", "7-yo-yo", "1-zoom-zoom-zoom-zoom-zoom-zoom-zoom-zoom"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCode(s)
		if err != nil {
			if c.Nameplate != 0 || c.Words != nil {
				t.Fatalf("error %v with non-zero code %v", err, c)
			}
			return
		}
		back, err := ParseCode(c.String())
		if err != nil || back.String() != c.String() {
			t.Fatalf("ParseCode(%q) = %q, reparse %q, %v", s, c, back, err)
		}
		if err := c.validate(); err != nil {
			t.Fatalf("parsed code %q does not validate: %v", c, err)
		}
	})
}

func FuzzDecodeStore(f *testing.F) {
	recv, send := newSides(f)
	var devs []Device
	for i, s := range []side{recv, send} {
		st, _ := s.id.NoiseStatic()
		devs = append(devs, Device{PeerID: s.peer, NoiseStatic: st, Name: s.id.Name, Version: "v", PairedAt: time.Unix(int64(i), 0).UTC()})
	}
	good, err := encodeStore(devs)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"version":1,"devices":[]}`))
	f.Add([]byte(`{"version":1,"devices":null}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		devs, err := decodeStore(in)
		if err != nil {
			return
		}
		enc, err := encodeStore(devs)
		if err != nil {
			t.Fatal(err)
		}
		again, err := decodeStore(enc)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if len(again) != len(devs) {
			t.Fatalf("round trip: %d devices, want %d", len(again), len(devs))
		}
		for i := range devs {
			if !deviceEqual(again[i], devs[i]) {
				t.Fatalf("round trip device %d: %+v, want %+v", i, again[i], devs[i])
			}
		}
		enc2, _ := encodeStore(again)
		if !bytes.Equal(enc, enc2) {
			t.Fatal("encoding is not stable")
		}
	})
}
