package transfer

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/ferryhq/ferry/chatstore/storetest"
	"github.com/klauspost/compress/zstd"
)

// addSpan keeps spans sorted, disjoint and merged: adding random ranges
// gives the union a bitmap gives.
func TestAddSpan(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		var ss []span
		var bits [64]bool
		for range 1 + r.IntN(12) {
			lo := r.Int64N(64)
			hi := lo + r.Int64N(64-lo+1)
			ss = addSpan(ss, span{lo, hi})
			for b := lo; b < hi; b++ {
				bits[b] = true
			}
		}
		var want []span
		for b := int64(0); b < 64; b++ {
			if !bits[b] {
				continue
			}
			if n := len(want); n > 0 && want[n-1].hi == b {
				want[n-1].hi++
			} else {
				want = append(want, span{b, b + 1})
			}
		}
		if !slices.Equal(ss, want) {
			t.Fatalf("got %v, want %v", ss, want)
		}
	}
}

// PutDB stages the database from ranges of its own cut (out of order,
// overlapping, some twice): a chunk counts once every byte of it is
// written, survives a new Receiver like a Put chunk, and the commit finds
// the history whole.
func TestPutDB(t *testing.T) {
	ctx := context.Background()
	src := storetest.New(t)
	want := storetest.Seed(t, src, testMsgs, testMedia, 6)
	snap, err := snapshot(ctx, src, t.TempDir(), testChunk)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	m := snap.Manifest()
	dec, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	var db []byte
	for i := range m.DBChunks {
		z, err := snap.ReadChunk(ctx, i, nil)
		if err != nil {
			t.Fatal(err)
		}
		if db, err = dec.DecodeAll(z, db); err != nil {
			t.Fatal(err)
		}
	}
	if len(m.DBChunks) < 3 {
		t.Fatalf("only %d database chunks; the test needs more", len(m.DBChunks))
	}
	// Ranges of 5000 bytes and a few of 20000 bytes that overlap them,
	// in random order.
	type rng struct{ off, n int }
	var rs []rng
	for off := 0; off < len(db); off += 5000 {
		rs = append(rs, rng{off, min(5000, len(db)-off)})
	}
	for off := 2500; off+20000 < len(db); off += 70000 {
		rs = append(rs, rng{off, 20000})
	}
	r := rand.New(rand.NewPCG(3, 4))
	r.Shuffle(len(rs), func(i, j int) { rs[i], rs[j] = rs[j], rs[i] })

	dst := storetest.New(t)
	r1, err := NewReceiver(dst, m)
	if err != nil {
		t.Fatal(err)
	}
	// First the ranges of the first two chunks and a little more.
	var first []rng
	for _, x := range rs {
		if x.off < 2*m.ChunkSize+1000 {
			first = append(first, x)
		}
	}
	for _, x := range first {
		if err := r1.PutDB(int64(x.off), db[x.off:x.off+x.n]); err != nil {
			t.Fatal(err)
		}
	}
	staged := len(m.DBChunks) - countDB(m, r1.Missing())
	if staged == 0 || staged == len(m.DBChunks) {
		t.Fatalf("%d of %d database chunks whole after the first ranges; the test needs some of each", staged, len(m.DBChunks))
	}
	r1.Close()
	r2, err := NewReceiver(dst, m)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Abort()
	if got := r2.Resumed(); got != staged {
		t.Errorf("resumed %d database chunks, want the %d whole ones", got, staged)
	}
	for _, x := range rs {
		if err := r2.PutDB(int64(x.off), db[x.off:x.off+x.n]); err != nil {
			t.Fatal(err)
		}
	}
	if n := countDB(m, r2.Missing()); n != 0 {
		t.Fatalf("%d database chunks missing after every range", n)
	}
	if err := r2.PutDB(int64(len(db))-10, make([]byte, 11)); !errors.Is(err, ErrChunkRange) {
		t.Errorf("a range past the end: %v, want ErrChunkRange", err)
	}
	for _, i := range r2.Missing() {
		data, err := snap.ReadChunk(ctx, i, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := r2.Put(i, data); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r2.Commit(ctx); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if got := storetest.Stats(t, dst); got != want {
		t.Errorf("stats %+v, want %+v", got, want)
	}
}

// countDB counts the database chunks in list.
func countDB(m *Manifest, list []int) int {
	n := 0
	for _, i := range list {
		if m.Chunk(i).Kind == KindDB {
			n++
		}
	}
	return n
}
