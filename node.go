package ferry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/ferryhq/ferry/p2p"
	"github.com/ferryhq/ferry/pairing"
)

// PairProtocol is the libp2p protocol ID of pairing by code.
const PairProtocol = "/ferry/pair/1"

// config is a Device's settings with every default filled in; a node keeps
// it unchanged.
type config struct {
	home, name, version, workDir string
	listen                       []string
	parallel                     int
	findTimeout, pairTimeout     time.Duration
	retryFor, relayRetry         time.Duration
	noMDNS                       bool
	log                          *slog.Logger
}

// node is a started Device: its libp2p host, trust store and sessions.
type node struct {
	// Constant after startNode.
	cfg   config
	log   *slog.Logger
	host  host.Host
	ident pairing.Identity
	trust *pairing.Store

	relayOf sync.Map // peer.ID → peer.AddrInfo of the relay it was reached through

	watchCancel context.CancelFunc // stops watchTrust
	watchDone   chan struct{}      // closed when watchTrust returns

	mu       sync.Mutex // guards the fields below
	offer    *offering  // the send session in progress, if any
	sessions map[string]*session
	closed   bool
}

// startNode starts the libp2p host of the device whose home is cfg.home,
// which exists and is a Ferry home (or empty).
func startNode(ctx context.Context, cfg config) (*node, error) {
	trust, err := pairing.Open(cfg.home)
	if err != nil {
		return nil, fmt.Errorf("trust store: %w", err)
	}
	key, err := p2p.LoadIdentity(cfg.home)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	h, err := p2p.NewHost(ctx, p2p.Config{Home: cfg.home, ListenAddrs: cfg.listen, Logger: cfg.log})
	if err != nil {
		return nil, err
	}
	d := &node{
		cfg:      cfg,
		log:      cfg.log,
		host:     h,
		ident:    pairing.Identity{Key: key, Name: cfg.name, Version: cfg.version},
		trust:    trust,
		sessions: make(map[string]*session),
	}
	h.SetStreamHandler(PairProtocol, d.handlePair)
	h.SetStreamHandler(TransferProtocol, d.handleTransfer)
	h.SetStreamHandler(TransferProtocolV1, d.handleTransfer) // a receiver with an older Ferry
	wctx, wcancel := context.WithCancel(context.Background())
	d.watchCancel, d.watchDone = wcancel, make(chan struct{})
	go d.watchTrust(wctx)
	return d, nil
}

// close stops the host; sessions in progress fail. It is idempotent.
func (d *node) close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	running := make([]*session, 0, len(d.sessions))
	for _, s := range d.sessions {
		running = append(running, s)
	}
	d.mu.Unlock()
	// The sessions end first, each with its own clean-up (a send's
	// snapshot goes), while the host still runs.
	for _, s := range running {
		s.cancel(errClosed)
	}
	for _, s := range running {
		<-s.done
	}
	d.watchCancel()
	<-d.watchDone
	d.host.RemoveStreamHandler(PairProtocol)
	d.host.RemoveStreamHandler(TransferProtocol)
	d.host.RemoveStreamHandler(TransferProtocolV1)
	return d.host.Close()
}

// status is the node's part of Status: its peer ID, addresses and sessions.
func (d *node) status(st *Status) {
	st.PeerID = d.host.ID().String()
	for _, a := range p2p.DialAddrs(d.host) {
		st.Addrs = append(st.Addrs, a.String()+"/p2p/"+d.host.ID().String())
	}
	d.mu.Lock()
	for _, s := range d.sessions {
		st.Sessions = append(st.Sessions, s.info())
	}
	d.mu.Unlock()
}

// startSession registers a session for Status. The session runs under the
// returned context, which Forget ends for its device.
func (d *node) startSession(ctx context.Context, kind string) (*session, context.Context, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	s := &session{
		id:      kind + "-" + hex.EncodeToString(b[:]),
		kind:    kind,
		started: time.Now(),
		state:   StateStarting,
		log:     d.log,
		cancel:  cancel,
		done:    make(chan struct{}),
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		cancel(nil)
		return nil, nil, errors.New("the device is shutting down")
	}
	d.sessions[s.id] = s
	return s, ctx, nil
}

func (d *node) endSession(s *session, err error) {
	if err == nil {
		s.setState(StateDone)
	} else {
		s.setState(StateFailed)
	}
	d.mu.Lock()
	delete(d.sessions, s.id)
	d.mu.Unlock()
	s.cancel(nil)
	close(s.done)
}

// setPeer records the paired device session s talks to.
func (d *node) setPeer(s *session, id peer.ID) {
	d.mu.Lock()
	s.peer = id
	d.mu.Unlock()
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

// seen records in the trust store that a migration with the paired device
// id ended now. A home that cannot take it (read-only) loses only that.
func (d *node) seen(id peer.ID) {
	if err := d.trust.Seen(id, time.Now()); err != nil {
		d.log.Warn("cannot record when the device was last seen", "peer", id, "err", err)
	}
}
