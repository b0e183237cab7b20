package chatstore

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"lukechampine.com/blake3"
)

// SeedOptions configures Seed.
type SeedOptions struct {
	// Messages is how many messages to add.
	Messages int
	// MediaBytes is about how many bytes of new media to add, as attachments
	// spread over the new messages (voice notes, photos, documents, videos);
	// none without messages. Media bytes are random, hence incompressible.
	MediaBytes int64
	// Seed picks the history; the same Seed on the same store content gives
	// the same history, byte for byte.
	Seed uint64
	// Progress, when set, is called from Seed's goroutine now and then with
	// the work done and the total, in units of one message or 64 KiB of media.
	Progress func(done, total int64)
}

const (
	seedEpoch     = 1609459200000 // 2021-01-01T00:00:00Z in Unix ms
	seedSpan      = 2 * 365 * 24 * 3600 * 1000
	seedBatch     = 64 // rows per multi-row INSERT
	mediaUnit     = 64 << 10
	seedMediaJobs = 2
)

// selfID is the owner of the history, the same contact in every seeded store.
var selfID = [16]byte{15: 1}

// Seed adds a realistic, deterministic history to s: contacts, direct and
// group conversations, messages in several scripts with emoji, reply chains,
// edits, deletions, reactions and attachments whose random bytes go to
// media/. The result depends only on the store's content before the call and
// on opts, so seeding a non-empty store adds new history with new IDs.
func Seed(ctx context.Context, s *Store, opts SeedOptions) (Stats, error) {
	if s.readOnly {
		return Stats{}, fmt.Errorf("chatstore: seed: store is read-only")
	}
	if opts.Messages < 0 || opts.MediaBytes < 0 {
		return Stats{}, fmt.Errorf("chatstore: seed: negative size")
	}
	db, err := s.handle()
	if err != nil {
		return Stats{}, err
	}
	before, err := s.Stats(ctx)
	if err != nil {
		return Stats{}, err
	}
	start := int64(seedEpoch)
	var maxID []byte
	if err := db.QueryRowContext(ctx, `SELECT max(id) FROM messages`).Scan(&maxID); err != nil {
		return Stats{}, dbErr("seed", err)
	}
	if len(maxID) == 16 {
		start = idTime(maxID) + 30*24*3600*1000
	}
	kh := blake3.New(32, nil)
	kh.Write([]byte("ferry seed v1"))
	kh.Write(binary.BigEndian.AppendUint64(nil, opts.Seed))
	kh.Write([]byte(before.Digest))
	var key [32]byte
	kh.Sum(key[:0])

	g := newGenerator(key, start, opts)
	total := int64(opts.Messages) + (g.mediaBytes+mediaUnit-1)/mediaUnit
	var mediaDone atomic.Int64
	progress := func(msgs int64) {
		if opts.Progress != nil {
			opts.Progress(msgs+mediaDone.Load()/mediaUnit, total)
		}
	}

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	eg, ectx := errgroup.WithContext(wctx)
	hashes := make([]Hash, len(g.media))
	next := atomic.Int64{}
	for range seedMediaJobs {
		eg.Go(func() error {
			buf := make([]byte, 1<<20)
			for {
				i := int(next.Add(1) - 1)
				if i >= len(g.media) {
					return nil
				}
				h, err := s.writeSeedMedia(ectx, key, i, g.media[i], buf, &mediaDone)
				if err != nil {
					return err
				}
				hashes[i] = h
			}
		})
	}
	// Messages go in while the media files are written; the attachment rows,
	// which need the hashes, go last, in the same transaction.
	err = g.insert(ctx, ectx, s, db, progress, func(tx *sql.Tx) error {
		if err := eg.Wait(); err != nil {
			return err
		}
		return g.insertAttachments(ctx, tx, hashes)
	})
	if err != nil {
		cancel()
		eg.Wait()
		return Stats{}, err
	}
	progress(int64(opts.Messages))
	return s.Stats(ctx)
}

// idTime is the millisecond timestamp at the start of a global ID.
func idTime(id []byte) int64 {
	var b [8]byte
	copy(b[2:], id[:6])
	return int64(binary.BigEndian.Uint64(b[:]))
}

