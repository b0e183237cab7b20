package pairing

import (
	"errors"
	"net"
	"testing"
)

func TestCheckName(t *testing.T) {
	for _, tt := range []struct {
		name string
		ok   bool
	}{
		{"old phone", true},
		{"Alice's laptop", true},
		{"", true},
		{"Ноутбук Алисы", true},
		{"ثمینه‌لپ‌تاپ", true},         // Persian with ZWNJ (U+200C)
		{"👩‍💻 desk", true},             // emoji sequence with ZWJ (U+200D)
		{"laptop\u202Egpj.exe", false}, // RIGHT-TO-LEFT OVERRIDE
		{"a\u202Ab", false}, {"a\u202Bb", false}, {"a\u202Cb", false}, {"a\u202Db", false},
		{"a\u2066b", false}, {"a\u2067b", false}, {"a\u2068b", false}, {"a\u2069b", false},
		{"a\u200Eb", false}, {"a\u200Fb", false}, {"a\u061Cb", false},
		{"\x1b[2Jpwned", false},                                                  // terminal escape
		{"a\nb", false}, {"a\tb", false}, {"a\x00b", false}, {"a\u0085b", false}, // C0, C1
		{"a\u2028b", false}, {"a\u2029b", false}, // line and paragraph separators
		{"a\u200Bb", false}, {"a\u00ADb", false}, {"a\uFEFFb", false}, {"a\U000E0041b", false}, // other invisible format characters
		{"\xff", false}, {"a\uFFFDb", false},
	} {
		err := checkName(tt.name)
		if got := err == nil; got != tt.ok {
			t.Errorf("checkName(%+q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrBadName) {
			t.Errorf("checkName(%+q) = %v, want ErrBadName", tt.name, err)
		}
		if err := (Identity{Key: testIdentity(t, "x", "").Key, Name: tt.name}).check(); (err == nil) != tt.ok {
			t.Errorf("Identity{Name: %+q}.check() = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func TestDisplayName(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"old phone", "old phone"},
		{"👩‍💻 desk", "👩‍💻 desk"},
		{"laptop\u202Egpj.exe", `laptop\u202egpj.exe`},
		{"\u2066x\u2069", `\u2066x\u2069`},
		{"\x1b[2Jpwned", `\x1b[2Jpwned`},
		{"a\u0085b", `a\u0085b`},
		{"tag\U000E0041", `tag\U000e0041`},
		{"bad\xffbyte", `bad\xffbyte`},
	} {
		got := DisplayName(tt.in)
		if got != tt.want {
			t.Errorf("DisplayName(%+q) = %q, want %q", tt.in, got, tt.want)
		}
		if err := checkName(got); err != nil {
			t.Errorf("DisplayName(%+q) = %+q, which still fails checkName: %v", tt.in, got, err)
		}
	}
}

// A device that presents a name with text-direction characters (a hostile one,
// or an older version) is refused by the other side, which stores nothing and
// says why; the name is never shown.
func TestPairRefusesBidiName(t *testing.T) {
	for _, role := range []Role{Initiator, Responder} {
		t.Run("hostile "+role.String(), func(t *testing.T) {
			ctx := testCtx(t)
			recv, send := newSides(t)
			hostile, honest := recv, send
			if role == Responder {
				hostile, honest = send, recv
			}
			hostile.id.Name = "new laptop\u202Egpj.exe"
			code := mustCode(t, "7-zebra-acorn")
			store, err := Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			a, b := net.Pipe()
			defer a.Close()
			defer b.Close()
			other := map[Role]Role{Initiator: Responder, Responder: Initiator}
			rh, rm := runBoth(
				func() (*Peer, error) {
					return Pair(ctx, a, Config{Role: other[role], Code: code, Local: honest.id, RemotePeer: hostile.peer, Store: store})
				},
				func() (*Peer, error) {
					return Pair(ctx, b, Config{Role: role, Code: code, Local: hostile.id, RemotePeer: honest.peer, unchecked: true})
				})
			if !errors.Is(rh.err, ErrBadName) {
				t.Errorf("honest side: got %v, want ErrBadName", rh.err)
			}
			if rm.err == nil {
				t.Errorf("hostile side: paired, want a refusal")
			}
			if devs, err := store.List(); err != nil || len(devs) != 0 {
				t.Errorf("honest side's store holds %+v (%v), want nothing", devs, err)
			}
		})
	}
	// The hostile name is refused locally before anything is sent.
	recv, send := newSides(t)
	recv.id.Name = "a\u2067b"
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, err := Pair(testCtx(t), a, Config{Role: Initiator, Code: mustCode(t, "7-zebra-acorn"), Local: recv.id, RemotePeer: send.peer}); !errors.Is(err, ErrBadName) {
		t.Errorf("pairing with a bidi name of our own: got %v, want ErrBadName", err)
	}
}
