package daemon

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/internal/units"
	"github.com/ferryhq/ferry/internal/wire"
	"github.com/ferryhq/ferry/p2p"
	"github.com/ferryhq/ferry/pairing"
	"github.com/ferryhq/ferry/transfer"
)

// offering is a send session in progress: the snapshot it serves and the
// pairing session that guards its code.
type offering struct {
	// Constant after construction (pair: before the offering is published).
	ctx  context.Context // the Send call's; ends the offering
	pair *pairing.SendSession
	emit func(Event)

	// snap and snapErr are set once, before snapReady is closed.
	snapReady chan struct{}
	snap      *transfer.Snap
	snapErr   error

	sent     atomic.Int64 // chunk bytes served, for progress
	doneOnce sync.Once
	done     chan Report // the receiver's report, once
}

func (o *offering) finish(rep Report) {
	o.doneOnce.Do(func() { o.done <- rep })
}

// Send implements API: it snapshots the home, shows a code, advertises on
// the local network, lets one device pair with the code (and any paired
// device connect), serves the chunks the receiver asks for, and returns when
// the receiver reports that it committed and verified the history.
func (d *Daemon) Send(ctx context.Context, req SendRequest, emit func(Event)) (*Report, error) {
	s, err := d.startSession("send")
	if err != nil {
		return nil, err
	}
	defer d.endSession(s)
	ev := emitter(s, emit)

	var code pairing.Code
	if req.Code != "" {
		if code, err = pairing.ParseCode(req.Code); err != nil {
			return nil, err
		}
	} else if code, err = pairing.NewCode(req.CodeWords); err != nil {
		return nil, err
	}
	store, err := chatstore.Open(ctx, d.cfg.Home, chatstore.Options{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("open history: %w", err)
	}
	defer store.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The snapshot is taken while the code is shown and the devices pair:
	// the user need not wait for it before reading the code out.
	o := &offering{ctx: ctx, emit: ev, done: make(chan Report, 1), snapReady: make(chan struct{})}
	go func() {
		defer close(o.snapReady)
		o.snap, o.snapErr = transfer.Snapshot(ctx, store, d.cfg.WorkDir)
	}()
	defer func() {
		cancel()
		<-o.snapReady
		if o.snap != nil {
			o.snap.Close()
		}
	}()
	offerJSON, _ := json.Marshal(Offer{Device: d.cfg.Name, PeerID: d.host.ID().String()})
	if req.Relay != "" {
		if code, err = d.registerOnRelay(ctx, req.Relay, code, req.Code != "", ev); err != nil {
			return nil, err
		}
	}
	ps, err := pairing.NewSendSession(pairing.SessionConfig{
		Local: d.ident, Code: code, Words: req.CodeWords, Offer: offerJSON, Store: d.trust, AttemptTimeout: d.cfg.PairTimeout,
		OnEvent: func(pe pairing.Event) {
			switch pe.Kind {
			case pairing.EventAttemptFailed:
				ev(Event{Kind: EventPairFailed, Message: fmt.Sprintf("a device (%s) %s: attempt %d, %d left",
					short(pe.Remote.String()), failedAttempt(pe.Err), pe.Attempt, pe.Remaining)})
			case pairing.EventPaired:
				ev(Event{Kind: EventPaired, Message: "paired with " + pairing.DisplayName(pe.Peer.Device.Name)})
			}
		},
	})
	if err != nil {
		return nil, err
	}
	defer ps.Close()
	o.pair = ps
	d.mu.Lock()
	if d.offer != nil {
		d.mu.Unlock()
		return nil, errors.New("this device is already sending: finish or cancel that first")
	}
	d.offer = o
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.offer = nil
		d.mu.Unlock()
	}()

	ev(Event{Kind: EventCode, Code: ps.Code().String()})
	stop, err := func() (func(), error) {
		if d.cfg.NoMDNS {
			return func() {}, nil
		}
		return p2p.Advertise(ctx, d.host, strconv.Itoa(int(ps.Code().Nameplate)))
	}()
	if err != nil {
		// Paired devices and --relay can still reach us; say what is missing.
		ev(Event{Kind: EventWaiting, Message: "cannot advertise on the local network: " + err.Error()})
	} else {
		defer stop()
		ev(Event{Kind: EventWaiting, Message: "waiting for the other device: run ferry receive " + ps.Code().String() + " there"})
	}
	d.setState(s, "waiting")

	pairDone, snapReady := ps.Done(), o.snapReady
	for {
		select {
		case <-snapReady:
			snapReady = nil
			if o.snapErr != nil {
				return nil, fmt.Errorf("snapshot: %w", o.snapErr)
			}
			m := o.snap.Manifest()
			offer := Offer{Device: d.cfg.Name, PeerID: d.host.ID().String(), Messages: m.Stats.Messages,
				MediaBytes: m.Stats.MediaBytes, Bytes: m.TotalBytes()}
			ev(Event{Kind: EventWaiting, Offer: &offer, Message: fmt.Sprintf("offering %d messages and %s of media (%s to move)",
				offer.Messages, units.Bytes(offer.MediaBytes), units.Bytes(offer.Bytes))})
		case rep := <-o.done:
			ev(Event{Kind: EventDone, Report: &rep, Message: "the other device committed and verified the history"})
			return &rep, nil
		case <-pairDone:
			pairDone = nil
			if err := ps.Err(); errors.Is(err, pairing.ErrTooManyAttempts) {
				return nil, err
			}
			d.setState(s, "sending")
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// registerOnRelay reserves a slot on the relay (kept until ctx ends) and
// registers the code's nameplate there, so that a receiver on another network
// finds this device by code; while it waits, the relay lets only the code's
// claimers and this device's paired devices reach it. A nameplate taken by another sender on the relay
// is replaced by a fresh one (unless the user chose the code). While ctx
// lasts, the registration is renewed if the relay forgets it (a restart).
func (d *Daemon) registerOnRelay(ctx context.Context, relayAddr string, code pairing.Code, fixed bool, ev func(Event)) (pairing.Code, error) {
	info, _, err := p2p.ReserveRelay(ctx, d.host, relayAddr)
	if err != nil {
		return code, err
	}
	for tries := 0; ; tries++ {
		np := strconv.Itoa(int(code.Nameplate))
		err = p2p.Register(ctx, d.host, info.ID, np, d.pairedPeers()...)
		if err == nil || fixed || !errors.Is(err, p2p.ErrNameplateTaken) || tries == 8 {
			break
		}
		// Busy relays need more nameplates than a LAN: widen the range.
		n, rerr := rand.Int(rand.Reader, big.NewInt(9900))
		if rerr != nil {
			return code, rerr
		}
		code.Nameplate = uint16(100 + n.Int64())
	}
	if err != nil {
		return code, err
	}
	ev(Event{Kind: EventWaiting, Message: "the code is registered on the relay " + short(info.ID.String())})
	// A relay that restarts forgets the code: register it again each time
	// the connection to the relay comes back (ReserveRelay reconnects).
	sub, err := d.host.EventBus().Subscribe(new(event.EvtPeerConnectednessChanged))
	if err != nil {
		return code, err
	}
	go func() {
		defer sub.Close()
		np := strconv.Itoa(int(code.Nameplate))
		for {
			select {
			case <-ctx.Done():
				uctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_ = p2p.Unregister(uctx, d.host, info.ID, np)
				cancel()
				return
			case e := <-sub.Out():
				ce := e.(event.EvtPeerConnectednessChanged)
				if ce.Peer != info.ID || ce.Connectedness != network.Connected {
					continue
				}
				for i := 0; i < 5 && ctx.Err() == nil; i++ {
					if err := p2p.Register(ctx, d.host, info.ID, np, d.pairedPeers()...); err == nil || errors.Is(err, p2p.ErrNameplateTaken) {
						d.log.Info("registered the code on the relay again", "relay", info.ID, "err", err)
						break
					}
					time.Sleep(500 * time.Millisecond)
				}
			}
		}
	}()
	return code, nil
}

// pairedPeers are the paired devices' peer IDs, oldest pairing first: the
// relay lets them reach this sender without claiming its code (to resume,
// or to migrate again without one).
func (d *Daemon) pairedPeers() []peer.ID {
	devs, err := d.trust.List()
	if err != nil {
		d.log.Warn("cannot list the paired devices for the relay", "err", err)
		return nil
	}
	ids := make([]peer.ID, len(devs))
	for i, dev := range devs {
		ids[i] = dev.PeerID
	}
	return ids
}

// currentOffer is the send session in progress, or nil.
func (d *Daemon) currentOffer() *offering {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.offer
}

// handlePair serves one pairing attempt on the sender.
func (d *Daemon) handlePair(s network.Stream) {
	d.log.Debug("pairing attempt started", "peer", s.Conn().RemotePeer())
	o := d.currentOffer()
	if o == nil {
		s.Reset()
		return
	}
	if _, err := o.pair.Accept(o.ctx, s, s.Conn().RemotePeer()); err != nil {
		d.log.Info("pairing attempt failed", "peer", s.Conn().RemotePeer(), "err", err)
		// Close, not Reset: the other side must still read why (the code
		// did not match) rather than a bare stream reset.
		s.Close()
		return
	}
	s.Close()
}

// handleTransfer serves one transfer stream on the sender, to paired devices only.
func (d *Daemon) handleTransfer(s network.Stream) {
	remote := s.Conn().RemotePeer()
	if _, err := d.trust.Get(remote); err != nil {
		d.log.Warn("refused transfer to an unpaired device", "peer", remote)
		_ = wire.WriteError(s, wire.CodeNotTrusted, "this device is not paired with the sender: pair with a code first")
		s.Close()
		return
	}
	o := d.currentOffer()
	if o == nil {
		_ = wire.WriteError(s, wire.CodeNoSession, "the other device is not sending right now: run ferry send there")
		s.Close()
		return
	}
	select {
	case <-o.snapReady:
	case <-o.ctx.Done():
		s.Reset()
		return
	}
	if o.snapErr != nil {
		_ = wire.WriteError(s, wire.CodeInternal, "the sender could not take a snapshot of its history")
		s.Close()
		return
	}
	total := o.snap.Manifest().TotalBytes()
	err := serveTransfer(o.ctx, s, o.snap, func(n int64) {
		o.emit(Event{Kind: EventProgress, Phase: "sending", Done: o.sent.Add(n), Total: total})
	}, o.finish)
	if err != nil {
		d.log.Info("transfer stream ended", "peer", remote, "err", err)
		s.Reset()
		return
	}
	s.Close()
}

// failedAttempt says what a failed pairing attempt did, for the sender's user.
func failedAttempt(err error) string {
	switch {
	case errors.Is(err, pairing.ErrCodeMismatch):
		return "tried a wrong code"
	case errors.Is(err, pairing.ErrAttemptTimeout):
		return "did not finish pairing in time"
	case errors.Is(err, pairing.ErrBadName):
		return "presented a name with control or text-direction characters"
	}
	return "failed to pair (" + err.Error() + ")"
}

// short abbreviates a peer ID for messages.
func short(id string) string {
	if len(id) > 12 {
		return id[:4] + "…" + id[len(id)-6:]
	}
	return id
}
