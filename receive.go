package ferry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/internal/units"
	"github.com/ferryhq/ferry/p2p"
	"github.com/ferryhq/ferry/pairing"
	"github.com/ferryhq/ferry/transfer"
)

// receive finds the sender, pairs with the code unless the two devices are
// paired already and the send is for this one, shows the offer, pulls what
// is missing, commits, verifies, and tells the sender. A dropped connection
// is retried (for Device.RetryFor) and continues where it stopped.
func (d *node) receive(ctx context.Context, code pairing.Code, req ReceiveOptions, emit func(Event)) (_ Result, err error) {
	s, ctx, err := d.startSession(ctx, "receive")
	if err != nil {
		return Result{}, err
	}
	defer func() { d.endSession(s, err) }()
	defer func() { err = forgottenErr(ctx, err) }()
	ev := emitter(s, emit)

	s.setState(StateLooking)
	pid, err := d.connect(ctx, req, code, ev)
	if err != nil {
		return Result{}, err
	}
	// A device paired before asks first: the send may be for it already (a
	// resumed migration). If it is not, the code pairs it again.
	paired := false
	pair := func() error {
		s.setState(StatePairing)
		paired = true
		return d.pairWith(ctx, pid, code, ev)
	}
	if !d.trusted(pid) {
		if code.IsZero() {
			return Result{}, ErrNoCode
		}
		if err := pair(); err != nil {
			return Result{}, err
		}
	}
	d.setPeer(s, pid) // paired now: forgetting it ends this session

	store, err := chatstore.Open(ctx, d.cfg.home, chatstore.Options{Create: true})
	if err != nil {
		return Result{}, fmt.Errorf("open history: %w", err)
	}
	defer store.Close()

	confirmed := req.Confirm == nil
	deadline := time.Now().Add(d.cfg.retryFor)
	for attempt := 0; ; attempt++ {
		res, err := d.receiveOnce(ctx, s, pid, store, req.Confirm, &confirmed, ev)
		if err == nil {
			return res, nil
		}
		if refused := notServed(err); refused != nil {
			// Refused at the first ask: the code may still make it ours.
			// Refused later, the sender forgot this device mid-way.
			if paired || code.IsZero() || attempt > 0 {
				return Result{}, refused
			}
			if err := pair(); err != nil {
				return Result{}, err
			}
			continue
		}
		if !retryable(ctx, err) {
			return Result{}, err
		}
		if time.Now().After(deadline) {
			return Result{}, senderGone(err)
		}
		if notSending(err) {
			ev(Event{Kind: EventWaiting, Message: "the other device is not sending right now; waiting for it to send (run ferry send there) — what was received is kept"})
		} else {
			ev(Event{Kind: EventWaiting, Message: "lost the connection to the sender (" + err.Error() + "); waiting for it to come back — what was received is kept"})
		}
		s.setState(StateReconnecting)
		if notSending(err) {
			// The sender's device answers but sends no more: it comes back
			// only when its user sends again, so ask again in a while.
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
				return Result{}, ctx.Err()
			}
		}
		if pid, err = d.reconnect(ctx, pid, deadline, ev); err != nil {
			return Result{}, err
		}
	}
}

// missingBytes is the stored size of the chunks in want.
func missingBytes(m *transfer.Manifest, want []int) int64 {
	var n int64
	for _, i := range want {
		n += int64(m.Chunk(i).Size)
	}
	return n
}

