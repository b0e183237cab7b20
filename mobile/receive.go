package mobile

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ferryhq/ferry"
	"github.com/ferryhq/ferry/p2p"
	"github.com/ferryhq/ferry/pairing"
)

// Receive receives a history into this device's home: target is the code
// the sender shows, the ferry: link its QR code holds, or "" for a paired
// device that is sending (an interrupted migration, or what is new);
// options are the JSON of ferry.ReceiveOptions ({"relay":"…",
// "addrs":["/ip4/…/tcp/…/p2p/…"]}; "" for the defaults). Every offer is
// accepted. A target that is neither a code nor a link is refused at once.
// WaitResult returns the JSON of ferry.Result.
//
// With app_discovery, a code (or "") is looked for among the
// services the app hands over (ServiceFound), for find_timeout_seconds
// from the call or until one is found; if pairing with one fails (another
// device advertising that nameplate, without the code), the next one found
// is tried. With a relay too, a sender the app found already is tried
// first, and the relay after. Every event reaches l before WaitResult
// returns.
func (d *Device) Receive(target, optionsJSON string, l Listener) (*Operation, error) {
	var opt ferry.ReceiveOptions
	if err := readOptions(optionsJSON, &opt); err != nil {
		return nil, err
	}
	if err := ferry.CheckTarget(target); err != nil {
		return nil, asError(err)
	}
	dev, op, ctx := d.newOperation()
	emit := emitter(l)
	opt.Events = emit
	d.run(op, func() (any, error) {
		if !d.cfg.AppDiscovery || ferry.IsURI(target) || len(opt.Addrs) > 0 {
			return dev.Receive(ctx, target, opt)
		}
		if opt.Relay == "" && dev.Relay == "" {
			timeout := d.cfg.findTimeout()
			if timeout <= 0 {
				timeout = p2p.DefaultFindTimeout
			}
			res, _, err := d.receiveFound(ctx, dev, target, opt, emit, timeout)
			return res, err
		}
		// With a relay: the local network first if the app found the
		// sender there already, else (or if that did not reach it) the
		// relay.
		res, lan, err := d.receiveFound(ctx, dev, target, opt, emit, 0)
		if lan {
			return res, err
		}
		return dev.Receive(ctx, target, opt)
	})
	return op, nil
}

// receiveFound receives from a sender the app's discovery found: the
// services whose nameplate is the code's (or those of a paired device),
// oldest first, waiting up to timeout for them, until one works. lan is
// false when none was found, or none reached and paired with.
func (d *Device) receiveFound(ctx context.Context, dev *ferry.Device, target string, opt ferry.ReceiveOptions, emit func(ferry.Event), timeout time.Duration) (_ ferry.Result, lan bool, _ error) {
	match, err := d.matcher(ctx, dev, target)
	if err != nil {
		return ferry.Result{}, true, err
	}
	emit(ferry.Event{Time: time.Now(), Kind: ferry.EventWaiting, Message: "looking for the sender among the services the app found"})
	fctx, stop := context.WithTimeout(ctx, timeout)
	defer stop()
	tried := make(map[string]bool)
	var last error
	for {
		f, err := d.found.next(fctx, match, tried)
		if err != nil {
			if ctx.Err() != nil {
				return ferry.Result{}, true, ctx.Err()
			}
			if last != nil {
				return ferry.Result{}, false, last
			}
			return ferry.Result{}, false, errNotFound(target)
		}
		o := opt
		for _, a := range f.info.Addrs {
			o.Addrs = append(o.Addrs, a.String()+"/p2p/"+f.info.ID.String())
		}
		emit(ferry.Event{Time: time.Now(), Kind: ferry.EventFound, Message: fmt.Sprintf("found a sender at %v", f.info.Addrs)})
		res, err := dev.Receive(ctx, target, o)
		if err == nil || !tryNext(ctx, err) {
			return res, true, err
		}
		last = err
		emit(ferry.Event{Time: time.Now(), Kind: ferry.EventWaiting, Message: "that device did not pair (" + failure(err).Sentence + "); looking for another"})
	}
}

// matcher accepts the services of the sender a receive of target is for:
// those of the code's nameplate, and those of a paired device (which may be
// sending to this one already, as Ferry's own discovery looks for too).
func (d *Device) matcher(ctx context.Context, dev *ferry.Device, target string) (func(found) bool, error) {
	np := ""
	if target != "" {
		c, err := pairing.ParseCode(target)
		if err != nil {
			return nil, err
		}
		np = strconv.Itoa(int(c.Nameplate))
	}
	ds, err := dev.Devices(ctx)
	if err != nil && ferry.CodeOf(err) != ferry.CodeNoHome {
		return nil, err
	}
	paired := make(map[peer.ID]bool, len(ds))
	for _, pd := range ds {
		if id, err := peer.Decode(pd.PeerID); err == nil {
			paired[id] = true
		}
	}
	return func(f found) bool { return (np != "" && f.nameplate == np) || paired[f.info.ID] }, nil
}

// tryNext reports whether a receive that failed with err may succeed with
// another service: it did not reach or pair with that one.
func tryNext(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	switch ferry.CodeOf(err) {
	case ferry.CodeCodeMismatch, ferry.CodePeerMismatch, ferry.CodePairTimeout, ferry.CodeNoCode, ferry.CodeNotReceiver, ferry.CodeSenderForgot, "":
		return true
	}
	return false
}

// errNotFound is the Failure of a receive whose sender the app did not find.
func errNotFound(target string) error {
	if target == "" {
		return ferry.ErrNoCode
	}
	return &Failure{Code: string(ferry.CodeNotFoundOnLAN),
		Sentence: "no device with this code was found on the local network. The two devices may be on different networks, or the Wi-Fi may isolate clients from each other",
		Hint:     "check that both are on the same network, or use a relay on both devices"}
}
