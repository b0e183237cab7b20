package p2p

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/ferryhq/ferry/relay/rendezvous"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/host/eventbus"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	pbv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/pb"
	ma "github.com/multiformats/go-multiaddr"
	msmux "github.com/multiformats/go-multistream"
)

// Errors of the relay client. Each is a sentence a user can act on; the
// functions below wrap them with the operation that failed.
var (
	ErrRelayAddr        = errors.New("the relay address must be a multiaddr ending in /p2p/<relay peer ID>, as the relay prints it")
	ErrRelayUnreachable = errors.New("cannot reach the relay: check the relay address and this device's network")
	ErrRelayFull        = errors.New("the relay refused a slot: it is full or refuses this device; try again later or use another relay")
	ErrNameplateUnknown = errors.New("no sender is waiting with that code on this relay: check the code, and that both sides use the same relay")
	ErrNameplateExpired = errors.New("the sender's code expired on the relay: start the send again and use the new code")
	ErrNameplateClaimed = errors.New("other receivers already used that code on this relay: start the send again and use the new code")
	ErrNameplateTaken   = errors.New("another sender is using that nameplate on this relay: start the send again to get another code")
	ErrRateLimited      = errors.New("the relay is rate-limiting this device or network: wait a little and try again")
	// ErrNotOnRelay: the device dialled through a relay holds no slot on
	// it (it has left the relay, or never reserved one).
	ErrNotOnRelay       = errors.New("the device is not on this relay")
	ErrNoReservation    = errors.New("the relay has no slot reserved for this device: reserve one before registering or claiming a code")
	ErrRendezvousLimit  = errors.New("this device or its network already holds as many codes on the relay as it allows: finish or cancel the other sends and receives, or wait for their codes to expire")
	ErrRelayRefused     = errors.New("the relay refused to connect this device to that one: it is waiting for a code, and only a device that looked that code up on the relay may reach it")
	ErrRelayProtocol    = errors.New("the relay answered something this version of ferry does not understand: check that the relay and ferry versions match")
	ErrRelayUnavailable = errors.New("the relay cannot serve rendezvous right now: try again shortly")
)

// rendezvousTimeout bounds one rendezvous exchange with the relay.
const rendezvousTimeout = 15 * time.Second

// ParseRelayAddr parses a relay address such as
// /ip4/203.0.113.7/tcp/4001/p2p/12D3KooW…
func ParseRelayAddr(s string) (peer.AddrInfo, error) {
	a, err := ma.NewMultiaddr(s)
	if err != nil {
		return peer.AddrInfo{}, fmt.Errorf("relay address %q: %w (%v)", s, ErrRelayAddr, err)
	}
	info, err := peer.AddrInfoFromP2pAddr(a)
	if err != nil || len(info.Addrs) == 0 {
		return peer.AddrInfo{}, fmt.Errorf("relay address %q: %w", s, ErrRelayAddr)
	}
	return *info, nil
}

// ConnectRelay connects h to the relay at relayAddr and keeps the
// connection from being trimmed. A paired device calls it before
// DialViaRelay; a receiver with a code reserves a slot instead
// (ReserveRelay), which claiming needs.
func ConnectRelay(ctx context.Context, h host.Host, relayAddr string) (peer.AddrInfo, error) {
	info, err := ParseRelayAddr(relayAddr)
	if err != nil {
		return peer.AddrInfo{}, err
	}
	h.Peerstore().AddAddrs(info.ID, info.Addrs, peerstore.PermanentAddrTTL)
	if err := h.Connect(ctx, info); err != nil {
		return peer.AddrInfo{}, fmt.Errorf("connect to relay %s: %w (%v)", info.ID, ErrRelayUnreachable, err)
	}
	h.ConnManager().Protect(info.ID, relayProtectTag)
	return info, nil
}

const relayProtectTag = "ferry-relay"

