package mobile

import (
	"context"

	"github.com/ferryhq/ferry"
	"github.com/ferryhq/ferry/internal/strictjson"
	"github.com/ferryhq/ferry/p2p"
	"github.com/ferryhq/ferry/pairing"
)

// Send offers this device's history to one new device, with options as the
// JSON of ferry.SendOptions ({"code_words":3, "relay":"…", "to":"…",
// "code":"…"}; "" or "{}" for the defaults). It returns once the send
// waits for its receiver: show Operation.Code (or Operation.Link as a QR
// code), and with app_discovery advertise Operation.Service. WaitResult
// returns, once the receiver committed and verified the history, what it
// reported (the JSON of ferry.Result).
func (d *Device) Send(optionsJSON string, l Listener) (*Operation, error) {
	var opt ferry.SendOptions
	if err := readOptions(optionsJSON, &opt); err != nil {
		return nil, err
	}
	if d.cfg.AppDiscovery && len(d.cfg.addrs) == 0 {
		return nil, badInput("a send with the app's discovery needs the device's addresses (addresses in the configuration)")
	}
	dev, op, ctx := d.newOperation()
	s, err := dev.Send(ctx, opt)
	if err != nil {
		d.end(op, nil, err)
		return nil, asError(err)
	}
	op.code, op.link = s.Code(), s.Link()
	if len(d.cfg.addrs) > 0 {
		// The addresses the app sees, in place of the interfaces the
		// system may not list.
		svc, err := dev.Service(ctx, s.Code(), d.cfg.addrs)
		if err != nil {
			op.Cancel()
			s.Wait(context.Background())
			d.end(op, nil, err)
			return nil, asError(err)
		}
		if d.cfg.AppDiscovery {
			op.service = serviceJSON(svc)
		}
		if s.Code() != "" {
			op.link = linkOf(s.Code(), svc, opt.Relay, dev.Relay)
		}
	}
	emit := emitter(l)
	d.run(op, func() (any, error) {
		for e := range s.Events() {
			if e.Kind == ferry.EventCode {
				e.Link = op.link
			}
			emit(e)
		}
		return s.Wait(ctx)
	})
	return op, nil
}

// linkOf is the ferry: link of a send with this code, at the service's
// addresses.
func linkOf(code string, svc p2p.Service, relays ...string) string {
	c, err := pairing.ParseCode(code)
	if err != nil {
		return ""
	}
	_, info, err := svc.Sender()
	if err != nil {
		return ""
	}
	var addrs []string
	for _, a := range info.Addrs {
		addrs = append(addrs, a.String()+"/p2p/"+info.ID.String())
	}
	u := ferry.URI{Code: c, Peers: ferry.LinkAddrs(addrs, linkPeers)}
	for _, r := range relays {
		if r != "" {
			u.Relay = r
			break
		}
	}
	return u.String()
}

// readOptions reads a call's options; "" means the defaults.
func readOptions(js string, v any) error {
	if js == "" {
		return nil
	}
	if err := strictjson.Unmarshal([]byte(js), v); err != nil {
		return badInput("the options are not valid JSON of the documented form: " + err.Error())
	}
	return nil
}

// linkPeers is how many addresses a link carries, as ferry's own (a QR code
// stays small).
const linkPeers = 4