// receiveOnce runs one transfer attempt over the current connection.
func (d *node) receiveOnce(ctx context.Context, s *session, pid peer.ID, store *chatstore.Store, confirm func(context.Context, Offer) (bool, error), confirmed *bool, ev func(Event)) (Result, error) {
	start := time.Now()
	ms, err := d.host.NewStream(network.WithAllowLimitedConn(ctx, "ferry transfer"), pid, TransferProtocol, TransferProtocolV1)
	if err != nil {
		return Result{}, fmt.Errorf("open transfer stream: %w", err)
	}
	defer ms.Close()
	proto := ms.Protocol()
	open := func(ctx context.Context) (io.ReadWriteCloser, error) {
		return d.host.NewStream(network.WithAllowLimitedConn(ctx, "ferry transfer"), pid, proto)
	}
	// Agreed to already (no question to ask, or asked in an earlier
	// attempt): the media start to move while the sender still makes its
	// snapshot (transfer.Prefetch), and what the manifest lists of them is
	// then held already.
	src := transfer.NewPeerSource(open, d.cfg.parallel)
	defer src.Close()
	var pf *transfer.Prefetch
	if *confirmed && proto == TransferProtocol {
		s.setState(StateReceiving)
		pf = transfer.StartPrefetch(ctx, open, store, d.cfg.parallel, func(done, total int64) {
			ev(Event{Kind: EventProgress, Phase: "receiving", Done: done, Total: total})
		})
		defer pf.Abort()
	}
	m, err := transfer.FetchManifest(ms)
	if err != nil {
		ms.Reset()
		return Result{}, err
	}
	var early transfer.Prefetched
	if pf != nil {
		early = pf.Finish(m, src)
		if early.Stopped != nil {
			d.log.Info("early media stopped", "err", early.Stopped)
		}
		if early.Files > 0 {
			ev(Event{Kind: EventWaiting, Message: fmt.Sprintf("%d media files (%s) arrived and were verified while the sender prepared its snapshot",
				early.Files, units.Bytes(early.Bytes))})
		}
	}
	dev, _ := d.trust.Get(pid)
	offer := Offer{Device: pairing.DisplayName(dev.Name), PeerID: pid.String(), Messages: m.Stats.Messages, MediaBytes: m.Stats.MediaBytes, Bytes: m.TotalBytes(),
		Needed: m.BytesFor(store)}
	if !*confirmed {
		s.setState(StateConfirm)
		ev(Event{Kind: EventOffer, Offer: &offer, Ask: true, Message: "confirm to receive"})
		ok, err := confirm(ctx, offer)
		if err != nil {
			return Result{}, err
		}
		if !ok {
			return Result{}, ErrDeclined
		}
		*confirmed = true
	} else {
		ev(Event{Kind: EventOffer, Offer: &offer})
	}

	if pf == nil {
		// What an earlier receive fetched early, now that the user agreed.
		early = transfer.TakeEarly(store, m)
	}
	recv, err := transfer.NewReceiver(store, m)
	if err != nil {
		return Result{}, fmt.Errorf("prepare to receive: %w", err)
	}
	recv.UseEarly(early)
	if n := recv.Resumed() + early.Resumed; n > 0 {
		ev(Event{Kind: EventWaiting, Message: fmt.Sprintf("continuing: %d of %d pieces were already received and verified", n, m.NumChunks())})
	}
	if pf == nil {
		s.setState(StateReceiving)
	}
	missing := recv.Missing()
	ev(Event{Kind: EventProgress, Phase: "receiving", Done: early.Bytes, Total: early.Bytes + missingBytes(m, missing), ItemsTotal: int64(len(missing))})
	var got int64 // bytes fetched in this attempt
	committing := false
	tr, err := transfer.Pull(ctx, src, recv, transfer.PullOptions{
		Progress: func(p transfer.Progress) {
			got = p.Bytes
			ev(Event{Kind: EventProgress, Phase: "receiving", Done: early.Bytes + p.Bytes, Total: early.Bytes + p.TotalBytes, Items: int64(p.Items), ItemsTotal: int64(p.TotalItems)})
		},
		Committing: func() {
			committing = true
			s.setState(StateCommitting)
			ev(Event{Kind: EventCommitting, Message: "all data received and verified; merging into the history"})
		},
	})
	if err != nil {
		// Pull kept what is staged for the next attempt, unless it is
		// useless (see transfer.Discard).
		ms.Reset()
		if committing {
			err = fmt.Errorf("commit: %w", err)
		}
		return Result{}, err
	}
	res := resultOf(tr, start)
	res.Resumed += early.Resumed
	res.Bytes, res.Receiver, res.ReceiverID = early.Bytes+got, d.cfg.name, d.host.ID().String()
	rep := res.Report()
	if err := transfer.SendReport(ms, rep); err != nil {
		// The history is committed; only the sender's confirmation is lost.
		ev(Event{Kind: EventWaiting, Message: "committed, but could not tell the sender: " + err.Error()})
	}
	d.seen(pid)
	done := "committed and verified"
	if tr.UpToDate {
		done = "this device already holds that history (received and verified before, unchanged since): nothing moved"
	}
	ev(Event{Kind: EventDone, Report: &rep, Message: done})
	return res, nil
}

