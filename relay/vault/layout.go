package vault

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ferryhq/ferry/relay/vaultproto"
	"github.com/ferryhq/ferry/relay/vaultstore"
)

// Object keys.
func backupDir(id [vaultproto.IDSize]byte) string { return "v1/b/" + hex.EncodeToString(id[:]) }

func backupKey(id [vaultproto.IDSize]byte, f string) string {
	return backupDir(id) + "/" + f
}

func chunkKey(id [vaultproto.IDSize]byte, n [vaultproto.NameSize]byte) string {
	return backupDir(id) + "/c/" + hex.EncodeToString(n[:])
}

func accountDir(acct string) string { return "v1/a/" + acct + "/" }

func markerKey(acct string, id [vaultproto.IDSize]byte) string {
	return accountDir(acct) + hex.EncodeToString(id[:])
}

// lastKeyHex decodes the hex of a key's last segment into dst.
func lastKeyHex(dst []byte, key string) bool {
	h := key[strings.LastIndexByte(key, '/')+1:]
	if len(h) != 2*len(dst) {
		return false // and hex.Decode would write past dst
	}
	_, err := hex.Decode(dst, []byte(h))
	return err == nil
}

// meta is a backup's bookkeeping, kept as JSON next to it. Version 2
// added OwnerKey (see owner.go); a record without a version is of version
// 1, read as one with no owner key, and rewritten as version 2 at its next
// write.
type meta struct {
	Version int    `json:"version,omitempty"`
	Owner   string `json:"owner"`
	// OwnerKey is the Ed25519 public key that checks a proof of the
	// backup key, which lets any device that holds the key list or
	// delete the backup; empty until the owner puts one.
	OwnerKey []byte `json:"owner_key,omitempty"`
	Created  int64  `json:"created"`
	Updated  int64  `json:"updated"`           // last manifest
	Touched  int64  `json:"touched,omitempty"` // last write of chunks or key slot, roughly
	Size     int64  `json:"size"`
	// Fails and Locked are the lockout of relays before the guard (see
	// lockout.go): a backup they locked stays locked until its owner's
	// next key slot; nothing writes them now but that reset.
	Fails  int  `json:"fails"`
	Locked bool `json:"locked"`
}

// metaVersion is the version of the records this relay writes.
const metaVersion = 2

// maxMeta bounds a stored record.
const maxMeta = 1 << 16

func parseMeta(b []byte) (meta, error) {
	var m meta
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&m); err != nil {
		return meta{}, fmt.Errorf("vault: backup record: %w", err)
	}
	if m.Version > metaVersion {
		return meta{}, fmt.Errorf("vault: backup record of version %d, newer than this relay's %d: upgrade the relay", m.Version, metaVersion)
	}
	if d.More() || m.Version < 0 || m.Owner == "" || m.Size < 0 || m.Fails < 0 || m.Fails > MaxFails ||
		len(m.OwnerKey) != 0 && len(m.OwnerKey) != vaultproto.OwnerKeySize {
		return meta{}, errors.New("vault: backup record: out of range")
	}
	return m, nil
}

// lastWrite is when the backup was last written, as far as its TTL goes.
func (m meta) lastWrite() int64 { return max(m.Updated, m.Created, m.Touched) }

func (s *Server) readAll(ctx context.Context, key string, max int64) ([]byte, error) {
	rc, n, err := s.open(ctx, key, max)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b := make([]byte, n)
	if _, err := io.ReadFull(rc, b); err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	return b, nil
}

// open opens an object of at most max bytes.
func (s *Server) open(ctx context.Context, key string, max int64) (io.ReadCloser, int64, error) {
	rc, n, err := s.store.Get(ctx, key)
	if errors.Is(err, vaultstore.ErrNotFound) {
		return nil, 0, vaultproto.ErrNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read %s: %w", key, err)
	}
	if n < 0 || n > max {
		rc.Close()
		return nil, 0, fmt.Errorf("read %s: size %d above %d", key, n, max)
	}
	return rc, n, nil
}

func (s *Server) put(ctx context.Context, key string, b []byte) error {
	if err := s.store.Put(ctx, key, bytes.NewReader(b), int64(len(b))); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}
