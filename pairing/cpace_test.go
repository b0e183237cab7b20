package pairing

import (
	"bytes"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/gtank/ristretto255"
)

type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := hex.DecodeString(s)
	*h = v
	return err
}

type cpaceSuite struct {
	PRS      hexBytes `json:"PRS"`
	CI       hexBytes `json:"CI"`
	Sid      hexBytes `json:"sid"`
	G        hexBytes `json:"g"`
	Ya       hexBytes `json:"ya"`
	ADa      hexBytes `json:"ADa"`
	YA       hexBytes `json:"Ya"`
	Yb       hexBytes `json:"yb"`
	ADb      hexBytes `json:"ADb"`
	YB       hexBytes `json:"Yb"`
	K        hexBytes `json:"K"`
	ISKIR    hexBytes `json:"ISK_IR"`
	ISKSY    hexBytes `json:"ISK_SY"`
	SidOutIR hexBytes `json:"sid_output_ir"`
	SidOutOC hexBytes `json:"sid_output_oc"`
}

type cpacePoints struct {
	Valid     map[string]hexBytes `json:"Valid"` // keys contain commas: no struct tags
	InvalidY1 hexBytes            `json:"Invalid Y1"`
	InvalidY2 hexBytes            `json:"Invalid Y2"`
}

func loadCPaceVectors(t *testing.T) (cpaceSuite, cpacePoints) {
	t.Helper()
	raw, err := os.ReadFile("testdata/cpace-21-testvectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var all struct {
		Suite  cpaceSuite  `json:"G_Coffee25519"`
		Points cpacePoints `json:"G_Coffee25519_points"`
	}
	if err := json.Unmarshal(raw, &all); err != nil {
		t.Fatal(err)
	}
	if len(all.Suite.ISKIR) != 64 || len(all.Points.Valid["s"]) != 32 {
		t.Fatal("testdata/cpace-21-testvectors.json: ristretto255 suite missing")
	}
	return all.Suite, all.Points
}

// draftHex returns the hex block that follows the line containing label in
// section B.3 of the draft text, so that the test also checks the values printed
// in the document (not only those in the JSON file).
func draftHex(t *testing.T, label string) []byte {
	t.Helper()
	raw, err := os.ReadFile("testdata/draft-irtf-cfrg-cpace-21.txt")
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	start := strings.Index(text, "\nB.3.  Test vector for CPace using group ristretto255")
	end := strings.Index(text, "\nB.4.  ")
	if start < 0 || end < start {
		t.Fatal("draft text: section B.3 not found")
	}
	sec := text[start:end]
	i := strings.Index(sec, label)
	if i < 0 {
		t.Fatalf("draft B.3: %q not found", label)
	}
	lines := strings.Split(sec[i:], "\n")[1:]
	var h strings.Builder
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "(length") && h.Len() == 0 {
			continue
		}
		if l == "" || strings.Trim(l, "0123456789abcdef") != "" {
			break
		}
		h.WriteString(l)
	}
	b, err := hex.DecodeString(h.String())
	if err != nil || len(b) == 0 {
		t.Fatalf("draft B.3 %q: bad hex %q", label, h.String())
	}
	return b
}

