package backup

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/klauspost/compress/zstd"

	"github.com/ferryhq/ferry/transfer"
)

// The database travels to the vault as pieces cut by content, not as the
// engine's fixed-offset chunks: a snapshot (VACUUM INTO) of a history that
// grew shifts most pages, so fixed chunks would all change, while most
// pages stay byte for byte the same. splitDB cuts after a 4 KiB block
// (SQLite's page size) whose hash has its low bits zero: pieces of 8 to 128
// blocks, about 32 (128 KiB) on average, whose bounds move with the
// content. Unchanged pieces keep their names, so an incremental backup
// sends only pieces with changed pages. (Measured on a 100k-message
// history grown by 1%: 16% of the database is sent with 128 KiB pieces,
// 9% with 64 KiB, 41% with 256 KiB; smaller pieces cost more requests and
// more objects on the relay.)
const (
	pieceBlock     = 4 << 10
	pieceMinBlocks = 8
	pieceMaxBlocks = 128
	pieceMax       = pieceMaxBlocks * pieceBlock
	pieceCutMask   = 31 // cut when hash&mask == 0: 1 block in 32
)

// blockCut says whether a piece may end after block b (content only).
func blockCut(b []byte) bool {
	var h uint64
	for j := 0; j+8 <= len(b); j += 64 {
		h = (h ^ binary.LittleEndian.Uint64(b[j:])) * 0x9e3779b97f4a7c15
	}
	h ^= h >> 29
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 32
	return h&pieceCutMask == 0
}

// cutPiece returns the length of the piece at the start of b; final says
// b runs to the end of the database.
func cutPiece(b []byte, final bool) int {
	for k := 1; k <= pieceMaxBlocks; k++ {
		end := k * pieceBlock
		if end > len(b) {
			if final {
				return len(b)
			}
			return 0 // need more bytes to decide
		}
		if k >= pieceMinBlocks && blockCut(b[end-pieceBlock:end]) {
			return end
		}
	}
	return pieceMax
}

// splitDB decompresses the snapshot's database chunks in order and calls fn
// with each piece (valid only during the call).
func splitDB(ctx context.Context, snap *transfer.Snap, fn func(piece []byte) error) error {
	m := snap.Manifest()
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(m.ChunkSize)))
	if err != nil {
		return err
	}
	defer dec.Close()
	var zbuf, raw []byte
	pending := make([]byte, 0, pieceMax+m.ChunkSize)
	off := 0 // pending[off:] is not cut yet
	for i := range len(m.DBChunks) {
		z, err := snap.ReadChunk(ctx, i, zbuf)
		if err != nil {
			return err
		}
		zbuf = z
		if raw, err = dec.DecodeAll(z, raw[:0]); err != nil {
			return fmt.Errorf("read database chunk %d: %w", i, err)
		}
		// Keep the undecided tail (less than a piece) and append.
		pending = append(pending[:copy(pending, pending[off:])], raw...)
		off = 0
		final := i == len(m.DBChunks)-1
		for off < len(pending) {
			n := cutPiece(pending[off:], final)
			if n == 0 {
				break
			}
			if err := fn(pending[off : off+n]); err != nil {
				return err
			}
			off += n
		}
	}
	return nil
}
