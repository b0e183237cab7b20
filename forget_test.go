package ferry

import (
	"context"
	"errors"
	"testing"

	"github.com/ferryhq/ferry/chatstore"
)

// heldReceive starts b receiving from a's running send with the code, one
// stream at a time, and returns once the first chunk is staged, with the
// transfer held there (the receiver's only worker waits in its progress
// event) until release is closed.
func heldReceive(t *testing.T, a, b *device, code string) (recv *running, release chan struct{}) {
	t.Helper()
	release = make(chan struct{})
	held := make(chan struct{})
	once := false
	ctx, cancel := context.WithCancel(context.Background())
	recv = runSession(t, func(emit func(Event)) (*Report, error) {
		return b.Receive(ctx, ReceiveRequest{Code: code, Yes: true, Addrs: a.addrs()}, func(e Event) {
			if e.Kind == EventProgress && e.Done > 0 && !once {
				once = true
				close(held)
				<-release
			}
			emit(e)
		})
	})
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
		cancel()
		<-recv.done
	})
	select {
	case <-held:
	case <-recv.done:
		t.Fatalf("receive ended before the first chunk: %v", recv.err)
	}
	return recv, release
}

func noHistory(t *testing.T, d *device) {
	t.Helper()
	st, err := chatstore.Open(context.Background(), d.home, chatstore.Options{ReadOnly: true})
	if errors.Is(err, chatstore.ErrNoHome) || errors.Is(err, chatstore.ErrNotAStore) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if s, err := st.Stats(context.Background()); err != nil || s.Messages != 0 {
		t.Errorf("%s holds %+v (%v) after the transfer was cut: want nothing committed", d.name(), s, err)
	}
}

// TestForgetCutsTransfer: forgetting a device on either side stops a
// transfer in progress with it, with a clear error on both sides; forgetting
// it in the trust store from another process (ferry devices forget without a
// daemon) does too.
func TestForgetCutsTransfer(t *testing.T) {
	one := func(c *Device) { c.Parallel = 1 }
	for _, tt := range []struct {
		name   string
		forget func(a, b *device) error
	}{
		{"sender forgets the receiver", func(a, b *device) error { return a.Forget(context.Background(), b.host.ID().String()) }},
		{"sender's trust store edited by another process", func(a, b *device) error { return ForgetDevice(a.home, b.host.ID().String()) }},
		{"receiver forgets the sender", func(a, b *device) error { return b.Forget(context.Background(), a.host.ID().String()) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := newDevice(t, "old phone", 500, 4<<20, nil)
			b := newDevice(t, "new phone", 0, 0, one)
			send := startSend(t, a, SendRequest{})
			recv, release := heldReceive(t, a, b, send.code())
			conns := a.host.Network().ConnsToPeer(b.host.ID()) // the forgetting side's
			if tt.name == "receiver forgets the sender" {
				conns = b.host.Network().ConnsToPeer(a.host.ID())
			}
			if err := tt.forget(a, b); err != nil {
				t.Fatal(err)
			}
			// The connection that carried the transfer is closed (the
			// receiver may dial again, to be refused).
			connected := func() {
				t.Helper()
				for _, c := range conns {
					if !c.IsClosed() {
						t.Errorf("the transfer's connection %s is still open", c.RemoteMultiaddr())
					}
				}
			}
			if tt.name == "receiver forgets the sender" {
				close(release)
				if _, err := recv.wait(); !errors.Is(err, ErrForgotten) {
					t.Errorf("receiver that forgot the sender: %v, want ErrForgotten", err)
				}
				noHistory(t, b)
				connected()
				return
			}
			if _, err := send.wait(); !errors.Is(err, ErrForgotten) {
				t.Errorf("sender that forgot the receiver: %v, want ErrForgotten", err)
			}
			close(release)
			if _, err := recv.wait(); !errors.Is(err, ErrSenderForgot) {
				t.Errorf("receiver forgotten by the sender: %v, want ErrSenderForgot", err)
			}
			noHistory(t, b)
			connected()
			if err := fetchManifestAs(context.Background(), b, a); err == nil {
				t.Error("the forgotten device still fetches a manifest")
			}
		})
	}
}