// writeSeedMedia writes media file i, random bytes from a ChaCha8 stream of
// its own, and returns its hash.
func (s *Store) writeSeedMedia(ctx context.Context, key [32]byte, i int, size int64, buf []byte, done *atomic.Int64) (Hash, error) {
	var mk [32]byte
	h := blake3.New(32, key[:])
	h.Write([]byte("media"))
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(i)))
	h.Sum(mk[:0])
	src := rand.NewChaCha8(mk)
	tmp := filepath.Join(s.home, MediaDir, fmt.Sprintf(".seed-%d.tmp", i))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return Hash{}, fmt.Errorf("chatstore: seed media: %w", err)
	}
	defer os.Remove(tmp)
	hh := blake3.New(32, nil)
	for left := size; left > 0; {
		if err := ctx.Err(); err != nil {
			f.Close()
			return Hash{}, err
		}
		b := buf[:min(int64(len(buf)), left)]
		src.Read(b)
		hh.Write(b)
		if _, err := f.Write(b); err != nil {
			f.Close()
			return Hash{}, fmt.Errorf("chatstore: seed media: %w", err)
		}
		left -= int64(len(b))
		done.Add(int64(len(b)))
	}
	if err := f.Close(); err != nil {
		return Hash{}, fmt.Errorf("chatstore: seed media: %w", err)
	}
	var out Hash
	hh.Sum(out[:0])
	dst := s.MediaPath(out)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return Hash{}, fmt.Errorf("chatstore: seed media: %w", err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return Hash{}, fmt.Errorf("chatstore: seed media: %w", err)
	}
	return out, nil
}

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
	opts       SeedOptions
	contacts   []seedContact
	convs      []seedConv
	cum        []float64 // cumulative conversation weights
	media      []int64   // sizes of the distinct new media files
	mediaBytes int64
	atts       []seedAttachment // sorted by msg
}