func TestCPaceStringFunctions(t *testing.T) {
	// Appendix A.1.2, A.1.4 and A.3.5.
	seq := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i)
		}
		return b
	}
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"prepend_len(empty)", prependLen(nil, nil), "00"},
		{"prepend_len(1234)", prependLen(nil, []byte("1234")), "0431323334"},
		{"prepend_len(range(127))", prependLen(nil, seq(127)), "7f" + hex.EncodeToString(seq(127))},
		{"prepend_len(range(128))", prependLen(nil, seq(128)), "8001" + hex.EncodeToString(seq(128))},
		{"lv_cat", lvCat([]byte("1234"), []byte("5"), nil, []byte("678")), "043132333401350003363738"},
		{"transcript_ir 1", transcriptIR([]byte("123"), []byte("PartyA"), []byte("234"), []byte("PartyB")),
			"03313233065061727479410332333406506172747942"},
		{"transcript_ir 2", transcriptIR([]byte("3456"), []byte("PartyA"), []byte("2345"), []byte("PartyB")),
			"043334353606506172747941043233343506506172747942"},
	}
	for _, tt := range tests {
		if got := hex.EncodeToString(tt.got); got != tt.want {
			t.Errorf("%s = %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestCPaceVectorsRistretto255(t *testing.T) {
	v, _ := loadCPaceVectors(t)

	// B.3.1: generator string, its hash, and the generator.
	gs := generatorString([]byte(cpaceDSI), v.PRS, v.CI, v.Sid, cpaceHashBlock)
	if want := draftHex(t, "generator_string(G.DSI,PRS,CI,sid,H.s_in_bytes):"); !bytes.Equal(gs, want) {
		t.Errorf("generator_string = %x, want %x", gs, want)
	}
	gh := sha512.Sum512(gs)
	if want := draftHex(t, "hash result:"); !bytes.Equal(gh[:], want) {
		t.Errorf("generator hash = %x, want %x", gh, want)
	}
	g := cpaceGenerator(v.PRS, v.CI, v.Sid)
	if got := g.Encode(nil); !bytes.Equal(got, v.G) {
		t.Errorf("generator g = %x, want %x", got, v.G)
	}

	// B.3.2, B.3.3: the messages of A and B.
	ya, yb := scalarFrom(t, v.Ya), scalarFrom(t, v.Yb)
	if got := cpaceScalarMult(ya, g); !bytes.Equal(got, v.YA) {
		t.Errorf("Ya = %x, want %x", got, v.YA)
	}
	if got := cpaceScalarMult(yb, g); !bytes.Equal(got, v.YB) {
		t.Errorf("Yb = %x, want %x", got, v.YB)
	}

	// B.3.4: K on both sides.
	if got := cpaceScalarMultVfy(ya, v.YB); !bytes.Equal(got, v.K) {
		t.Errorf("scalar_mult_vfy(ya,Yb) = %x, want %x", got, v.K)
	}
	if got := cpaceScalarMultVfy(yb, v.YA); !bytes.Equal(got, v.K) {
		t.Errorf("scalar_mult_vfy(yb,Ya) = %x, want %x", got, v.K)
	}

	// B.3.5: transcript_ir and ISK in the initiator-responder setting.
	if got, want := transcriptIR(v.YA, v.ADa, v.YB, v.ADb), draftHex(t, "transcript_ir(Ya,ADa,Yb,ADb):"); !bytes.Equal(got, want) {
		t.Errorf("transcript_ir = %x, want %x", got, want)
	}
	if got := cpaceISK(v.Sid, v.K, v.YA, v.ADa, v.YB, v.ADb); !bytes.Equal(got, v.ISKIR) {
		t.Errorf("ISK_IR = %x, want %x", got, v.ISKIR)
	}
	if want := draftHex(t, "ISK result:"); !bytes.Equal(v.ISKIR, want) {
		t.Errorf("JSON ISK_IR %x differs from draft text %x", v.ISKIR, want)
	}

	// B.3.6, B.3.7: the parallel-setting ISK and sid_output, for completeness
	// (Ferry uses the initiator-responder setting).
	oc := func(a, b []byte) []byte {
		if bytes.Compare(a, b) > 0 {
			return append(append([]byte("oc"), a...), b...)
		}
		return append(append([]byte("oc"), b...), a...)
	}
	toc := oc(lvCat(v.YA, v.ADa), lvCat(v.YB, v.ADb))
	sy := sha512.Sum512(append(lvCat([]byte(cpaceDSI+"_ISK"), v.Sid, v.K), toc...))
	if !bytes.Equal(sy[:], v.ISKSY) {
		t.Errorf("ISK_SY = %x, want %x", sy, v.ISKSY)
	}
	sidIR := sha512.Sum512(append([]byte("CPaceSidOutput"), transcriptIR(v.YA, v.ADa, v.YB, v.ADb)...))
	if !bytes.Equal(sidIR[:], v.SidOutIR) {
		t.Errorf("sid_output_ir = %x, want %x", sidIR, v.SidOutIR)
	}
	sidOC := sha512.Sum512(append([]byte("CPaceSidOutput"), toc...))
	if !bytes.Equal(sidOC[:], v.SidOutOC) {
		t.Errorf("sid_output_oc = %x, want %x", sidOC, v.SidOutOC)
	}

	// The two parties, run as this package runs them, agree on ISK_IR.
	a := &cpaceParty{y: scalarFrom(t, v.Ya), share: v.YA, ad: v.ADa, ci: v.CI, sid: v.Sid, isInit: true}
	b := &cpaceParty{y: scalarFrom(t, v.Yb), share: v.YB, ad: v.ADb, ci: v.CI, sid: v.Sid}
	iskA, errA := a.finish(v.YB, v.ADb)
	iskB, errB := b.finish(v.YA, v.ADa)
	if errA != nil || errB != nil || !bytes.Equal(iskA, v.ISKIR) || !bytes.Equal(iskB, v.ISKIR) {
		t.Errorf("parties: ISK %x (%v) and %x (%v), want %x", iskA, errA, iskB, errB, v.ISKIR)
	}
}

func TestCPaceScalarMultVfy(t *testing.T) {
	_, p := loadCPaceVectors(t)
	validS, validX := p.Valid["s"], p.Valid["X"]
	wantSX, wantVfy := p.Valid["G.scalar_mult(s,decode(X))"], p.Valid["G.scalar_mult_vfy(s,X)"]
	if len(wantSX) != 32 || len(wantVfy) != 32 {
		t.Fatal("B.3.10 vectors missing")
	}
	s := scalarFrom(t, validS)

	// B.3.10: valid input.
	x := ristretto255.NewElement()
	if err := x.Decode(validX); err != nil {
		t.Fatal(err)
	}
	if got := cpaceScalarMult(s, x); !bytes.Equal(got, wantSX) {
		t.Errorf("scalar_mult(s,decode(X)) = %x, want %x", got, wantSX)
	}
	if got := cpaceScalarMultVfy(s, validX); !bytes.Equal(got, wantVfy) {
		t.Errorf("scalar_mult_vfy(s,X) = %x, want %x", got, wantVfy)
	}

	// B.3.11: invalid inputs map to G.I, and a party receiving them aborts.
	invalid := []struct {
		name string
		y    []byte
	}{
		{"Y_i1 (not an encoding)", p.InvalidY1},
		{"Y_i2 (neutral element)", p.InvalidY2},
		{"draft text Y_i1", draftHex(t, "Y_i1: (length: 32 bytes)")},
		{"short", validX[:31]},
		{"long", append(append([]byte(nil), validX...), 0)},
		{"empty", nil},
	}
	for _, tt := range invalid {
		if got := cpaceScalarMultVfy(s, tt.y); !bytes.Equal(got, cpaceIdentity) {
			t.Errorf("%s: scalar_mult_vfy = %x, want G.I", tt.name, got)
		}
		party := &cpaceParty{y: s, share: validX, sid: []byte("sid"), isInit: true}
		if _, err := party.finish(tt.y, nil); err != errCPaceInvalidPoint {
			t.Errorf("%s: finish error = %v, want %v", tt.name, err, errCPaceInvalidPoint)
		}
	}
}

func TestCPaceSampleScalar(t *testing.T) {
	// Bits above 252 are cleared, so every sample is canonical; a zero draw is
	// redrawn rather than used.
	src := append(make([]byte, 32), bytes.Repeat([]byte{0xff}, 32)...)
	s, err := cpaceSampleScalar(bytes.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	got := s.Encode(nil)
	want := append(bytes.Repeat([]byte{0xff}, 31), 0x0f)
	if !bytes.Equal(got, want) {
		t.Errorf("sample = %x, want %x", got, want)
	}
	if _, err := cpaceSampleScalar(bytes.NewReader(nil)); err == nil {
		t.Error("sample from empty reader: no error")
	}
}

func scalarFrom(t *testing.T, b []byte) *ristretto255.Scalar {
	t.Helper()
	s := ristretto255.NewScalar()
	if err := s.Decode(b); err != nil {
		t.Fatalf("scalar %x: %v", b, err)
	}
	return s
}
