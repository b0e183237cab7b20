package transfer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"

	"lukechampine.com/blake3"

	"github.com/ferryhq/ferry/chatstore"
)

func testManifest(t testing.TB, chunkSize int, dbSize int64, mediaSizes ...int64) *Manifest {
	t.Helper()
	var db []DBChunk
	for i := 0; i < chunkCount(dbSize, chunkSize); i++ {
		db = append(db, DBChunk{Hash: blake3.Sum256([]byte{byte(i), 1}), Size: 100 + i})
	}
	var media []MediaFile
	for i, s := range mediaSizes {
		f := MediaFile{Hash: blake3.Sum256([]byte{byte(i), 2}), Size: s}
		if s == 0 {
			f.Hash = emptyHash
		}
		if n := chunkCount(s, chunkSize); n > 1 {
			for j := 0; j < n; j++ {
				f.Chunks = append(f.Chunks, blake3.Sum256([]byte{byte(i), byte(j), 3}))
			}
		}
		media = append(media, f)
	}
	sortMedia(media)
	st := chatstore.Stats{Conversations: 3, Messages: 1234, Attachments: int64(len(media)), MediaBytes: 99, Digest: "00ff"}
	m, err := NewManifest([16]byte{1, 2, 3}, st, chunkSize, dbSize, db, media)
	if err != nil {
		t.Fatalf("NewManifest: %v", err)
	}
	return m
}

func TestManifestRoundTrip(t *testing.T) {
	tests := []struct {
		name      string
		chunkSize int
		dbSize    int64
		media     []int64
	}{
		{"empty", MinChunkSize, 0, nil},
		{"db only", MinChunkSize, 3*MinChunkSize + 5, nil},
		{"db exact", MinChunkSize, 2 * MinChunkSize, nil},
		{"media", MinChunkSize, 10, []int64{0, 1, MinChunkSize, MinChunkSize + 1, 5*MinChunkSize - 1}},
		{"default chunk", DefaultChunkSize, 10 << 20, []int64{100, 9 << 20}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := testManifest(t, tc.chunkSize, tc.dbSize, tc.media...)
			b, err := m.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			m2, err := ParseManifest(b)
			if err != nil {
				t.Fatalf("ParseManifest: %v", err)
			}
			if !reflect.DeepEqual(m, m2) {
				t.Errorf("round trip differs:\n got %+v\nwant %+v", m2, m)
			}
			b2, _ := m2.Marshal()
			if !bytes.Equal(b, b2) {
				t.Error("re-encoding differs")
			}
			// Chunk table: sizes add up per part, offsets contiguous.
			var dbRaw int64
			mediaRaw := map[int]int64{}
			for i := 0; i < m.NumChunks(); i++ {
				c := m.Chunk(i)
				switch c.Kind {
				case KindDB:
					if got, want := c.Offset, dbRaw; got != want {
						t.Errorf("chunk %d offset = %d, want %d", i, got, want)
					}
					dbRaw += int64(c.RawSize)
				case KindMedia:
					if got, want := c.Offset, mediaRaw[c.File]; got != want {
						t.Errorf("chunk %d offset = %d, want %d", i, got, want)
					}
					mediaRaw[c.File] += int64(c.Size)
				}
			}
			if dbRaw != tc.dbSize {
				t.Errorf("db raw total = %d, want %d", dbRaw, tc.dbSize)
			}
			for f, mf := range m.Media {
				if got := mediaRaw[f]; got != mf.Size {
					t.Errorf("media %d chunks total %d, want %d", f, got, mf.Size)
				}
				first, n := m.MediaChunks(f)
				if n > 0 && m.Chunk(first).File != f {
					t.Errorf("MediaChunks(%d) first = %d, belongs to file %d", f, first, m.Chunk(first).File)
				}
			}
		})
	}
}

func TestManifestRejects(t *testing.T) {
	good, err := testManifest(t, MinChunkSize, 2*MinChunkSize+1, 3, 2*MinChunkSize).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	reroot := func(b []byte) []byte {
		body := b[:len(b)-32]
		r := blake3.Sum256(body)
		return append(append([]byte{}, body...), r[:]...)
	}
	newer := append([]byte("FRYM"), binary.AppendUvarint(nil, FormatVersion+1)...)
	nonCanon := append([]byte("FRYM"), 0x81, 0x00) // version 1 in two bytes
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrCorrupt},
		{"bad magic", append([]byte("XRYM"), good[4:]...), ErrCorrupt},
		{"newer", newer, ErrNewerVersion},
		{"non-canonical version", nonCanon, ErrCorrupt},
		{"truncated", good[:len(good)-1], ErrCorrupt},
		{"trailing", append(append([]byte{}, good...), 0), ErrCorrupt},
		{"flipped bit", func() []byte { b := bytes.Clone(good); b[30] ^= 1; return b }(), ErrCorrupt},
		{"flipped root", func() []byte { b := bytes.Clone(good); b[len(b)-1] ^= 1; return b }(), ErrCorrupt},
		{"huge", make([]byte, MaxManifestSize+1), ErrTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseManifest(tc.in)
			if !errors.Is(err, tc.want) {
				t.Errorf("ParseManifest: got %v, want %v", err, tc.want)
			}
		})
	}
	// Structural errors are caught even when the root hash matches.
	unsorted := testManifest(t, MinChunkSize, 0, 1, 2)
	unsorted.Media[0], unsorted.Media[1] = unsorted.Media[1], unsorted.Media[0]
	if _, err := NewManifest(unsorted.SnapshotID, unsorted.Stats, unsorted.ChunkSize, 0, nil, unsorted.Media); !errors.Is(err, ErrCorrupt) {
		t.Errorf("unsorted media: got %v, want ErrCorrupt", err)
	}
	withEmpty := testManifest(t, MinChunkSize, 0, 0)
	withEmpty.Media[0].Hash[0] ^= 1
	if _, err := NewManifest(withEmpty.SnapshotID, withEmpty.Stats, withEmpty.ChunkSize, 0, nil, withEmpty.Media); !errors.Is(err, ErrCorrupt) {
		t.Errorf("empty file with wrong hash: got %v, want ErrCorrupt", err)
	}
	// A huge declared db size in a short manifest fails without allocating.
	m := testManifest(t, MinChunkSize, 0)
	b, _ := m.Marshal()
	i := bytes.Index(b, []byte("00ff")) + 4 // db size field follows the digest
	hostile := append(append(append([]byte{}, b[:i]...), binary.AppendUvarint(nil, maxFileSize)...), b[i+1:]...)
	if _, err := ParseManifest(reroot(hostile)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("huge db size: got %v, want ErrCorrupt", err)
	}
}

func FuzzManifest(f *testing.F) {
	for _, m := range []*Manifest{
		testManifest(f, MinChunkSize, 0),
		testManifest(f, MinChunkSize, 3*MinChunkSize+5, 0, 7, 3*MinChunkSize),
		testManifest(f, DefaultChunkSize, 100, 5),
	} {
		b, err := m.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte("FRYM\x02"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1<<20 {
			return
		}
		m, err := ParseManifest(b)
		if err != nil {
			if m != nil {
				t.Fatal("manifest returned with error")
			}
			return
		}
		out, err := m.Marshal()
		if err != nil {
			t.Fatalf("Marshal of parsed manifest: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatal("parse -> marshal is not the identity")
		}
		m2, err := ParseManifest(out)
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("re-parse differs: %v", err)
		}
	})
}
