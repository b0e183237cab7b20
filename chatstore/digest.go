package chatstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"

	"golang.org/x/sync/errgroup"
	"lukechampine.com/blake3"
	"modernc.org/sqlite"
)

// The digest of a store is BLAKE3("ferry digest v1" || S) where S is the sum,
// modulo 2^256, of BLAKE3-256 over the canonical encoding of every row of every
// table. A row's encoding is its table tag (one byte) followed by each column:
// a type byte, then for 'i' the int64 as an unsigned varint of its two's
// complement, for 'f' the float64 bits big endian, for 't' text and 'b' blob
// a varint length and the bytes; 'n' (NULL) has nothing more. The encoding is
// prefix-free, and a typical message row fits two BLAKE3 blocks. The sum makes the
// digest independent of row order; since every table has a primary key, two
// stores have equal digests exactly when they hold the same rows.
//
// Columns that later schema versions added (addedColumns: version 2's
// source, native, self, kind, omitted) follow the columns of version 1, in
// the order of addedColumns, each encoded like any column when it holds a
// value other than its default, and the trailing run of columns that hold
// their defaults is left out. A row whose added columns all hold their
// defaults (every row of a history without imported data, and every row of
// a version-1 database, which has none of them) thus encodes exactly as it
// did in version 1, and the digest of such a history is unchanged
// (TestDigestKnownAnswer). The encoding stays one-to-one: within a table
// the number of version-1 columns is fixed, a kept added column is never
// NULL (they are all NOT NULL, and only a default is mapped to NULL), and
// its position names it.
//
// The per-row work runs inside SQLite as the aggregate function ferry_digest,
// so a scan costs no per-row round trip through database/sql.

const digestFunc = "ferry_digest"

// digestQueries lists, per table, the columns of version 1 hashed (tag
// first; the tag is the table's index here plus one) and how many they are.
var digestQueries = [...]struct {
	table, cols string
	base        int
}{
	{"contacts", "1, id, name, phone, updated", 4},
	{"conversations", "2, id, kind, title, created, updated", 5},
	{"participants", "3, conversation, contact", 2},
	{"messages", "4, id, conversation, sender, sent, received, body, reply_to, edited, deleted", 9},
	{"reactions", "5, message, reactor, emoji", 3},
	{"attachments", "6, id, message, hash, size, mime, name", 6},
}

// digestCols is the argument list of ferry_digest for table i of
// digestQueries in a database of schema version v: the version-1 columns,
// then each added column that version v has, as NULL when it holds its
// default.
func digestCols(i, v int) string {
	q := digestQueries[i]
	cols := q.cols
	for _, c := range addedColumns {
		if c.table == q.table && c.since <= v {
			cols += fmt.Sprintf(", nullif(%s, %s)", c.name, c.zero)
		}
	}
	return cols
}

func init() {
	sqlite.MustRegisterFunction(digestFunc, &sqlite.FunctionImpl{
		NArgs:         -1,
		Deterministic: true,
		VolatileArgs:  true, // Step copies what it needs into its own buffer
		MakeAggregate: func(sqlite.FunctionContext) (sqlite.AggregateFunction, error) {
			return &digestAgg{buf: make([]byte, 0, 512)}, nil
		},
	})
}

// sum256 is a 256-bit little-endian accumulator.
type sum256 [4]uint64

func (s *sum256) add(h *[32]byte) {
	var c uint64
	for i := range s {
		v := binary.LittleEndian.Uint64(h[8*i:])
		s[i], c = addc(s[i], v, c)
	}
}

func addc(a, b, c uint64) (uint64, uint64) {
	s := a + b
	c1 := uint64(0)
	if s < a {
		c1 = 1
	}
	s2 := s + c
	if s2 < s {
		c1 = 1
	}
	return s2, c1
}

func (s *sum256) bytes() []byte {
	b := make([]byte, 32)
	for i, v := range s {
		binary.LittleEndian.PutUint64(b[8*i:], v)
	}
	return b
}

func (s *sum256) addBytes(b []byte) error {
	if len(b) != 32 {
		return fmt.Errorf("chatstore: digest part has %d bytes", len(b))
	}
	var h [32]byte
	copy(h[:], b)
	s.add(&h)
	return nil
}

type digestAgg struct {
	sum sum256
	buf []byte
}

func (a *digestAgg) Step(_ *sqlite.FunctionContext, args []driver.Value) error {
	if len(args) == 0 {
		return fmt.Errorf("%s: no tag", digestFunc)
	}
	tag, ok := args[0].(int64)
	if !ok || tag < 1 || tag > int64(len(digestQueries)) {
		return fmt.Errorf("%s: bad tag %v", digestFunc, args[0])
	}
	// Leave out the trailing added columns that hold their defaults.
	base := 1 + digestQueries[tag-1].base
	for len(args) > base && args[len(args)-1] == nil {
		args = args[:len(args)-1]
	}
	b := append(a.buf[:0], byte(tag))
	for _, v := range args[1:] {
		switch v := v.(type) {
		case nil:
			b = append(b, 'n')
		case int64:
			b = append(b, 'i')
			b = binary.AppendUvarint(b, uint64(v))
		case float64:
			b = append(b, 'f')
			b = binary.BigEndian.AppendUint64(b, math.Float64bits(v))
		case string:
			b = append(b, 't')
			b = binary.AppendUvarint(b, uint64(len(v)))
			b = append(b, v...)
		case []byte:
			b = append(b, 'b')
			b = binary.AppendUvarint(b, uint64(len(v)))
			b = append(b, v...)
		default:
			return fmt.Errorf("%s: unexpected %T", digestFunc, v)
		}
	}
	a.buf = b
	h := blake3.Sum256(b)
	a.sum.add(&h)
	return nil
}

