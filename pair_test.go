package ferry

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/pairing"
)

// Half a pairing frame: a length of 100 bytes, then one byte of them.
var halfFrame = []byte{0, 100, 1}

// TestPairingNotBlockedByStallers: peers that open /ferry/pair/1 and then say
// nothing, or half a frame, do not keep the right receiver from pairing: it
// pairs and migrates while they still hold their streams, well within their
// deadline.
func TestPairingNotBlockedByStallers(t *testing.T) {
	a := newDevice(t, "old phone", 200, 0, func(c *Device) { c.PairTimeout = time.Minute })
	b := newDevice(t, "new phone", 0, 0, nil)
	send := startSend(t, a, SendRequest{})
	code := send.code()
	stalledPairing(t, a, nil)
	stalledPairing(t, a, halfFrame)

	recv := startReceive(t, b, ReceiveRequest{Code: code, Yes: true, Addrs: a.addrs()})
	if _, err := recv.wait(); err != nil {
		t.Fatalf("receive while two peers stall pairing: %v", err)
	}
	if _, err := send.wait(); err != nil {
		t.Fatalf("send: %v", err)
	}
	for {
		select {
		case e := <-send.events:
			if e.Kind == EventPairFailed {
				t.Errorf("sender reported a failed attempt before the stallers' deadline: %s", e.Message)
			}
			continue
		default:
		}
		break
	}
}

// TestPairingStallsCount: an attempt that does not finish within the
// deadline is cut off, reported, and counted like a wrong code; the right
// code still pairs while attempts are left, and enough stalls end the
// session.
func TestPairingStallsCount(t *testing.T) {
	quick := func(c *Device) { c.PairTimeout = 300 * time.Millisecond }
	t.Run("counted, then the right code pairs", func(t *testing.T) {
		a := newDevice(t, "old phone", 200, 0, quick)
		b := newDevice(t, "new phone", 0, 0, nil)
		send := startSend(t, a, SendRequest{})
		code := send.code()
		for i, first := range [][]byte{nil, halfFrame} {
			staller := stalledPairing(t, a, first)
			e := send.next(kind(EventPairFailed))
			if want := short(staller.String()); !strings.Contains(e.Message, want) {
				t.Errorf("stall %d reported as %q, want it to name the peer %s", i+1, e.Message, want)
			}
			if want := []string{"did not finish pairing in time", fmt.Sprintf("attempt %d, %d left", i+1, 2-i)}; !containsAll(e.Message, want) {
				t.Errorf("stall %d reported as %q, want it to say %q", i+1, e.Message, want)
			}
		}
		recv := startReceive(t, b, ReceiveRequest{Code: code, Yes: true, Addrs: a.addrs()})
		if _, err := recv.wait(); err != nil {
			t.Fatalf("right code after two stalls: %v", err)
		}
		if _, err := send.wait(); err != nil {
			t.Fatalf("send: %v", err)
		}
	})
	t.Run("enough stalls end the session", func(t *testing.T) {
		a := newDevice(t, "old phone", 200, 0, quick)
		send := startSend(t, a, SendRequest{})
		send.code()
		for range pairing.DefaultMaxFailures {
			stalledPairing(t, a, nil)
			send.next(kind(EventPairFailed))
		}
		if _, err := send.wait(); !errors.Is(err, pairing.ErrTooManyAttempts) {
			t.Fatalf("send after %d stalls: got %v, want ErrTooManyAttempts", pairing.DefaultMaxFailures, err)
		}
	})
}

func containsAll(s string, subs []string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}
