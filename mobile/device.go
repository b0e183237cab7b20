package mobile

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/ferryhq/ferry"
	"github.com/ferryhq/ferry/internal/strictjson"
)

// config is NewDevice's configuration (see there).
type config struct {
	Home         string   `json:"home"`
	Name         string   `json:"name,omitempty"`
	Relay        string   `json:"relay,omitempty"`
	Addresses    []string `json:"addresses,omitempty"`
	Listen       []string `json:"listen,omitempty"`
	AppDiscovery bool     `json:"app_discovery,omitempty"`
	FindTimeout  float64  `json:"find_timeout_seconds,omitempty"`
	Version      string   `json:"version,omitempty"`

	addrs  []net.IP // Addresses, parsed
	listen []string // Listen as libp2p multiaddrs
}

// Device is one app's Ferry (see the package doc). Its methods are safe to
// call from any thread.
type Device struct {
	cfg   config      // constant after NewDevice
	found *foundTable // the services the app's discovery found

	mu  sync.Mutex // guards cur and each run's ops
	cur *run       // the run since the last Stop; nil until a call needs one
}

// run is a Device from one Start (or first call) to its Stop: the
// ferry.Device and the operations running on it.
type run struct {
	dev *ferry.Device
	ops map[*Operation]struct{} // guarded by Device.mu
	wg  sync.WaitGroup          // one per operation in ops
}

// NewDevice reads the configuration and returns a Device that is not
// started yet; nothing is written until a call needs it. The configuration
// is JSON:
//
//	{
//	  "home": "/data/user/0/app/files/ferry",  // required: the history home
//	  "name": "Ana's phone",                    // shown to the other device; default the host name
//	  "relay": "/dns4/relay.example/tcp/4001/p2p/12D3…", // default relay; "" = local network only
//	  "addresses": ["192.168.1.23"],            // this device's IPs as the app sees them; default the listen ones
//	  "listen": ["192.168.1.23"],               // IPs to listen on; default every interface
//	  "app_discovery": true,                    // the app advertises and browses; Ferry's mDNS is off
//	  "find_timeout_seconds": 10,               // how long a receive waits for the sender; default 5
//	  "version": "MyApp 2.1"                    // shown to the other device; default "ferry"
//	}
//
// Only home is needed. A field it does not know is refused (a typo would
// otherwise be ignored). listen takes at most one IPv4 and one IPv6
// address: each gets a port of its own, and a service advertises one.
func NewDevice(configJSON string) (*Device, error) {
	var c config
	if err := strictjson.Unmarshal([]byte(configJSON), &c); err != nil {
		return nil, badInput("the device configuration is not valid JSON of the documented form: " + err.Error())
	}
	if c.Home == "" {
		return nil, badInput("the device configuration has no home (the folder for the history)")
	}
	if c.FindTimeout < 0 {
		return nil, badInput("find_timeout_seconds cannot be negative")
	}
	for _, a := range c.Addresses {
		ip := net.ParseIP(a)
		if ip == nil {
			return nil, badInput(fmt.Sprintf("addresses: %q is not an IP address", a))
		}
		c.addrs = append(c.addrs, ip)
	}
	var v4, v6 int
	for _, a := range c.Listen {
		ip := net.ParseIP(a)
		if ip == nil {
			return nil, badInput(fmt.Sprintf("listen: %q is not an IP address", a))
		}
		family := "ip6"
		if ip.To4() != nil {
			family, ip = "ip4", ip.To4()
			v4++
		} else {
			v6++
		}
		c.listen = append(c.listen, "/"+family+"/"+ip.String()+"/tcp/0", "/"+family+"/"+ip.String()+"/udp/0/quic-v1")
	}
	if v4 > 1 || v6 > 1 {
		// Each listen address gets its own port, and one service
		// advertises one port.
		return nil, badInput("listen: give at most one IPv4 and one IPv6 address (or none, to listen on every interface)")
	}
	if len(c.addrs) == 0 && len(c.Listen) > 0 {
		for _, a := range c.Listen {
			c.addrs = append(c.addrs, net.ParseIP(a))
		}
	}
	return &Device{cfg: c, found: newFoundTable()}, nil
}

// lib is the ferry.Device of the current run, made if there is none.
func (d *Device) lib() *ferry.Device {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.runLocked().dev
}

// runLocked is the current run, made if there is none.
func (d *Device) runLocked() *run {
	if d.cur == nil {
		c := d.cfg
		d.cur = &run{ops: make(map[*Operation]struct{}), dev: &ferry.Device{Home: c.Home, Name: c.Name, Relay: c.Relay,
			Version: c.Version, Listen: c.listen, NoMDNS: c.AppDiscovery, FindTimeout: c.findTimeout()}}
	}
	return d.cur
}

func (c config) findTimeout() time.Duration {
	return time.Duration(c.FindTimeout * float64(time.Second))
}

// Start starts the device: its home (created if missing), its identity and
// its network host, which answers paired devices until Stop. The calls that
// need it start it themselves.
func (d *Device) Start() error {
	return asError(d.lib().Start(context.Background()))
}

// Stop cancels every running operation, waits for them to end and stops
// the device. It can be started again.
func (d *Device) Stop() error {
	d.mu.Lock()
	r := d.cur
	d.cur = nil
	if r != nil {
		for op := range r.ops {
			op.Cancel()
		}
	}
	d.mu.Unlock()
	if r == nil {
		return nil
	}
	r.wg.Wait()
	return asError(r.dev.Close())
}

// Stats is what the history holds, as the JSON of ferry.Stats (counts and
// the digest). It only reads.
func (d *Device) Stats() (string, error) {
	st, err := d.lib().Stats(context.Background())
	if err != nil {
		return "", asError(err)
	}
	return marshal(st), nil
}

// Status is the JSON of ferry.Status: the peer ID, and, while started, the
// addresses and the sessions running.
func (d *Device) Status() (string, error) {
	st, err := d.lib().Status(context.Background())
	if err != nil {
		return "", asError(err)
	}
	return marshal(st), nil
}

// Devices lists the paired devices, as a JSON array of ferry.PairedDevice.
func (d *Device) Devices() (string, error) {
	ds, err := d.lib().Devices(context.Background())
	if err != nil {
		return "", asError(err)
	}
	if ds == nil {
		ds = []ferry.PairedDevice{}
	}
	return marshal(ds), nil
}

func marshal(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// Only Ferry's own types are marshalled: they always can be.
		panic(fmt.Sprintf("mobile: marshal %T: %v", v, err))
	}
	return string(b)
}
