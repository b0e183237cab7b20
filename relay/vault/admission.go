package vault

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"golang.org/x/time/rate"

	"github.com/ferryhq/ferry/internal/wire"
	"github.com/ferryhq/ferry/relay/vaultproto"
)

// Admission: who may use the vault, and how much of it at once.
//
// A stream is admitted when it opens: the peer must pass Config.Allow (the
// relay: it holds a reservation, of which one IP address gets a bounded
// number), its IP address (IPv4, or IPv6 /56) may have at most IPStreams
// vault streams open, and the stream joins the resource manager's vault
// service (ServiceName), whose limits bound the streams and memory of
// each peer and of the vault as a whole. A request is then read in full
// before it takes any of the slots that serve requests: its length is
// checked against its type's bound before anything is allocated, its
// buffer grows only as its bytes arrive, each buffer is reserved from the
// stream's resource scope and from its IP address's share (IPMemory), and
// the body must arrive within bodyTimeout of its header. Only then does it
// wait for a slot of its account (AccountStreams), of its IP address
// (IPRequests) and of the vault (MaxStreams). So a client that announces
// large requests and sends nothing holds no slot and almost no memory,
// and a device's request is served while others stall.

// ServiceName is the resource manager service of vault streams.
const ServiceName = "ferry.vault"

// bodyTimeout is how long a request of n bytes may take to arrive once its
// header has: 10 seconds plus n at 64 KiB/s, at most requestTimeout.
func bodyTimeout(n int) time.Duration {
	return min(vaultproto.RequestTimeout, 10*time.Second+time.Duration(n)*time.Second/(64<<10))
}

// ipState is the vault's use by one IP address (an IPv6 /56).
type ipState struct {
	key      string
	streams  int           // vault streams open; guarded by Server.mu
	memory   int64         // request bytes being read; guarded by Server.mu
	slots    chan struct{} // IPRequests request slots
	creates  *rate.Limiter // new backups
	refs     int           // streams holding this state; guarded by Server.mu
	lastUsed time.Time     // guarded by Server.mu
}

// ipKey is the IP address of a remote multiaddr, IPv6 cut to its /56, or
// "" when it has none (a relayed connection).
func ipKey(a ma.Multiaddr) string {
	if a == nil {
		return ""
	}
	ip, err := manet.ToIP(a)
	if err != nil {
		return ""
	}
	if ip4 := ip.To4(); ip4 != nil {
		return ip4.String()
	}
	return ip.Mask(net.CIDRMask(56, 128)).String() + "/56"
}

// maxIPs is how many IP addresses' states are kept before idle ones go.
const maxIPs = 1 << 16

// openIP counts one more vault stream from key, or refuses it.
func (s *Server) openIP(key string) (*ipState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ip := s.ips[key]
	if ip == nil {
		if len(s.ips) >= maxIPs {
			s.dropIdleIPsLocked()
		}
		ip = &ipState{key: key, slots: make(chan struct{}, s.cfg.IPRequests),
			creates: rate.NewLimiter(rate.Limit(float64(s.cfg.IPNewBackups)/(24*3600)), s.cfg.IPNewBackups)}
		s.ips[key] = ip
	}
	if ip.streams >= s.cfg.IPStreams {
		return nil, fmt.Errorf("%d vault streams open from %s: %w", ip.streams, key, vaultproto.ErrBusy)
	}
	ip.streams++
	ip.refs++
	return ip, nil
}

func (s *Server) closeIP(ip *ipState) {
	s.mu.Lock()
	ip.streams--
	ip.refs--
	ip.lastUsed = time.Now()
	s.mu.Unlock()
}

// dropIdleIPsLocked forgets addresses with no stream whose bucket of new
// backups is full again. Caller holds mu.
func (s *Server) dropIdleIPsLocked() {
	now := time.Now()
	for k, ip := range s.ips {
		if ip.refs == 0 && ip.creates.TokensAt(now) >= float64(ip.creates.Burst()) {
			delete(s.ips, k)
		}
	}
}

// mayCreate takes one new backup of ip's share; nil ip (a server driven
// without streams, in tests) is not limited.
func (s *Server) mayCreate(ip *ipState) error {
	if ip == nil || ip.creates.Allow() {
		return nil
	}
	return fmt.Errorf("%d new backups a day from one address: %w", s.cfg.IPNewBackups, vaultproto.ErrBusy)
}

// requestMemory is a request buffer's memory: reserved from the stream's
// resource scope and from its IP address's share.
type requestMemory struct {
	s     *Server
	scope network.ResourceScope
	ip    *ipState
}

var _ wire.Memory = (*requestMemory)(nil)

