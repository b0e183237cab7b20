package relay_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry"
	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/chatstore/seed"
	"github.com/ferryhq/ferry/p2p"
	"github.com/ferryhq/ferry/pairing"
	"github.com/ferryhq/ferry/relay"
)

// device starts an in-process device (daemon) on one loopback address, in
// a new home seeded with messages when messages > 0.
func device(t *testing.T, ip string, messages int) (*ferry.Device, chatstore.Stats) {
	t.Helper()
	ctx := context.Background()
	home := filepath.Join(t.TempDir(), "home")
	var stats chatstore.Stats
	if messages > 0 {
		st, err := chatstore.Open(ctx, home, chatstore.Options{Create: true})
		if err != nil {
			t.Fatal(err)
		}
		stats, err = seed.Add(ctx, st, seed.Options{Messages: messages, MediaBytes: 1 << 20, Seed: 7})
		st.Close()
		if err != nil {
			t.Fatal(err)
		}
	} else if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	d := &ferry.Device{Home: home, Name: ip, Listen: []string{"/ip4/" + ip + "/tcp/0"}, NoMDNS: true, WorkDir: t.TempDir()}
	t.Cleanup(func() { d.Close() })
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return d, stats
}

// TestRendezvousHijack: a sender waits on the relay; an attacker that knows
// (or guesses) the nameplate claims it first, and sits on its claim; a
// second one claims it too and tries a wrong code. The real receiver still
// claims, pairs and migrates the whole history through the relay, and the
// sender reports the wrong attempt.
func TestRendezvousHijack(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r := startRelay(t, relay.Config{})
	addr := relayAddr(t, r)
	sender, want := device(t, "127.0.0.1", 500)

	sending, err := sender.Send(ctx, ferry.SendOptions{Relay: addr})
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	code := sending.Code()
	failed := make(chan string, 3)
	go func() {
		for e := range sending.Events() {
			if e.Kind == ferry.EventPairFailed {
				failed <- e.Message
			}
		}
	}()
	senderID := peerID(t, sender)
	real, err := pairing.ParseCode(code)
	if err != nil {
		t.Fatal(err)
	}
	np := strconv.Itoa(int(real.Nameplate))

	// The squatter: a fresh identity with a slot, that claims and waits.
	squatter := reservedOn(t, "127.0.0.2", addr)
	if got, err := p2p.Lookup(ctx, squatter, r.ID(), np); err != nil || got.String() != senderID {
		t.Fatalf("squatter's claim: got %s, %v", got, err)
	}

	// The guesser: a device that claims the nameplate and tries its luck.
	guesser, _ := device(t, "127.0.0.3", 0)
	wrong := real
	for strings.Join(wrong.Words, "-") == strings.Join(real.Words, "-") {
		w, err := pairing.NewCode(len(real.Words))
		if err != nil {
			t.Fatal(err)
		}
		wrong.Words = w.Words
	}
	_, err = guesser.Receive(ctx, wrong.String(), ferry.ReceiveOptions{Relay: addr})
	if !errors.Is(err, pairing.ErrCodeMismatch) {
		t.Fatalf("guesser with a wrong code: got %v, want ErrCodeMismatch", err)
	}
	select {
	case m := <-failed:
		t.Logf("sender reported: %s", m)
	case <-ctx.Done():
		t.Fatal("the sender did not report the wrong attempt")
	}

	receiver, _ := device(t, "127.0.0.1", 0)
	var path string
	res, err := receiver.Receive(ctx, code, ferry.ReceiveOptions{Relay: addr, Events: func(e ferry.Event) {
		if e.Kind == ferry.EventConnected {
			path = e.Path
		}
	}})
	if err != nil {
		t.Fatalf("the real receiver after two hostile claims: %v", err)
	}
	if _, err := sending.Wait(ctx); err != nil {
		t.Fatalf("send: %v", err)
	}
	if res.Target.Digest != want.Digest || path != "relayed" {
		t.Errorf("receiver got digest %s over %q, want %s relayed", res.Target.Digest, path, want.Digest)
	}
}

// peerID is d's peer ID.
func peerID(t *testing.T, d *ferry.Device) string {
	t.Helper()
	st, err := d.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.PeerID
}
