package ferry

import (
	"context"
	"strings"
	"testing"
)

// restart closes d and starts a daemon again on its home and addresses, as
// `ferry send` run again after a kill would.
func restart(t *testing.T, d *device) *device {
	t.Helper()
	var listen []string
	for _, a := range d.info().Addrs {
		listen = append(listen, a.String())
	}
	d.Close()
	old := d.Device
	return startDevice(t, d.home, func(n *Device) {
		n.Name, n.NoMDNS, n.RetryFor, n.Parallel, n.PairTimeout = old.Name, old.NoMDNS, old.RetryFor, old.Parallel, old.PairTimeout
		n.Listen = listen
	})
}

// TestResumeAfterSenderRestart: the sender stops mid-transfer and its daemon
// goes; the receiver, given the sender's address, waits; the same send
// started again lets it in without a code (the unfinished send's receiver),
// and it continues where it stopped.
func TestResumeAfterSenderRestart(t *testing.T) {
	one := func(c *Device) { c.Parallel = 1 }
	a := newDevice(t, "old phone", 2000, 6<<20, nil)
	b := newDevice(t, "new phone", 0, 0, one)
	ctx, cancel := context.WithCancel(context.Background())
	first := runSession(t, func(emit func(Event)) (*Report, error) { return a.Send(ctx, SendRequest{}, emit) })
	recv, release := heldReceive(t, a, b, first.code())
	cancel()
	first.wait()
	a = restart(t, a)
	close(release)
	// The restarted daemon answers, not sending (the media went early, so
	// no stream of the old one was left to break).
	recv.next(func(e Event) bool {
		return e.Kind == EventWaiting && (strings.Contains(e.Message, "lost the connection") || strings.Contains(e.Message, "not sending right now"))
	})

	again := startSend(t, a, SendRequest{})
	e := again.next(kind(EventReceiver))
	if e.Device == nil || e.Device.PeerID != b.host.ID().String() {
		t.Fatalf("restarted send serves %+v, want new phone", e.Device)
	}
	recv.next(func(e Event) bool { return e.Kind == EventWaiting && strings.HasPrefix(e.Message, "continuing: ") })
	if _, err := recv.wait(); err != nil {
		t.Fatalf("receive across the sender's restart: %v", err)
	}
	rep, err := again.wait()
	if err != nil || rep.ReceiverID != b.host.ID().String() {
		t.Fatalf("restarted send: %+v, %v", rep, err)
	}
}
