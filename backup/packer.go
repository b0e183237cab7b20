package backup

import (
	"cmp"

	"lukechampine.com/blake3"

	"github.com/ferryhq/ferry/chatstore"
)

// packMax bounds a pack's plaintext: a pack is closed when the next piece
// would not fit. It is a size bucket (see padBucket), so a full pack is
// hardly padded.
const packMax = 4 << 20

// packMedia is the largest media chunk kept in a pack: a smaller one as an
// object of its own would cost a request and an object for little data
// (and show its padded size).
const packMedia = 1 << 20

// packer fills packs with the new pieces and small media chunks of a
// backup, queues each full pack to be sent if the vault lacks it (an
// interrupted backup of the same history made the same packs), and keeps
// the list of packs the new manifest refers to, old ones included.
type packer struct {
	up     *uploader
	res    *Result
	prev   *manifest
	packs  []packRef
	reused map[int]int // pack of prev → its index in packs

	max   int // pack size limit (packMax but in tests)
	media int // largest media chunk packed (packMedia but in tests)

	cur     []byte // the pack being filled
	curPack int    // its index in packs, -1 when none
	curRaw  int64  // raw bytes of what it holds (for progress)
}

func newPacker(up *uploader, res *Result, prev *manifest, opts *Options) *packer {
	return &packer{up: up, res: res, prev: prev, reused: map[int]int{}, curPack: -1,
		max: cmp.Or(opts.packSize, packMax), media: cmp.Or(opts.packMedia, packMedia)}
}

// reuse returns the index in the new manifest's packs of pack i of prev.
func (p *packer) reuse(i int) int {
	j, ok := p.reused[i]
	if !ok {
		j = len(p.packs)
		p.reused[i] = j
		p.packs = append(p.packs, p.prev.packs[i])
		p.res.ChunksSkipped++
	}
	return j
}

// add appends b (raw bytes of what it holds, for progress) to the pack
// being filled, closing it first if b would not fit; it returns where b
// lies.
func (p *packer) add(b []byte, raw int) (pack, off int, err error) {
	if len(p.cur)+len(b) > p.max {
		if err := p.flush(); err != nil {
			return 0, 0, err
		}
	}
	if p.curPack < 0 {
		p.curPack = len(p.packs)
		p.packs = append(p.packs, packRef{}) // set by flush
		p.cur = make([]byte, 0, p.max)
	}
	off = len(p.cur)
	p.cur = append(p.cur, b...)
	p.curRaw += int64(raw)
	return p.curPack, off, nil
}

// flush closes the pack being filled, if any.
func (p *packer) flush() error {
	if p.curPack < 0 {
		return nil
	}
	h := chatstore.Hash(blake3.Sum256(p.cur))
	p.packs[p.curPack] = packRef{hash: h, size: len(p.cur)}
	pack := p.cur
	if !p.up.send(upJob{name: p.up.vk.name(objPack, h), size: p.curRaw,
		make: func([]byte) ([]byte, error) { return pack, nil }}) {
		return p.up.ctx.Err()
	}
	p.cur, p.curPack, p.curRaw = nil, -1, 0
	return nil
}