func newGenerator(key [32]byte, start int64, opts SeedOptions) *generator {
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

// multiInsert prepares "INSERT ... VALUES (?,..),(?,..) tail" for n rows.
func multiInsert(ctx context.Context, tx *sql.Tx, head, tail string, cols, n int) (*sql.Stmt, error) {
	row := "(" + strings.TrimSuffix(strings.Repeat("?,", cols), ",") + ")"
	q := head + " VALUES " + strings.TrimSuffix(strings.Repeat(row+",", n), ",") + tail
	st, err := tx.PrepareContext(ctx, q)
	if err != nil {
		return nil, dbErr("seed: prepare", err)
	}
	return st, nil
}

// batcher buffers rows and flushes them with a multi-row statement.
type batcher struct {
	tx   *sql.Tx
	head string // INSERT INTO table (columns)
	tail string // after the VALUES: an upsert clause, or nothing
	cols int
	rows int // rows per statement; 0 means seedBatch
	full *sql.Stmt
	args []any
}

func (b *batcher) add(ctx context.Context, vals ...any) error {
	if len(vals) != b.cols {
		return fmt.Errorf("chatstore: insert: %d values for %d columns", len(vals), b.cols)
	}
	rows := b.rows
	if rows == 0 {
		rows = seedBatch
	}
	b.args = append(b.args, vals...)
	if len(b.args) == b.cols*rows {
		if b.full == nil {
			st, err := multiInsert(ctx, b.tx, b.head, b.tail, b.cols, rows)
			if err != nil {
				return err
			}
			b.full = st
		}
		if _, err := b.full.ExecContext(ctx, b.args...); err != nil {
			return dbErr("seed: insert", err)
		}
		b.args = b.args[:0]
	}
	return nil
}

// close releases the prepared statement.
func (b *batcher) close() {
	if b.full != nil {
		b.full.Close()
		b.full = nil
	}
}

func (b *batcher) flush(ctx context.Context) error {
	defer b.close()
	if len(b.args) == 0 {
		return nil
	}
	st, err := multiInsert(ctx, b.tx, b.head, b.tail, b.cols, len(b.args)/b.cols)
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.ExecContext(ctx, b.args...); err != nil {
		return dbErr("seed: insert", err)
	}
	b.args = b.args[:0]
	return nil
}

// insert writes contacts, conversations, participants, messages and
// reactions in one transaction.
// abort is checked now and then to stop early; last runs before the commit.
func (g *generator) insert(ctx, abort context.Context, s *Store, db *sql.DB, progress func(int64), last func(*sql.Tx) error) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return dbErr("seed", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA main.cache_size=-%d", bulkCacheKiB)); err != nil {
		return dbErr("seed", err)
	}
	defer conn.ExecContext(context.Background(), fmt.Sprintf("PRAGMA main.cache_size=-%d", cacheKiB))
	ch := s.trackChanges(ctx, conn)
	defer ch.done(ctx)
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return dbErr("seed: begin", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO contacts (id, name, phone, updated) VALUES (?, 'Me', '', 0)`, selfID[:]); err != nil {
		return dbErr("seed: insert self", err)
	}
	contacts := &batcher{tx: tx, head: "INSERT INTO contacts (id, name, phone, updated)", cols: 4}
	for _, c := range g.contacts {
		if err := contacts.add(ctx, c.id[:], c.name, c.phone, c.t); err != nil {
			return err
		}
	}
	convs := &batcher{tx: tx, head: "INSERT INTO conversations (id, kind, title, created, updated)", cols: 5}
	parts := &batcher{tx: tx, head: "INSERT INTO participants (conversation, contact)", cols: 2}
	for _, c := range g.convs {
		if err := convs.add(ctx, c.id[:], c.kind, c.title, c.t, c.t); err != nil {
			return err
		}
		if err := parts.add(ctx, c.id[:], selfID[:]); err != nil {
			return err
		}
		for _, m := range c.members {
			if err := parts.add(ctx, c.id[:], g.contacts[m].id[:]); err != nil {
				return err
			}
		}
	}
	for _, b := range []*batcher{contacts, convs, parts} {
		if err := b.flush(ctx); err != nil {
			return err
		}
	}

	msgs := &batcher{tx: tx, head: "INSERT INTO messages (id, conversation, sender, sent, received, body, reply_to, edited, deleted)", cols: 9}
	reacts := &batcher{tx: tx, head: "INSERT INTO reactions (message, reactor, emoji)", cols: 3}
	r := g.rng
	gap := float64(seedSpan) / float64(max(g.opts.Messages, 1))
	t := g.start
	nextAtt := 0
	for i := range g.opts.Messages {
		if i%8192 == 0 {
			if err := abort.Err(); err != nil {
				return err
			}
			progress(int64(i))
		}
		t += 1 + int64(r.ExpFloat64()*gap)
		ci := g.pickConv()
		c := &g.convs[ci]
		id := g.newID(t)
		sender := selfID
		if r.IntN(100) >= 45 {
			sender = g.contacts[c.members[r.IntN(len(c.members))]].id
		}
		received := t
		if sender != selfID {
			received += int64(r.IntN(5000))
		}
		body := g.body(c.script)
		var replyTo any
		if c.nrecent > 0 && r.IntN(100) < 12 {
			rt := c.recent[r.IntN(min(c.nrecent, len(c.recent)))]
			replyTo = rt[:]
		}
		var edited, deleted int64
		if r.IntN(100) < 3 {
			edited = t + 10_000 + int64(r.IntN(2*3600*1000))
			body += " " + emojis[r.IntN(len(emojis))]
		}
		if r.IntN(100) < 1 {
			deleted = t + 1000 + int64(r.IntN(24*3600*1000))
		}
		for ; nextAtt < len(g.atts) && g.atts[nextAtt].msg == i; nextAtt++ {
			a := &g.atts[nextAtt]
			a.id = g.newID(t)
			a.owner = id
			tm := time.UnixMilli(t).UTC()
			a.name = fmt.Sprintf("%s-%s-WA%04d.%s", a.prefix, tm.Format("20060102-150405"), nextAtt%10000, a.ext)
			if r.IntN(2) == 0 {
				body = ""
			}
		}
		if err := msgs.add(ctx, id[:], c.id[:], sender[:], t, received, body, replyTo, edited, deleted); err != nil {
			return err
		}
		if r.IntN(100) < 7 {
			n := 1 + r.IntN(3)
			reactors := map[[16]byte]bool{}
			for range n {
				who := selfID
				if k := r.IntN(len(c.members) + 1); k < len(c.members) {
					who = g.contacts[c.members[k]].id
				}
				if reactors[who] {
					continue
				}
				reactors[who] = true
				if err := reacts.add(ctx, id[:], who[:], reactionEmojis[r.IntN(len(reactionEmojis))]); err != nil {
					return err
				}
			}
		}
		c.recent[c.nrecent%len(c.recent)] = id
		c.nrecent++
	}
	for _, b := range []*batcher{msgs, reacts} {
		if err := b.flush(ctx); err != nil {
			return err
		}
	}
	if err := last(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return dbErr("seed: commit", err)
	}
	return nil
}

// insertAttachments writes the attachment rows once the media hashes are known.
func (g *generator) insertAttachments(ctx context.Context, tx *sql.Tx, hashes []Hash) error {
	b := &batcher{tx: tx, head: "INSERT INTO attachments (id, message, hash, size, mime, name)", cols: 6}
	for _, a := range g.atts {
		if a.name == "" {
			return errors.New("chatstore: seed: attachment without message")
		}
		h := hashes[a.media]
		if err := b.add(ctx, a.id[:], a.owner[:], h[:], g.media[a.media], a.mime, a.name); err != nil {
			return err
		}
	}
	return b.flush(ctx)
}
