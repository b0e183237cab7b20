package backup

import (
	"context"

	"github.com/ferryhq/ferry/internal/archive"
)

// Conn is a relay's vault as Upload and Restore use it;
// *vaultproto.Client implements it. Names are chunk names,
// ids backup IDs. GetChunk reads into buf when the chunk fits; its error
// for a chunk the vault does not hold matches fs.ErrNotExist, and so does
// GetManifest's for a backup it does not hold.
type Conn interface {
	PutChunk(ctx context.Context, id [16]byte, name [32]byte, sealed []byte) error
	HasChunks(ctx context.Context, id [16]byte, names [][32]byte) ([]bool, error)
	GetChunk(ctx context.Context, id [16]byte, name [32]byte, buf []byte) ([]byte, error)
	PutManifest(ctx context.Context, id [16]byte, names [][32]byte, sealed []byte) error
	GetManifest(ctx context.Context, id [16]byte) ([]byte, error)
	PutKeySlot(ctx context.Context, id [16]byte, p archive.Params, salt, public [32]byte, wrapped [60]byte) error
	// PutOwnerKey gives the relay the public owner key of backup id (see
	// owner.go); its error for a relay that keeps none matches
	// errors.ErrUnsupported.
	PutOwnerKey(ctx context.Context, id [16]byte, public [32]byte) error
	// UnlockKey gets the key slot's parameters, salt and a challenge,
	// calls prove (whose error ends it before anything is sent), sends
	// the signature and returns the wrapped key.
	UnlockKey(ctx context.Context, id [16]byte, prove func(p archive.Params, salt [32]byte, msg []byte) ([64]byte, error)) ([60]byte, error)
}
