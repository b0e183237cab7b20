package daemon

import (
	"context"
	"fmt"
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

// device is one daemon on loopback for a test, with its log lines.
type device struct {
	*Daemon
	home string
	logs *logRecorder
}

// newDevice starts a daemon on 127.0.0.1 without mDNS, in a fresh home
// holding msgs generated messages (and media bytes of media). mod, if set,
// changes the config before the daemon starts.
func newDevice(t *testing.T, name string, msgs int, media int64, mod func(*Config)) *device {
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
	logs := newLogRecorder()
	cfg := Config{Home: home, Name: name, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, NoMDNS: true, RetryFor: 20 * time.Second,
		Logger: slog.New(logs)}
	if mod != nil {
		mod(&cfg)
	}
	d, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return &device{Daemon: d, home: home, logs: logs}
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

// session is a Send or Receive running in the background.
type session struct {
	t      *testing.T
	events chan Event
	done   chan struct{}
	rep    *Report
	err    error
}

func runSession(t *testing.T, run func(emit func(Event)) (*Report, error)) *session {
	s := &session{t: t, events: make(chan Event, 4096), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.rep, s.err = run(func(e Event) { s.events <- e })
	}()
	return s
}

// startSend runs d.Send(req) until the test ends.
func startSend(t *testing.T, d *device, req SendRequest) *session {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := runSession(t, func(emit func(Event)) (*Report, error) { return d.Send(ctx, req, emit) })
	t.Cleanup(func() { cancel(); <-s.done })
	return s
}

// startReceive runs d.Receive(req) until the test ends.
func startReceive(t *testing.T, d *device, req ReceiveRequest) *session {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := runSession(t, func(emit func(Event)) (*Report, error) { return d.Receive(ctx, req, emit) })
	t.Cleanup(func() { cancel(); <-s.done })
	return s
}

// next returns the first event for which match is true, failing the test if
// the session ends first or nothing comes within a minute.
func (s *session) next(match func(Event) bool) Event {
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

func kind(k string) func(Event) bool { return func(e Event) bool { return e.Kind == k } }

// code waits for a send's code.
func (s *session) code() string {
	s.t.Helper()
	return s.next(kind(EventCode)).Code
}

// wait returns the session's result, failing the test after a minute.
func (s *session) wait() (*Report, error) {
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
	if _, err := to.logs.wait(ctx, "pairing attempt started peer="+m.host.ID().String()); err != nil {
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
