package archive

import (
	"bytes"
	"crypto/cipher"
	"io"
	"testing"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
)

const benchFrame = 4 << 20

func BenchmarkWriteFrame(b *testing.B) {
	p := randBytes(b, benchFrame)
	w, err := NewWriter(io.Discard, mustKey(b), uint64(b.N))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(benchFrame)
	b.ResetTimer()
	for range b.N {
		if err := w.WriteFrame(p); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkReadFrame reads (and verifies) 4 MiB frames from an archive in
// memory, starting a new Reader over it whenever it runs out.
func BenchmarkReadFrame(b *testing.B) {
	b.Run("Next", func(b *testing.B) { benchRead(b, false) })
	b.Run("NextInto", func(b *testing.B) { benchRead(b, true) })
}

func benchRead(b *testing.B, reuse bool) {
	const frames = 8
	p := randBytes(b, benchFrame)
	key := mustKey(b)
	data := buildWithKey(b, key, [][]byte{p, p, p, p, p, p, p, p})
	var r *Reader
	var buf []byte
	if reuse {
		buf = make([]byte, benchFrame+tagSize)
	}
	b.SetBytes(benchFrame)
	b.ResetTimer()
	for i := range b.N {
		if i%frames == 0 {
			b.StopTimer()
			var err error
			if r, err = open(data, key, false); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		if _, err := r.NextInto(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAEAD is the measurement behind the choice of AES-256-GCM.
func BenchmarkAEAD(b *testing.B) {
	key := make([]byte, 32)
	gcm, err := newGCM(key)
	if err != nil {
		b.Fatal(err)
	}
	chacha, err := chacha20poly1305.New(key)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		aead cipher.AEAD
	}{{"aes-256-gcm", gcm}, {"chacha20-poly1305", chacha}} {
		b.Run(c.name, func(b *testing.B) {
			p := make([]byte, benchFrame)
			out := make([]byte, 0, benchFrame+tagSize)
			nonce := make([]byte, c.aead.NonceSize())
			b.SetBytes(benchFrame)
			for b.Loop() {
				out = c.aead.Seal(out[:0], nonce, p, nil)
			}
		})
	}
}

// BenchmarkArgon2idDefault is the cost of one password unlock with
// DefaultParams (the time a user waits after typing the password).
func BenchmarkArgon2idDefault(b *testing.B) {
	p := DefaultParams()
	salt := make([]byte, pwSaltSize)
	for b.Loop() {
		argon2.IDKey([]byte(testPassword), salt, p.Time, p.MemoryKiB, p.Threads, KeySize)
	}
}

// BenchmarkUnlockPassword is UnlockPassword end to end with DefaultParams.
func BenchmarkUnlockPassword(b *testing.B) {
	var buf bytes.Buffer
	w, _, err := NewPasswordWriter(&buf, []byte(testPassword), DefaultParams(), 0)
	if err != nil {
		b.Fatal(err)
	}
	w.Close()
	data := buf.Bytes()
	for b.Loop() {
		r, err := NewReader(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		if err := r.UnlockPassword([]byte(testPassword)); err != nil {
			b.Fatal(err)
		}
	}
}
