package ferry

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"testing"
	"time"

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
		{"backup", backupError(cause), lost + ": run it again to continue where it stopped"},
		{"restore with staged data", keptError(vaultError(cause, true)), lost + ": what arrived is kept: run it again to continue where it stopped"},
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

// cliWords are what only the ferry command may say: its flags and
// commands. An app that embeds Ferry has neither.
var cliWords = regexp.MustCompile("--[a-z]|`|\\bferry (send|receive|relay|backups?|restore|export|import|history|devices|daemon|ui|status|demo)\\b")

// TestErrorTextsNameNoFlags: no Error this package makes names a flag or a
// command of the ferry command (the CLI adds its own words by Code).
func TestErrorTextsNameNoFlags(t *testing.T) {
	check := func(what string, err error) {
		t.Helper()
		e := AsError(err)
		if e == nil {
			t.Fatalf("%s: no error", what)
		}
		if m := cliWords.FindString(e.Error()); m != "" {
			t.Errorf("%s: %q names %q, a word of the CLI", what, e.Error(), m)
		}
	}
	for _, k := range known {
		check(string(k.code), userError(fmt.Errorf("some operation: %w", k.err)))
		check(string(k.code)+" kept", keptError(fmt.Errorf("some operation: %w", k.err)))
		check(string(k.code)+" backup", backupError(fmt.Errorf("some operation: %w", k.err)))
	}
	for _, e := range []*Error{ErrNoCode, ErrNotReceiver, ErrSenderForgot, ErrDeclined, ErrForgotten,
		errAmbiguous, errUnknownName, errAlreadySending, errCodeWithTo, errNoDiscovery, errSenderGone,
		errClosed, errNoRelay, errKeyAndPw, errPwNeedsID} {
		check(string(e.Code), e)
	}
	check("interrupted", keptError(context.Canceled))
	check("receive interrupted", receiveError(canceled(), t.TempDir(), context.Canceled))
	var rec sendRecorder
	rec.receiver = "phone"
	check("send interrupted", rec.sendError(canceled(), context.Canceled))
	check("try later", userError(&vaultproto.TryLaterError{After: time.Second}))
}

// canceled is a context that has ended.
func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}
