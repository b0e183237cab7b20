package ferry

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
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
	"github.com/ferryhq/ferry/p2p"
	"github.com/ferryhq/ferry/pairing"
	"github.com/ferryhq/ferry/transfer"
)

// offering is a send session in progress: the snapshot it serves, the
// pairing session that guards its code, and the device it serves.
type offering struct {
	// Constant after construction (pair: before the offering is published).
	ctx     context.Context      // the Send call's; ends the offering
	pair    *pairing.SendSession // nil for a send to a chosen device
	bind    *binding
	emit    func(Event)
	home    string
	log     *slog.Logger
	onServe func(peer.ID) // called once the receiver is chosen

	// Every served stream holds a read lock; the Send takes the write lock
	// when it ends, to wait for them before the snapshot goes.
	serving sync.RWMutex

	// snap and snapErr are set once, before snapReady is closed.
	snapReady chan struct{}
	snap      *transfer.Snap
	snapErr   error

	early *transfer.EarlyMedia // the media the history refers to, served before the snapshot; nil: none

	sent     atomic.Int64 // chunk bytes served, for progress
	pathMu   sync.Mutex   // guards path
	path     string       // the receiver's connection, as last told (EventConnected)
	doneOnce sync.Once
	done     chan Report // the receiver's report, once
}

func (o *offering) finish(rep Report) {
	o.doneOnce.Do(func() { o.done <- rep })
}

// How a send's receiver was chosen.
type servedHow int

const (
	servedByCode   servedHow = iota + 1 // it paired with the code in this session
	servedByChoice                      // SendOptions.To named it
	servedByResume                      // it was the receiver of a send that did not finish
)

// served tells the user which device the send serves now that it is chosen,
// and records it so that a send started again after a kill lets it resume.
func (o *offering) served(dev pairing.Device, how servedHow) {
	o.onServe(dev.PeerID)
	if err := writeSendRecord(o.home, dev.PeerID, time.Now()); err != nil {
		o.log.Warn("cannot record the send's receiver: a restarted send will want a code", "err", err)
	}
	who := fmt.Sprintf("%s (%s)", pairing.DisplayName(dev.Name), short(dev.PeerID.String()))
	var msg string
	switch how {
	case servedByCode:
		msg = "sending to " + who + ", which paired with the code"
	case servedByChoice:
		msg = "sending to " + who + " only, as asked: receive on that device (no code needed)"
	case servedByResume:
		msg = who + " continues the migration that was interrupted (the code is no longer needed, nor valid)"
		if o.bind.resume != nil {
			msg = fmt.Sprintf("%s continues the migration that was interrupted (it started at %s; the code is no longer needed, nor valid)",
				who, o.bind.resume.Since.Local().Format("2006-01-02 15:04"))
		}
	}
	o.emit(Event{Kind: EventReceiver, Device: apiDevice(dev), Message: msg})
}

// connected tells the user, once per path, how the receiver's streams
// reach this device (EventConnected: "direct LAN", "relayed", ...), as a
// receiver's events tell it on the other side.
func (o *offering) connected(c network.Conn) {
	path := pathOf(c)
	o.pathMu.Lock()
	changed := o.path != path
	o.path = path
	o.pathMu.Unlock()
	if changed {
		o.emit(Event{Kind: EventConnected, Path: path, Message: "the receiver is connected (" + path + ")"})
	}
}

// refuse tells the user, once per device, that a paired device that is not
// the receiver asked for this send.
func (o *offering) refuse(dev pairing.Device) {
	if !o.bind.refusedFirst(dev.PeerID) {
		return
	}
	who := fmt.Sprintf("%s (%s), paired before,", pairing.DisplayName(dev.Name), short(dev.PeerID.String()))
	msg := who + " asked for this send without its code: refused"
	if r := o.bind.current(); r != nil {
		msg = fmt.Sprintf("%s asked for this send, which is for %s: refused", who, pairing.DisplayName(r.Name))
	}
	o.emit(Event{Kind: EventRefused, Device: apiDevice(dev), Message: msg})
}

