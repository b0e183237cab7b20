package pairing

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ferryhq/ferry/internal/atomicfile"
	"github.com/ferryhq/ferry/internal/filelock"
	"github.com/ferryhq/ferry/internal/strictjson"
)

// StoreFile is the trust store's file name inside the Ferry home directory.
const StoreFile = "devices.json"

// storeVersion is what encodeStore writes: 2 added last_seen. Version 1
// files are read as they are (no device has a last_seen).
const storeVersion = 2

// Store is the trust store: the devices this one has paired with, pinned by
// peer ID and Noise static key. It lives in home/devices.json (mode 0600), which
// every change rewrites atomically (temporary file, fsync, rename, fsync of the
// directory), so a crash leaves the old or the new list, never a torn one.
//
// A Store is safe for concurrent use, also across processes (the daemon and a
// CLI command): every change re-reads the file under an exclusive lock on
// home/devices.json.lock (flock, or LockFileEx on Windows); List only reads.
type Store struct {
	path string
	mu   sync.Mutex // serialises read-modify-write within this process
}

// Open opens the trust store in home, creating home (mode 0700) if needed. The
// file itself is created by the first Add. Open fails if an existing file does
// not parse.
func Open(home string) (*Store, error) {
	if home == "" {
		return nil, errors.New("open trust store: empty home directory")
	}
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, fmt.Errorf("open trust store: %w", err)
	}
	s := &Store{path: filepath.Join(home, StoreFile)}
	if _, err := s.load(); err != nil {
		return nil, fmt.Errorf("open trust store: %w", err)
	}
	return s, nil
}

