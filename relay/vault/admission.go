package vault

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"golang.org/x/time/rate"

	"github.com/ferryhq/ferry/internal/wire"
	"github.com/libp2p/go-libp2p/core/network"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
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
	return min(requestTimeout, 10*time.Second+time.Duration(n)*time.Second/(64<<10))
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
		return nil, fmt.Errorf("%d vault streams open from %s: %w", ip.streams, key, ErrBusy)
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
	return fmt.Errorf("%d new backups a day from one address: %w", s.cfg.IPNewBackups, ErrBusy)
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
		return fmt.Errorf("%w: %w", ErrBusy, err)
	}
	m.s.mu.Lock()
	over := m.ip.memory+int64(n) > m.s.cfg.IPMemory
	if !over {
		m.ip.memory += int64(n)
	}
	m.s.mu.Unlock()
	if over {
		m.scope.ReleaseMemory(n)
		return fmt.Errorf("requests of %s hold %d bytes: %w", m.ip.key, m.s.cfg.IPMemory, ErrBusy)
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
var errNoAccess = fmt.Errorf("no reservation: %w", ErrNoAccess)

// admitStream decides whether a new stream may be served.
func (s *Server) admitStream(st network.Stream) (*ipState, error) {
	from := st.Conn().RemotePeer()
	if s.cfg.Allow != nil && !s.cfg.Allow(from) {
		return nil, errNoAccess
	}
	if err := st.Scope().SetService(ServiceName); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBusy, err)
	}
	return s.openIP(ipKey(st.Conn().RemoteMultiaddr()))
}

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

// refusal is the answer to a stream that was refused.
func refusal(err error) (byte, string) {
	if errors.Is(err, ErrNoAccess) {
		return codeNoAccess, ErrNoAccess.Error()
	}
	return codeBusy, ErrBusy.Error()
}

// The vault's total (Config.MaxTotal): the bytes under v1/b/ as one
// listing counts them, at the first write and again at each sweep round,
// kept up to date in between by this process's writes and removals
// (chunks, reserved when their upload is admitted; manifests). Other relay
// processes on the same store are seen at the next count.

// ensureTotal counts the vault's bytes if they are not counted yet (once:
// the first writes after a start wait for one count).
func (s *Server) ensureTotal(ctx context.Context) error {
	s.countMu.Lock()
	defer s.countMu.Unlock()
	s.mu.Lock()
	ok := s.totalOK
	s.mu.Unlock()
	if ok {
		return nil
	}
	return s.countTotal(ctx)
}

// recountBudget bounds the count of a sweep round: a store too large to
// list in that time keeps the total this process keeps up to date.
const recountBudget = 5 * time.Second

// recount counts the vault's bytes anew, within recountBudget, unless a
// count is under way.
func (s *Server) recount(ctx context.Context) {
	if !s.countMu.TryLock() {
		return
	}
	defer s.countMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, recountBudget)
	defer cancel()
	if err := s.countTotal(ctx); err != nil {
		s.log.Warn("vault: count the vault's bytes", "err", err)
	}
}

// countTotal counts the vault's bytes anew: what the store lists, and the
// chunks being written. Caller holds countMu.
func (s *Server) countTotal(ctx context.Context) error {
	objs, err := s.store.List(ctx, "v1/b/")
	if err != nil {
		return fmt.Errorf("count the vault: %w", err)
	}
	var n int64
	for _, o := range objs {
		n += o.Size
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.backups {
		n += l.inflight
	}
	s.total, s.totalOK = n, true
	return nil
}

// takeTotal counts n more bytes, unless that passes MaxTotal (ErrFull).
func (s *Server) takeTotal(n int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n > 0 && s.total+n > s.cfg.MaxTotal {
		return fmt.Errorf("%d of %d bytes held: %w", s.total, s.cfg.MaxTotal, ErrFull)
	}
	s.total += n
	return nil
}

// addTotal counts n more (or, negative, fewer) bytes.
func (s *Server) addTotal(n int64) {
	s.mu.Lock()
	s.total = max(s.total+n, 0)
	s.mu.Unlock()
}