// send snapshots the home, shows a code (unless req.To names the paired
// device to send to), advertises on the local network, serves the one
// device it is for (see "Who a send serves" in the package doc), and
// returns when that device reports that it committed and verified the
// history. It calls ready with the code once the code is final and the send
// can be reached (it may have changed the nameplate on the relay).
func (d *node) send(ctx context.Context, req SendOptions, emit func(Event), ready func(code pairing.Code)) (_ Report, err error) {
	s, ctx, err := d.startSession(ctx, "send")
	if err != nil {
		return Report{}, err
	}
	defer func() { d.endSession(s, err) }()
	defer func() { err = forgottenErr(ctx, err) }()
	ev := emitter(s, emit)

	var chosen *pairing.Device
	if req.To != "" {
		if req.Code != "" {
			return Report{}, errCodeWithTo
		}
		devs, err := d.trust.List()
		if err != nil {
			return Report{}, err
		}
		dev, err := chooseDevice(devs, req.To)
		if err != nil {
			return Report{}, err
		}
		chosen = &dev
	}
	var code pairing.Code
	if req.Code != "" {
		if code, err = pairing.ParseCode(req.Code); err != nil {
			return Report{}, err
		}
	} else if code, err = pairing.NewCode(req.CodeWords); err != nil {
		return Report{}, err
	}
	store, err := chatstore.Open(ctx, d.cfg.home, chatstore.Options{ReadOnly: true})
	if err != nil {
		return Report{}, fmt.Errorf("open history: %w", err)
	}
	defer store.Close()
	resume, err := readSendRecord(d.cfg.home)
	if err != nil {
		d.log.Warn("ignoring the record of the last send", "err", err)
		resume = nil
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The snapshot is taken while the code is shown and the devices pair:
	// the user need not wait for it before reading the code out.
	o := &offering{ctx: ctx, emit: ev, home: d.cfg.home, log: d.log, bind: newBinding(chosen, resume),
		onServe: func(id peer.ID) { d.setPeer(s, id); s.setState(StateSending) }, done: make(chan Report, 1), snapReady: make(chan struct{})}
	go func() {
		defer close(o.snapReady)
		// Kept in the home: a second send of an unchanged history
		// offers it again at once.
		o.snap, o.snapErr = transfer.SnapshotWith(ctx, store, transfer.SnapshotOptions{WorkDir: d.cfg.workDir, Cache: true})
	}()
	// The media are served before the snapshot is ready (early media):
	// the receiver starts fetching at once.
	if atts, err := chatstore.ListAttachments(ctx, store.DBPath()); err != nil {
		d.log.Info("no early media: the snapshot's manifest lists them", "err", err)
	} else if o.early, err = transfer.NewEarlyMedia(store, atts); err != nil {
		d.log.Info("no early media: the snapshot's manifest lists them", "err", err)
	}
	defer func() {
		cancel()
		o.serving.Lock() // the streams stop at cancel (handleTransfer)
		<-o.snapReady
		if o.snap != nil {
			o.snap.Close()
		}
	}()
	offerJSON, _ := json.Marshal(Offer{Device: d.cfg.name, PeerID: d.host.ID().String()})
	if req.Relay != "" {
		if code, err = d.registerOnRelay(ctx, req.Relay, code, req.Code != "", o.bind.mayServe, chosen, ev); err != nil {
			return Report{}, err
		}
	}
	if chosen == nil {
		ps, err := pairing.NewSendSession(pairing.SessionConfig{
			Local: d.ident, Code: code, Words: req.CodeWords, Offer: offerJSON, Store: d.trust, AttemptTimeout: d.cfg.pairTimeout,
			OnEvent: func(pe pairing.Event) {
				switch pe.Kind {
				case pairing.EventAttemptFailed:
					ev(Event{Kind: EventPairFailed, Message: fmt.Sprintf("a device (%s) %s: attempt %d, %d left",
						short(pe.Remote.String()), failedAttempt(pe.Err), pe.Attempt, pe.Remaining)})
				case pairing.EventPaired:
					dev := pe.Peer.Device
					ev(Event{Kind: EventPaired, Message: "paired with " + pairing.DisplayName(dev.Name)})
					if o.bind.choose(dev) {
						o.served(dev, servedByCode)
					}
				}
			},
		})
		if err != nil {
			return Report{}, err
		}
		defer ps.Close()
		o.pair = ps
	}
	d.mu.Lock()
	if d.offer != nil {
		d.mu.Unlock()
		return Report{}, errAlreadySending
	}
	d.offer = o
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.offer = nil
		d.mu.Unlock()
	}()

	waiting := "waiting for the other device to receive with the code " + code.String()
	if chosen != nil {
		o.served(*chosen, servedByChoice)
		waiting = "waiting for " + pairing.DisplayName(chosen.Name)
	} else {
		ev(Event{Kind: EventCode, Code: o.pair.Code().String()})
	}
	stop, err := func() (func(), error) {
		if d.cfg.noMDNS {
			return func() {}, nil
		}
		return p2p.Advertise(ctx, d.host, strconv.Itoa(int(code.Nameplate)))
	}()
	if err != nil {
		ev(Event{Kind: EventWaiting, Message: notAdvertised(err, req.Relay != "")})
	} else {
		defer stop()
		ev(Event{Kind: EventWaiting, Message: waiting})
	}
	s.setStateFrom(StateStarting, StateWaiting) // a send to a named device is sending already
	ready(code)

	var pairDone <-chan struct{}
	if o.pair != nil {
		pairDone = o.pair.Done()
	}
	snapReady := o.snapReady
	for {
		select {
		case <-snapReady:
			snapReady = nil
			if o.snapErr != nil {
				return Report{}, fmt.Errorf("snapshot: %w", o.snapErr)
			}
			m := o.snap.Manifest()
			offer := Offer{Device: d.cfg.name, PeerID: d.host.ID().String(), Messages: m.Stats.Messages,
				MediaBytes: m.Stats.MediaBytes, Bytes: m.TotalBytes()}
			ev(Event{Kind: EventWaiting, Offer: &offer, Message: fmt.Sprintf("offering %d messages and %s of media (up to %s to move: what the receiver holds already stays)",
				offer.Messages, units.Bytes(offer.MediaBytes), units.Bytes(offer.Bytes))})
		case rep := <-o.done:
			// Only the receiver's streams reach finish (handleTransfer).
			dev := o.bind.current()
			rep.Receiver, rep.ReceiverID = pairing.DisplayName(dev.Name), dev.PeerID.String()
			if err := clearSendRecord(d.cfg.home, dev.PeerID); err != nil {
				d.log.Warn("cannot clear the record of the send", "err", err)
			}
			d.seen(dev.PeerID)
			ev(Event{Kind: EventDone, Report: &rep, Message: rep.Receiver + " committed and verified the history"})
			return rep, nil
		case <-pairDone:
			pairDone = nil
			if err := o.pair.Err(); errors.Is(err, pairing.ErrTooManyAttempts) {
				return Report{}, err
			}
		case <-ctx.Done():
			return Report{}, ctx.Err()
		}
	}
}

