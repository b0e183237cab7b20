package transfer

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/internal/atomicfile"
	"github.com/ferryhq/ferry/internal/strictjson"
)

// A second migration of an unchanged history moves nothing and hashes
// nothing again: the sender keeps its last snapshot in its home
// (SendCacheDir) and offers it again while the history's chatstore.State
// is the one it was made from; the receiver records what it committed
// (ReceivedFile) and, offered the same manifest while its own history is
// still in the State that commit left, has nothing to fetch or merge.

// SendCacheDir, in a sender's home, holds the last snapshot a send made
// (SnapshotOptions.Cache): its compressed database chunks (db.zst, 0600
// like everything in a home), its manifest, and the history's State it was
// made from (testdata/send-cache-state-v1.json). Any change of the history
// removes it (chatstore.RemoveSendCache); a snapshot whose State no longer
// matches is never offered.
const SendCacheDir = "send-cache"

// ReceivedFile, in a receiver's home, names the manifest the last commit
// took in and the history's State and stats right after it
// (testdata/received-v1.json).
const ReceivedFile = "received.json"

// Files of a kept snapshot, beside dbzFile.
const (
	cacheManifest = "manifest"
	cacheState    = "state.json"
	dbzFile       = "db.zst"
)

// stateful is a history that can name its State (a *chatstore.Store).
type stateful interface {
	Home() string
	State(ctx context.Context) (chatstore.State, error)
}

// keptState is SendCacheDir/state.json.
type keptState struct {
	Version int    `json:"version"` // 1
	State   string `json:"state"`   // chatstore.State the snapshot was made from
	Root    string `json:"root"`    // the manifest's root hash, hex
}

// received is ReceivedFile.
type received struct {
	Version int             `json:"version"` // 1
	Root    string          `json:"root"`    // the committed manifest's root hash, hex
	State   string          `json:"state"`   // chatstore.State right after the commit
	Target  chatstore.Stats `json:"target"`  // the receiver's stats then
}

const againVersion = 1

// openKept returns the snapshot kept in home when it was made from the
// history in state now, or an error saying why not.
func openKept(store HistorySource, home string, now chatstore.State) (*Snap, error) {
	dir := filepath.Join(home, SendCacheDir)
	var ks keptState
	if err := readJSON(filepath.Join(dir, cacheState), &ks); err != nil {
		return nil, err
	}
	if ks.Version != againVersion || ks.State != string(now) {
		return nil, errors.New("kept snapshot is of another state of the history")
	}
	enc, err := os.ReadFile(filepath.Join(dir, cacheManifest))
	if err != nil {
		return nil, err
	}
	m, err := ParseManifest(enc)
	if err != nil {
		return nil, err
	}
	if root := m.Root(); hex.EncodeToString(root[:]) != ks.Root {
		return nil, errors.New("kept manifest is not the one its state names")
	}
	f, err := os.Open(filepath.Join(dir, dbzFile))
	if err != nil {
		return nil, err
	}
	offs := make([]int64, len(m.DBChunks))
	var off int64
	for i, c := range m.DBChunks {
		offs[i] = off
		off += int64(c.Size)
	}
	if fi, err := f.Stat(); err != nil || fi.Size() != off {
		f.Close()
		return nil, errors.New("kept database chunks have the wrong size")
	}
	// The media the history lists are still there (their chunks are
	// hashed again as they are served).
	for _, mf := range m.Media {
		if fi, err := os.Stat(store.MediaPath(mf.Hash)); err != nil || fi.Size() != mf.Size {
			f.Close()
			return nil, fmt.Errorf("media %s changed", mf.Hash)
		}
	}
	return &Snap{store: store, dir: dir, m: m, dbz: f, dbOff: offs, kept: true}, nil
}

// keep makes s, a snapshot just made in home's SendCacheDir-<pid>-*
// directory from the history in state before, the kept one — if the
// history is still in that state. It fails quietly: a send without a kept
// snapshot only takes longer next time.
func (s *Snap) keep(ctx context.Context, h stateful, before chatstore.State) {
	if now, err := h.State(ctx); err != nil || now != before {
		return
	}
	enc, err := s.m.Marshal()
	if err != nil {
		return
	}
	root := s.m.Root()
	ks, _ := json.Marshal(keptState{Version: againVersion, State: string(before), Root: hex.EncodeToString(root[:])})
	if os.WriteFile(filepath.Join(s.dir, cacheManifest), enc, 0o600) != nil ||
		atomicfile.Write(filepath.Join(s.dir, cacheState), ks, 0o600) != nil {
		return
	}
	home := h.Home()
	chatstore.RemoveSendCache(home)
	if os.Rename(s.dir, filepath.Join(home, SendCacheDir)) != nil {
		return
	}
	s.dir, s.kept = filepath.Join(home, SendCacheDir), true
	s.scratch.Remove() // lets go of its lock; the directory has moved
	s.scratch = nil
	// A change that came in between removed no kept snapshot yet (there
	// was none): this one is of an old state, and goes.
	if now, err := h.State(ctx); err != nil || now != before {
		chatstore.RemoveSendCache(home)
	}
}

// upToDate returns what ReceivedFile says of the target if its last commit
// took in m and its history has not changed since; nil otherwise.
func upToDate(store HistoryTarget, m *Manifest) *received {
	h, ok := store.(stateful)
	if !ok {
		return nil
	}
	var rec received
	if readJSON(filepath.Join(store.Home(), ReceivedFile), &rec) != nil || rec.Version != againVersion {
		return nil
	}
	if root := m.Root(); rec.Root != hex.EncodeToString(root[:]) || rec.State == "" {
		return nil
	}
	now, err := h.State(context.Background())
	if err != nil || string(now) != rec.State {
		return nil
	}
	return &rec
}

// recordReceived writes ReceivedFile after a commit of m that left the
// target with stats st. Like keep, it fails quietly.
func recordReceived(ctx context.Context, store HistoryTarget, m *Manifest, st chatstore.Stats) {
	path := filepath.Join(store.Home(), ReceivedFile)
	h, ok := store.(interface {
		SettledState(ctx context.Context) (chatstore.State, error)
	})
	if !ok {
		return
	}
	now, err := h.SettledState(ctx)
	if err != nil || now == "" {
		os.Remove(path)
		return
	}
	root := m.Root()
	b, _ := json.Marshal(received{Version: againVersion, Root: hex.EncodeToString(root[:]), State: string(now), Target: st})
	if atomicfile.Write(path, b, 0o600) != nil {
		os.Remove(path)
	}
}

// readJSON strictly decodes the JSON file at path (a few hundred bytes)
// into v.
func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if len(b) > 64<<10 {
		return errors.New("too large")
	}
	return strictjson.Unmarshal(b, v)
}
