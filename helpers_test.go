package ferry

import (
	"context"
	"fmt"
	"github.com/ferryhq/ferry/internal/logtest"
	"github.com/libp2p/go-libp2p/core/host"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/chatstore/seed"
	"github.com/ferryhq/ferry/transfer"
)

// device is one Device on loopback for a test, with its log lines, and
// adapters that run its Send and Receive the way the tests drive them.
type device struct {
	*Device
	home     string
	host     host.Host // the started Device's
	logs     *logtest.Recorder
	confirms chan bool // answers Confirm hands to a receive that asks
}

// SendRequest and ReceiveRequest are what the tests ask the adapters for.
type (
	SendRequest    = SendOptions
	ReceiveRequest struct {
		Code  string
		Yes   bool // accept the offer without asking (else Confirm answers)
		Relay string
		Addrs []string
	}
)

// newDevice starts a Device on 127.0.0.1 without mDNS, in a fresh home
// holding msgs generated messages (and media bytes of media). mod, if set,
// changes the Device before it starts.
func newDevice(t *testing.T, name string, msgs int, media int64, mod func(*Device)) *device {
	t.Helper()
	ctx := context.Background()
	home := filepath.Join(t.TempDir(), name)
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	if msgs > 0 {
		st, err := chatstore.Open(ctx, home, chatstore.Options{Create: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := seed.Add(ctx, st, seed.Options{Messages: msgs, MediaBytes: media, Seed: uint64(len(name))}); err != nil {
			t.Fatal(err)
		}
		st.Close()
	}
	return startDevice(t, home, func(d *Device) {
		d.Name, d.Listen, d.NoMDNS, d.RetryFor = name, []string{"/ip4/127.0.0.1/tcp/0"}, true, 20*time.Second
		if mod != nil {
			mod(d)
		}
	})
}

// startDevice starts a Device on home, made by mod, until the test ends; it
// fails the test if the device refused a session state change.
func startDevice(t *testing.T, home string, mod func(*Device)) *device {
	t.Helper()
	logs := logtest.New()
	d := &Device{Home: home, Logger: slog.New(logs)}
	mod(d)
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.Close()
		for _, l := range logs.Lines() {
			if strings.Contains(l, "refused a session state change") {
				t.Errorf("%s: %s", d.Name, l)
			}
		}
	})
	return &device{Device: d, home: home, host: d.running().host, logs: logs, confirms: make(chan bool, 1)}
}

// Send runs a send to its end, handing its events to emit.
func (d *device) Send(ctx context.Context, req SendRequest, emit func(Event)) (*Report, error) {
	s, err := d.Device.Send(ctx, req)
	if err != nil {
		return nil, err
	}
	for e := range s.Events() {
		if emit != nil {
			emit(e)
		}
	}
	res, err := s.Wait(ctx)
	if err != nil {
		return nil, err
	}
	rep := res.Report()
	return &rep, nil
}

// Receive runs a receive, handing its events to emit; without req.Yes it
// asks Confirm for the answer.
func (d *device) Receive(ctx context.Context, req ReceiveRequest, emit func(Event)) (*Report, error) {
	opt := ReceiveOptions{Relay: req.Relay, Addrs: req.Addrs, Events: emit}
	if !req.Yes {
		opt.Confirm = func(ctx context.Context, _ Offer) (bool, error) {
			select {
			case ok := <-d.confirms:
				return ok, nil
			case <-ctx.Done():
				return false, ctx.Err()
			}
		}
	}
	res, err := d.Device.Receive(ctx, req.Code, opt)
	if err != nil {
		return nil, err
	}
	rep := res.Report()
	return &rep, nil
}

// Confirm answers the receive that asks.
func (d *device) Confirm(_ context.Context, _ string, accept bool) error {
	d.confirms <- accept
	return nil
}

// name is the device's name.
func (d *device) name() string { return d.Device.Name }

// ForgetDevice removes a device from home's trust store as another process
// would (ferry devices forget without a daemon).
func ForgetDevice(home, id string) error {
	return (&Device{Home: home}).Forget(context.Background(), id)
}

// addrs are the full multiaddrs a receiver on this machine dials.
func (d *device) addrs() []string {
	var out []string
	for _, a := range d.info().Addrs {
		out = append(out, a.String()+"/p2p/"+d.host.ID().String())
	}
	return out
}

