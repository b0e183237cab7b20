package ferry

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/relay"
	"github.com/ferryhq/ferry/relay/vaultstore"
)

// The tests of this file prove each message that promises a resume: the
// error is Resumable, and doing the same again continues where it stopped
// (it finds verified pieces from the first run). The messages that promise
// none are checked not to be Resumable where they are made.

// resumable checks that err is a resumable *Error of code whose hint says to
// run it again.
func resumable(t *testing.T, what string, err error, code ErrorCode) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("%s: %v (%T), want an *Error", what, err, err)
	}
	if e.Code != code || !e.Resumable || !strings.Contains(e.Hint, "again") {
		t.Fatalf("%s: %#v, want a resumable %s whose hint says to do it again", what, e, code)
	}
	return e
}

// notResumable checks that err is an *Error that promises no resume.
func notResumable(t *testing.T, what string, err error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("%s: %v (%T), want an *Error", what, err, err)
	}
	if e.Resumable || strings.Contains(e.Hint, "run it again") {
		t.Fatalf("%s: %#v, want an Error that promises no resume", what, e)
	}
	return e
}

// cancelAtFirstPiece returns receive options that cancel the receive once
// the first piece arrived (with Parallel 1 no other is in flight then).
func cancelAtFirstPiece(addrs []string) (context.Context, ReceiveOptions) {
	ctx, cancel := context.WithCancel(context.Background())
	return ctx, ReceiveOptions{Addrs: addrs, Events: func(e Event) {
		if e.Kind == EventProgress && e.Done > 0 {
			cancel()
		}
	}}
}