// connect finds the sender (p2p.Discover: at the addresses given, through
// the relay, or on the local network; by the code's nameplate, or any
// paired device that is sending) and connects to it; it returns its peer ID.
func (d *node) connect(ctx context.Context, req ReceiveOptions, code pairing.Code, ev func(Event)) (peer.ID, error) {
	t := p2p.Target{Relay: req.Relay, Known: d.trusted, MDNS: !d.cfg.noMDNS, FindTimeout: d.cfg.findTimeout,
		Candidates: func() ([]peer.ID, error) {
			ds, err := d.trust.List()
			ids := make([]peer.ID, 0, len(ds))
			for _, dev := range ds {
				ids = append(ids, dev.PeerID)
			}
			return ids, err
		},
		OnStep: func(s p2p.Step) {
			k := EventWaiting
			if s.Found {
				k = EventFound
			}
			ev(Event{Kind: k, Message: s.Message})
		}}
	if len(req.Addrs) > 0 {
		infos, err := parseAddrs(req.Addrs)
		if err != nil {
			return "", err
		}
		t.Addrs = infos
	}
	if !code.IsZero() {
		t.Nameplate = strconv.Itoa(int(code.Nameplate))
	}
	f, err := p2p.Discover(ctx, d.host, t)
	switch {
	case errors.Is(err, p2p.ErrNoneKnown):
		return "", ErrNoCode
	case errors.Is(err, p2p.ErrNoDiscovery):
		return "", errNoDiscovery
	case err != nil:
		return "", err
	}
	if f.Relay.ID != "" {
		d.relayOf.Store(f.ID, f.Relay)
	}
	path := pathOf(firstConn(d.host.Network().ConnsToPeer(f.ID)))
	msg := "connected (" + path + ")"
	if f.Note != "" {
		msg = "connected (" + path + ", " + f.Note + ")"
	}
	ev(Event{Kind: EventConnected, Path: path, Message: msg})
	return f.ID, nil
}

// reconnect waits for a sender that went away to be reachable again: at the
// addresses it had, or, if it restarted, wherever mDNS finds its peer ID, or
// through the relay it was reached by.
func (d *node) reconnect(ctx context.Context, pid peer.ID, deadline time.Time, ev func(Event)) (peer.ID, error) {
	for {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		if time.Now().After(deadline) {
			return "", senderGone(nil)
		}
		info := peer.AddrInfo{ID: pid, Addrs: d.host.Peerstore().Addrs(pid)}
		if !d.cfg.noMDNS {
			if found, err := p2p.FindFunc(ctx, func(_ string, id peer.ID) bool { return id == pid }, 3*time.Second); err == nil {
				info = found
			}
		}
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		d.host.Network().ClosePeer(pid)
		err := d.host.Connect(cctx, info)
		if err != nil {
			if v, ok := d.relayOf.Load(pid); ok {
				// The relay may have restarted: reconnect to it first.
				ri := v.(peer.AddrInfo)
				if err = d.host.Connect(cctx, ri); err == nil {
					err = p2p.DialViaRelay(cctx, d.host, ri, pid)
				}
			}
		}
		cancel()
		if err == nil {
			ev(Event{Kind: EventConnected, Path: pathOf(firstConn(d.host.Network().ConnsToPeer(pid))), Message: "reconnected to the sender"})
			return pid, nil
		}
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
		}
	}
}

