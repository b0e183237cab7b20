// Package transfertest holds what the tests of several packages need to
// play a hostile or broken sender: a chunk source that serves any database
// file, schema and all, the way a modified Ferry would, and the archive
// such a sender would write.
package transfertest

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/klauspost/compress/zstd"
	"lukechampine.com/blake3"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/internal/archive"
	"github.com/ferryhq/ferry/transfer"
)

// Source serves a database file and media files under a manifest of its
// own, with no check of what the file holds. It implements
// transfer.ServeSource: Serve answers from it, and transfer.ReadSource reads it.
type Source struct {
	m     *transfer.Manifest
	db    [][]byte       // compressed database chunks
	media map[int]string // media file index → path
	files []transfer.MediaFile
}

var _ transfer.ServeSource = (*Source)(nil)

// NewSource describes dbPath (read as it is) and the media files of store
// that the attachments in atts name, announcing the stats st (a hostile
// sender announces whatever makes the receiver's checks pass: the stats of
// the rows it sends).
func NewSource(dbPath string, store *chatstore.Store, atts []chatstore.Attachment, st chatstore.Stats) (*Source, error) {
	const chunkSize = transfer.DefaultChunkSize
	raw, err := os.ReadFile(dbPath)
	if err != nil {
		return nil, err
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		return nil, err
	}
	defer enc.Close()
	s := &Source{media: map[int]string{}}
	var dbChunks []transfer.DBChunk
	id := blake3.New(16, nil)
	for off := 0; off < len(raw); off += chunkSize {
		z := enc.EncodeAll(raw[off:min(off+chunkSize, len(raw))], nil)
		s.db = append(s.db, z)
		dbChunks = append(dbChunks, transfer.DBChunk{Hash: blake3.Sum256(z), Size: len(z)})
		id.Write(z)
	}
	atts = slices.Clone(atts)
	slices.SortFunc(atts, func(a, b chatstore.Attachment) int { return bytes.Compare(a.Hash[:], b.Hash[:]) })
	for i, a := range atts {
		path := store.MediaPath(a.Hash)
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		mf := transfer.MediaFile{Hash: a.Hash, Size: a.Size}
		if len(b) > chunkSize {
			for off := 0; off < len(b); off += chunkSize {
				mf.Chunks = append(mf.Chunks, blake3.Sum256(b[off:min(off+chunkSize, len(b))]))
			}
		}
		s.files = append(s.files, mf)
		s.media[i] = path
	}
	var sid [16]byte
	copy(sid[:], id.Sum(nil))
	s.m, err = transfer.NewManifest(sid, st, chunkSize, int64(len(raw)), dbChunks, s.files)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Manifest is the manifest the source serves.
func (s *Source) Manifest() *transfer.Manifest { return s.m }

// ReadChunk returns chunk i's stored bytes.
func (s *Source) ReadChunk(ctx context.Context, i int, buf []byte) ([]byte, error) {
	if i < 0 || i >= s.m.NumChunks() {
		return nil, fmt.Errorf("chunk %d: %w", i, transfer.ErrChunkRange)
	}
	c := s.m.Chunk(i)
	if c.Kind == transfer.KindDB {
		return s.db[i], nil
	}
	f, err := os.Open(s.media[c.File])
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, c.Size)
	if _, err := f.ReadAt(b, c.Offset); err != nil && err != io.EOF {
		return nil, err
	}
	return b, nil
}

// Hostile snapshots store, changes the copy with qs as a modified Ferry
// could (plain SQLite, none of Ferry's connection settings), and returns a
// source serving it: the stats it announces are those of the rows, so only
// a check of the schema can tell it apart from an honest sender.
func Hostile(ctx context.Context, store *chatstore.Store, dir string, qs ...string) (*Source, error) {
	p := filepath.Join(dir, "hostile.db")
	if err := store.Snapshot(ctx, p); err != nil {
		return nil, err
	}
	st, err := chatstore.StatsOf(ctx, p)
	if err != nil {
		return nil, err
	}
	atts, err := chatstore.ListAttachments(ctx, p)
	if err != nil {
		return nil, err
	}
	if err := Exec(p, qs...); err != nil {
		return nil, err
	}
	return NewSource(p, store, atts, st)
}

// Exec runs qs on the database file at path with plain SQLite: no
// defensive mode, a trusted schema.
func Exec(path string, qs ...string) error {
	db, err := sql.Open("sqlite", path) // a plain path: a file: URI would end at a # in it
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for _, q := range qs {
		if _, err := db.Exec(q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return db.Close()
}

// EvilTrigger is the attack of issue 10 item 2: every message merged into
// a history holding it is rewritten, with an edit time that makes the
// rewrite pass the containment check.
const EvilTrigger = `CREATE TRIGGER evil AFTER INSERT ON messages BEGIN
	UPDATE messages SET body = 'pwned', edited = new.edited + 1 WHERE id = new.id; END`

// WriteArchive writes what Export would for src, sealed with key.
func WriteArchive(ctx context.Context, w io.Writer, key archive.Key, src *Source) error {
	aw, err := archive.NewWriter(w, key, 1+uint64(src.m.NumChunks()))
	if err != nil {
		return err
	}
	mb, err := src.m.Marshal()
	if err != nil {
		return err
	}
	if err := aw.WriteFrame(mb); err != nil {
		return err
	}
	for i := range src.m.NumChunks() {
		b, err := src.ReadChunk(ctx, i, nil)
		if err != nil {
			return err
		}
		if err := aw.WriteFrame(b); err != nil {
			return err
		}
	}
	return aw.Close()
}