// registerOnRelay reserves a slot on the relay (kept until ctx ends) and
// registers the code's nameplate there, so that a receiver on another network
// finds this device by code; while it waits, the relay lets only the code's
// claimers and the devices allowed names reach it (the send's receiver once
// chosen, or the one it may serve without a code: see binding.mayServe). A
// send to a chosen device registers a nameplate that is never shown, for the
// relay to keep everyone else out. A nameplate taken by another sender on the
// relay is replaced by a fresh one (unless the user chose the code). While
// ctx lasts, the registration is renewed if the relay forgets it (a restart).
func (d *node) registerOnRelay(ctx context.Context, relayAddr string, code pairing.Code, fixed bool, allowed func() []peer.ID, chosen *pairing.Device, ev func(Event)) (pairing.Code, error) {
	info, _, err := p2p.ReserveRelay(ctx, d.host, relayAddr)
	if err != nil {
		return code, err
	}
	for tries := 0; ; tries++ {
		np := strconv.Itoa(int(code.Nameplate))
		err = p2p.Register(ctx, d.host, info.ID, np, allowed()...)
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
	if chosen != nil {
		ev(Event{Kind: EventWaiting, Message: "holding a slot on the relay " + short(info.ID.String()) +
			": only " + pairing.DisplayName(chosen.Name) + " may reach this device through it"})
	} else {
		ev(Event{Kind: EventWaiting, Message: "the code is registered on the relay " + short(info.ID.String())})
	}
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
					if err := p2p.Register(ctx, d.host, info.ID, np, allowed()...); err == nil || errors.Is(err, p2p.ErrNameplateTaken) {
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

// currentOffer is the send session in progress, or nil.
func (d *node) currentOffer() *offering {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.offer
}

// handlePair serves one pairing attempt on the sender.
func (d *node) handlePair(s network.Stream) {
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

// handleTransfer serves one transfer stream on the sender, to the device the
// send serves only.
func (d *node) handleTransfer(s network.Stream) {
	remote := s.Conn().RemotePeer()
	o := d.currentOffer()
	dev, err := d.trust.Get(remote)
	if err != nil {
		d.log.Warn("refused transfer to an unpaired device", "peer", remote)
		if o != nil && o.bind.refusedFirst(remote) {
			o.emit(Event{Kind: EventRefused, Device: &PairedDevice{PeerID: remote.String()},
				Message: fmt.Sprintf("a device that is not paired (%s) asked for the history: refused", short(remote.String()))})
		}
		_ = transfer.Refuse(s, transfer.CodeNotTrusted, "this device is not paired with the sender: pair with a code first")
		s.Close()
		return
	}
	if o == nil {
		_ = transfer.Refuse(s, transfer.CodeNoSession, "the other device is not sending right now: start a send there")
		s.Close()
		return
	}
	ok, first := o.bind.admit(dev, time.Now())
	if !ok {
		d.log.Info("refused transfer to a paired device the send is not for", "peer", remote)
		o.refuse(dev)
		_ = transfer.Refuse(s, transfer.CodeNotReceiver, "this send is for another device: give the code the sender shows, or have it send to this device by name")
		s.Close()
		return
	}
	if first {
		// The unfinished send's receiver is back: nobody else pairs now.
		if o.pair != nil {
			o.pair.Close()
		}
		o.served(dev, servedByResume)
	}
	if !o.serving.TryRLock() {
		// The send is ending.
		_ = transfer.Refuse(s, transfer.CodeNoSession, "the other device is not sending right now: start a send there")
		s.Close()
		return
	}
	defer o.serving.RUnlock()
	o.connected(s.Conn())
	// When the send ends, a stream waiting for the next request stops at
	// once, and one writing a chunk gets cutWait to finish it.
	stop := context.AfterFunc(o.ctx, func() {
		_ = s.SetReadDeadline(time.Now())
		_ = s.SetWriteDeadline(time.Now().Add(cutWait))
	})
	defer stop()
	// The early media are served at once; the manifest and its chunks
	// once the snapshot is ready.
	opts := transfer.ServeOptions{Version: 1, Done: o.finish}
	if s.Protocol() == TransferProtocol {
		opts.Version, opts.Early = 2, o.early
	}
	opts.Source = func(ctx context.Context) (transfer.ServeSource, error) {
		select {
		case <-o.snapReady:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if o.snapErr != nil {
			return nil, o.snapErr
		}
		return o.snap, nil
	}
	opts.Served = func(n int64) {
		var total int64
		select {
		case <-o.snapReady:
			if o.snap != nil {
				total = o.snap.Manifest().TotalBytes()
			}
		default:
		}
		o.emit(Event{Kind: EventProgress, Phase: "sending", Done: o.sent.Add(n), Total: total})
	}
	err = transfer.ServeWith(o.ctx, s, opts)
	if err != nil {
		if errors.Is(context.Cause(o.ctx), ErrForgotten) {
			// Tell the receiver why, between two frames, then close.
			_ = transfer.Refuse(s, transfer.CodeNotTrusted, "the sender removed this device from its paired devices: the transfer has stopped")
			s.Close()
			return
		}
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

// notAdvertised says that the send cannot be found on the local network
// (err says why) and who can still reach it: through the relay, when it
// has one; otherwise only the paired devices that know its address.
func notAdvertised(err error, relayed bool) string {
	why := err.Error()
	if errors.Is(err, p2p.ErrNoInterface) {
		why = "no network interface that can do multicast is up"
	}
	if relayed {
		return "not advertised on the local network (" + why + "): the receiver finds this device through the relay"
	}
	return "cannot advertise this device on the local network (" + why + "): a receiver cannot find it by the code; connect to a network, or send through a relay"
}
