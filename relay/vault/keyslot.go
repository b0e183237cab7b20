package vault

import (
	"context"
	"fmt"

	"github.com/ferryhq/ferry/relay/vaultproto"
)

func (s *Server) putKeySlot(ctx context.Context, acct string, id [vaultproto.IDSize]byte, k vaultproto.KeySlot) error {
	return s.withOwned(ctx, acct, id, func(m meta) error {
		if err := s.put(ctx, backupKey(id, "keyslot"), k.Append(nil)); err != nil {
			return err
		}
		m.Fails, m.Locked, m.Touched = 0, false, s.cfg.Now().Unix()
		return s.saveMetaLocked(ctx, id, m)
	})
}

// keySlot returns a live backup's key slot and its stored bytes.
func (s *Server) keySlot(ctx context.Context, id [vaultproto.IDSize]byte) (vaultproto.KeySlot, []byte, error) {
	m, err := s.loadMeta(ctx, id)
	if err != nil {
		return vaultproto.KeySlot{}, nil, err
	}
	if m.Locked {
		return vaultproto.KeySlot{}, nil, vaultproto.ErrLocked
	}
	b, err := s.readAll(ctx, backupKey(id, "keyslot"), vaultproto.MaxKeySlot)
	if err != nil {
		return vaultproto.KeySlot{}, nil, err
	}
	k, err := vaultproto.ParseKeySlot(b)
	if err != nil {
		return vaultproto.KeySlot{}, nil, fmt.Errorf("stored key slot: %w", err)
	}
	return k, b, nil
}