func (a *digestAgg) WindowInverse(*sqlite.FunctionContext, []driver.Value) error {
	return fmt.Errorf("%s: not a window function", digestFunc)
}

func (a *digestAgg) WindowValue(*sqlite.FunctionContext) (driver.Value, error) {
	return a.sum.bytes(), nil
}

func (a *digestAgg) Final(*sqlite.FunctionContext) {}

// Stats counts the store's history and computes its digest. On a read-only
// store (whose database another process may be writing) every figure comes
// from one read transaction; otherwise the scan is split over two
// connections.
func (s *Store) Stats(ctx context.Context) (Stats, error) {
	db, err := s.handle()
	if err != nil {
		return Stats{}, err
	}
	if !s.readOnly {
		return stats(ctx, db, 2)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return Stats{}, dbErr("stats", err)
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return Stats{}, dbErr("stats", err)
	}
	defer tx.Rollback()
	return stats(ctx, tx, 1)
}

// StatsOf computes the Stats of a standalone database file (a snapshot),
// opening it read-only.
func StatsOf(ctx context.Context, dbPath string) (Stats, error) {
	db, err := openSnapshotRO(ctx, dbPath)
	if err != nil {
		return Stats{}, err
	}
	defer db.Close()
	return stats(ctx, db, 2)
}

// rowQuerier is what *sql.DB and *sql.Tx have in common for stats.
type rowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// stats scans every table, the messages table split in two key ranges, with
// up to par queries at once.
func stats(ctx context.Context, db rowQuerier, par int) (Stats, error) {
	v, err := schemaVersionOf(ctx, db, "main")
	if err != nil {
		return Stats{}, err
	}
	var lo, hi []byte
	if err := db.QueryRowContext(ctx, `SELECT (SELECT min(id) FROM messages), (SELECT max(id) FROM messages)`).Scan(&lo, &hi); err != nil {
		return Stats{}, dbErr("message id range", err)
	}
	mid := midKey(lo, hi)

	type part struct {
		n   int64
		sum []byte
	}
	var parts [len(digestQueries) + 1]part
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(par)
	run := func(i int, q string, args ...any) {
		g.Go(func() error {
			var sum []byte
			if err := db.QueryRowContext(gctx, q, args...).Scan(&parts[i].n, &sum); err != nil {
				return dbErr("digest", err)
			}
			parts[i].sum = sum
			return nil
		})
	}
	// The two halves of messages first: they dominate.
	mq := digestQueries[3]
	run(len(digestQueries), fmt.Sprintf("SELECT count(*), %s(%s) FROM %s WHERE id >= ?", digestFunc, digestCols(3, v), mq.table), mid)
	for i, q := range digestQueries {
		where := ""
		var args []any
		if q.table == "messages" {
			where = " WHERE id < ?"
			args = append(args, mid)
		}
		run(i, fmt.Sprintf("SELECT count(*), %s(%s) FROM %s%s", digestFunc, digestCols(i, v), q.table, where), args...)
	}
	var mediaBytes sql.NullInt64
	g.Go(func() error {
		err := db.QueryRowContext(gctx, `SELECT sum(size) FROM (SELECT DISTINCT hash, size FROM attachments)`).Scan(&mediaBytes)
		if err != nil {
			return dbErr("sum media", err)
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return Stats{}, err
	}
	var st Stats
	var total sum256
	for i, p := range parts {
		if p.sum != nil { // nil: empty table
			if err := total.addBytes(p.sum); err != nil {
				return Stats{}, err
			}
		}
		switch {
		case i == 1:
			st.Conversations = p.n
		case i == 3 || i == len(digestQueries):
			st.Messages += p.n
		case i == 5:
			st.Attachments = p.n
		}
	}
	h := blake3.New(32, nil)
	h.Write([]byte("ferry digest v1"))
	h.Write(total.bytes())
	st.Digest = hex.EncodeToString(h.Sum(nil))
	st.MediaBytes = mediaBytes.Int64
	return st, nil
}

// midKey returns a key roughly halfway between lo and hi (by their first 8
// bytes), so that a scan can be split in two; IDs start with a timestamp.
func midKey(lo, hi []byte) []byte {
	if len(lo) < 8 || len(hi) < 8 {
		return []byte{}
	}
	a := binary.BigEndian.Uint64(lo)
	b := binary.BigEndian.Uint64(hi)
	m := a + (b-a)/2
	if b < a {
		m = a
	}
	return binary.BigEndian.AppendUint64(nil, m)
}
