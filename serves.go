package ferry

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ferryhq/ferry/pairing"
)

// Which device a send session serves; the rule is in the package doc
// ("Who a send serves").

// binding is the device a send session serves. It starts empty (or with the
// device SendOptions.To chose) and is set at most once.
type binding struct {
	// Constant after newBinding.
	resume *sendRecord // an unfinished send's receiver, let in without a code; nil if none

	mu       sync.Mutex // guards the fields below
	receiver *pairing.Device
	refused  map[peer.ID]bool // devices whose refusal was reported
}

// newBinding starts a binding: to the chosen device if not nil, otherwise
// open to the device of resume (if not nil) or to the one that pairs.
func newBinding(chosen *pairing.Device, resume *sendRecord) *binding {
	return &binding{resume: resume, receiver: chosen, refused: make(map[peer.ID]bool)}
}

// current is the device served, or nil while none is chosen.
func (b *binding) current() *pairing.Device {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.receiver
}

// mayServe are the devices this send may serve without a code: the
// receiver once chosen, otherwise the unfinished send's receiver, if any. A
// relay lets them (and the code's claimers) reach this device.
func (b *binding) mayServe() []peer.ID {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.receiver != nil {
		return []peer.ID{b.receiver.PeerID}
	}
	if b.resume != nil && b.resume.allows(b.resume.Receiver, time.Now()) {
		return []peer.ID{b.resume.Receiver}
	}
	return nil
}

// choose makes dev, which just paired with the code, the receiver unless
// one is chosen already. It reports whether it did.
func (b *binding) choose(dev pairing.Device) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.receiver != nil {
		return b.receiver.PeerID == dev.PeerID
	}
	b.receiver = &dev
	return true
}

// admit decides whether dev, a paired device that asks for the snapshot
// without pairing in this session, is served. first reports that this call
// made it the receiver, as the unfinished send's receiver.
func (b *binding) admit(dev pairing.Device, now time.Time) (ok, first bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.receiver != nil {
		return b.receiver.PeerID == dev.PeerID, false
	}
	if b.resume.allows(dev.PeerID, now) {
		b.receiver = &dev
		return true, true
	}
	return false, false
}

// refusedFirst reports whether id is refused for the first time in this
// session, so that each refused device is reported once.
func (b *binding) refusedFirst(id peer.ID) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.refused[id] {
		return false
	}
	b.refused[id] = true
	return true
}

// chooseDevice finds the paired device the user named: by its name (case
// aside), or else by the start of its peer ID. A name that matches none, or
// several, is an error that lists the paired devices.
func chooseDevice(devs []pairing.Device, name string) (pairing.Device, error) {
	if len(devs) == 0 {
		return pairing.Device{}, errUnknownName.detail(fmt.Sprintf("no paired device is called %q", name),
			"this device has not paired with any yet, so send with a code", pairing.ErrUnknownDevice)
	}
	var byName, byID []pairing.Device
	for _, d := range devs {
		if strings.EqualFold(d.Name, name) || strings.EqualFold(pairing.DisplayName(d.Name), name) {
			byName = append(byName, d)
		}
		if name != "" && strings.HasPrefix(d.PeerID.String(), name) {
			byID = append(byID, d)
		}
	}
	matches := byName
	if len(matches) == 0 {
		matches = byID
	}
	switch len(matches) {
	case 1:
		return matches[0], nil
	case 0:
		return pairing.Device{}, errUnknownName.detail(fmt.Sprintf("no paired device is called %q", name),
			"paired devices: "+listDevicesText(devs), pairing.ErrUnknownDevice)
	}
	return pairing.Device{}, errAmbiguous.detail(fmt.Sprintf("%q could be any of %s", name, listDevicesText(matches)),
		"give more of the peer ID", nil)
}

// listDevicesText names devices for an error: "name (peer ID), ...".
func listDevicesText(devs []pairing.Device) string {
	parts := make([]string, len(devs))
	for i, d := range devs {
		parts[i] = deviceText(d)
	}
	return strings.Join(parts, ", ")
}

// deviceText names a device for the user: its name, safe to show, and its
// peer ID, which is what identifies it.
func deviceText(d pairing.Device) string {
	return fmt.Sprintf("%s (%s)", pairing.DisplayName(d.Name), d.PeerID)
}

// apiDevice is d as events and Devices show it.
func apiDevice(d pairing.Device) *PairedDevice {
	return &PairedDevice{PeerID: d.PeerID.String(), Name: pairing.DisplayName(d.Name), PairedAt: d.PairedAt, LastSeen: d.LastSeen}
}
