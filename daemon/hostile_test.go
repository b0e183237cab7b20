package daemon

import (
	"context"
	"errors"
	"path/filepath"
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
			loop := []string{"/ip4/127.0.0.1/tcp/0"}
			homeA := filepath.Join(t.TempDir(), "a")
			st, err := chatstore.Open(ctx, homeA, chatstore.Options{Create: true})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := chatstore.Seed(ctx, st, chatstore.SeedOptions{Messages: 500, MediaBytes: 256 << 10, Seed: 1}); err != nil {
				t.Fatal(err)
			}
			src, err := transfertest.Hostile(ctx, st, t.TempDir(), transfertest.EvilTrigger)
			st.Close()
			if err != nil {
				t.Fatal(err)
			}
			a, err := New(ctx, Config{Home: homeA, Listen: loop, NoMDNS: true, RetryFor: 30 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			// Pairing is the daemon's own; the transfer is the hostile one.
			a.host.SetStreamHandler(TransferProtocol, func(s network.Stream) {
				defer s.Close()
				serveTransfer(ctx, s, src, nil, nil)
			})

			homeB := filepath.Join(t.TempDir(), "b")
			dst, err := chatstore.Open(ctx, homeB, chatstore.Options{Create: true})
			if err != nil {
				t.Fatal(err)
			}
			if into == "non-empty" {
				if _, err := chatstore.Seed(ctx, dst, chatstore.SeedOptions{Messages: 100, Seed: 2}); err != nil {
					t.Fatal(err)
				}
			}
			before, err := dst.Stats(ctx)
			dst.Close()
			if err != nil {
				t.Fatal(err)
			}
			b, err := New(ctx, Config{Home: homeB, Listen: loop, NoMDNS: true, RetryFor: 30 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()

			codes := make(chan string, 1)
			sent := make(chan struct{})
			go func() {
				defer close(sent)
				a.Send(ctx, SendRequest{}, func(e Event) {
					if e.Kind == EventCode {
						codes <- e.Code
					}
				})
			}()
			// The send ends (and removes its snapshot) before the test does.
			defer func() { cancel(); <-sent }()
			var code string
			select {
			case code = <-codes:
			case <-ctx.Done():
				t.Fatal("no code")
			}
			var addrs []string
			for _, ad := range a.host.Addrs() {
				addrs = append(addrs, ad.String()+"/p2p/"+a.host.ID().String())
			}
			start := time.Now()
			_, err = b.Receive(ctx, ReceiveRequest{Code: code, Addrs: addrs, Yes: true}, nil)
			if !errors.Is(err, transfer.ErrForeignSchema) || !strings.Contains(err.Error(), `trigger "evil"`) {
				t.Fatalf("receive from a hostile sender: got %v, want ErrForeignSchema naming the trigger", err)
			}
			if took := time.Since(start); took > 20*time.Second {
				t.Errorf("refusal took %s: it must not be retried", took)
			}
			got, err := chatstore.Open(ctx, homeB, chatstore.Options{ReadOnly: true})
			if err != nil {
				t.Fatalf("reopen the receiver's home: %v", err)
			}
			defer got.Close()
			if st, err := got.Stats(ctx); err != nil || st != before {
				t.Errorf("receiver holds %+v (%v), want %+v", st, err, before)
			}
		})
	}
}
