package pairing

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flynn/noise"
)

var update = flag.Bool("update", false, "rewrite testdata/pair-kat.txt and testdata/devices-v2.json")

// TestNoiseVectors runs the Noise_XXpsk0_25519_ChaChaPoly_BLAKE2s vectors shipped
// with flynn/noise (testdata/noise-vectors.txt) through the exact cipher suite,
// pattern and PSK placement this package configures.
func TestNoiseVectors(t *testing.T) {
	f, err := os.Open("testdata/noise-vectors.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type vector struct {
		fields map[string]string
		msgs   [][2][]byte // payload, ciphertext
	}
	var vecs []*vector
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		if k == "handshake" {
			vecs = append(vecs, &vector{fields: map[string]string{}})
		}
		cur := vecs[len(vecs)-1]
		switch {
		case strings.HasSuffix(k, "_payload"):
			cur.msgs = append(cur.msgs, [2][]byte{mustHex(t, v)})
		case strings.HasSuffix(k, "_ciphertext"):
			cur.msgs[len(cur.msgs)-1][1] = mustHex(t, v)
		default:
			cur.fields[k] = v
		}
	}
	if len(vecs) == 0 {
		t.Fatal("no vectors")
	}
	for n, v := range vecs {
		if v.fields["handshake"] != "Noise_XXpsk0_25519_ChaChaPoly_BLAKE2s" {
			t.Fatalf("vector %d: %s", n, v.fields["handshake"])
		}
		si, _ := noise.DH25519.GenerateKeypair(bytes.NewReader(mustHex(t, v.fields["init_static"])))
		sr, _ := noise.DH25519.GenerateKeypair(bytes.NewReader(mustHex(t, v.fields["resp_static"])))
		mk := func(initiator bool, static noise.DHKey, eph string) *noise.HandshakeState {
			hs, err := noise.NewHandshakeState(noise.Config{
				CipherSuite: noiseSuite, Pattern: noise.HandshakeXX, Initiator: initiator,
				Random: bytes.NewReader(mustHex(t, eph)), StaticKeypair: static,
				Prologue: mustHex(t, v.fields["prologue"]), PresharedKey: mustHex(t, v.fields["preshared_key"]),
				PresharedKeyPlacement: 0,
			})
			if err != nil {
				t.Fatal(err)
			}
			return hs
		}
		hi := mk(true, si, v.fields["gen_init_ephemeral"])
		hr := mk(false, sr, v.fields["gen_resp_ephemeral"])
		var csI, csR [2]*noise.CipherState
		for i, m := range v.msgs {
			var got []byte
			var err error
			switch {
			case i < 3 && i%2 == 0:
				got, csI[0], csI[1], err = hi.WriteMessage(nil, m[0])
				if err == nil {
					_, csR[0], csR[1], err = hr.ReadMessage(nil, got)
				}
			case i < 3:
				got, csR[0], csR[1], err = hr.WriteMessage(nil, m[0])
				if err == nil {
					_, csI[0], csI[1], err = hi.ReadMessage(nil, got)
				}
			case i%2 == 1: // transport, initiator to responder
				got, err = csI[0].Encrypt(nil, nil, m[0])
			default:
				got, err = csR[1].Encrypt(nil, nil, m[0])
			}
			if err != nil {
				t.Fatalf("vector %d msg %d: %v", n, i, err)
			}
			if !bytes.Equal(got, m[1]) {
				t.Errorf("vector %d msg %d: ciphertext %x, want %x", n, i, got, m[1])
			}
		}
	}
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// recorder logs every frame written through it, in order, across both sides.
type recorder struct {
	mu  *sync.Mutex
	log *[]string
	who string
	rw  io.ReadWriter
}

func (r *recorder) Read(p []byte) (int, error) { return r.rw.Read(p) }

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	*r.log = append(*r.log, fmt.Sprintf("%s %x", r.who, p))
	r.mu.Unlock()
	return r.rw.Write(p)
}