// ReserveRelay connects h to the relay at relayAddr and reserves a slot on
// it, so that others can reach h at the returned circuit addresses
// (<relay addr>/p2p-circuit/p2p/<h's ID>). Until ctx ends, a goroutine keeps
// the reservation: it refreshes it before it expires and makes a new one
// as soon as the connection to the relay drops (a relay restart), retrying
// with backoff. The caller owns that goroutine through ctx.
func ReserveRelay(ctx context.Context, h host.Host, relayAddr string) (relayInfo peer.AddrInfo, circuitAddrs []ma.Multiaddr, err error) {
	info, err := ConnectRelay(ctx, h, relayAddr)
	if err != nil {
		return peer.AddrInfo{}, nil, fmt.Errorf("reserve relay slot: %w", err)
	}
	// Subscribe before reserving so that no disconnection is missed.
	sub, err := h.EventBus().Subscribe(new(event.EvtPeerConnectednessChanged), eventbus.BufSize(64))
	if err != nil {
		return peer.AddrInfo{}, nil, fmt.Errorf("reserve relay slot: subscribe: %w", err)
	}
	rsvp, err := reserve(ctx, h, info)
	if err != nil {
		sub.Close()
		h.ConnManager().Unprotect(info.ID, relayProtectTag)
		return peer.AddrInfo{}, nil, err
	}
	go keepReservation(ctx, h, info, rsvp.Expiration, sub)
	return info, CircuitAddrs(info, h.ID()), nil
}

// CircuitAddrs are the addresses at which peer p is reachable through the
// relay: <relay addr>/p2p/<relay>/p2p-circuit/p2p/<p>.
func CircuitAddrs(relay peer.AddrInfo, p peer.ID) []ma.Multiaddr {
	out := make([]ma.Multiaddr, 0, len(relay.Addrs))
	for _, a := range relay.Addrs {
		c, err := ma.NewMultiaddr("/p2p/" + relay.ID.String() + "/p2p-circuit/p2p/" + p.String())
		if err != nil {
			continue
		}
		out = append(out, a.Encapsulate(c))
	}
	return out
}

func reserve(ctx context.Context, h host.Host, info peer.AddrInfo) (*client.Reservation, error) {
	rsvp, err := client.Reserve(ctx, h, info)
	if err == nil {
		return rsvp, nil
	}
	var re client.ReservationError
	if errors.As(err, &re) {
		switch re.Status {
		case pbv2.Status_PERMISSION_DENIED, pbv2.Status_RESERVATION_REFUSED, pbv2.Status_RESOURCE_LIMIT_EXCEEDED:
			return nil, fmt.Errorf("reserve relay slot on %s: %w (%s)", info.ID, ErrRelayFull, re.Status)
		}
	}
	return nil, fmt.Errorf("reserve relay slot on %s: %w (%v)", info.ID, ErrRelayUnreachable, err)
}

// keepReservation refreshes the reservation until ctx ends. It always
// drains sub, so that it never holds up the host's event bus.
func keepReservation(ctx context.Context, h host.Host, info peer.AddrInfo, expires time.Time, sub event.Subscription) {
	defer sub.Close()
	defer h.ConnManager().Unprotect(info.ID, relayProtectTag)
	const minBackoff, maxBackoff = 500 * time.Millisecond, 30 * time.Second
	// Refresh when three quarters of the remaining time has passed.
	refreshIn := func() time.Duration { return max(time.Until(expires)*3/4, time.Second) }
	backoff := minBackoff
	t := time.NewTimer(refreshIn())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-sub.Out():
			if !ok {
				return
			}
			e := ev.(event.EvtPeerConnectednessChanged)
			if e.Peer != info.ID || e.Connectedness == network.Connected {
				continue
			}
			// The relay went away (restart?): reserve again right away.
			t.Reset(0)
			continue
		case <-t.C:
		}
		// Our own backoff paces the retries; the swarm's would hold off
		// dialling a restarted relay for seconds.
		if sw, ok := h.Network().(*swarm.Swarm); ok {
			sw.Backoff().Clear(info.ID)
		}
		rsvp, err := client.Reserve(ctx, h, info)
		if err != nil {
			t.Reset(backoff)
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		expires, backoff = rsvp.Expiration, minBackoff
		t.Reset(refreshIn())
	}
}

// MaxRelayAllow is the number of peers Register passes on to the relay.
const MaxRelayAllow = rendezvous.MaxAllow

// Register registers nameplate on relay as h's, so that a receiver can
// look it up. h must hold a reservation on relay (ReserveRelay). While the
// nameplate is registered (and for a while after it expires), the relay
// lets only the peers that looked it up reach h through it, and the peers
// in allow (h's paired devices, which need no code); of a longer list than
// MaxRelayAllow the last ones are kept. Registering again replaces the
// list.
func Register(ctx context.Context, h host.Host, relay peer.ID, nameplate string, allow ...peer.ID) error {
	if n := len(allow) - MaxRelayAllow; n > 0 {
		allow = allow[n:]
	}
	var uniq []peer.ID
	for _, p := range allow {
		if !slices.Contains(uniq, p) {
			uniq = append(uniq, p)
		}
	}
	_, err := rendezvousCall(ctx, h, relay, rendezvous.Request{Op: rendezvous.OpRegister, Nameplate: nameplate, Allow: uniq})
	return err
}

