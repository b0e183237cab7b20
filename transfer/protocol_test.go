package transfer

import (
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/chatstore/storetest"
	"github.com/ferryhq/ferry/internal/treetest"
	"github.com/ferryhq/ferry/internal/wire"
)

// seededSnap makes a small history and snapshots it.
func seededSnap(t *testing.T) (*Snap, chatstore.Stats) {
	t.Helper()
	src := storetest.New(t)
	want := storetest.Seed(t, src, 2000, 3<<20, 1)
	snap, err := Snapshot(context.Background(), src, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { snap.Close() })
	return snap, want
}

// pipeServer serves src on a fresh net.Pipe for every stream the client opens.
type pipeServer struct {
	src   ServeSource
	wg    sync.WaitGroup
	mu    sync.Mutex
	done  []Report
	error error
}

func (p *pipeServer) open(ctx context.Context) (io.ReadWriteCloser, error) {
	c, s := net.Pipe()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer s.Close()
		err := Serve(context.Background(), s, p.src, nil, func(r Report) {
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

// A whole migration over the protocol on pipes: the manifest on one
// stream, the chunks on three, the report at the end.
func TestTransferOverPipes(t *testing.T) {
	snap, want := seededSnap(t)
	srv := &pipeServer{src: snap}
	ms, err := srv.open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m, err := FetchManifest(ms)
	if err != nil {
		t.Fatal(err)
	}
	if m.Root() != snap.Manifest().Root() {
		t.Fatalf("manifest root %x, want %x", m.Root(), snap.Manifest().Root())
	}
	dst := storetest.New(t)
	recv, err := NewReceiver(dst, m)
	if err != nil {
		t.Fatal(err)
	}
	src := NewPeerSource(srv.open, 3)
	var last Progress
	res, err := Pull(context.Background(), src, recv, PullOptions{Progress: func(p Progress) { last = p }})
	if err != nil {
		t.Fatal(err)
	}
	src.Close()
	if last.Bytes != m.TotalBytes() || last.TotalBytes != m.TotalBytes() || last.Items != m.NumChunks() {
		t.Errorf("last progress %+v, want the manifest's %d bytes in %d chunks", last, m.TotalBytes(), m.NumChunks())
	}
	if res.Target != want {
		t.Errorf("target %+v, want %+v", res.Target, want)
	}
	if err := SendReport(ms, Report{TargetDigest: res.Target.Digest}); err != nil {
		t.Fatal(err)
	}
	ms.Close()
	srv.wg.Wait()
	if len(srv.done) != 1 || srv.done[0].TargetDigest != want.Digest {
		t.Errorf("server got reports %+v, want one with digest %s", srv.done, want.Digest)
	}
}

// tampered flips a byte of every chunk it serves: a hostile or broken sender.
type tampered struct{ ServeSource }

func (s tampered) ReadChunk(ctx context.Context, i int, buf []byte) ([]byte, error) {
	b, err := s.ServeSource.ReadChunk(ctx, i, buf)
	if err == nil && len(b) > 0 {
		b = append([]byte(nil), b...)
		b[len(b)/2] ^= 1
	}
	return b, err
}

// A sender whose chunks fail their hashes gets nothing stored, and what
// the receiver staged of it is removed (Discard).
func TestTransferRefusesTamperedChunks(t *testing.T) {
	snap, _ := seededSnap(t)
	srv := &pipeServer{src: tampered{snap}}
	dst := storetest.New(t)
	recv, err := NewReceiver(dst, snap.Manifest())
	if err != nil {
		t.Fatal(err)
	}
	src := NewPeerSource(srv.open, 2)
	defer src.Close()
	_, err = Pull(context.Background(), src, recv, PullOptions{})
	if !errors.Is(err, ErrChunkCorrupt) {
		t.Fatalf("pull from a tampering sender: got %v, want ErrChunkCorrupt", err)
	}
	if st := storetest.Stats(t, dst); st.Messages != 0 {
		t.Errorf("%d messages stored from a tampering sender", st.Messages)
	}
	treetest.Empty(t, filepath.Join(dst.Home(), StagingDir))
}

// A sender that drops the stream while the receiver waits for an answer
// ends the pull with an error, and what was staged stays for a resume.
func TestTransferServerGoesAway(t *testing.T) {
	snap, _ := seededSnap(t)
	recv, err := NewReceiver(storetest.New(t), snap.Manifest())
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Abort()
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
	src := NewPeerSource(open, 2)
	defer src.Close()
	done := make(chan error, 1)
	go func() { done <- fetch(context.Background(), src, recv, nil) }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("fetch from a sender that went away succeeded")
		}
		if Discard(err) {
			t.Errorf("a lost sender's error %v discards staging; it should be kept for a resume", err)
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
		{"chunk out of range", msgGetChunk, putIndex(1 << 40)},
		{"malformed index", msgGetChunk, []byte{0x80}},
		{"bad report", msgDone, []byte("{")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, s := net.Pipe()
			errc := make(chan error, 1)
			go func() { errc <- Serve(context.Background(), s, snap, nil, nil); s.Close() }()
			go wire.Write(c, tt.typ, tt.body)
			_, err := answer(wire.NewReader(c), msgChunk)
			if code, ok := Refusal(err); !ok || code != CodeBadRequest {
				t.Errorf("got %v, want a bad-request error from the server", err)
			}
			if err := <-errc; err == nil {
				t.Errorf("server returned nil after a bad request")
			}
			c.Close()
		})
	}
}
