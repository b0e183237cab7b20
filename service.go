package ferry

import (
	"context"
	"fmt"
	"net"

	"github.com/ferryhq/ferry/p2p"
	"github.com/ferryhq/ferry/pairing"
)

// Service is what the send with this code (Sending.Code) would advertise
// on the local network, for an app that does the discovery itself (its
// platform's DNS-SD API) and sets NoMDNS: the service type, instance name,
// port and TXT record of package p2p's mDNS, at ips, the device's addresses
// as the app sees them (those the host does not listen on are left out).
// It starts the host if needed, and asks the system for no list of network
// interfaces. code "" (a send to a named device, which shows none) gives
// nameplate 0, which no code has: only the paired device it is for, which
// looks for it by its peer ID, takes it. A receiver reads what its app found
// with p2p.Service.Sender and dials it (ReceiveOptions.Addrs).
func (d *Device) Service(ctx context.Context, code string, ips []net.IP) (p2p.Service, error) {
	var c pairing.Code
	if code != "" {
		var err error
		if c, err = pairing.ParseCode(code); err != nil {
			return p2p.Service{}, userError(err)
		}
	}
	n, err := d.start(ctx)
	if err != nil {
		return p2p.Service{}, userError(err)
	}
	s, err := p2p.NewService(n.host, fmt.Sprint(c.Nameplate), ips)
	if err != nil {
		return p2p.Service{}, &Error{Code: CodeBadAddress, Sentence: "none of the addresses given is one this device listens on",
			Hint: "give the device's addresses on the local network", Err: err}
	}
	return s, nil
}
