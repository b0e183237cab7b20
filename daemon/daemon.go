package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/p2p"
	"github.com/ferryhq/ferry/pairing"
)

// PairProtocol is the libp2p protocol ID of pairing by code.
const PairProtocol = "/ferry/pair/1"

// Config configures a Daemon. Home is required; every other field has a
// usable zero value.
type Config struct {
	Home string // the device's data directory (history, identity, trust store)

	// Name is shown to the other device; empty means the host name.
	Name string
	// Version is this software's version, shown to the other device.
	Version string
	// Listen are libp2p multiaddrs to listen on; empty means TCP and QUIC
	// on every interface, ports chosen by the system.
	Listen []string
	// WorkDir holds a sender's temporary snapshot; empty means the system's
	// temporary directory. The source home is never written to.
	WorkDir string
	// Parallel is the number of streams a receiver pulls chunks on (default 4).
	Parallel int
	// FindTimeout bounds the mDNS search for the sender (default 5 s).
	FindTimeout time.Duration
	// PairTimeout bounds each step of a pairing attempt on a sender: a peer
	// that does not finish in time is cut off, reported and counted as a
	// failed attempt (default pairing.DefaultAttemptTimeout, 10 s).
	PairTimeout time.Duration
	// RetryFor is how long a receiver keeps trying to get back to a sender
	// whose connection dropped, before it gives up (default 2 minutes).
	RetryFor time.Duration
	// NoMDNS turns local-network discovery off: a sender does not advertise
	// and a receiver must be given the sender's address (ReceiveRequest.Addrs).
	// The demo and tests on loopback use it.
	NoMDNS bool
	// Logger gets the daemon's log lines; nil discards them.
	Logger *slog.Logger
}

// Daemon runs one device: its libp2p host, its send and receive sessions.
// It implements API in-process; ServeControl exposes it on a socket.
type Daemon struct {
	// Constant after New.
	cfg   Config
	log   *slog.Logger
	host  host.Host
	ident pairing.Identity
	trust *pairing.Store

	relayOf sync.Map // peer.ID → peer.AddrInfo of the relay it was reached through

	watchCancel context.CancelFunc // stops watchTrust
	watchDone   chan struct{}      // closed when watchTrust returns

	mu       sync.Mutex // guards the fields below
	offer    *offering  // the send session in progress, if any
	sessions map[string]*sessionInfo
	closed   bool
}

var _ API = (*Daemon)(nil)

// sessionInfo is a running session's entry in Status, plus the channel on
// which Confirm answers its offer, and what ends it when its device is
// forgotten.
type sessionInfo struct {
	SessionInfo
	confirm chan bool
	cancel  context.CancelCauseFunc // ends the session's context
	done    chan struct{}           // closed by endSession
	peer    peer.ID                 // guarded by Daemon.mu: the paired device it talks to, once known
}

