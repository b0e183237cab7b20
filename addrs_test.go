package ferry

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ferryhq/ferry/p2p"
	"github.com/ferryhq/ferry/pairing"
	"github.com/ferryhq/ferry/relay"
)

// startRelay runs a relay on loopback and returns its address.
func startRelay(t *testing.T) string {
	t.Helper()
	s, err := relay.New(context.Background(), relay.Config{DataDir: t.TempDir(), Listen: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		t.Fatalf("relay.New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s.Addrs()[0].String()
}

func isCircuit(a ma.Multiaddr) bool {
	_, err := a.ValueForProtocol(ma.P_CIRCUIT)
	return err == nil
}

// TestUnpairedRelayPeerLearnsNoAddresses: a peer that is not paired and
// reaches a waiting sender through the relay (it claimed the nameplate, which
// anyone with a slot may) learns none of the sender's
// own listen addresses from identify: its peerstore holds none after
// identify, and the identify message itself listed none.
func TestUnpairedRelayPeerLearnsNoAddresses(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	relayAddr := startRelay(t)
	a := newDevice(t, "old phone", 100, 0, nil)
	send := startSend(t, a, SendRequest{Relay: relayAddr})
	code, err := pairing.ParseCode(send.code())
	if err != nil {
		t.Fatal(err)
	}

	m, err := p2p.NewHost(ctx, p2p.Config{Home: filepath.Join(t.TempDir(), "m"), ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	sub, err := m.EventBus().Subscribe(new(event.EvtPeerIdentificationCompleted))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	// It knows (or guessed) the nameplate, as a claimer the relay lets in.
	ri, _, err := p2p.ReserveRelay(ctx, m, relayAddr)
	if err != nil {
		t.Fatal(err)
	}
	sender, err := p2p.Claim(ctx, m, ri.ID, strconv.Itoa(int(code.Nameplate)))
	if err != nil || sender.ID != a.host.ID() {
		t.Fatalf("claim the sender's nameplate: %+v, %v", sender, err)
	}
	if err := p2p.DialViaRelay(ctx, m, sender.Relay, sender.ID); err != nil {
		t.Fatalf("dial the sender through the relay: %v", err)
	}
	var done event.EvtPeerIdentificationCompleted
	for done.Peer != a.host.ID() {
		select {
		case e := <-sub.Out():
			done = e.(event.EvtPeerIdentificationCompleted)
		case <-ctx.Done():
			t.Fatal("identify with the sender did not complete")
		}
	}
	own := map[string]bool{}
	for _, ad := range a.host.Network().ListenAddresses() {
		own[ad.String()] = true
	}
	for _, ad := range done.ListenAddrs {
		if !isCircuit(ad) {
			t.Errorf("identify told the unpaired peer the sender's address %s", ad)
		}
	}
	if done.SignedPeerRecord != nil {
		r, err := done.SignedPeerRecord.Record()
		if err != nil {
			t.Fatal(err)
		}
		for _, ad := range r.(*peer.PeerRecord).Addrs {
			if !isCircuit(ad) {
				t.Errorf("the signed peer record told the unpaired peer the sender's address %s", ad)
			}
		}
	}
	for _, ad := range m.Peerstore().Addrs(a.host.ID()) {
		if !isCircuit(ad) {
			t.Errorf("the unpaired peer's peerstore holds the sender's address %s (own listen address: %v)", ad, own[ad.String()])
		}
	}
}
