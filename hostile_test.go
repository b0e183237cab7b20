package ferry

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/transfer"
	"github.com/ferryhq/ferry/transfer/transfertest"
)

// TestHostileSenderOverLoopback is a real migration between two daemons on
// loopback, paired by code, where the sender is a modified Ferry that
// serves its own history.db with a trigger in it: the receiver refuses it
// at once (no retries), with the sentence that says why, and its home is
// as it was, empty or not.
func TestHostileSenderOverLoopback(t *testing.T) {
	for _, into := range []string{"empty", "non-empty"} {
		t.Run(into, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			a := newDevice(t, "sender", 500, 256<<10, nil)
			st, err := chatstore.Open(ctx, a.home, chatstore.Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			src, err := transfertest.Hostile(ctx, st, t.TempDir(), transfertest.EvilTrigger)
			st.Close()
			if err != nil {
				t.Fatal(err)
			}
			// Pairing is the daemon's own; the transfer is the hostile one.
			a.host.SetStreamHandler(TransferProtocol, func(s network.Stream) {
				defer s.Close()
				transfer.Serve(ctx, s, src, nil, nil)
			})
			msgs := 0
			if into == "non-empty" {
				msgs = 100
			}
			b := newDevice(t, "receiver", msgs, 0, nil)
			before := homeStats(t, b.home)

			code := startSend(t, a, SendRequest{}).code()
			start := time.Now()
			_, err = b.Receive(ctx, ReceiveRequest{Code: code, Addrs: a.addrs(), Yes: true}, nil)
			if !errors.Is(err, transfer.ErrForeignSchema) || !strings.Contains(err.Error(), `trigger "evil"`) {
				t.Fatalf("receive from a hostile sender: got %v, want ErrForeignSchema naming the trigger", err)
			}
			if took := time.Since(start); took > 15*time.Second {
				t.Errorf("refusal took %s: it must not be retried", took)
			}
			if got := homeStats(t, b.home); got != before {
				t.Errorf("receiver holds %+v, want %+v", got, before)
			}
		})
	}
}

// homeStats opens home (making an empty history there if it has none) and
// returns its stats.
func homeStats(t *testing.T, home string) chatstore.Stats {
	t.Helper()
	ctx := context.Background()
	st, err := chatstore.Open(ctx, home, chatstore.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := st.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
