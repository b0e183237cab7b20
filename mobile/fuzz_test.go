package mobile

import (
	"slices"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// FuzzServiceFound: whatever an app's discovery hands over (what a device on
// the network advertised), reading it fails cleanly or gives a sender that
// reads the same again from the JSON Operation.Service would show for it.
func FuzzServiceFound(f *testing.F) {
	_, pub, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		f.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(`{"instance":"` + id.String() + `","type":"_ferry._tcp","domain":"local.","port":4001,"addresses":["192.168.1.2","fd00::2"],"txt":{"v":"1","np":"7","id":"` + id.String() + `","quic":"4002"}}`)
	f.Add(`{"instance":"x","type":"._ferry._tcp","host":"10.0.0.3","port":1,"addresses":[],"txt":{"V":"1","NP":"a","id":"` + id.String() + `"}}`)
	f.Add(`{"instance":"x","port":65535,"addresses":["::1"],"txt":{"v":"2"}}`)
	f.Add(`{}`)
	f.Fuzz(func(t *testing.T, js string) {
		if len(js) > 1<<16 {
			return
		}
		s, err := parseService(js)
		if err != nil {
			return
		}
		np, info, err := s.Sender()
		if err != nil {
			return
		}
		s2, err := parseService(serviceJSON(s))
		if err != nil {
			t.Fatalf("parse(serviceJSON(%+v)): %v", s, err)
		}
		np2, info2, err := s2.Sender()
		if err != nil {
			t.Fatalf("Sender of the round trip %+v: %v", s2, err)
		}
		if np2 != np || info2.ID != info.ID {
			t.Fatalf("round trip: %s %s, want %s %s", np2, info2.ID, np, info.ID)
		}
		for _, a := range info2.Addrs {
			if !slices.ContainsFunc(info.Addrs, func(b ma.Multiaddr) bool { return a.Equal(b) }) {
				t.Fatalf("round trip added address %s to %v", a, info.Addrs)
			}
		}
	})
}
