package p2p

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
)

// Target says how Discover finds the other device: at the addresses given,
// through a relay's rendezvous (with mDNS on the side), or by mDNS alone;
// by the code's nameplate, or, without one, any device Known accepts.
type Target struct {
	// Addrs, if set, are dialled (the first peer of them) with no search.
	Addrs []peer.AddrInfo
	// Relay, if set (and Addrs is not), is the relay multiaddr whose
	// rendezvous holds the sender's slot; mDNS still looks on the side and
	// wins when it answers in time.
	Relay string
	// Nameplate is the code's first part, which picks the session; "" looks
	// for any device Known accepts (mDNS), or one of Candidates that answers
	// through the relay.
	Nameplate string
	// Known accepts a device found without the nameplate (a paired one).
	Known func(peer.ID) bool
	// Candidates are the devices to try through the relay without a
	// nameplate.
	Candidates func() ([]peer.ID, error)
	// MDNS allows the local-network search.
	MDNS bool
	// FindTimeout bounds the mDNS search when it is the only means; 0
	// means DefaultFindTimeout.
	FindTimeout time.Duration
	// OnStep, if set, is told each step, as a sentence for the user.
	OnStep func(Step)
}

// Step is one step of Discover, told to Target.OnStep.
type Step struct {
	Found   bool   // the device answered (Message says where); else a search starts
	Message string // a sentence for the user
}

// Found is the device Discover connected to.
type Found struct {
	ID peer.ID
	// Relay is the relay it was found through (for a reconnect, also when
	// the local network beat it); zero when no relay was asked.
	Relay peer.AddrInfo
	// Note says, for the user, how the connection came about when that is
	// worth saying ("the local network beat the relay"), or "".
	Note string
}

// Errors of Discover (besides those of Find, the rendezvous and dialling).
var (
	// ErrNoDiscovery: no address, no relay, and mDNS is off.
	ErrNoDiscovery = errors.New("nothing to find the other device by: no address, no relay, and local-network discovery is off")
	// ErrNoneKnown: without a nameplate, no known device was found.
	ErrNoneKnown = errors.New("no known device is sending")
)

// Discover finds the device t describes and connects h to it: the one call
// behind which a receiver's discovery is (mDNS, the relay's rendezvous, an
// address given). The connection is protected (tag "ferry-session") and the
// addresses it was found at are kept in h's peerstore, for a reconnect.
func Discover(ctx context.Context, h host.Host, t Target) (Found, error) {
	step := func(s Step) {
		if t.OnStep != nil {
			t.OnStep(s)
		}
	}
	match := func(np string, id peer.ID) bool {
		return (t.Nameplate != "" && np == t.Nameplate) || (t.Known != nil && t.Known(id))
	}
	var info peer.AddrInfo
	switch {
	case len(t.Addrs) > 0:
		info = t.Addrs[0]
	case t.Relay != "":
		return viaRelay(ctx, h, t, match, step)
	case !t.MDNS:
		return Found{}, ErrNoDiscovery
	default:
		step(Step{Message: "looking for the sender on the local network"})
		timeout := t.FindTimeout
		if timeout <= 0 {
			timeout = DefaultFindTimeout
		}
		found, err := FindFunc(ctx, match, timeout)
		if errors.Is(err, ErrNotFound) && t.Nameplate == "" {
			return Found{}, ErrNoneKnown
		}
		if err != nil {
			return Found{}, err
		}
		info = found
		step(Step{Found: true, Message: "found the sender at " + fmt.Sprint(info.Addrs)})
	}
	if err := h.Connect(ctx, info); err != nil {
		return Found{}, fmt.Errorf("connect to the sender: %w", err)
	}
	keep(h, info)
	return Found{ID: info.ID}, nil
}

// viaRelay finds the sender through the relay's rendezvous (by nameplate,
// or, without one, any candidate holding a slot there) while mDNS looks on
// the local network in parallel: a LAN path wins when there is one.
func viaRelay(ctx context.Context, h host.Host, t Target, match func(string, peer.ID) bool, step func(Step)) (Found, error) {
	// The local network gets until lanWait after the search began (the
	// relay's answers take part of it) to find the sender; without mDNS
	// there is no wait. lan is closed when the search is over, after what
	// it found, if anything.
	lan := make(chan peer.AddrInfo, 1)
	lctx, stopLAN := context.WithCancel(ctx)
	defer stopLAN()
	if t.MDNS {
		go func() {
			defer close(lan)
			if info, err := FindFunc(lctx, match, lanWait); err == nil {
				lan <- info
			}
		}()
	} else {
		close(lan)
	}
	step(Step{Message: "looking for the sender through the relay (and on the local network)"})
	var (
		relayInfo peer.AddrInfo
		err       error
	)
	if t.Nameplate != "" {
		// A claim needs a slot on the relay, kept for the session.
		relayInfo, _, err = ReserveRelay(ctx, h, t.Relay)
	} else {
		relayInfo, err = ConnectRelay(ctx, h, t.Relay)
	}
	if err != nil {
		return Found{}, err
	}
	var sender Sender
	if t.Nameplate != "" {
		if sender, err = Claim(ctx, h, relayInfo.ID, t.Nameplate); err != nil {
			return Found{}, err
		}
	} else {
		sender.Relay = relayInfo
		var ids []peer.ID
		if t.Candidates != nil {
			if ids, err = t.Candidates(); err != nil {
				return Found{}, err
			}
		}
		for _, id := range ids {
			if DialViaRelay(ctx, h, relayInfo, id) == nil {
				sender.ID = id
				break
			}
		}
		if sender.ID == "" {
			return Found{}, ErrNoneKnown
		}
	}
	// Give the local network its moment to answer: a direct path is faster.
	select {
	case info, ok := <-lan:
		if ok && info.ID == sender.ID && h.Connect(ctx, info) == nil {
			keep(h, info)
			return Found{ID: info.ID, Relay: sender.Relay, Note: "the local network beat the relay"}, nil
		}
	case <-ctx.Done():
		return Found{}, ctx.Err()
	}
	stopLAN()
	if err := DialViaRelay(ctx, h, sender.Relay, sender.ID); err != nil {
		if t.Nameplate != "" && errors.Is(err, ErrNotOnRelay) {
			// Claimed, but gone: its send ended as we claimed the code.
			return Found{}, fmt.Errorf("%w: the sender has left it (%v)", ErrNameplateUnknown, err)
		}
		return Found{}, err
	}
	h.ConnManager().Protect(sender.ID, "ferry-session")
	return Found{ID: sender.ID, Relay: sender.Relay}, nil
}

// lanWait is how long, from its start, a search through a relay also looks
// for the sender on the local network.
const lanWait = time.Second

// keep keeps the addresses a device was found at, for a reconnect (a
// device advertises none but public ones, see Advertised), and protects
// the connection.
func keep(h host.Host, info peer.AddrInfo) {
	h.Peerstore().AddAddrs(info.ID, info.Addrs, peerstore.AddressTTL)
	h.ConnManager().Protect(info.ID, "ferry-session")
}
