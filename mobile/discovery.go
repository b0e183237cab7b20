package mobile

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ferryhq/ferry/internal/strictjson"
	"github.com/ferryhq/ferry/p2p"
)

// service is the JSON form of a p2p.Service, as Operation.Service gives it
// and ServiceFound takes it. TXT is an object, as both platforms' APIs hold
// a TXT record.
type service struct {
	Instance  string            `json:"instance"`
	Type      string            `json:"type"`
	Domain    string            `json:"domain,omitempty"`
	Host      string            `json:"host,omitempty"`
	Port      int               `json:"port"`
	Addresses []string          `json:"addresses"`
	TXT       map[string]string `json:"txt"`
}

func serviceJSON(s p2p.Service) string {
	txt := make(map[string]string, len(s.TXT))
	for _, kv := range s.TXT {
		k, v, _ := strings.Cut(kv, "=")
		txt[k] = v
	}
	return marshal(service{Instance: s.Instance, Type: s.Type, Domain: s.Domain, Host: s.Host, Port: s.Port, Addresses: s.IPs, TXT: txt})
}

// parseService reads a service the app found. Host counts as one more
// address when it is an IP address (Android's NsdServiceInfo gives one);
// a host name is not resolved (that would need mDNS).
func parseService(js string) (p2p.Service, error) {
	var in service
	if err := strictjson.Unmarshal([]byte(js), &in); err != nil {
		return p2p.Service{}, fmt.Errorf("the service is not valid JSON of the documented form: %w", err)
	}
	s := p2p.Service{Instance: in.Instance, Type: in.Type, Domain: in.Domain, Host: in.Host, Port: in.Port, IPs: slices.Clone(in.Addresses)}
	if ip := net.ParseIP(in.Host); ip != nil {
		s.IPs = append(s.IPs, in.Host)
	}
	keys := make([]string, 0, len(in.TXT))
	for k := range in.TXT {
		keys = append(keys, k)
	}
	sort.Strings(keys) // one order, whatever the map's
	for _, k := range keys {
		s.TXT = append(s.TXT, k+"="+in.TXT[k])
	}
	return s, nil
}

// maxFound bounds the services a device keeps: a network full of them
// (or an app that never calls ServiceLost) costs no more than this.
const maxFound = 64

// found is one service the app found, read.
type found struct {
	instance  string
	nameplate string
	info      peer.AddrInfo
}

// foundTable holds what the app's discovery found, newest last.
type foundTable struct {
	mu      sync.Mutex
	list    []found
	changed chan struct{} // closed (and replaced) when list grows
}

func newFoundTable() *foundTable { return &foundTable{changed: make(chan struct{})} }

// ServiceFound hands Ferry a _ferry._tcp service the app's discovery found
// and resolved, in the JSON form Operation.Service shows ("type", "domain"
// and "host" may be left out; "host" may be the IP address the platform
// resolved): a receive waiting for a sender dials it if its nameplate is
// the code's. A service found again replaces what was known of it. A
// service Ferry cannot use (another type, a malformed TXT record, no
// address to dial) is refused with a Failure, and changes nothing.
func (d *Device) ServiceFound(serviceJSON string) error {
	s, err := parseService(serviceJSON)
	if err != nil {
		return badInput(err.Error())
	}
	np, info, err := s.Sender()
	if err != nil {
		return badInput("the service cannot be used: " + err.Error())
	}
	d.found.add(found{instance: s.Instance, nameplate: np, info: info})
	return nil
}

// ServiceLost tells Ferry that the service of this instance name is gone.
func (d *Device) ServiceLost(instance string) { d.found.remove(instance) }

func (t *foundTable) add(f found) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.list = slices.DeleteFunc(t.list, func(x found) bool { return x.instance == f.instance })
	if len(t.list) == maxFound {
		t.list = t.list[1:]
	}
	t.list = append(t.list, f)
	close(t.changed)
	t.changed = make(chan struct{})
}

func (t *foundTable) remove(instance string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.list = slices.DeleteFunc(t.list, func(x found) bool { return x.instance == instance })
}

// next waits for a service that match accepts and that tried does not
// hold yet, oldest first, until ctx ends.
func (t *foundTable) next(ctx context.Context, match func(found) bool, tried map[string]bool) (found, error) {
	for {
		t.mu.Lock()
		changed := t.changed
		for _, f := range t.list {
			key := f.instance + "\x00" + f.info.ID.String()
			if !tried[key] && match(f) {
				tried[key] = true
				t.mu.Unlock()
				return f, nil
			}
		}
		t.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return found{}, ctx.Err()
		}
	}
}