// info is the device's peer ID and its TCP listen addresses on loopback.
func (d *device) info() peer.AddrInfo {
	info := peer.AddrInfo{ID: d.host.ID()}
	for _, a := range d.host.Network().ListenAddresses() {
		if _, err := a.ValueForProtocol(ma.P_IP4); err == nil {
			info.Addrs = append(info.Addrs, a)
		}
	}
	return info
}

// running is a Send or Receive running in the background.
type running struct {
	t      *testing.T
	events chan Event
	done   chan struct{}
	rep    *Report
	err    error
}

func runSession(t *testing.T, run func(emit func(Event)) (*Report, error)) *running {
	s := &running{t: t, events: make(chan Event, 4096), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.rep, s.err = run(func(e Event) { s.events <- e })
	}()
	return s
}

// startSend runs d.Send(req) until the test ends.
func startSend(t *testing.T, d *device, req SendRequest) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := runSession(t, func(emit func(Event)) (*Report, error) { return d.Send(ctx, req, emit) })
	t.Cleanup(func() { cancel(); <-s.done })
	return s
}

// startReceive runs d.Receive(req) until the test ends.
func startReceive(t *testing.T, d *device, req ReceiveRequest) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := runSession(t, func(emit func(Event)) (*Report, error) { return d.Receive(ctx, req, emit) })
	t.Cleanup(func() { cancel(); <-s.done })
	return s
}

// next returns the first event for which match is true, failing the test if
// the session ends first or nothing comes within a minute.
func (s *running) next(match func(Event) bool) Event {
	s.t.Helper()
	timeout := time.After(time.Minute)
	for {
		select {
		case e := <-s.events:
			if match(e) {
				return e
			}
		case <-s.done:
			// Events sent before the end are still in the channel.
			for {
				select {
				case e := <-s.events:
					if match(e) {
						return e
					}
				default:
					s.t.Fatalf("session ended (report %+v, err %v) before the event the test waits for", s.rep, s.err)
				}
			}
		case <-timeout:
			s.t.Fatal("no such event within a minute")
		}
	}
}

func kind(k EventKind) func(Event) bool { return func(e Event) bool { return e.Kind == k } }

// code waits for a send's code.
func (s *running) code() string {
	s.t.Helper()
	return s.next(kind(EventCode)).Code
}

// wait returns the session's result, failing the test after a minute.
func (s *running) wait() (*Report, error) {
	s.t.Helper()
	select {
	case <-s.done:
		return s.rep, s.err
	case <-time.After(time.Minute):
		s.t.Fatal("session still running after a minute")
		return nil, nil
	}
}

// stalledPairing opens /ferry/pair/1 on to from a fresh unpaired host and
// writes first (nothing, or the start of a frame), then leaves the stream
// open. It returns once the sender's daemon logged that the attempt started.
func stalledPairing(t *testing.T, to *device, first []byte) peer.ID {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m := newDevice(t, fmt.Sprintf("staller-%d", len(first)), 0, 0, nil)
	if err := m.host.Connect(ctx, to.info()); err != nil {
		t.Fatal(err)
	}
	s, err := m.host.NewStream(ctx, to.host.ID(), protocol.ID(PairProtocol))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Reset() })
	// An empty write finishes the protocol negotiation without a byte of
	// pairing: the sender's handler runs and waits for the first frame.
	if _, err := s.Write(first); err != nil {
		t.Fatal(err)
	}
	if _, err := to.logs.Wait(ctx, "pairing attempt started peer="+m.host.ID().String()); err != nil {
		t.Fatal(err)
	}
	return m.host.ID()
}

// fetchManifestAs asks to's running send for its manifest from d's host.
func fetchManifestAs(ctx context.Context, d *device, to *device) error {
	if err := d.host.Connect(ctx, to.info()); err != nil {
		return err
	}
	s, err := d.host.NewStream(network.WithAllowLimitedConn(ctx, "test"), to.host.ID(), protocol.ID(TransferProtocol))
	if err != nil {
		return err
	}
	defer s.Close()
	_, err = transfer.FetchManifest(s)
	return err
}

func errContains(err error, s string) bool { return err != nil && strings.Contains(err.Error(), s) }