// Unregister forgets h's registration of nameplate on relay.
func Unregister(ctx context.Context, h host.Host, relay peer.ID, nameplate string) error {
	_, err := rendezvousCall(ctx, h, relay, rendezvous.Request{Op: rendezvous.OpUnregister, Nameplate: nameplate})
	return err
}

// Lookup claims nameplate on relay and returns the peer ID of the sender
// that registered it. h must hold a reservation on relay (ReserveRelay).
// A nameplate takes a few claims (the relay's limit); the sender's pairing
// decides which claimer had the code. To dial the sender, use Claim, which
// also says which relay holds the sender's slot.
func Lookup(ctx context.Context, h host.Host, relay peer.ID, nameplate string) (peer.ID, error) {
	s, err := Claim(ctx, h, relay, nameplate)
	return s.ID, err
}

// Sender is a claimed rendezvous entry.
type Sender struct {
	// ID is the sender's peer ID. Pairing proves the peer holds its key.
	ID peer.ID
	// Relay is the relay process holding the sender's slot: the one asked,
	// or another one sharing its rendezvous state (Redis). Dial the sender
	// through it with DialViaRelay.
	Relay peer.AddrInfo
}

// Claim claims nameplate on relay (see Lookup) and returns the sender and
// the relay through which to reach it.
func Claim(ctx context.Context, h host.Host, relay peer.ID, nameplate string) (Sender, error) {
	resp, err := rendezvousCall(ctx, h, relay, rendezvous.Request{Op: rendezvous.OpClaim, Nameplate: nameplate})
	if err != nil {
		return Sender{}, err
	}
	if resp.Peer == "" {
		return Sender{}, fmt.Errorf("look up code on relay: %w (no peer ID in the answer)", ErrRelayProtocol)
	}
	s := Sender{ID: resp.Peer, Relay: peer.AddrInfo{ID: relay}}
	if len(resp.Relay) > 0 {
		infos, err := peer.AddrInfosFromP2pAddrs(resp.Relay...)
		if err != nil || len(infos) != 1 {
			return Sender{}, fmt.Errorf("look up code on relay: %w (bad relay addresses in the answer)", ErrRelayProtocol)
		}
		s.Relay = infos[0]
	}
	if s.Relay.ID == relay {
		// Addresses we already use for this relay work; keep them first.
		s.Relay.Addrs = ma.Unique(append(h.Peerstore().Addrs(relay), s.Relay.Addrs...))
	}
	return s, nil
}

func rendezvousCall(ctx context.Context, h host.Host, relay peer.ID, r rendezvous.Request) (rendezvous.Response, error) {
	what := map[rendezvous.Op]string{
		rendezvous.OpRegister:   "register code on relay",
		rendezvous.OpClaim:      "look up code on relay",
		rendezvous.OpUnregister: "unregister code on relay",
	}[r.Op]
	req, err := r.MarshalBinary()
	if err != nil {
		return rendezvous.Response{}, fmt.Errorf("%s: %w", what, err)
	}
	ctx, cancel := context.WithTimeout(ctx, rendezvousTimeout)
	defer cancel()
	// The protocol may be negotiated lazily, on the first write or read:
	// every stream error may say that the relay does not speak it.
	streamErr := func(err error) error {
		var reset *network.StreamError
		refused := errors.As(err, &reset) && reset.Remote && reset.ErrorCode == network.StreamProtocolNegotiationFailed
		if refused || errors.As(err, new(msmux.ErrNotSupported[protocol.ID])) {
			return fmt.Errorf("%s %s: %w (it does not speak %s)", what, relay, ErrRelayProtocol, rendezvous.ProtocolID)
		}
		return fmt.Errorf("%s %s: %w (%v)", what, relay, ErrRelayUnreachable, err)
	}
	s, err := h.NewStream(ctx, relay, rendezvous.ProtocolID)
	if err != nil {
		return rendezvous.Response{}, streamErr(err)
	}
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	defer stop()
	if _, err := s.Write(req); err != nil {
		s.Reset()
		return rendezvous.Response{}, streamErr(err)
	}
	if err := s.CloseWrite(); err != nil {
		s.Reset()
		return rendezvous.Response{}, streamErr(err)
	}
	b, err := io.ReadAll(io.LimitReader(s, rendezvous.MaxResponseLen+1))
	if err != nil {
		s.Reset()
		return rendezvous.Response{}, streamErr(err)
	}
	s.Close()
	resp, err := rendezvous.ParseResponse(b)
	if err != nil {
		return rendezvous.Response{}, fmt.Errorf("%s: %w (%v)", what, ErrRelayProtocol, err)
	}
	if err := statusError(resp); err != nil {
		return resp, fmt.Errorf("%s: %w", what, err)
	}
	return resp, nil
}

