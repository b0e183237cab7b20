package ferry

import (
	"errors"
	"fmt"
	"testing"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/ferryhq/ferry/relay/vaultproto"
)

// TestVaultErrorLostRelay: a vault call cut off by the relay's going away
// says to run it again, once, and resumes, whether or not a restore kept
// staged data; the cause stays in the chain.
func TestVaultErrorLostRelay(t *testing.T) {
	const lost = "lost the connection to the relay (it stopped answering or restarted, or the network dropped)"
	cause := fmt.Errorf("restore: %w", fmt.Errorf("vault get chunk: %w: %w", vaultproto.ErrConnLost, network.ErrReset))
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"backup", backupError(cause), lost + ": run the same command again to continue where it stopped"},
		{"restore with staged data", keptError(vaultError(cause, true)), lost + ": what arrived is kept: run the same command again to continue where it stopped"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("%s: message %q, want %q", tc.name, got, tc.want)
		}
		var e *Error
		if !errors.As(tc.err, &e) || e.Code != CodeRelayLost || !e.Resumable {
			t.Errorf("%s: %#v, want a resumable %s", tc.name, tc.err, CodeRelayLost)
		}
		if !errors.Is(tc.err, network.ErrReset) {
			t.Errorf("%s: the cause is lost from the chain of %v", tc.name, tc.err)
		}
	}
}