// TestPairKAT is a known-answer test of the whole pairing: fixed identities,
// fixed code, fixed randomness on both sides; every frame on the wire must be the
// recorded one (testdata/pair-kat.txt), and both sides must end with the
// recorded keys.
func TestPairKAT(t *testing.T) {
	recv, send := newSides(t)
	code := mustCode(t, "42-zebra-acorn")
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	var mu sync.Mutex
	var log []string
	ra := &recorder{mu: &mu, log: &log, who: "I", rw: a}
	rb := &recorder{mu: &mu, log: &log, who: "R", rw: b}
	now := func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
	ctx := testCtx(t)
	pi, pr := runBoth(
		func() (*Peer, error) {
			return Pair(ctx, ra, Config{Role: Initiator, Code: code, Local: recv.id, RemotePeer: send.peer, Now: now, rand: newDetRand("initiator")})
		},
		func() (*Peer, error) {
			return Pair(ctx, rb, Config{Role: Responder, Code: code, Local: send.id, RemotePeer: recv.peer, Offer: []byte("offer: 3 chats"), Now: now, rand: newDetRand("responder")})
		})
	if pi.err != nil || pr.err != nil {
		t.Fatalf("pair: %v / %v", pi.err, pr.err)
	}
	var out strings.Builder
	fmt.Fprintf(&out, "# Ferry pairing known-answer transcript (ferry/pair/1).\n")
	fmt.Fprintf(&out, "# code %s; identities: Ed25519 keys from detRand(\"identity receiver|sender\");\n", code)
	fmt.Fprintf(&out, "# randomness: detRand(\"initiator\"), detRand(\"responder\"). One frame per line, as written.\n")
	fmt.Fprintf(&out, "initiator_peer=%s\nresponder_peer=%s\n", recv.peer, send.peer)
	fmt.Fprintf(&out, "initiator_noise_static=%x\nresponder_noise_static=%x\n", pr.peer.Device.NoiseStatic, pi.peer.Device.NoiseStatic)
	for _, l := range log {
		fmt.Fprintln(&out, l)
	}
	got := out.String()
	const path = "testdata/pair-kat.txt"
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := range max(len(gl), len(wl)) {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("transcript line %d:\n got %s\nwant %s", i+1, g, w)
			}
		}
	}
	// The transcript has the shape doc.go describes: CPace A, CPace B, three
	// Noise handshake messages, the confirmation.
	var types []string
	for _, l := range log {
		_, h, _ := strings.Cut(l, " ")
		types = append(types, l[:1]+h[4:6])
	}
	if g, w := strings.Join(types, ","), "I01,R02,I03,R03,I03,R03"; g != w {
		t.Errorf("frame sequence %s, want %s", g, w)
	}
}

// TestPairKATWrongCodeSameShape: with a wrong code, what goes on the wire is
// CPace A, CPace B, Noise message 1, abort(code mismatch); the responder reveals
// nothing of its identity or offer.
func TestPairKATWrongCodeSameShape(t *testing.T) {
	recv, send := newSides(t)
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	var mu sync.Mutex
	var log []string
	ra := &recorder{mu: &mu, log: &log, who: "I", rw: a}
	rb := &recorder{mu: &mu, log: &log, who: "R", rw: b}
	ctx := testCtx(t)
	runBoth(
		func() (*Peer, error) {
			return Pair(ctx, ra, Config{Role: Initiator, Code: mustCode(t, "42-zebra-acre"), Local: recv.id, RemotePeer: send.peer})
		},
		func() (*Peer, error) {
			return Pair(ctx, rb, Config{Role: Responder, Code: mustCode(t, "42-zebra-acorn"), Local: send.id, RemotePeer: recv.peer, Offer: []byte("secret offer")})
		})
	frames := log
	if len(frames) != 4 || !strings.HasPrefix(frames[3], "R 00020401") {
		t.Fatalf("wrong-code transcript %q, want 4 frames ending in abort(code mismatch)", frames)
	}
	for _, f := range frames {
		if strings.Contains(f, hex.EncodeToString([]byte("old phone"))) || strings.Contains(f, hex.EncodeToString([]byte("secret offer"))) {
			t.Errorf("frame %q leaks the sender's name or offer", f)
		}
	}
}
