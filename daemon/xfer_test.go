package daemon

import (
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/internal/wire"
	"github.com/ferryhq/ferry/p2p"
	"github.com/ferryhq/ferry/transfer"
)

// seededSnap makes a small history and snapshots it.
func seededSnap(t *testing.T) (*transfer.Snap, chatstore.Stats) {
	t.Helper()
	ctx := context.Background()
	home := filepath.Join(t.TempDir(), "src")
	st, err := chatstore.Open(ctx, home, chatstore.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	stats, err := chatstore.Seed(ctx, st, chatstore.SeedOptions{Messages: 2000, MediaBytes: 3 << 20, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := transfer.Snapshot(ctx, st, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { snap.Close() })
	return snap, stats
}

func emptyTarget(t *testing.T) *chatstore.Store {
	t.Helper()
	st, err := chatstore.Open(context.Background(), filepath.Join(t.TempDir(), "dst"), chatstore.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// pipeServer serves src on a fresh net.Pipe for every stream the client opens.
type pipeServer struct {
	t     *testing.T
	src   chunkSource
	wg    sync.WaitGroup
	mu    sync.Mutex
	ends  []net.Conn
	done  []Report
	error error
}

func (p *pipeServer) open(ctx context.Context) (io.ReadWriteCloser, error) {
	c, s := net.Pipe()
	p.mu.Lock()
	p.ends = append(p.ends, s)
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer s.Close()
		err := serveTransfer(context.Background(), s, p.src, nil, func(r Report) {
			p.mu.Lock()
			p.done = append(p.done, r)
			p.mu.Unlock()
		})
		if err != nil {
			p.mu.Lock()
			p.error = err
			p.mu.Unlock()
		}
	}()
	return c, nil
}

func TestTransferOverPipes(t *testing.T) {
	snap, want := seededSnap(t)
	srv := &pipeServer{t: t, src: snap}
	ms, err := srv.open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m, err := fetchManifest(ms)
	if err != nil {
		t.Fatal(err)
	}
	if m.Root() != snap.Manifest().Root() {
		t.Fatalf("manifest root %x, want %x", m.Root(), snap.Manifest().Root())
	}
	recv, err := transfer.NewReceiver(emptyTarget(t), m)
	if err != nil {
		t.Fatal(err)
	}
	var moved int64
	var mu sync.Mutex
	if err := fetchChunks(context.Background(), srv.open, recv, recv.Missing(), 3, func(n int64) {
		mu.Lock()
		moved += n
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	if moved != m.TotalBytes() {
		t.Errorf("moved %d bytes, want the manifest's %d", moved, m.TotalBytes())
	}
	res, err := recv.Commit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Target != want {
		t.Errorf("target %+v, want %+v", res.Target, want)
	}
	if err := sendReport(ms, Report{TargetDigest: res.Target.Digest}); err != nil {
		t.Fatal(err)
	}
	ms.Close()
	srv.wg.Wait()
	if len(srv.done) != 1 || srv.done[0].TargetDigest != want.Digest {
		t.Errorf("server got reports %+v, want one with digest %s", srv.done, want.Digest)
	}
}

// tampered flips a byte of every chunk it serves: a hostile or broken sender.
type tampered struct{ chunkSource }

func (s tampered) ReadChunk(ctx context.Context, i int, buf []byte) ([]byte, error) {
	b, err := s.chunkSource.ReadChunk(ctx, i, buf)
	if err == nil && len(b) > 0 {
		b = append([]byte(nil), b...)
		b[len(b)/2] ^= 1
	}
	return b, err
}

func TestTransferRefusesTamperedChunks(t *testing.T) {
	snap, _ := seededSnap(t)
	srv := &pipeServer{t: t, src: tampered{snap}}
	recv, err := transfer.NewReceiver(emptyTarget(t), snap.Manifest())
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Abort()
	before := len(recv.Missing())
	err = fetchChunks(context.Background(), srv.open, recv, recv.Missing(), 2, nil)
	if !errors.Is(err, transfer.ErrChunkCorrupt) {
		t.Fatalf("fetch from a tampering sender: got %v, want ErrChunkCorrupt", err)
	}
	if got := len(recv.Missing()); got != before {
		t.Errorf("%d chunks still missing after tampered answers, want all %d", got, before)
	}
}

func TestTransferServerGoesAway(t *testing.T) {
	snap, _ := seededSnap(t)
	recv, err := transfer.NewReceiver(emptyTarget(t), snap.Manifest())
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Abort()
	// A sender that answers the first request and then drops the stream,
	// while the receiver is blocked reading the next answer.
	open := func(ctx context.Context) (io.ReadWriteCloser, error) {
		c, s := net.Pipe()
		go func() {
			r := wire.NewReader(s)
			if _, _, err := r.Next(); err == nil {
				s.Close()
			}
		}()
		return c, nil
	}
	done := make(chan error, 1)
	go func() { done <- fetchChunks(context.Background(), open, recv, recv.Missing(), 2, nil) }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("fetch from a sender that went away succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("fetch hangs when the sender goes away")
	}
}

func TestTransferBadRequests(t *testing.T) {
	snap, _ := seededSnap(t)
	for _, tt := range []struct {
		name string
		typ  wire.Type
		body []byte
	}{
		{"unknown type", 0x42, nil},
		{"chunk out of range", wire.GetChunk, wire.PutIndex(1 << 40)},
		{"malformed index", wire.GetChunk, []byte{0x80}},
		{"bad report", wire.Done, []byte("{")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, s := net.Pipe()
			errc := make(chan error, 1)
			go func() { errc <- serveTransfer(context.Background(), s, snap, nil, nil); s.Close() }()
			go wire.Write(c, tt.typ, tt.body)
			_, err := answer(wire.NewReader(c), wire.Chunk)
			var re *wire.RemoteError
			if !errors.As(err, &re) || re.Code != wire.CodeBadRequest {
				t.Errorf("got %v, want a bad-request error from the server", err)
			}
			if err := <-errc; err == nil {
				t.Errorf("server returned nil after a bad request")
			}
			c.Close()
		})
	}
}

func TestTransferRefusesUnpairedPeers(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	loop := []string{"/ip4/127.0.0.1/tcp/0"}
	homeA := filepath.Join(t.TempDir(), "a")
	st, err := chatstore.Open(ctx, homeA, chatstore.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chatstore.Seed(ctx, st, chatstore.SeedOptions{Messages: 100, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	a, err := New(ctx, Config{Home: homeA, Listen: loop, NoMDNS: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	homeB := t.TempDir()
	b, err := New(ctx, Config{Home: homeB, Listen: loop, NoMDNS: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	codes := make(chan string, 1)
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		a.Send(ctx, SendRequest{}, func(e Event) {
			if e.Kind == EventCode {
				codes <- e.Code
			}
		})
	}()
	// The send ends (and removes its snapshot) before the test does.
	defer func() { cancel(); <-sent }()
	<-codes
	if err := b.host.Connect(ctx, peer.AddrInfo{ID: a.host.ID(), Addrs: p2p.DialAddrs(a.host)}); err != nil {
		t.Fatal(err)
	}
	s, err := b.host.NewStream(ctx, a.host.ID(), protocol.ID(TransferProtocol))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = fetchManifest(s)
	var re *wire.RemoteError
	if !errors.As(err, &re) || re.Code != wire.CodeNotTrusted {
		t.Fatalf("unpaired device asking for the manifest: got %v, want a not-trusted refusal", err)
	}
}
