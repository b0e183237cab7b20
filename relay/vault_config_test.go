package relay_test

import (
	"errors"
	"testing"

	"github.com/ferryhq/ferry/internal/archive"
	"github.com/ferryhq/ferry/relay"
	"github.com/ferryhq/ferry/relay/vault"
	"github.com/ferryhq/ferry/relay/vaultstore"
)

// TestVaultConfig: the relay's vault limits reach the vault.
func TestVaultConfig(t *testing.T) {
	ctx := testContext(t)
	st, err := vaultstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := startRelay(t, relay.Config{Vault: st, VaultMaxBackups: 1, VaultDeviceRequests: 2, VaultDeviceRate: -1})
	c, err := vault.Dial(ctx, newHost(t), relayAddr(t, r))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p := archive.Params{Time: 1, MemoryKiB: 64, Threads: 1}
	for i, want := range []error{nil, vault.ErrQuota} {
		if err := c.PutKeySlot(ctx, [16]byte{byte(i)}, p, [32]byte{}, [32]byte{}, [vault.WrappedSize]byte{}); !errors.Is(err, want) {
			t.Errorf("backup %d with at most 1: %v, want %v", i+1, err, want)
		}
	}
}