func (m *requestMemory) ReserveMemory(n int, prio uint8) error {
	if err := m.scope.ReserveMemory(n, prio); err != nil {
		return fmt.Errorf("%w: %w", vaultproto.ErrBusy, err)
	}
	m.s.mu.Lock()
	over := m.ip.memory+int64(n) > m.s.cfg.IPMemory
	if !over {
		m.ip.memory += int64(n)
	}
	m.s.mu.Unlock()
	if over {
		m.scope.ReleaseMemory(n)
		return fmt.Errorf("requests of %s hold %d bytes: %w", m.ip.key, m.s.cfg.IPMemory, vaultproto.ErrBusy)
	}
	return nil
}

func (m *requestMemory) ReleaseMemory(n int) {
	m.scope.ReleaseMemory(n)
	m.s.mu.Lock()
	m.ip.memory -= int64(n)
	m.s.mu.Unlock()
}

// errNoAccess wraps ErrNoAccess for a peer Config.Allow refused.
var errNoAccess = fmt.Errorf("no reservation: %w", vaultproto.ErrNoAccess)

// admitStream decides whether a new stream may be served.
func (s *Server) admitStream(st network.Stream) (*ipState, error) {
	from := st.Conn().RemotePeer()
	if s.cfg.Allow != nil && !s.cfg.Allow(from) {
		return nil, errNoAccess
	}
	if err := st.Scope().SetService(ServiceName); err != nil {
		return nil, fmt.Errorf("%w: %w", vaultproto.ErrBusy, err)
	}
	return s.openIP(ipKey(st.Conn().RemoteMultiaddr()))
}

// peerState is one account's admission: its share of the request slots
// and its token bucket.
type peerState struct {
	slots chan struct{}
	lim   *rate.Limiter
	refs  int // requests holding or waiting for this state; guarded by Server.mu
}

// maxPeers is how many accounts' admission states are kept before idle
// ones are dropped.
const maxPeers = 4096

// admit waits until a request of acct from ip (nil: no address, as in
// tests) may be served: a token of acct's bucket, one of its
// AccountStreams slots, one of ip's IPRequests slots, then one of the
// MaxStreams. release gives the slots back.
func (s *Server) admit(ctx context.Context, acct string, ip *ipState) (release func(), err error) {
	s.mu.Lock()
	p := s.peers[acct]
	if p == nil {
		if len(s.peers) >= maxPeers {
			s.dropIdlePeersLocked()
		}
		lim := rate.NewLimiter(rate.Inf, 0)
		if s.cfg.AccountRate > 0 {
			lim = rate.NewLimiter(rate.Limit(s.cfg.AccountRate), s.cfg.AccountBurst)
		}
		p = &peerState{slots: make(chan struct{}, s.cfg.AccountStreams), lim: lim}
		s.peers[acct] = p
	}
	p.refs++
	s.mu.Unlock()
	var held []chan struct{}
	undo := func() {
		for _, c := range held {
			<-c
		}
		s.mu.Lock()
		p.refs--
		s.mu.Unlock()
	}
	if err := p.lim.Wait(ctx); err != nil {
		undo()
		return nil, fmt.Errorf("vault: account rate: %w", err)
	}
	chans := []chan struct{}{p.slots}
	if ip != nil {
		chans = append(chans, ip.slots)
	}
	for _, c := range append(chans, s.slots) {
		select {
		case c <- struct{}{}:
			held = append(held, c)
		case <-ctx.Done():
			undo()
			return nil, ctx.Err()
		}
	}
	return undo, nil
}

// dropIdlePeersLocked forgets the accounts with no request whose bucket is
// full again: forgetting them loses nothing. Caller holds mu.
func (s *Server) dropIdlePeersLocked() {
	now := time.Now()
	for k, p := range s.peers {
		if p.refs == 0 && (p.lim.Limit() == rate.Inf || p.lim.TokensAt(now) >= float64(p.lim.Burst())) {
			delete(s.peers, k)
		}
	}
}

// ipCtxKey carries the IP address state of a request in its context.
type ipCtxKey struct{}

func withIP(ctx context.Context, ip *ipState) context.Context {
	return context.WithValue(ctx, ipCtxKey{}, ip)
}

// ipOf is the IP address state of the request ctx belongs to, nil for a
// request that came on no stream (tests).
func ipOf(ctx context.Context) *ipState {
	ip, _ := ctx.Value(ipCtxKey{}).(*ipState)
	return ip
}

// refusal is the answer to a stream that was refused.
func refusal(err error) (byte, string) {
	if errors.Is(err, vaultproto.ErrNoAccess) {
		return vaultproto.CodeNoAccess, vaultproto.ErrNoAccess.Error()
	}
	return vaultproto.CodeBusy, vaultproto.ErrBusy.Error()
}
