package ferry

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/chatstore/seed"
	"github.com/ferryhq/ferry/transfer"
)

// TestSecondMigrationMovesNothing: migrating an unchanged history again
// between the same two devices moves nothing and says so on both sides;
// after a new message on the sender, the next migration carries it.
func TestSecondMigrationMovesNothing(t *testing.T) {
	a := newDevice(t, "old phone", 400, 300<<10, nil)
	b := newDevice(t, "new phone", 0, 0, nil)
	_, got := migrate(t, a, b)
	if got.Bytes == 0 {
		t.Fatal("the first migration moved nothing")
	}
	if _, err := os.Stat(filepath.Join(a.home, transfer.SendCacheDir)); err != nil {
		t.Fatalf("the send kept no snapshot: %v", err)
	}

	again := func() (*Report, []Event) {
		t.Helper()
		send := startSend(t, a, SendRequest{To: "new phone"})
		send.next(kind(EventReceiver))
		var evs []Event
		recv := runSession(t, func(emit func(Event)) (*Report, error) {
			return b.Receive(context.Background(), ReceiveRequest{Yes: true, Addrs: a.addrs()}, func(e Event) {
				evs = append(evs, e)
				emit(e)
			})
		})
		rep, err := recv.wait()
		if err != nil {
			t.Fatalf("receive again: %v", err)
		}
		if _, err := send.wait(); err != nil {
			t.Fatalf("send again: %v", err)
		}
		return rep, evs
	}
	rep, evs := again()
	var offer *Offer
	var done string
	for _, e := range evs {
		if e.Kind == EventOffer {
			offer = e.Offer
		}
		if e.Kind == EventDone {
			done = e.Message
		}
	}
	if rep.Bytes != 0 || offer == nil || offer.Needed != 0 || !strings.Contains(done, "already holds") {
		t.Fatalf("second migration: moved %d bytes, offer %+v, done %q; want nothing moved and said", rep.Bytes, offer, done)
	}
	if rep.Messages != 400 || rep.TargetDigest != rep.SourceDigest {
		t.Fatalf("second migration's report: %+v", rep)
	}

	// A new message on the old phone (its daemon is up: another process
	// writes, as ferry import would).
	st, err := chatstore.Open(context.Background(), a.home, chatstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := seed.Add(context.Background(), st, seed.Options{Messages: 1, Seed: 99}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	rep, evs = again()
	if rep.Bytes == 0 || rep.Messages != 401 {
		t.Fatalf("migration after a change: %+v; want the new message moved", rep)
	}
	for _, e := range evs {
		if e.Kind == EventDone && strings.Contains(e.Message, "already holds") {
			t.Fatalf("a changed history was called held: %q", e.Message)
		}
	}
}

// TestReceiveBeforeSend: a paired device that runs receive before the
// other runs send waits for it, and says so ("reconnecting": the sender's
// device answers but sends nothing yet), and then receives; every state it passes is one
// the session's table draws (startDevice's cleanup fails the test on a
// refused transition).
func TestReceiveBeforeSend(t *testing.T) {
	a := newDevice(t, "old phone", 100, 0, nil)
	b := newDevice(t, "new phone", 0, 0, nil)
	migrate(t, a, b)
	recv := startReceive(t, b, ReceiveRequest{Yes: true, Addrs: a.addrs()})
	recv.next(func(e Event) bool {
		return e.Kind == EventWaiting && strings.Contains(e.Message, "not sending right now; waiting for it to send")
	})
	send := startSend(t, a, SendRequest{To: "new phone"})
	if _, err := recv.wait(); err != nil {
		t.Fatalf("receive: %v", err)
	}
	if _, err := send.wait(); err != nil {
		t.Fatalf("send: %v", err)
	}
}
