package chatstore_test

import (
	"context"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/chatstore/seed"
)

// The tests of package chatstore seed their stores through this hook (see
// SeedForTest in helpers_test.go).
func init() {
	chatstore.SeedForTest = func(ctx context.Context, s *chatstore.Store, messages int, mediaBytes int64, n uint64) (chatstore.Stats, error) {
		return seed.Add(ctx, s, seed.Options{Messages: messages, MediaBytes: mediaBytes, Seed: n})
	}
}