// keepAddrs keeps the addresses the sender was found or given at, for
// reconnect: a sender advertises none but public ones (p2p.Advertised), so
// libp2p's identify, which replaces the addresses a dial used by the
// advertised ones, would leave none to dial on a LAN.
func (d *node) keepAddrs(info peer.AddrInfo) {
	d.host.Peerstore().AddAddrs(info.ID, info.Addrs, peerstore.AddressTTL)
}

// trusted reports whether id is a paired device.
func (d *node) trusted(id peer.ID) bool {
	_, err := d.trust.Get(id)
	return err == nil
}

func firstConn(cs []network.Conn) network.Conn {
	if len(cs) == 0 {
		return nil
	}
	return cs[0]
}

// pairWith runs pairing by code with the sender.
func (d *node) pairWith(ctx context.Context, pid peer.ID, code pairing.Code, ev func(Event)) error {
	ps, err := d.host.NewStream(network.WithAllowLimitedConn(ctx, "ferry pair"), pid, protocol.ID(PairProtocol))
	if err != nil {
		return fmt.Errorf("open pairing stream: %w", err)
	}
	p, err := pairing.Pair(ctx, ps, pairing.Config{
		Role: pairing.Initiator, Code: code, Local: d.ident, RemotePeer: pid, Store: d.trust,
	})
	if err != nil {
		ps.Reset()
		return err
	}
	ps.Close()
	ev(Event{Kind: EventPaired, Message: "paired with " + pairing.DisplayName(p.Device.Name)})
	return nil
}

// notServed turns a sender's refusal to serve this device into the error
// the user sees, or returns nil for any other error.
func notServed(err error) error {
	code, ok := transfer.Refusal(err)
	if !ok {
		return nil
	}
	switch code {
	case transfer.CodeNotReceiver:
		return ErrNotReceiver
	case transfer.CodeNotTrusted:
		return ErrSenderForgot
	}
	return nil
}

// retryable tells a dropped connection (worth waiting for) from a failure
// that retrying cannot fix.
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	if code, ok := transfer.Refusal(err); ok {
		return code == transfer.CodeNoSession || code == transfer.CodeInternal
	}
	for _, fatal := range []error{transfer.ErrDigestMismatch, transfer.ErrNoSpace, chatstore.ErrLocked,
		chatstore.ErrTooNew, chatstore.ErrNotAStore, chatstore.ErrForeignSchema, chatstore.ErrCorrupt, transfer.ErrNewerVersion, ErrDeclined, os.ErrPermission} {
		if errors.Is(err, fatal) {
			return false
		}
	}
	return true
}

// notSending reports whether err is the sender's answer that it is not
// sending (its send ended, its host runs on).
func notSending(err error) bool {
	code, ok := transfer.Refusal(err)
	return ok && code == transfer.CodeNoSession
}

// senderGone is the Error of a receive whose sender did not come back in
// time, with the last failure as its cause.
func senderGone(cause error) error {
	e := *errSenderGone
	e.Err = cause
	return &e
}

// parseAddrs turns full multiaddrs (with /p2p/ID) into AddrInfos, one per
// peer, each with all of that peer's addresses (a ferry: link lists several).
func parseAddrs(addrs []string) ([]peer.AddrInfo, error) {
	var infos []peer.AddrInfo
	for _, a := range addrs {
		info, err := peer.AddrInfoFromString(a)
		if err != nil {
			return nil, fmt.Errorf("address %q: want a full multiaddr ending in /p2p/PEER-ID: %w", a, err)
		}
		if i := slices.IndexFunc(infos, func(x peer.AddrInfo) bool { return x.ID == info.ID }); i >= 0 {
			infos[i].Addrs = append(infos[i].Addrs, info.Addrs...)
			continue
		}
		infos = append(infos, *info)
	}
	if len(infos) == 0 {
		return nil, errors.New("no address given")
	}
	return infos, nil
}
