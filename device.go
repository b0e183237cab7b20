package ferry

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ferryhq/ferry/p2p"
	"github.com/ferryhq/ferry/pairing"
)

// Device is one device's Ferry: its history home, and, once started, its
// libp2p host. It is usable with only Home set; every other field documents
// its default. Set the fields before the first call and do not change them
// afterwards; a Device is safe for concurrent use and must not be copied
// after its first use.
//
// The calls that need the network (Send, Receive, Backup, Restore, Backups,
// DeleteBackup) start the host on first use; Start starts it at once. The
// others (Export, Import, Stats, ImportHistory, Devices, Forget, Status)
// start nothing. Close ends the sessions, waits for their clean-up and
// stops the host.
type Device struct {
	// Home is the history home: the directory that holds the history,
	// this device's identity and its paired devices. The calls that write
	// create it if it is missing (its parent must exist); those that only
	// read need it to exist. An existing folder is used only if it is a
	// Ferry home or empty.
	Home string
	// Relay is the relay multiaddr (ending in /p2p/<relay peer ID>) that a
	// call uses when its options name none; "" means the local network
	// only (and no backups).
	Relay string
	// Logger gets the device's log lines; nil discards them.
	Logger *slog.Logger

	// Name is shown to the other device; "" means this machine's host name.
	Name string
	// Version is this software's version, shown to the other device; ""
	// means "ferry".
	Version string
	// Listen are the libp2p multiaddrs to listen on; empty means TCP and
	// QUIC on every interface, ports chosen by the system.
	Listen []string
	// NoMDNS turns local-network discovery off: a sender does not advertise,
	// and a receiver must be given the sender's address (a ferry: link, or
	// ReceiveOptions.Addrs) or a relay.
	NoMDNS bool
	// WorkDir holds a sender's temporary snapshot, and the staging of a
	// dry-run import for a home that holds nothing yet; "" means the
	// system's temporary directory. The source home is never written to.
	WorkDir string
	// Parallel is the number of streams a receiver pulls on; 0 means 4.
	Parallel int
	// FindTimeout bounds the local-network search for the sender; 0 means
	// 5 seconds.
	FindTimeout time.Duration
	// PairTimeout bounds each step of a pairing attempt on a sender: a peer
	// that does not finish in time is cut off, reported and counted as a
	// failed attempt; 0 means pairing.DefaultAttemptTimeout (10 seconds).
	PairTimeout time.Duration
	// RetryFor is how long a receiver keeps trying to get back to a sender
	// whose connection dropped; 0 means 2 minutes.
	RetryFor time.Duration
	// RelayRetry is how long a backup or restore keeps trying when the
	// connection to the relay drops; 0 means 1 minute, a negative value
	// gives up at once.
	RelayRetry time.Duration

	mu     sync.Mutex // guards the fields below
	node   *node      // the started host; nil until the first call that needs it
	closed bool
}