// New starts the libp2p host of the device whose home is cfg.Home.
func New(ctx context.Context, cfg Config) (*Daemon, error) {
	if cfg.Home == "" {
		return nil, errors.New("daemon: no home")
	}
	if fi, err := os.Stat(cfg.Home); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("daemon: home %s: %w", cfg.Home, os.ErrNotExist)
	}
	// The identity and the trust store go into the home: only into a
	// Ferry home (or an empty folder), and only one that is private.
	if err := chatstore.PrepareHome(cfg.Home); err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	if cfg.Name == "" {
		cfg.Name, _ = os.Hostname()
		if pairing.CheckName(cfg.Name) != nil || cfg.Name == "" {
			cfg.Name = "ferry device"
		}
	}
	if err := pairing.CheckName(cfg.Name); err != nil {
		return nil, fmt.Errorf("daemon: device name: %w", err)
	}
	if cfg.Version == "" {
		cfg.Version = "ferry"
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 4
	}
	if cfg.FindTimeout <= 0 {
		cfg.FindTimeout = 5 * time.Second
	}
	if cfg.RetryFor <= 0 {
		cfg.RetryFor = 2 * time.Minute
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	trust, err := pairing.Open(cfg.Home)
	if err != nil {
		return nil, fmt.Errorf("daemon: trust store: %w", err)
	}
	key, err := p2p.LoadIdentity(cfg.Home)
	if err != nil {
		return nil, fmt.Errorf("daemon: identity: %w", err)
	}
	h, err := p2p.NewHost(ctx, p2p.Config{Home: cfg.Home, ListenAddrs: cfg.Listen, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	d := &Daemon{
		cfg:      cfg,
		log:      log,
		host:     h,
		ident:    pairing.Identity{Key: key, Name: cfg.Name, Version: cfg.Version},
		trust:    trust,
		sessions: make(map[string]*sessionInfo),
	}
	h.SetStreamHandler(PairProtocol, d.handlePair)
	h.SetStreamHandler(TransferProtocol, d.handleTransfer)
	wctx, wcancel := context.WithCancel(context.Background())
	d.watchCancel, d.watchDone = wcancel, make(chan struct{})
	go d.watchTrust(wctx)
	return d, nil
}

// Host is the daemon's libp2p host.
func (d *Daemon) Host() host.Host { return d.host }

// Close stops the host; sessions in progress fail. It is idempotent.
func (d *Daemon) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.mu.Unlock()
	d.watchCancel()
	<-d.watchDone
	d.host.RemoveStreamHandler(PairProtocol)
	d.host.RemoveStreamHandler(TransferProtocol)
	return d.host.Close()
}

// Status implements API.
func (d *Daemon) Status(ctx context.Context) (*Status, error) {
	st := &Status{PeerID: d.host.ID().String(), Home: d.cfg.Home, Version: d.cfg.Version}
	for _, a := range p2p.DialAddrs(d.host) {
		st.Addrs = append(st.Addrs, a.String()+"/p2p/"+d.host.ID().String())
	}
	d.mu.Lock()
	for _, s := range d.sessions {
		st.Sessions = append(st.Sessions, s.SessionInfo)
	}
	d.mu.Unlock()
	return st, nil
}

// Devices implements API.
func (d *Daemon) Devices(ctx context.Context) ([]Device, error) {
	return listDevices(d.trust)
}

// Forget implements API: the device is removed from the trust store, the
// sessions with it end (ErrForgotten) and its connections are closed.
func (d *Daemon) Forget(ctx context.Context, id string) error {
	pid, err := forgetDevice(d.trust, id)
	if err != nil {
		return err
	}
	d.cut(pid)
	return nil
}

// ListDevices reads the trust store of home without starting a daemon.
func ListDevices(home string) ([]Device, error) {
	trust, err := pairing.Open(home)
	if err != nil {
		return nil, err
	}
	return listDevices(trust)
}

// ForgetDevice removes a device from the trust store of home without
// starting a daemon.
func ForgetDevice(home, id string) error {
	trust, err := pairing.Open(home)
	if err != nil {
		return err
	}
	_, err = forgetDevice(trust, id)
	return err
}

// listDevices reads the trust store.
func listDevices(trust *pairing.Store) ([]Device, error) {
	ds, err := trust.List()
	if err != nil {
		return nil, err
	}
	out := make([]Device, 0, len(ds))
	for _, pd := range ds {
		out = append(out, *apiDevice(pd))
	}
	return out, nil
}

// forgetDevice removes a device from the trust store.
func forgetDevice(trust *pairing.Store, id string) (peer.ID, error) {
	pid, err := peer.Decode(id)
	if err != nil {
		return "", fmt.Errorf("%q is not a device ID (see ferry devices): %w", id, pairing.ErrUnknownDevice)
	}
	return pid, trust.Forget(pid)
}

// Confirm implements API.
func (d *Daemon) Confirm(ctx context.Context, session string, accept bool) error {
	d.mu.Lock()
	s := d.sessions[session]
	d.mu.Unlock()
	if s == nil || s.confirm == nil {
		return fmt.Errorf("no session %q is waiting for an answer", session)
	}
	select {
	case s.confirm <- accept:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	default:
		return fmt.Errorf("session %q was already answered", session)
	}
}

// startSession registers a session for Status and Confirm. The session runs
// under the returned context, which Forget ends for its device.
func (d *Daemon) startSession(ctx context.Context, kind string) (*sessionInfo, context.Context, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	s := &sessionInfo{
		SessionInfo: SessionInfo{ID: kind + "-" + hex.EncodeToString(b[:]), Kind: kind, Started: time.Now(), State: "starting"},
		confirm:     make(chan bool, 1),
		cancel:      cancel,
		done:        make(chan struct{}),
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		cancel(nil)
		return nil, nil, errors.New("the daemon is shutting down")
	}
	d.sessions[s.ID] = s
	return s, ctx, nil
}

func (d *Daemon) endSession(s *sessionInfo) {
	d.mu.Lock()
	delete(d.sessions, s.ID)
	d.mu.Unlock()
	s.cancel(nil)
	close(s.done)
}

// setPeer records the paired device session s talks to.
func (d *Daemon) setPeer(s *sessionInfo, id peer.ID) {
	d.mu.Lock()
	s.peer = id
	d.mu.Unlock()
}

func (d *Daemon) setState(s *sessionInfo, state string) {
	d.mu.Lock()
	s.State = state
	d.mu.Unlock()
}

// emitter stamps events with the session and time.
func emitter(s *sessionInfo, emit func(Event)) func(Event) {
	return func(e Event) {
		e.Session = s.ID
		e.Time = time.Now()
		if emit != nil {
			emit(e)
		}
	}
}

// pathOf names the path a connection takes, for the user.
func pathOf(c network.Conn) string {
	if c == nil {
		return "unknown"
	}
	if c.Stat().Limited {
		return "relayed"
	}
	for _, p := range c.RemoteMultiaddr().Protocols() {
		if p.Name == "p2p-circuit" {
			return "relayed"
		}
	}
	if ip, err := manet.ToIP(c.RemoteMultiaddr()); err == nil && ip.IsLoopback() {
		return "direct (loopback)"
	}
	return "direct LAN"
}
