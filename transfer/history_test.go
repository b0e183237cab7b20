package transfer

import (
	"context"
	"sync"
	"testing"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/chatstore/storetest"
)

// appHistory is a store of an app's own: the engine sees only the History
// methods (here they forward to a chatstore.Store and count the media it
// installs, as an app's store would index them).
type appHistory struct {
	History
	mu        sync.Mutex
	installed []chatstore.Hash
}

func (a *appHistory) InstallMedia(h chatstore.Hash, staged string) error {
	if err := a.History.InstallMedia(h, staged); err != nil {
		return err
	}
	a.mu.Lock()
	a.installed = append(a.installed, h)
	a.mu.Unlock()
	return nil
}

// A migration between two stores that are not *chatstore.Store: the
// engine works on the interface alone.
func TestOwnHistory(t *testing.T) {
	ctx := context.Background()
	src := storetest.New(t)
	want := storetest.Seed(t, src, 300, 256<<10, 3)
	from, to := &appHistory{History: src}, &appHistory{History: storetest.New(t)}
	snap, err := SnapshotWith(ctx, from, SnapshotOptions{WorkDir: t.TempDir(), ChunkSize: testChunk})
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	recv, err := NewReceiver(to, snap.Manifest())
	if err != nil {
		t.Fatal(err)
	}
	res, err := Pull(ctx, ReadSource(snap, 2), recv, PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Target != want {
		t.Errorf("target %+v, want %+v", res.Target, want)
	}
	if got := len(to.installed); got != len(snap.Manifest().Media) {
		t.Errorf("the app's store installed %d media files, want %d", got, len(snap.Manifest().Media))
	}
}
