package ferry

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/ferryhq/ferry/transfer"
)

// migrate runs one whole migration from a to b with a fresh code and returns
// both reports.
func migrate(t *testing.T, a, b *device) (sent, got *Report) {
	t.Helper()
	send := startSend(t, a, SendRequest{})
	recv := startReceive(t, b, ReceiveRequest{Code: send.code(), Yes: true, Addrs: a.addrs()})
	got, err := recv.wait()
	if err != nil {
		t.Fatalf("receive on %s: %v", b.name(), err)
	}
	sent, err = send.wait()
	if err != nil {
		t.Fatalf("send to %s: %v", b.name(), err)
	}
	return sent, got
}

// askAs plays a paired device that, without pairing in this session, asks
// to's send for the manifest, one chunk and then sends Done: it returns the
// answer to each (nil for an answer that is not an error).
func askAs(t *testing.T, d *device, to *device) (manifest, chunk, done error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.host.Connect(ctx, to.info()); err != nil {
		t.Fatal(err)
	}
	open := func() network.Stream {
		s, err := d.host.NewStream(ctx, to.host.ID(), protocol.ID(TransferProtocol))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Reset() })
		return s
	}
	_, manifest = transfer.FetchManifest(open())
	_, chunk = transfer.FetchChunk(open(), 0)
	done = transfer.SendReport(open(), Report{Messages: 1, SourceDigest: "forged", TargetDigest: "forged"})
	return manifest, chunk, done
}

func isRefusal(err error, code byte) bool {
	got, ok := transfer.Refusal(err)
	return ok && got == code
}

// TestSendServesOnlyItsReceiver: device C, paired with A in an earlier
// migration, can neither fetch the manifest or a chunk of a send that A
// started for B, nor end B's session with a Done; A's events say who asked
// and who is served, and A's report names B.
func TestSendServesOnlyItsReceiver(t *testing.T) {
	a := newDevice(t, "old phone", 300, 1<<20, nil)
	b := newDevice(t, "new phone", 0, 0, nil)
	c := newDevice(t, "old tablet", 0, 0, nil)
	migrate(t, a, c) // C is paired with A now, and holds its history

	send := startSend(t, a, SendRequest{})
	code := send.code()
	// Before anyone paired in this session.
	if m, ch, d := askAs(t, c, a); !isRefusal(m, transfer.CodeNotReceiver) || !isRefusal(ch, transfer.CodeNotReceiver) || !isRefusal(d, transfer.CodeNotReceiver) {
		t.Errorf("C asking an unclaimed send: manifest %v, chunk %v, done %v; want each refused as not the receiver", m, ch, d)
	}
	e := send.next(kind(EventRefused))
	if e.Device == nil || e.Device.PeerID != c.host.ID().String() || !strings.Contains(e.Message, "old tablet") {
		t.Errorf("refusal event %+v, want it to name old tablet", e)
	}

	// B pairs and is about to be asked whether to receive: the session is B's.
	recv := startReceive(t, b, ReceiveRequest{Code: code, Addrs: a.addrs()})
	offer := recv.next(kind(EventOffer))
	e = send.next(kind(EventReceiver))
	if e.Device == nil || e.Device.PeerID != b.host.ID().String() || !strings.Contains(e.Message, "new phone") {
		t.Errorf("receiver event %+v, want it to name new phone", e)
	}
	if m, ch, d := askAs(t, c, a); !isRefusal(m, transfer.CodeNotReceiver) || !isRefusal(ch, transfer.CodeNotReceiver) || !isRefusal(d, transfer.CodeNotReceiver) {
		t.Errorf("C asking B's send: manifest %v, chunk %v, done %v; want each refused as not the receiver", m, ch, d)
	}
	select {
	case <-send.done:
		t.Fatalf("A's send ended after C's Done (report %+v, err %v)", send.rep, send.err)
	default:
	}
	if err := b.Confirm(context.Background(), offer.Session, true); err != nil {
		t.Fatal(err)
	}
	got, err := recv.wait()
	if err != nil {
		t.Fatalf("B's receive: %v", err)
	}
	rep, err := send.wait()
	if err != nil {
		t.Fatalf("A's send: %v", err)
	}
	if rep.Receiver != "new phone" || rep.ReceiverID != b.host.ID().String() || rep.TargetDigest != got.TargetDigest {
		t.Errorf("A's report %+v, want it to name new phone (%s) with B's digest %s", rep, b.host.ID(), got.TargetDigest)
	}
	if got.Receiver != "new phone" || got.ReceiverID != b.host.ID().String() {
		t.Errorf("B's report %+v, want it to name new phone too", got)
	}
	done := send.next(kind(EventDone))
	if !strings.Contains(done.Message, "new phone") {
		t.Errorf("A's done event %q, want it to name new phone", done.Message)
	}
}