// locked runs f holding the in-process mutex and an exclusive lock on
// home/devices.json.lock, so that the daemon and a CLI command changing the
// store at the same time do not lose each other's changes.
func (s *Store) locked(f func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	lf, err := os.OpenFile(s.path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	defer lf.Close()
	// Where the system has no file lock, the mutex and the atomic writes
	// still keep the file whole.
	if err := filelock.Lock(lf); err != nil && !errors.Is(err, filelock.ErrUnsupported) {
		return fmt.Errorf("lock: %w", err)
	}
	defer filelock.Unlock(lf)
	return f()
}

// Path is the trust store's file.
func (s *Store) Path() string { return s.path }

// List returns the paired devices, oldest pairing first. It takes no lock
// (every change replaces the file in one rename, so a reader sees the old
// list or the new one) and writes nothing: it works on a read-only home.
func (s *Store) List() ([]Device, error) {
	s.mu.Lock()
	devs, err := s.load()
	s.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	return devs, nil
}

// Get returns the device with the given peer ID, or an error wrapping
// ErrUnknownDevice.
func (s *Store) Get(id peer.ID) (Device, error) {
	devs, err := s.List()
	if err != nil {
		return Device{}, fmt.Errorf("get device: %w", err)
	}
	for _, d := range devs {
		if d.PeerID == id {
			return d, nil
		}
	}
	return Device{}, fmt.Errorf("get device %s: %w", id, ErrUnknownDevice)
}

// Add records d, replacing any entry with the same peer ID (re-pairing a
// device updates its keys, name and time).
func (s *Store) Add(d Device) error {
	if err := checkDevice(d); err != nil {
		return fmt.Errorf("add device: %w", err)
	}
	if err := checkName(d.Name); err != nil {
		return fmt.Errorf("add device %s: name: %w", d.PeerID, err)
	}
	if err := checkName(d.Version); err != nil {
		return fmt.Errorf("add device %s: version: %w", d.PeerID, err)
	}
	err := s.locked(func() error {
		devs, err := s.load()
		if err != nil {
			return err
		}
		out := devs[:0]
		for _, old := range devs {
			if old.PeerID != d.PeerID {
				out = append(out, old)
			}
		}
		return s.save(append(out, d))
	})
	if err != nil {
		return fmt.Errorf("add device: %w", err)
	}
	return nil
}

// Forget removes the device with the given peer ID; it returns an error
// wrapping ErrUnknownDevice if there is none.
func (s *Store) Forget(id peer.ID) error {
	err := s.locked(func() error {
		devs, err := s.load()
		if err != nil {
			return err
		}
		out := devs[:0]
		for _, d := range devs {
			if d.PeerID != id {
				out = append(out, d)
			}
		}
		if len(out) == len(devs) {
			return ErrUnknownDevice
		}
		return s.save(out)
	})
	if err != nil {
		return fmt.Errorf("forget device %s: %w", id, err)
	}
	return nil
}

// Seen records that the device with the given peer ID was seen at t (a
// migration with it ended): its LastSeen moves forward to t. A device not
// in the store is left out, with no error.
func (s *Store) Seen(id peer.ID, t time.Time) error {
	t = t.UTC().Truncate(time.Second)
	err := s.locked(func() error {
		devs, err := s.load()
		if err != nil {
			return err
		}
		for i := range devs {
			if devs[i].PeerID == id {
				if !t.After(devs[i].LastSeen) {
					return nil
				}
				devs[i].LastSeen = t
				return s.save(devs)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record device %s as seen: %w", id, err)
	}
	return nil
}

// storeFileFormat is devices.json.
type storeFileFormat struct {
	Version int      `json:"version"`
	Devices []Device `json:"devices"`
}

func (s *Store) load() ([]Device, error) {
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	devs, err := decodeStore(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.path, err)
	}
	return devs, nil
}

func (s *Store) save(devs []Device) error {
	b, err := encodeStore(devs)
	if err != nil {
		return err
	}
	return atomicfile.Write(s.path, b, 0o600)
}

// decodeStore parses devices.json strictly: known version, known fields, every
// device well formed, no duplicate peer IDs.
func decodeStore(b []byte) ([]Device, error) {
	var f storeFileFormat
	if err := strictjson.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if f.Version != 1 && f.Version != storeVersion {
		return nil, fmt.Errorf("parse: version %d, want 1 to %d", f.Version, storeVersion)
	}
	seen := make(map[peer.ID]bool, len(f.Devices))
	for _, d := range f.Devices {
		if err := checkDevice(d); err != nil {
			return nil, fmt.Errorf("parse: %w", err)
		}
		if seen[d.PeerID] {
			return nil, fmt.Errorf("parse: device %s listed twice", d.PeerID)
		}
		seen[d.PeerID] = true
	}
	sortDevices(f.Devices)
	return f.Devices, nil
}

func encodeStore(devs []Device) ([]byte, error) {
	if devs == nil {
		devs = []Device{}
	}
	sorted := append([]Device(nil), devs...)
	sortDevices(sorted)
	b, err := json.MarshalIndent(storeFileFormat{Version: storeVersion, Devices: sorted}, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func sortDevices(devs []Device) {
	sort.SliceStable(devs, func(i, j int) bool {
		if !devs[i].PairedAt.Equal(devs[j].PairedAt) {
			return devs[i].PairedAt.Before(devs[j].PairedAt)
		}
		return devs[i].PeerID < devs[j].PeerID
	})
}

// checkDevice is what every stored entry must satisfy. Names are held to the
// rule of their time (printable): Add holds new ones to checkName.
func checkDevice(d Device) error {
	if _, err := peer.IDFromBytes([]byte(d.PeerID)); err != nil {
		return fmt.Errorf("device peer ID: %w", err)
	}
	if len(d.NoiseStatic) != noiseKeyLen {
		return fmt.Errorf("device %s: noise static key of %d bytes, want %d", d.PeerID, len(d.NoiseStatic), noiseKeyLen)
	}
	if len(d.Name) > maxNameLen || !printable(d.Name) || len(d.Version) > maxVerLen || !printable(d.Version) {
		return fmt.Errorf("device %s: name or version too long or not printable UTF-8", d.PeerID)
	}
	return nil
}
