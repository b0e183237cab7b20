package seed

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
)

type seedContact struct {
	id     [16]byte
	name   string
	phone  string
	t      int64
	script int
}

type seedConv struct {
	id      [16]byte
	kind    int64
	title   string
	t       int64
	members []int // indexes into contacts; self is implicit
	script  int
	recent  [8][16]byte
	nrecent int
}

type seedAttachment struct {
	msg    int // message index
	media  int // index into generator.media
	mime   string
	ext    string
	prefix string
	id     [16]byte
	name   string
	owner  [16]byte
}

// generator holds a planned history; insert writes it.
type generator struct {
	rng        *rand.Rand
	start      int64
	opts       Options
	contacts   []seedContact
	convs      []seedConv
	cum        []float64 // cumulative conversation weights
	media      []int64   // sizes of the distinct new media files
	mediaBytes int64
	atts       []seedAttachment // sorted by msg
}

func newGenerator(key [32]byte, start int64, opts Options) *generator {
	g := &generator{rng: rand.New(rand.NewChaCha8(key)), start: start, opts: opts}
	r := g.rng
	nContacts := min(max(opts.Messages/500, 5), 3000)
	for range nContacts {
		t := start - int64(r.IntN(365*24*3600))*1000
		c := seedContact{
			id:     g.newID(t),
			name:   firstNames[r.IntN(len(firstNames))] + " " + lastNames[r.IntN(len(lastNames))],
			phone:  fmt.Sprintf("+%d %03d %04d", 1+r.IntN(98), r.IntN(1000), r.IntN(10000)),
			t:      t,
			script: pickScript(r),
		}
		g.contacts = append(g.contacts, c)
	}
	for i := range g.contacts {
		if r.IntN(10) < 8 {
			c := g.contacts[i]
			g.convs = append(g.convs, seedConv{id: g.newID(c.t), kind: 1, title: c.name, t: c.t, members: []int{i}, script: c.script})
		}
	}
	nGroups := min(max(nContacts/8, 1), 400)
	for range nGroups {
		t := start - int64(r.IntN(300*24*3600))*1000
		size := 2 + r.IntN(min(24, nContacts-1))
		perm := r.Perm(nContacts)[:size]
		sort.Ints(perm)
		title := groupNames[r.IntN(len(groupNames))]
		g.convs = append(g.convs, seedConv{id: g.newID(t), kind: 2, title: title, t: t, members: perm, script: pickScript(r)})
	}
	// Zipf-like activity: a few conversations carry most messages.
	ranks := r.Perm(len(g.convs))
	var acc float64
	for i := range g.convs {
		acc += 1 / math.Pow(float64(ranks[i]+1), 1.1)
		g.cum = append(g.cum, acc)
	}
	g.planMedia()
	return g
}

func pickScript(r *rand.Rand) int {
	switch x := r.IntN(100); {
	case x < 60:
		return 0
	case x < 75:
		return 1
	case x < 87:
		return 2
	default:
		return 3
	}
}

// newID makes a global ID for time t (ms): 6 bytes of time, 10 random.
func (g *generator) newID(t int64) [16]byte {
	var id [16]byte
	var tb [8]byte
	binary.BigEndian.PutUint64(tb[:], uint64(t))
	copy(id[:6], tb[2:])
	binary.BigEndian.PutUint64(id[6:14], g.rng.Uint64())
	binary.BigEndian.PutUint16(id[14:], uint16(g.rng.Uint32()))
	return id
}

func logUniform(r *rand.Rand, lo, hi float64) int64 {
	return int64(math.Exp(math.Log(lo) + r.Float64()*(math.Log(hi)-math.Log(lo))))
}

// planMedia picks the attachments: sizes filling about MediaBytes, a few
// forwarded (the same bytes twice), spread over the messages.
func (g *generator) planMedia() {
	r := g.rng
	n := g.opts.Messages
	if n == 0 {
		return
	}
	left := g.opts.MediaBytes
	for left >= 1<<10 {
		var a seedAttachment
		if len(g.media) > 10 && r.IntN(25) == 0 {
			a.media = r.IntN(len(g.media))
			a.mime, a.ext, a.prefix = "image/jpeg", "jpg", "IMG"
			g.atts = append(g.atts, a)
			continue
		}
		var size int64
		switch x := r.IntN(100); {
		case x < 45:
			size, a.mime, a.ext, a.prefix = logUniform(r, 10e3, 100e3), "audio/ogg", "opus", "PTT"
		case x < 87:
			size, a.mime, a.ext, a.prefix = logUniform(r, 100e3, 4e6), "image/jpeg", "jpg", "IMG"
		case x < 95:
			size, a.mime, a.ext, a.prefix = logUniform(r, 50e3, 2e6), "application/pdf", "pdf", "DOC"
		default:
			size, a.mime, a.ext, a.prefix = logUniform(r, 5e6, 50e6), "video/mp4", "mp4", "VID"
		}
		size = min(size, left)
		left -= size
		g.mediaBytes += size
		a.media = len(g.media)
		g.media = append(g.media, size)
		g.atts = append(g.atts, a)
	}
	step := max(n/max(len(g.atts), 1), 1)
	for j := range g.atts {
		g.atts[j].msg = min(j*n/len(g.atts)+r.IntN(step), n-1)
	}
	sort.SliceStable(g.atts, func(i, j int) bool { return g.atts[i].msg < g.atts[j].msg })
}

func (g *generator) pickConv() int {
	x := g.rng.Float64() * g.cum[len(g.cum)-1]
	return min(sort.SearchFloat64s(g.cum, x), len(g.cum)-1)
}

func (g *generator) body(script int) string {
	r := g.rng
	if r.IntN(40) == 0 {
		return strings.Repeat(emojis[r.IntN(len(emojis))], 1+r.IntN(3))
	}
	n := 1
	switch x := r.IntN(1000); {
	case x >= 995:
		n = 15 + r.IntN(40)
	case x >= 900:
		n = 3 + r.IntN(4)
	case x >= 650:
		n = 2
	}
	var b strings.Builder
	for k := range n {
		ph := scripts[script]
		if r.IntN(15) == 0 {
			ph = scripts[r.IntN(len(scripts))]
		}
		if k > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(ph[r.IntN(len(ph))])
	}
	if r.IntN(4) == 0 {
		b.WriteByte(' ')
		b.WriteString(emojis[r.IntN(len(emojis))])
	}
	return b.String()
}
