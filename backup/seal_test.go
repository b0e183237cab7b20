package backup

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/chatstore/storetest"
	"github.com/ferryhq/ferry/internal/archive"
	"github.com/ferryhq/ferry/p2p/p2ptest"
)

// sealLegacy seals as backups before manifest version 3 did (legacy.go),
// so that tests can make the objects such a backup left.
func sealLegacy(vk *keys, n [32]byte, data []byte) []byte {
	aead := vk.chunk
	p := pad(nil, data)
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	return aead.Seal(nonce, nonce, p, vk.chunkAD(n))
}

// An object is an archive of one frame: the archive's Reader opens it with
// the object's key, and its plaintext is the padded bytes.
func TestObjectIsAnArchive(t *testing.T) {
	vk, err := deriveKeys(*testKey(t))
	if err != nil {
		t.Fatal(err)
	}
	defer vk.wipe()
	n := [32]byte{1}
	data := bytes.Repeat([]byte{7}, 1000)
	sealed, _, err := vk.sealChunk(nil, nil, n, data)
	if err != nil {
		t.Fatal(err)
	}
	ar, err := archive.NewReader(bytes.NewReader(sealed))
	if err != nil {
		t.Fatal(err)
	}
	if err := ar.Unlock(vk.objectKey(n)); err != nil {
		t.Fatalf("the archive Reader on an object: %v", err)
	}
	frame, err := ar.Next()
	if err != nil || ar.Frames() != 1 {
		t.Fatalf("frame: %v, %d frames", err, ar.Frames())
	}
	if got, err := unpad(frame); err != nil || !bytes.Equal(got, data) {
		t.Errorf("the frame unpadded: %d bytes, %v", len(got), err)
	}
}

func TestSealOpen(t *testing.T) {
	vk, err := deriveKeys(*testKey(t))
	if err != nil {
		t.Fatal(err)
	}
	defer vk.wipe()
	n, other := [32]byte{1}, [32]byte{2}
	for _, size := range []int{0, 1, 64 << 10, 64<<10 + 1, 100 << 10, 4 << 20} {
		data := bytes.Repeat([]byte{7}, size)
		s, _, err := vk.sealChunk(nil, nil, n, data)
		if err != nil {
			t.Fatal(err)
		}
		// The relay sees the bucket plus the envelope's fixed overhead.
		if got, want := len(s), 98+4+4+padBucket(size)+16; got != want {
			t.Errorf("sealed %d bytes: %d, want %d", size, got, want)
		}
		if got, err := vk.openChunk(n, slices.Clone(s)); err != nil || !bytes.Equal(got, data) {
			t.Errorf("open(seal(%d bytes)): %d bytes, %v", size, len(got), err)
		}
		if _, err := vk.openChunk(other, slices.Clone(s)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("an object under another name: %v, want ErrCorrupt", err)
		}
		// What a backup before version 3 stored opens too.
		if got, err := vk.openChunk(n, sealLegacy(vk, n, data)); err != nil || !bytes.Equal(got, data) {
			t.Errorf("open of a legacy object of %d bytes: %d bytes, %v", size, len(got), err)
		}
		if _, err := vk.openChunk(other, sealLegacy(vk, n, data)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("a legacy object under another name: %v, want ErrCorrupt", err)
		}
	}
	// One pair of buffers sealing objects of falling sizes: what a larger
	// object left behind must not leak into the padding of a smaller one
	// (unpad insists on zeros).
	buf := bytes.Repeat([]byte{0xff}, 200+(4<<20))
	scratch := bytes.Repeat([]byte{0xff}, 4+(4<<20))
	for _, size := range []int{4 << 20, 100 << 10, 1} {
		data := bytes.Repeat([]byte{7}, size)
		s, padded, err := vk.sealChunk(buf, scratch, n, data)
		if err != nil {
			t.Fatal(err)
		}
		if &s[0] != &buf[0] || &padded[0] != &scratch[0] {
			t.Errorf("sealChunk(%d bytes) did not use the buffers", size)
		}
		if got, err := vk.openChunk(n, slices.Clone(s)); err != nil || !bytes.Equal(got, data) {
			t.Errorf("open(sealChunk(%d bytes)): %d bytes, %v", size, len(got), err)
		}
	}
	for _, tc := range []struct{ n, want int }{{0, 16 << 10}, {16 << 10, 16 << 10}, {16<<10 + 1, 20 << 10}, {64<<10 + 1, 80 << 10}, {4 << 20, 4 << 20}, {4<<20 + 1, 5 << 20}} {
		if got := padBucket(tc.n); got != tc.want {
			t.Errorf("padBucket(%d) = %d, want %d", tc.n, got, tc.want)
		}
	}
}

// A backup that refers to objects an earlier Ferry sealed the legacy way
// (a version 3 manifest keeps them) restores: every other object here is
// re-sealed as a version 2 backup had left it. A version 3 manifest in the
// legacy seal is refused.
func TestRestoreMixedSeals(t *testing.T) {
	r := startVaultRelay(t)
	src, want := seededStore(t, 1)
	res := backup(t, src, dial(t, p2ptest.Host(t), r), Options{})
	vk, err := deriveKeys(res.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer vk.wipe()
	for k, p := range chunkFiles(t, r.vaultDir) {
		if k%2 == 1 {
			continue
		}
		var n [32]byte
		if _, err := hex.Decode(n[:], []byte(strings.TrimSuffix(filepath.Base(p), ".obj"))); err != nil {
			t.Fatal(err)
		}
		plain, err := vk.openChunk(n, readFile(t, p))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, p, sealLegacy(vk, n, plain))
	}
	dst := storetest.New(t)
	if _, err := Restore(context.Background(), dial(t, p2ptest.Host(t), r), dst, RestoreOptions{Key: &res.Key}); err != nil {
		t.Fatalf("restore of a backup with legacy objects: %v", err)
	}
	if got := storetest.Stats(t, dst); got != want {
		t.Errorf("restored %+v, want %+v", got, want)
	}

	mf := manifestFile(t, r.vaultDir)
	plain, env, err := vk.openManifest(readFile(t, mf))
	if err != nil || !env {
		t.Fatalf("the manifest: envelope %v, %v", env, err)
	}
	nonce := make([]byte, 12)
	writeFile(t, mf, vk.manifest.Seal(nonce, nonce, pad(nil, plain), vk.manifestAD()))
	_, err = Restore(context.Background(), dial(t, p2ptest.Host(t), r), storetest.New(t), RestoreOptions{Key: &res.Key})
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("a version 3 manifest in the legacy seal: %v, want ErrCorrupt", err)
	}
}