// statusError maps a relay's answer to a sentinel error.
func statusError(r rendezvous.Response) error {
	var sentinel error
	switch r.Status {
	case rendezvous.StatusOK:
		return nil
	case rendezvous.StatusUnknown:
		sentinel = ErrNameplateUnknown
	case rendezvous.StatusExpired:
		sentinel = ErrNameplateExpired
	case rendezvous.StatusClaimed:
		sentinel = ErrNameplateClaimed
	case rendezvous.StatusInUse:
		sentinel = ErrNameplateTaken
	case rendezvous.StatusRateLimited:
		return fmt.Errorf("%w (retry in %d s)", ErrRateLimited, r.Seconds)
	case rendezvous.StatusNoReservation:
		sentinel = ErrNoReservation
	case rendezvous.StatusUnavailable:
		sentinel = ErrRelayUnavailable
	case rendezvous.StatusLimit:
		sentinel = ErrRendezvousLimit
	default: // StatusMalformed: the relay did not understand us
		sentinel = ErrRelayProtocol
	}
	if r.Message != "" {
		return fmt.Errorf("%w (relay says: %s)", sentinel, r.Message)
	}
	return sentinel
}

// DialViaRelay connects h to peer p through the relay (at
// <relay addr>/p2p/<relay>/p2p-circuit/p2p/<p>). The connection is
// "limited" in libp2p's terms: open streams on it with
// network.WithAllowLimitedConn(ctx, reason). Hole punching, if enabled on
// both hosts, may later add a direct connection; IsRelayed tells them apart.
func DialViaRelay(ctx context.Context, h host.Host, relay peer.AddrInfo, p peer.ID) error {
	addrs := CircuitAddrs(relay, p)
	h.Peerstore().AddAddrs(relay.ID, relay.Addrs, peerstore.PermanentAddrTTL)
	ctx = network.WithAllowLimitedConn(ctx, "ferry-relay")
	var err error
	for attempt := 0; attempt < circuitAttempts; attempt++ {
		if attempt > 0 {
			// A busy relay can let a circuit's handshake outlast the
			// swarm's dial timeout; the next attempt must not be refused
			// by the swarm's backoff for the failed one.
			if sw, ok := h.Network().(*swarm.Swarm); ok {
				sw.Backoff().Clear(p)
			}
			t := time.NewTimer(time.Duration(attempt) * 500 * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("dial %s through relay %s: %w (after: %v)", p, relay.ID, ctx.Err(), err)
			case <-t.C:
			}
		}
		if err = h.Connect(ctx, peer.AddrInfo{ID: p, Addrs: addrs}); err == nil {
			return nil
		}
		// The circuit client's error types are not exported; its text
		// names the relay's status.
		if strings.Contains(err.Error(), pbv2.Status_PERMISSION_DENIED.String()) {
			return fmt.Errorf("dial %s through relay %s: %w (%v)", p, relay.ID, ErrRelayRefused, err)
		}
		if strings.Contains(err.Error(), pbv2.Status_NO_RESERVATION.String()) {
			// The peer holds no slot on the relay: no retry brings it.
			return fmt.Errorf("dial %s through relay %s: %w (%v)", p, relay.ID, ErrNotOnRelay, err)
		}
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("dial %s through relay %s: %w", p, relay.ID, err)
}

// circuitAttempts is how many times DialViaRelay dials a circuit that
// fails for another reason than the relay's refusal.
const circuitAttempts = 3

// IsRelayed reports whether c runs through a relay rather than directly.
func IsRelayed(c network.Conn) bool {
	if c.Stat().Limited {
		return true
	}
	_, err := c.RemoteMultiaddr().ValueForProtocol(ma.P_CIRCUIT)
	return err == nil
}
