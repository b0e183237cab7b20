package pairing

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func testDevice(t *testing.T, seed string, at time.Time) Device {
	t.Helper()
	id := testIdentity(t, seed, "device "+seed)
	static, err := id.NoiseStatic()
	if err != nil {
		t.Fatal(err)
	}
	return Device{PeerID: mustPeerID(t, id), NoiseStatic: static, Name: id.Name, Version: "1.0", PairedAt: at}
}

func TestStore(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	s, err := Open(home)
	if err != nil {
		t.Fatal(err)
	}
	if devs, err := s.List(); err != nil || len(devs) != 0 {
		t.Fatalf("new store lists %v, %v; want empty", devs, err)
	}
	t0 := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	a, b := testDevice(t, "a", t0.Add(time.Hour)), testDevice(t, "b", t0)
	for _, d := range []Device{a, b} {
		if err := s.Add(d); err != nil {
			t.Fatal(err)
		}
	}
	devs, err := s.List()
	if err != nil || len(devs) != 2 || !deviceEqual(devs[0], b) || !deviceEqual(devs[1], a) {
		t.Fatalf("List = %+v, %v; want b then a (oldest first)", devs, err)
	}
	// Re-adding replaces.
	a2 := a
	a2.Name = "renamed"
	if err := s.Add(a2); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(a.PeerID)
	if err != nil || got.Name != "renamed" {
		t.Errorf("Get after re-add = %+v, %v; want name renamed", got, err)
	}
	// A second Store on the same home sees the same devices (the file is the truth).
	s2, err := Open(home)
	if err != nil {
		t.Fatal(err)
	}
	if devs, _ := s2.List(); len(devs) != 2 {
		t.Errorf("reopened store lists %d devices, want 2", len(devs))
	}
	if err := s.Forget(b.PeerID); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Get(b.PeerID); !errors.Is(err, ErrUnknownDevice) {
		t.Errorf("Get forgotten = %v, want ErrUnknownDevice", err)
	}
	if err := s.Forget(b.PeerID); !errors.Is(err, ErrUnknownDevice) {
		t.Errorf("Forget twice = %v, want ErrUnknownDevice", err)
	}

	fi, err := os.Stat(filepath.Join(home, StoreFile))
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("devices.json mode %v, want 0600", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(home)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if got, want := strings.Join(names, ","), "devices.json,devices.json.lock"; got != want {
		t.Errorf("home holds %s, want %s (no temporary files left)", got, want)
	}
}

// TestStoreConcurrentAdds: many Stores on one home (as separate processes would
// open it) add devices at once; none is lost.
func TestStoreConcurrentAdds(t *testing.T) {
	home := t.TempDir()
	const n = 8
	var wg sync.WaitGroup
	for i := range n {
		s, err := Open(home)
		if err != nil {
			t.Fatal(err)
		}
		d := testDevice(t, strings.Repeat("x", i+1), time.Unix(int64(i), 0).UTC())
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Add(d); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	s, _ := Open(home)
	if devs, err := s.List(); err != nil || len(devs) != n {
		t.Errorf("List = %d devices, %v; want %d", len(devs), err, n)
	}
}

func TestStoreRejectsBadDevices(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	good := testDevice(t, "a", time.Unix(0, 0).UTC())
	bad := []struct {
		name string
		mod  func(*Device)
	}{
		{"empty peer ID", func(d *Device) { d.PeerID = "" }},
		{"garbage peer ID", func(d *Device) { d.PeerID = "xyz" }},
		{"short noise key", func(d *Device) { d.NoiseStatic = d.NoiseStatic[:31] }},
		{"long name", func(d *Device) { d.Name = string(bytes.Repeat([]byte("n"), maxNameLen+1)) }},
		{"invalid UTF-8", func(d *Device) { d.Name = "\xff" }},
		{"terminal escape", func(d *Device) { d.Name = "\x1b[2Jpwned" }},
		{"text-direction override", func(d *Device) { d.Name = "laptop\u202Egpj.exe" }},
		{"invisible version", func(d *Device) { d.Version = "ferry\u200B1" }},
	}
	for _, tt := range bad {
		d := good
		tt.mod(&d)
		if err := s.Add(d); err == nil {
			t.Errorf("%s: Add accepted it", tt.name)
		}
	}
}

func TestStoreCorruptFile(t *testing.T) {
	home := t.TempDir()
	files := map[string]string{
		"not json":      "{",
		"wrong version": `{"version":3,"devices":[]}`,
		"unknown field": `{"version":1,"devices":[],"x":1}`,
		"trailing":      `{"version":1,"devices":[]} {}`,
		"bad device":    `{"version":1,"devices":[{"peer_id":"12D3KooWH7fBJAQEw8wNWbyJu2tPjjfuMQBKxXQXdqwqKP8cwNnx","noise_static":"AAAA","name":"x","paired_at":"2026-01-01T00:00:00Z"}]}`,
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(home, StoreFile), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(home); err == nil {
			t.Errorf("%s: Open accepted %q", name, content)
		}
	}
}

func TestStoreRoundTrip(t *testing.T) {
	devs := []Device{testDevice(t, "a", time.Unix(100, 0).UTC()), testDevice(t, "b", time.Unix(50, 0).UTC())}
	b, err := encodeStore(devs)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeStore(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !deviceEqual(got[0], devs[1]) || !deviceEqual(got[1], devs[0]) {
		t.Errorf("round trip = %+v, want %+v sorted by time", got, devs)
	}
}

// A trust store written before names were held to checkName still opens; the
// name is neutralised where it is shown (DisplayName), not rewritten.
func TestStoreReadsLegacyNames(t *testing.T) {
	home := t.TempDir()
	d := testDevice(t, "a", time.Unix(0, 0).UTC())
	d.Name = "laptop\u202Egpj.exe"
	b, err := encodeStore([]Device{d})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, StoreFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(home)
	if err != nil {
		t.Fatalf("open a store with a legacy name: %v", err)
	}
	got, err := s.Get(d.PeerID)
	if err != nil || got.Name != d.Name {
		t.Fatalf("Get = %+v, %v; want the stored name as it is", got, err)
	}
	if shown := DisplayName(got.Name); shown != `laptop\u202egpj.exe` {
		t.Errorf("DisplayName = %q, want the override escaped", shown)
	}
}

// TestStoreKnownFiles: devices.json of each version is read (version 1
// has no last_seen: zero), and what this version writes is frozen in
// testdata/devices-v2.json (go test -update rewrites it).
func TestStoreKnownFiles(t *testing.T) {
	a := testDevice(t, "a", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	b := testDevice(t, "b", time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC))
	b.LastSeen = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	v2 := filepath.Join("testdata", "devices-v2.json")
	if *update {
		enc, err := encodeStore([]Device{a, b})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(v2, enc, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		file     string
		lastSeen time.Time // of b
	}{{"devices-v1.json", time.Time{}}, {"devices-v2.json", b.LastSeen}} {
		raw, err := os.ReadFile(filepath.Join("testdata", c.file))
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeStore(raw)
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		if len(got) != 2 || !deviceEqual(got[0], a) || !deviceEqual(got[1], b) || !got[0].LastSeen.IsZero() || !got[1].LastSeen.Equal(c.lastSeen) {
			t.Errorf("%s: %+v; want a (never seen) and b (last seen %v)", c.file, got, c.lastSeen)
		}
	}
	raw, _ := os.ReadFile(v2)
	got, _ := decodeStore(raw)
	enc, err := encodeStore(got)
	if err != nil || !bytes.Equal(enc, raw) {
		t.Errorf("devices-v2.json does not encode back to its bytes (%v):\n%s\nwant\n%s", err, enc, raw)
	}
}

// TestStoreSeen: Seen moves a device's LastSeen forward (never back), and
// leaves out a device that is not in the store.
func TestStoreSeen(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	d := testDevice(t, "a", time.Unix(100, 0).UTC())
	if err := s.Add(d); err != nil {
		t.Fatal(err)
	}
	t1, t0 := time.Unix(2000, 0).UTC(), time.Unix(1000, 0).UTC()
	for _, at := range []time.Time{t1, t0} {
		if err := s.Seen(d.PeerID, at); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.Get(d.PeerID); err != nil || !got.LastSeen.Equal(t1) {
		t.Errorf("after Seen at %v and %v: %+v, %v; want last seen %v", t1, t0, got, err, t1)
	}
	other := testDevice(t, "b", time.Unix(100, 0).UTC())
	if err := s.Seen(other.PeerID, t1); err != nil {
		t.Errorf("Seen of a device not in the store: %v", err)
	}
	if ds, _ := s.List(); len(ds) != 1 {
		t.Errorf("Seen of an unknown device added it: %+v", ds)
	}
}