// TestResumableReceiveInterrupted: a receive cut off (its context: SIGINT in
// the CLI) says that what arrived is kept and to run it again; the receive
// again, with no code (paired now), continues from the verified pieces.
func TestResumableReceiveInterrupted(t *testing.T) {
	a := newDevice(t, "old phone", 2000, 6<<20, nil)
	b := newDevice(t, "new phone", 0, 0, func(d *Device) { d.Parallel = 1 })
	ctx := context.Background()
	s, err := a.Device.Send(ctx, SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rctx, opt := cancelAtFirstPiece(a.addrs())
	_, err = b.Device.Receive(rctx, s.Code(), opt)
	resumable(t, "receive cut off", err, CodeInterrupted)

	res, err := b.Device.Receive(ctx, "", ReceiveOptions{Addrs: a.addrs()})
	if err != nil {
		t.Fatalf("receive again: %v", err)
	}
	if res.Resumed == 0 || res.Resumed >= res.Chunks {
		t.Errorf("receive again resumed %d of %d pieces, want some but not all", res.Resumed, res.Chunks)
	}
	sameHistory(t, a, b)
	if _, err := s.Wait(ctx); err != nil {
		t.Errorf("send: %v", err)
	}
}

// TestResumableReceiveNothingYet: a receive cut off before anything arrived
// promises nothing.
func TestResumableReceiveNothingYet(t *testing.T) {
	a := newDevice(t, "old phone", 100, 0, nil)
	b := newDevice(t, "new phone", 0, 0, nil)
	s, err := a.Device.Send(context.Background(), SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	_, err = b.Device.Receive(ctx, s.Code(), ReceiveOptions{Addrs: a.addrs(), Confirm: func(context.Context, Offer) (bool, error) {
		cancel()
		return false, ctx.Err()
	}})
	notResumable(t, "receive cut off at the offer", err)
}

// TestResumableSenderGone: the sender stops after its receiver was chosen.
// The send's error says that the same send again lets the receiver
// continue; the receiver, waiting in vain, says the sender did not come
// back and that receiving again once it sends continues. Both are true: the
// send again serves the receiver without a code, and it resumes.
func TestResumableSenderGone(t *testing.T) {
	a := newDevice(t, "old phone", 2000, 6<<20, nil)
	b := newDevice(t, "new phone", 0, 0, func(d *Device) { d.Parallel, d.RetryFor = 1, 2*time.Second })
	ctx := context.Background()
	sctx, stop := context.WithCancel(ctx)
	s, err := a.Device.Send(sctx, SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Device.Receive(ctx, s.Code(), ReceiveOptions{Addrs: a.addrs(), Events: func(e Event) {
		if e.Kind == EventProgress && e.Done > 0 && sctx.Err() == nil {
			stop()
			<-s.Done() // the send has ended before the next piece is asked for
		}
	}})
	e := resumable(t, "receiver whose sender went", err, CodeSenderGone)
	if !strings.Contains(e.Hint, "sends again") {
		t.Errorf("receiver's hint %q does not say the sender must send again", e.Hint)
	}
	_, err = s.Wait(ctx)
	e = resumable(t, "send stopped after its receiver was chosen", err, CodeInterrupted)
	if !strings.Contains(e.Hint, "new phone") {
		t.Errorf("send's hint %q does not name the receiver", e.Hint)
	}

	again, err := a.Device.Send(ctx, SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.Device.Receive(ctx, "", ReceiveOptions{Addrs: a.addrs()})
	if err != nil {
		t.Fatalf("receive again: %v", err)
	}
	if res.Resumed == 0 {
		t.Errorf("receive again resumed none of %d pieces", res.Chunks)
	}
	sameHistory(t, a, b)
	if _, err := again.Wait(ctx); err != nil {
		t.Errorf("send again: %v", err)
	}
}

// TestResumableSendBeforeReceiver: a send stopped before any device was
// chosen promises nothing.
func TestResumableSendBeforeReceiver(t *testing.T) {
	a := newDevice(t, "old phone", 10, 0, nil)
	ctx, stop := context.WithCancel(context.Background())
	s, err := a.Device.Send(ctx, SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stop()
	_, err = s.Wait(context.Background())
	notResumable(t, "send stopped while waiting", err)
}

// TestResumableImport: an import cut off mid-way says to run it again, and
// the import again continues from what it verified; an archive that ends
// early promises no resume of the same file (it fails the same way), and
// what it says instead is true: the complete archive continues.
func TestResumableImport(t *testing.T) {
	a := newDevice(t, "old phone", 2000, 10<<20, nil)
	ctx := context.Background()
	var archive bytes.Buffer
	key, err := a.Device.Export(ctx, &archive, ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// Cut off by its context.
	home := t.TempDir() + "/new"
	d := &Device{Home: home}
	ictx, cancel := context.WithCancel(ctx)
	_, err = d.ImportArchive(ictx, bytes.NewReader(archive.Bytes()), ImportOptions{Key: key, Events: func(e Event) {
		if e.Kind == EventProgress && e.Phase == PhaseImporting && e.Done >= e.Total/2 {
			cancel()
		}
	}})
	resumable(t, "import cut off", err, CodeInterrupted)
	res, err := d.Import(ctx, bytes.NewReader(archive.Bytes()), key)
	if err != nil {
		t.Fatalf("import again: %v", err)
	}
	if res.Resumed == 0 {
		t.Errorf("import again resumed none of %d pieces", res.Chunks)
	}

	// An archive that ends early.
	d = &Device{Home: t.TempDir() + "/other"}
	cut := archive.Bytes()[:archive.Len()*2/3]
	_, err = d.Import(ctx, bytes.NewReader(cut), key)
	e := notResumable(t, "truncated archive", err)
	if e.Code != CodeTruncated || !strings.Contains(e.Hint, "complete archive") {
		t.Fatalf("truncated archive: %#v", e)
	}
	_, err = d.Import(ctx, bytes.NewReader(cut), key)
	if CodeOf(err) != CodeTruncated {
		t.Errorf("the same truncated archive again: %v, want it to fail the same way", err)
	}
	res, err = d.Import(ctx, bytes.NewReader(archive.Bytes()), key)
	if err != nil || res.Resumed == 0 {
		t.Errorf("the complete archive after a truncated one: resumed %d of %d, %v; want some resumed", res.Resumed, res.Chunks, err)
	}
}

// sameHistory fails the test unless a's and b's histories have the same
// digest.
func sameHistory(t *testing.T, a, b *device) {
	t.Helper()
	ctx := context.Background()
	sa, err := a.Device.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := b.Device.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sa.Digest != sb.Digest {
		t.Errorf("%s's digest %s, %s's %s", a.name(), sa.Digest, b.name(), sb.Digest)
	}
}

// vaultRelay starts a relay with a vault on loopback until the test ends.
func vaultRelay(t *testing.T) string {
	t.Helper()
	st, err := vaultstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s, err := relay.New(context.Background(), relay.Config{DataDir: t.TempDir(), Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Vault: st})
	if err != nil {
		t.Fatalf("relay.New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s.Addrs()[0].String()
}

// cancelAtHalf returns a context and an Events func that cancels it once
// half of a phase's work is done.
func cancelAtHalf(phase string) (context.Context, func(Event)) {
	ctx, cancel := context.WithCancel(context.Background())
	return ctx, func(e Event) {
		if e.Kind == EventProgress && e.Phase == phase && e.Total > 0 && e.Done >= e.Total/2 {
			cancel()
		}
	}
}

// TestResumableBackupRestore: a backup cut off says that what reached the
// relay is kept and to run it again, and the backup again sends only what
// the relay lacks (if any: the pieces in flight may all have arrived); a
// restore cut off says to run it again, and the restore
// again continues from what it verified.
func TestResumableBackupRestore(t *testing.T) {
	addr := vaultRelay(t)
	a := newDevice(t, "old phone", 2000, 12<<20, func(d *Device) { d.Relay = addr })
	ctx, events := cancelAtHalf(PhaseBackingUp)
	_, err := a.Device.Backup(ctx, BackupOptions{Events: events})
	resumable(t, "backup cut off", err, CodeInterrupted)
	b, err := a.Device.Backup(context.Background(), BackupOptions{})
	if err != nil {
		t.Fatalf("backup again: %v", err)
	}
	if b.ChunksSkipped == 0 {
		t.Errorf("backup again sent all %d pieces again, skipped none", b.ChunksSent)
	}

	d := &Device{Home: t.TempDir() + "/new", Relay: addr, NoMDNS: true, Listen: []string{"/ip4/127.0.0.1/tcp/0"}}
	defer d.Close()
	ctx, events = cancelAtHalf(PhaseRestoring)
	_, err = d.Restore(ctx, RestoreOptions{Key: b.Key, Events: events})
	resumable(t, "restore cut off", err, CodeInterrupted)
	res, err := d.Restore(context.Background(), RestoreOptions{Key: b.Key})
	if err != nil {
		t.Fatalf("restore again: %v", err)
	}
	if res.Resumed == 0 {
		t.Errorf("restore again resumed none of %d pieces", res.Chunks)
	}
	if res.Target.Digest != b.Stats.Digest {
		t.Errorf("restored digest %s, backed up %s", res.Target.Digest, b.Stats.Digest)
	}
}

// TestReceiveReconnectsAfterDrop: the connection to the sender drops
// mid-transfer; the same receive reconnects by itself (to the addresses it
// dialled) and continues from the pieces it verified, with no code.
func TestReceiveReconnectsAfterDrop(t *testing.T) {
	a := newDevice(t, "old phone", 2000, 6<<20, nil)
	b := newDevice(t, "new phone", 0, 0, func(d *Device) { d.Parallel = 1 })
	ctx := context.Background()
	s, err := a.Device.Send(ctx, SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var dropped, lost, reconnected bool
	res, err := b.Device.Receive(ctx, s.Code(), ReceiveOptions{Addrs: a.addrs(), Events: func(e Event) {
		switch {
		case e.Kind == EventProgress && e.Done > 0 && !dropped:
			dropped = true
			b.host.Network().ClosePeer(a.host.ID())
		case e.Kind == EventWaiting && strings.HasPrefix(e.Message, "lost the connection"):
			lost = true
		case e.Kind == EventConnected && e.Message == "reconnected to the sender":
			reconnected = true
		}
	}})
	if err != nil {
		t.Fatalf("receive across a dropped connection: %v", err)
	}
	if !lost || !reconnected || res.Resumed == 0 {
		t.Errorf("lost %v, reconnected %v, resumed %d of %d: want a reconnect that continued", lost, reconnected, res.Resumed, res.Chunks)
	}
	sameHistory(t, a, b)
	if _, err := s.Wait(ctx); err != nil {
		t.Errorf("send: %v", err)
	}
}
