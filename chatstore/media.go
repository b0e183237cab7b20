package chatstore

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"lukechampine.com/blake3"

	"github.com/ferryhq/ferry/internal/atomicfile"
)

// String is the lowercase hex form of h.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// MediaPath is where the bytes with hash h live: home/media/<hh>/<64 hex>.
func (s *Store) MediaPath(h Hash) string {
	x := h.String()
	return filepath.Join(s.home, MediaDir, x[:2], x)
}

// HasMedia reports whether the media file for h exists with the given size.
// It trusts the file system; Verify re-hashes.
func (s *Store) HasMedia(h Hash, size int64) bool {
	fi, err := os.Stat(s.MediaPath(h))
	return err == nil && fi.Mode().IsRegular() && fi.Size() == size
}

// InstallMedia moves a staged file (on the same file system as the home) into
// place as the bytes of h and makes the move durable. The caller has verified
// the content. It is a no-op, removing the staged file, when h is present.
func (s *Store) InstallMedia(h Hash, stagedPath string) error {
	if s.readOnly {
		return fmt.Errorf("chatstore: install media: store is read-only")
	}
	dst := s.MediaPath(h)
	if _, err := os.Stat(dst); err == nil {
		os.Remove(stagedPath)
		return nil
	}
	if err := installFile(stagedPath, dst); err != nil {
		return fmt.Errorf("chatstore: install media %s: %w", h, err)
	}
	return nil
}

// installFile moves src to dst durably (see internal/atomicfile), making
// dst's directory.
func installFile(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	return atomicfile.Rename(src, dst)
}

// ListAttachments lists the distinct media (hash, size) referenced by the
// database file at dbPath, sorted by hash. It opens the file read-only.
func ListAttachments(ctx context.Context, dbPath string) ([]Attachment, error) {
	db, err := openSnapshotRO(ctx, dbPath)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT DISTINCT hash, size FROM attachments ORDER BY hash, size`)
	if err != nil {
		return nil, dbErr("list attachments", err)
	}
	defer rows.Close()
	var out []Attachment
	for rows.Next() {
		var h []byte
		var a Attachment
		if err := rows.Scan(&h, &a.Size); err != nil {
			return nil, dbErr("list attachments", err)
		}
		if len(h) != len(a.Hash) || a.Size < 0 {
			return nil, fmt.Errorf("chatstore: list attachments: bad row: %w", ErrCorrupt)
		}
		copy(a.Hash[:], h)
		if n := len(out); n > 0 && out[n-1].Hash == a.Hash {
			return nil, fmt.Errorf("chatstore: list attachments: media %s listed with two sizes: %w", a.Hash, ErrCorrupt)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("list attachments", err)
	}
	return out, nil
}

// Verify checks that every attachment's file is present with the right size
// and BLAKE3 hash.
func (s *Store) Verify(ctx context.Context) error {
	atts, err := ListAttachments(ctx, s.DBPath())
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	for _, a := range atts {
		if err := ctx.Err(); err != nil {
			return err
		}
		got, n, err := hashFile(s.MediaPath(a.Hash), buf)
		if err != nil {
			return fmt.Errorf("chatstore: verify %s: %w: %w", a.Hash, ErrMediaDamaged, err)
		}
		if n != a.Size || got != a.Hash {
			return fmt.Errorf("chatstore: verify %s: size %d (want %d) hash %s: %w", a.Hash, n, a.Size, got, ErrMediaDamaged)
		}
	}
	return nil
}

func hashFile(path string, buf []byte) (Hash, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return Hash{}, 0, err
	}
	defer f.Close()
	h := blake3.New(32, nil)
	n, err := io.CopyBuffer(h, f, buf)
	if err != nil {
		return Hash{}, 0, err
	}
	var out Hash
	h.Sum(out[:0])
	return out, n, nil
}
