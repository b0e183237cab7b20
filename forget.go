package ferry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ferryhq/ferry/pairing"
)

const (
	// cutWait bounds how long a forgotten device's sessions get to stop (and
	// to tell the other side why) before its connections are closed.
	cutWait = 2 * time.Second
	// trustPoll is how often the trust store is read for devices removed
	// from it by another process while a session is with them.
	trustPoll = time.Second
)

// cut ends every session with pid (its error: ErrForgotten) and then closes
// pid's connections, so that no stream of it outlives the trust.
func (d *node) cut(pid peer.ID) {
	cause := fmt.Errorf("%w (%s)", ErrForgotten, pid)
	var ended []chan struct{}
	d.mu.Lock()
	for _, s := range d.sessions {
		if s.peer == pid {
			s.cancel(cause)
			ended = append(ended, s.done)
		}
	}
	d.mu.Unlock()
	if len(ended) > 0 {
		d.log.Info("stopping the sessions with a forgotten device", "peer", pid, "sessions", len(ended))
	}
	timeout := time.NewTimer(cutWait)
	defer timeout.Stop()
wait:
	for _, done := range ended {
		select {
		case <-done:
		case <-timeout.C:
			break wait
		}
	}
	if err := d.host.Network().ClosePeer(pid); err != nil {
		d.log.Info("closing the connections of a forgotten device", "peer", pid, "err", err)
	}
}

// watchTrust cuts the sessions of a device that leaves the trust store by
// another way than Forget (ferry devices forget run without this daemon, in
// another process): while a session is with a device, it reads the store
// every trustPoll.
func (d *node) watchTrust(ctx context.Context) {
	defer close(d.watchDone)
	t := time.NewTicker(trustPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, pid := range d.sessionPeers() {
			if _, err := d.trust.Get(pid); errors.Is(err, pairing.ErrUnknownDevice) {
				d.cut(pid)
			}
		}
	}
}

// sessionPeers are the devices running sessions are with.
func (d *node) sessionPeers() []peer.ID {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []peer.ID
	for _, s := range d.sessions {
		if s.peer != "" {
			out = append(out, s.peer)
		}
	}
	return out
}

// forgottenErr returns the cause of ctx's end if the session's device was
// forgotten, else err.
func forgottenErr(ctx context.Context, err error) error {
	if err != nil {
		switch cause := context.Cause(ctx); {
		case errors.Is(cause, ErrForgotten):
			return cause
		case errors.Is(cause, errClosed) && interrupted(err):
			return fmt.Errorf("%w: %w", errClosed, err) // still an interruption
		}
	}
	return err
}
