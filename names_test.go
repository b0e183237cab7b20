package ferry

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ferryhq/ferry/pairing"
)

// writeLegacyDevice writes a trust store whose one device has name, as a
// version of Ferry that checked names less would have.
func writeLegacyDevice(t *testing.T, home, name string) peer.ID {
	t.Helper()
	id := newPeerID(t)
	f := map[string]any{"version": 1, "devices": []pairing.Device{{PeerID: id, NoiseStatic: make([]byte, 32), Name: name, PairedAt: time.Unix(0, 0).UTC()}}}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, pairing.StoreFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return id
}

// A name with text-direction characters in the trust store reaches no
// client as it is: Devices (the CLI's ferry devices, --json included)
// shows it escaped.
func TestDevicesNeutraliseNames(t *testing.T) {
	home := t.TempDir()
	writeLegacyDevice(t, home, "laptop\u202Egpj.exe")
	for _, list := range []struct {
		name string
		run  func() ([]PairedDevice, error)
	}{
		{"not started", func() ([]PairedDevice, error) { return (&Device{Home: home}).Devices(context.Background()) }},
		{"started", func() ([]PairedDevice, error) {
			d := &Device{Home: home, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, NoMDNS: true}
			if err := d.Start(context.Background()); err != nil {
				return nil, err
			}
			defer d.Close()
			return d.Devices(context.Background())
		}},
	} {
		ds, err := list.run()
		if err != nil {
			t.Fatalf("%s: %v", list.name, err)
		}
		if len(ds) != 1 || ds[0].Name != `laptop\u202egpj.exe` {
			t.Errorf("%s: devices %+v, want the one name with its override escaped", list.name, ds)
		}
	}
}

func TestDaemonRefusesBadName(t *testing.T) {
	d := &Device{Home: t.TempDir(), Name: "phone\u2067", NoMDNS: true, Listen: []string{"/ip4/127.0.0.1/tcp/0"}}
	defer d.Close()
	if err := d.Start(context.Background()); err == nil {
		t.Fatal("a daemon started with a name holding U+2067")
	}
}
