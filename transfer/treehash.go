package transfer

import (
	"encoding/binary"
	"math/bits"

	"lukechampine.com/blake3/guts"

	"github.com/ferryhq/ferry/chatstore"
)

// BLAKE3 is a tree hash: when the chunk size is a power of two (in units of
// BLAKE3's 1 KiB chunks), every full chunk of a file is a complete subtree,
// and its chaining value can be computed from the chunk alone. Put computes
// it as it stages a chunk, so that Commit checks a multi-chunk media file's
// whole-file hash from these values and the file's last chunk, without
// reading the whole file back.

// treeable reports whether chunks of this size are whole BLAKE3 subtrees.
func treeable(chunkSize int) bool {
	return chunkSize >= guts.ChunkSize && chunkSize%guts.ChunkSize == 0 && bits.OnesCount(uint(chunkSize/guts.ChunkSize)) == 1
}

// pieceCV is the chaining value of full chunk j (len(b) == chunkSize) of a
// file larger than one chunk.
func pieceCV(b []byte, j int) chatstore.Hash {
	counter := uint64(j) * uint64(len(b)/guts.ChunkSize)
	return cvBytes(guts.ChainingValue(guts.CompressEigentree(b, &guts.IV, counter, 0)))
}

func cvBytes(cv [8]uint32) (h chatstore.Hash) {
	for i, w := range cv {
		binary.LittleEndian.PutUint32(h[4*i:], w)
	}
	return h
}

func cvWords(h chatstore.Hash) (cv [8]uint32) {
	for i := range cv {
		cv[i] = binary.LittleEndian.Uint32(h[4*i:])
	}
	return cv
}

// treeRoot is the BLAKE3 hash of a file given the chaining values of its
// full leading chunks (each chunkSize bytes) and the bytes of its last
// chunk (1..chunkSize bytes). It mirrors blake3.Hasher: subtrees pushed
// onto a stack by height, the final 1 KiB chunk kept for the root.
func treeRoot(cvs []chatstore.Hash, chunkSize int, last []byte) chatstore.Hash {
	var (
		stack   [64][8]uint32
		counter uint64 // chunks pushed; bit i set = stack[i] occupied
	)
	push := func(cv [8]uint32, height int) {
		i := height
		for counter&(1<<i) != 0 {
			cv = guts.ChainingValue(guts.ParentNode(stack[i], cv, &guts.IV, 0))
			i++
		}
		stack[i] = cv
		counter += 1 << height
	}
	height := bits.TrailingZeros(uint(chunkSize / guts.ChunkSize))
	for _, h := range cvs {
		push(cvWords(h), height)
	}
	// The last chunk: all of its 1 KiB chunks but the final one as
	// eigentrees, the final one kept for the root (as Hasher does, even
	// when it is full).
	full := (len(last) - 1) / guts.ChunkSize
	off := 0
	for _, t := range guts.Eigentrees(counter, uint64(full)) {
		n := (1 << t) * guts.ChunkSize
		push(guts.ChainingValue(guts.CompressEigentree(last[off:off+n], &guts.IV, counter, 0)), t)
		off += n
	}
	node := guts.CompressChunk(last[off:], &guts.IV, counter, 0)
	for i := bits.TrailingZeros64(counter); i < bits.Len64(counter); i++ {
		if counter&(1<<i) != 0 {
			node = guts.ParentNode(stack[i], guts.ChainingValue(node), &guts.IV, 0)
		}
	}
	node.Flags |= guts.FlagRoot
	out := guts.WordsToBytes(guts.CompressNode(node))
	var h chatstore.Hash
	copy(h[:], out[:32])
	return h
}