// TestSendToNamedDevice: ferry send --to NAME serves that paired device,
// without a code; another paired device is refused; an unknown or ambiguous
// name is a clear error listing the paired devices.
func TestSendToNamedDevice(t *testing.T) {
	a := newDevice(t, "old phone", 300, 0, nil)
	b := newDevice(t, "new phone", 0, 0, nil)
	c := newDevice(t, "old tablet", 0, 0, nil)
	migrate(t, a, b)
	migrate(t, a, c)

	for _, tt := range []struct{ to, want string }{
		{"laptop", `no paired device is called "laptop"`},
		{"12D3KooW", `"12D3KooW" could be any of`},
	} {
		_, err := a.Send(context.Background(), SendRequest{To: tt.to}, nil)
		if !errContains(err, tt.want) || !errContains(err, "new phone") || !errContains(err, "old tablet") {
			t.Errorf("send --to %s: %v; want %q and the paired devices listed", tt.to, err, tt.want)
		}
	}

	for _, to := range []string{"NEW PHONE", b.host.ID().String()[:20]} {
		send := startSend(t, a, SendRequest{To: to})
		e := send.next(kind(EventReceiver))
		if e.Device == nil || e.Device.PeerID != b.host.ID().String() {
			t.Fatalf("send --to %q: receiver event %+v, want new phone", to, e)
		}
		if m, _, _ := askAs(t, c, a); !isRefusal(m, transfer.CodeNotReceiver) {
			t.Errorf("old tablet asking a send to new phone: %v, want refused", m)
		}
		recv := startReceive(t, b, ReceiveRequest{Yes: true, Addrs: a.addrs()})
		if _, err := recv.wait(); err != nil {
			t.Fatalf("new phone receiving a send --to it, without a code: %v", err)
		}
		rep, err := send.wait()
		if err != nil || rep.ReceiverID != b.host.ID().String() {
			t.Fatalf("send --to %q: %+v, %v; want a report naming new phone", to, rep, err)
		}
	}
}

// TestPairedDeviceNeedsCodeOrConsent: a paired device that comes to a send
// which is not for it without a code is refused with a sentence; with the
// send's code it pairs again and is served.
func TestPairedDeviceNeedsCodeOrConsent(t *testing.T) {
	a := newDevice(t, "old phone", 300, 0, nil)
	b := newDevice(t, "new phone", 0, 0, nil)
	migrate(t, a, b)

	send := startSend(t, a, SendRequest{})
	code := send.code()
	_, err := b.Receive(context.Background(), ReceiveRequest{Yes: true, Addrs: a.addrs()}, nil)
	if !errors.Is(err, ErrNotReceiver) {
		t.Fatalf("paired device without a code: %v, want ErrNotReceiver", err)
	}
	recv := startReceive(t, b, ReceiveRequest{Code: code, Yes: true, Addrs: a.addrs()})
	if _, err := recv.wait(); err != nil {
		t.Fatalf("paired device with the send's code: %v", err)
	}
	if rep, err := send.wait(); err != nil || rep.ReceiverID != b.host.ID().String() {
		t.Fatalf("send: %+v, %v", rep, err)
	}
}

// TestRestartedSendLetsUnfinishedReceiverIn: a send stopped before its
// receiver finished (killed, cut off) leaves that device allowed: the same
// send started again serves it without a code, and says so; no other paired
// device gets in that way, and once the receiver has finished, the next send
// wants a code again.
func TestRestartedSendLetsUnfinishedReceiverIn(t *testing.T) {
	a := newDevice(t, "old phone", 300, 1<<20, nil)
	b := newDevice(t, "new phone", 0, 0, nil)
	c := newDevice(t, "old tablet", 0, 0, nil)
	migrate(t, a, c)

	// Both sides stop once B paired, before it said yes (a kill leaves the
	// same record behind).
	ctx, cancel := context.WithCancel(context.Background())
	first := runSession(t, func(emit func(Event)) (*Report, error) { return a.Send(ctx, SendRequest{}, emit) })
	rctx, rcancel := context.WithCancel(context.Background())
	code := first.code()
	recv := runSession(t, func(emit func(Event)) (*Report, error) {
		return b.Receive(rctx, ReceiveRequest{Code: code, Addrs: a.addrs()}, emit)
	})
	recv.next(kind(EventOffer))
	rcancel()
	cancel()
	if _, err := first.wait(); !errors.Is(err, context.Canceled) {
		t.Fatalf("first send: %v, want cancelled", err)
	}
	if _, err := recv.wait(); !errors.Is(err, context.Canceled) {
		t.Fatalf("first receive: %v, want cancelled", err)
	}

	again := startSend(t, a, SendRequest{})
	again.code()
	if m, _, _ := askAs(t, c, a); !isRefusal(m, transfer.CodeNotReceiver) {
		t.Errorf("old tablet asking the restarted send: %v, want refused", m)
	}
	resumed := startReceive(t, b, ReceiveRequest{Yes: true, Addrs: a.addrs()})
	e := again.next(kind(EventReceiver))
	if e.Device == nil || e.Device.PeerID != b.host.ID().String() || !strings.Contains(e.Message, "interrupted") {
		t.Errorf("restarted send's receiver event %+v, want new phone continuing the interrupted migration", e)
	}
	if _, err := resumed.wait(); err != nil {
		t.Fatalf("new phone without a code on the restarted send: %v", err)
	}
	if rep, err := again.wait(); err != nil || rep.ReceiverID != b.host.ID().String() {
		t.Fatalf("restarted send: %+v, %v", rep, err)
	}

	third := startSend(t, a, SendRequest{})
	third.code()
	if _, err := b.Receive(context.Background(), ReceiveRequest{Yes: true, Addrs: a.addrs()}, nil); !errors.Is(err, ErrNotReceiver) {
		t.Errorf("finished receiver without a code on a new send: %v, want ErrNotReceiver", err)
	}
}

// TestTransferRefusesUnpairedPeers: a device that never paired (it has no
// code) asks a running send for its manifest and is refused as not trusted,
// before a byte of history is read.
func TestTransferRefusesUnpairedPeers(t *testing.T) {
	a := newDevice(t, "old phone", 100, 0, nil)
	b := newDevice(t, "stranger", 0, 0, nil)
	ctx, stop := context.WithCancel(context.Background())
	s, err := a.Device.Send(ctx, SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The send ends (and removes its snapshot) before the test does.
	defer func() { stop(); s.Wait(context.Background()) }()
	err = fetchManifestAs(context.Background(), b, a)
	if code, ok := transfer.Refusal(err); !ok || code != transfer.CodeNotTrusted {
		t.Fatalf("unpaired device asking for the manifest: got %v, want a not-trusted refusal", err)
	}
}