// config is d's settings with the defaults filled in.
func (d *Device) config() (config, error) {
	c := config{
		home: d.Home, name: d.Name, version: d.Version, workDir: d.WorkDir, listen: d.Listen,
		parallel: d.Parallel, findTimeout: d.FindTimeout, pairTimeout: d.PairTimeout,
		retryFor: d.RetryFor, relayRetry: d.RelayRetry, noMDNS: d.NoMDNS, log: d.Logger,
	}
	if c.home == "" {
		return c, errors.New("ferry: Device.Home is not set")
	}
	if c.name == "" {
		c.name, _ = os.Hostname()
		if pairing.CheckName(c.name) != nil || c.name == "" {
			c.name = "ferry device"
		}
	}
	if err := pairing.CheckName(c.name); err != nil {
		return c, fmt.Errorf("device name: %w", err)
	}
	if c.version == "" {
		c.version = "ferry"
	}
	if c.parallel <= 0 {
		c.parallel = 4
	}
	if c.findTimeout <= 0 {
		c.findTimeout = p2p.DefaultFindTimeout
	}
	if c.retryFor <= 0 {
		c.retryFor = 2 * time.Minute
	}
	switch {
	case c.relayRetry == 0:
		c.relayRetry = time.Minute
	case c.relayRetry < 0:
		c.relayRetry = 0
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

func (d *Device) log() *slog.Logger {
	if d.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Logger
}

// Start starts the device's libp2p host now, creating the home if it is
// missing; the calls that need the host start it themselves. A started
// device answers paired devices and pairing attempts until Close.
func (d *Device) Start(ctx context.Context) error {
	_, err := d.start(ctx)
	return userError(err)
}

// start returns the running node, starting it if needed.
func (d *Device) start(ctx context.Context) (*node, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, errClosed
	}
	if d.node != nil {
		return d.node, nil
	}
	cfg, err := d.config()
	if err != nil {
		return nil, err
	}
	if _, err := d.makeHome(); err != nil {
		return nil, err
	}
	n, err := startNode(ctx, cfg)
	if err != nil {
		return nil, err
	}
	d.node = n
	return n, nil
}

// running is the node if it was started, or nil.
func (d *Device) running() *node {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.node
}

// Close ends the sessions in progress (they fail as interrupted, Resumable
// where a re-run resumes), waits for their clean-up (a send's snapshot is
// removed) and stops the host. It is idempotent; a closed Device cannot be
// started again (the calls that need the host fail with CodeClosed).
func (d *Device) Close() error {
	d.mu.Lock()
	n := d.node
	d.closed = true
	d.mu.Unlock()
	if n == nil {
		return nil
	}
	return n.close()
}

// Status is the device's peer ID, and, while its host runs, its addresses
// and sessions. It starts nothing and creates neither the home nor an
// identity: before the first start there is no peer ID.
func (d *Device) Status(ctx context.Context) (Status, error) {
	cfg, err := d.config()
	if err != nil {
		return Status{}, err
	}
	st := Status{Home: d.Home, Version: cfg.version}
	if n := d.running(); n != nil {
		n.status(&st)
		return st, nil
	}
	if err := d.needHome(); err != nil {
		return st, err
	}
	key, err := p2p.ReadIdentity(d.Home)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return st, userError(err)
	}
	if key != nil {
		id, err := peer.IDFromPrivateKey(key)
		if err != nil {
			return st, err
		}
		st.PeerID = id.String()
	}
	return st, nil
}

// Devices lists the devices this one has paired with. It takes no lock and
// writes nothing.
func (d *Device) Devices(ctx context.Context) ([]PairedDevice, error) {
	if err := d.needHome(); err != nil {
		return nil, err
	}
	trust, err := pairing.Open(d.Home)
	if err != nil {
		return nil, userError(err)
	}
	ds, err := listDevices(trust)
	return ds, userError(err)
}

// Forget removes a paired device (by its peer ID): it will need a code
// again. The sessions with it end and its connections close.
func (d *Device) Forget(ctx context.Context, peerID string) error {
	if err := d.needHome(); err != nil {
		return err
	}
	trust, err := pairing.Open(d.Home)
	if err != nil {
		return userError(err)
	}
	pid, err := forgetDevice(trust, peerID)
	if err != nil {
		return userError(homeWriteErr(err))
	}
	if n := d.running(); n != nil {
		n.cut(pid)
	}
	return nil
}

// listDevices reads the trust store.
func listDevices(trust *pairing.Store) ([]PairedDevice, error) {
	ds, err := trust.List()
	if err != nil {
		return nil, err
	}
	out := make([]PairedDevice, 0, len(ds))
	for _, pd := range ds {
		out = append(out, *apiDevice(pd))
	}
	return out, nil
}

// forgetDevice removes a device from the trust store.
func forgetDevice(trust *pairing.Store, id string) (peer.ID, error) {
	pid, err := peer.Decode(id)
	if err != nil {
		return "", &Error{Code: CodeUnknownDevice, Sentence: fmt.Sprintf("%q is not a device ID", id),
			Hint: "give the peer ID of a paired device, as the list of paired devices shows it", Err: pairing.ErrUnknownDevice}
	}
	return pid, trust.Forget(pid)
}
