package pairing

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"hash"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/flynn/noise"
	"golang.org/x/crypto/blake2s"
	"golang.org/x/crypto/chacha20poly1305"
)

// This file demonstrates the threat doc.go describes: had Ferry keyed Noise with
// a PSK made straight from the code, one recorded handshake message would let a
// passive eavesdropper test every code offline. A 16-bit code space falls in
// well under a second on one core.

// naiveCode16 maps a 16-bit secret to a code: two words from the first 256 list
// words (16 bits exactly).
func naiveCode16(n uint16) string {
	wl := words().words
	return wl[n>>8] + "-" + wl[n&0xff]
}

func naivePSK(code string) []byte {
	psk, err := hkdf.Key(sha256.New, []byte(code), nil, "naive psk from code", 32)
	if err != nil {
		panic(err)
	}
	return psk
}

// naiveFirstMessage is what an eavesdropper records: the initiator's first
// Noise_XXpsk0 message under a PSK derived from the code.
func naiveFirstMessage(t testing.TB, code string) []byte {
	t.Helper()
	hs, err := noise.NewHandshakeState(noise.Config{
		CipherSuite: noiseSuite, Pattern: noise.HandshakeXX, Initiator: true,
		Prologue: []byte("naive"), PresharedKey: naivePSK(code), PresharedKeyPlacement: 0,
		StaticKeypair: mustDH(t, "naive initiator"), Random: newDetRand("naive eph"),
	})
	if err != nil {
		t.Fatal(err)
	}
	msg, _, _, err := hs.WriteMessage(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func mustDH(t testing.TB, seed string) noise.DHKey {
	t.Helper()
	k, err := noise.DH25519.GenerateKeypair(newDetRand(seed))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// naiveTry reports whether guess opens the recorded message, using flynn/noise
// itself: no private key, no interaction, just hashing and one AEAD open.
func naiveTry(msg []byte, guess string, anyStatic noise.DHKey) bool {
	hs, err := noise.NewHandshakeState(noise.Config{
		CipherSuite: noiseSuite, Pattern: noise.HandshakeXX,
		Prologue: []byte("naive"), PresharedKey: naivePSK(guess), PresharedKeyPlacement: 0,
		StaticKeypair: anyStatic,
	})
	if err != nil {
		panic(err)
	}
	_, _, _, err = hs.ReadMessage(nil, msg)
	return err == nil
}

// naiveAttacker is the same test written as an attacker would: the part of the
// Noise state that does not depend on the guess is computed once; a guess costs
// two HKDFs, two hashes and one ChaCha20-Poly1305 open of a 16-byte tag.
type naiveAttacker struct {
	ck, h []byte // after InitializeSymmetric and MixHash(prologue)
	e     []byte // the initiator's ephemeral public key, in clear
	tag   []byte // the encrypted empty payload
}

func newNaiveAttacker(msg []byte) *naiveAttacker {
	name := []byte("Noise_XXpsk0_25519_ChaChaPoly_BLAKE2s")
	h := make([]byte, 32)
	copy(h, name) // the name is longer than 32 bytes: h = HASH(name)
	if len(name) > 32 {
		s := blake2s.Sum256(name)
		h = s[:]
	}
	a := &naiveAttacker{ck: append([]byte(nil), h...), e: msg[:32], tag: msg[32:]}
	a.h = blakeMix(h, []byte("naive"))
	return a
}

func blakeMix(h, data []byte) []byte {
	d, _ := blake2s.New256(nil)
	d.Write(h)
	d.Write(data)
	return d.Sum(nil)
}

func newBlake() hash.Hash { d, _ := blake2s.New256(nil); return d }

// noiseHKDF is Noise's HKDF(chaining_key, ikm) with 2 or 3 outputs.
func noiseHKDF(ck, ikm []byte, n int) [][]byte {
	m := hmac.New(newBlake, ck)
	m.Write(ikm)
	tk := m.Sum(nil)
	var out [][]byte
	var prev []byte
	for i := 1; i <= n; i++ {
		m := hmac.New(newBlake, tk)
		m.Write(prev)
		m.Write([]byte{byte(i)})
		prev = m.Sum(nil)
		out = append(out, prev)
	}
	return out
}

func (a *naiveAttacker) try(guess string) bool {
	o := noiseHKDF(a.ck, naivePSK(guess), 3) // MixKeyAndHash(psk)
	h := blakeMix(a.h, o[1])
	h = blakeMix(h, a.e)            // token e: MixHash(e)
	k := noiseHKDF(o[0], a.e, 2)[1] // psk handshake: MixKey(e)
	aead, _ := chacha20poly1305.New(k)
	_, err := aead.Open(nil, make([]byte, 12), a.tag, h) // DecryptAndHash
	return err == nil
}

// searchNaive tries every 16-bit code on all CPUs and returns those that open
// the message.
func searchNaive(msg []byte, space int, first uint16) []uint16 {
	a := newNaiveAttacker(msg)
	workers := runtime.GOMAXPROCS(0)
	var mu sync.Mutex
	var found []uint16
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < space; i += workers {
				n := first + uint16(i)
				if a.try(naiveCode16(n)) {
					mu.Lock()
					found = append(found, n)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return found
}

func TestNaivePSKFromCodeFallsOffline(t *testing.T) {
	secret := uint16(0xbeef)
	msg := naiveFirstMessage(t, naiveCode16(secret))
	// The hand-written attacker and flynn/noise agree on what opens.
	anyStatic := mustDH(t, "attacker")
	a := newNaiveAttacker(msg)
	for _, n := range []uint16{secret, secret + 1, 0} {
		if got, want := a.try(naiveCode16(n)), naiveTry(msg, naiveCode16(n), anyStatic); got != want {
			t.Fatalf("guess %#x: attacker says %v, flynn/noise says %v", n, got, want)
		}
	}
	space := 1 << 16
	if testing.Short() {
		space = 1 << 12 // a slice of the space that holds the answer
	}
	start := time.Now()
	found := searchNaive(msg, space, secret-uint16(space/2))
	elapsed := time.Since(start)
	if len(found) != 1 || found[0] != secret {
		t.Fatalf("offline search found %v, want exactly %#x", found, secret)
	}
	t.Logf("naive PSK-from-code: %d codes tested offline in %v on %d CPUs", space, elapsed, runtime.GOMAXPROCS(0))
}

// BenchmarkNaivePSKGuess is the cost of one offline guess against a naive
// PSK-from-code handshake; the "s/16-bit-space" metric is the time to exhaust
// every 16-bit code.
func BenchmarkNaivePSKGuess(b *testing.B) {
	msg := naiveFirstMessage(b, naiveCode16(1))
	anyStatic := mustDH(b, "attacker")
	_ = anyStatic
	a := newNaiveAttacker(msg)
	for i := 0; b.Loop(); i++ {
		a.try(naiveCode16(uint16(i)))
	}
	perGuess := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(perGuess*65536, "s/16-bit-space/core")
}

// BenchmarkNaiveSearch16 exhausts the whole 16-bit code space on all CPUs.
func BenchmarkNaiveSearch16(b *testing.B) {
	msg := naiveFirstMessage(b, naiveCode16(0x1234))
	for b.Loop() {
		if got := searchNaive(msg, 1<<16, 0); len(got) != 1 {
			b.Fatalf("found %v", got)
		}
	}
}
