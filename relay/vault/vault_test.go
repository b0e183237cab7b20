package vault

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/archive"
	"github.com/ferryhq/ferry/internal/wire"
	"github.com/ferryhq/ferry/p2p"
	"github.com/ferryhq/ferry/relay/vaultstore"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

type clock struct{ ns atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func newServer(t *testing.T, cfg Config) (*Server, *clock) {
	t.Helper()
	return newServerAt(t, t.TempDir(), cfg)
}

// newServerAt starts a server on the store in dir, as a relay restarted on
// the same vault directory does.
func newServerAt(t *testing.T, dir string, cfg Config) (*Server, *clock) {
	t.Helper()
	st, err := vaultstore.NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	cfg.Store, cfg.Now = st, c.Now
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

// do sends req as acct and returns the answer or the error it maps to.
func do(t *testing.T, s *Server, acct peer.ID, req request) ([]byte, error) {
	t.Helper()
	typ, body := req.encode()
	rt, rb, err := s.handle(context.Background(), acct, typ, body)
	if err != nil {
		// Through the wire code, as a client sees it.
		return nil, remoteErr(&wire.RemoteError{Code: codeOf(err)})
	}
	_ = rt
	return rb, nil
}

var alice, bob = peer.ID("alice-device"), peer.ID("bob-device")

func TestQuotaAndSize(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Quota: 1000, MaxBackupSize: 700}
	s, _ := newServerAt(t, dir, cfg)
	id1, id2 := [IDSize]byte{1}, [IDSize]byte{2}
	steps := []struct {
		acct peer.ID
		req  request
		want error
	}{
		{alice, request{op: opPutChunk, id: id1, name: [32]byte{1}, data: make([]byte, 600)}, nil},
		{alice, request{op: opPutChunk, id: id1, name: [32]byte{1}, data: make([]byte, 600)}, nil}, // already there
		{alice, request{op: opPutChunk, id: id1, name: [32]byte{2}, data: make([]byte, 200)}, ErrTooLarge},
		{alice, request{op: opPutChunk, id: id2, name: [32]byte{3}, data: make([]byte, 500)}, ErrQuota},
		{alice, request{op: opPutChunk, id: id2, name: [32]byte{3}, data: make([]byte, 300)}, nil},
		{bob, request{op: opPutChunk, id: [IDSize]byte{3}, name: [32]byte{3}, data: make([]byte, 900)}, ErrTooLarge},
		{alice, request{op: opPutManifest, id: id1, names: [][32]byte{{1}, {9}}, data: []byte("m")}, ErrMissingChunks},
		{alice, request{op: opPutManifest, id: id1, names: [][32]byte{{1}}, data: []byte("m")}, nil},
		{bob, request{op: opPutManifest, id: id1, names: [][32]byte{{1}}, data: []byte("m")}, ErrForbidden},
	}
	for i, st := range steps {
		if _, err := do(t, s, st.acct, st.req); !errors.Is(err, st.want) {
			t.Fatalf("step %d: %v, want %v", i, err, st.want)
		}
	}
	b, err := do(t, s, alice, request{op: opList})
	if err != nil {
		t.Fatal(err)
	}
	list, err := parseBackups(b)
	if err != nil || len(list) != 2 || list[0].ID != id1 || list[0].Size != 601 || list[1].Size != 300 {
		t.Errorf("list: %+v, %v; want backup 1 of 601 bytes, backup 2 of 300", list, err)
	}
	// A restarted relay still counts backup 2's chunks, which no manifest
	// accounts for yet.
	s, _ = newServerAt(t, dir, cfg)
	if _, err := do(t, s, alice, request{op: opPutChunk, id: id2, name: [32]byte{4}, data: make([]byte, 200)}); !errors.Is(err, ErrQuota) {
		t.Errorf("over the quota after a restart: %v, want ErrQuota", err)
	}
	if _, err := do(t, s, alice, request{op: opPutChunk, id: id2, name: [32]byte{4}, data: make([]byte, 90)}); err != nil {
		t.Errorf("within the quota after a restart: %v", err)
	}
}

func TestTTL(t *testing.T) {
	s, c := newServer(t, Config{TTL: 24 * time.Hour})
	id := [IDSize]byte{1}
	for _, req := range []request{
		{op: opPutChunk, id: id, name: [32]byte{1}, data: []byte("chunk")},
		{op: opPutManifest, id: id, names: [][32]byte{{1}}, data: []byte("manifest")},
	} {
		if _, err := do(t, s, alice, req); err != nil {
			t.Fatal(err)
		}
	}
	c.Advance(23 * time.Hour)
	if b, err := do(t, s, bob, request{op: opGetManifest, id: id}); err != nil || string(b) != "manifest" {
		t.Fatalf("before the TTL: %q, %v", b, err)
	}
	c.Advance(2 * time.Hour)
	n, err := s.Sweep(context.Background())
	if err != nil || n != 1 {
		t.Errorf("Sweep: %d, %v; want 1", n, err)
	}
	if _, err := do(t, s, bob, request{op: opGetManifest, id: id}); !errors.Is(err, ErrNotFound) {
		t.Errorf("after the TTL: %v, want ErrNotFound", err)
	}
	objs, err := s.store.List(context.Background(), "")
	if err != nil || len(objs) != 0 {
		t.Errorf("store after sweep: %v, %v; want empty", objs, err)
	}
}

func TestLockout(t *testing.T) {
	s, _ := newServer(t, Config{})
	id := [IDSize]byte{1}
	proof := [32]byte{42}
	slot := KeySlot{Params: archive.Params{Time: 1, MemoryKiB: 64, Threads: 1}, Verifier: sha256Of(proof), Wrapped: [WrappedSize]byte{7}}
	if _, err := do(t, s, alice, request{op: opPutKeySlot, id: id, slot: slot}); err != nil {
		t.Fatal(err)
	}
	if b, err := do(t, s, bob, request{op: opGetKeySlot, id: id, name: proof}); err != nil || !bytes.Equal(b, slot.Wrapped[:]) {
		t.Fatalf("right proof: %x, %v", b, err)
	}
	for i := range MaxFails {
		if _, err := do(t, s, bob, request{op: opGetKeySlot, id: id, name: [32]byte{byte(i)}}); !errors.Is(err, ErrWrongPassword) {
			t.Fatalf("wrong proof %d: %v", i, err)
		}
	}
	for _, op := range []wire.Type{opGetKeySlot, opGetKeyParams} {
		if _, err := do(t, s, bob, request{op: op, id: id, name: proof}); !errors.Is(err, ErrLocked) {
			t.Errorf("op %#x after %d wrong proofs: %v, want ErrLocked", op, MaxFails, err)
		}
	}
	if _, err := do(t, s, bob, request{op: opPutKeySlot, id: id, slot: slot}); !errors.Is(err, ErrForbidden) {
		t.Errorf("another device resets the slot: %v, want ErrForbidden", err)
	}
	if _, err := do(t, s, alice, request{op: opPutKeySlot, id: id, slot: slot}); err != nil {
		t.Fatal(err)
	}
	if _, err := do(t, s, bob, request{op: opGetKeySlot, id: id, name: proof}); err != nil {
		t.Errorf("after the owner's new slot: %v", err)
	}
}

func sampleRequests() []request {
	slot := KeySlot{Params: archive.Params{Time: 3, MemoryKiB: 65536, Threads: 4}, Salt: [32]byte{1}, Verifier: [32]byte{2}, Wrapped: [WrappedSize]byte{3}}
	id := [IDSize]byte{0xaa}
	return []request{
		{op: opPutChunk, id: id, name: [32]byte{1}, data: []byte("sealed")},
		{op: opHasChunks, id: id, names: [][32]byte{{1}, {2}}},
		{op: opGetChunk, id: id, name: [32]byte{1}},
		{op: opPutManifest, id: id, names: [][32]byte{{1}, {2}}, data: []byte("m")},
		{op: opPutManifest, id: id, data: []byte("m")},
		{op: opGetManifest, id: id},
		{op: opList},
		{op: opDelete, id: id},
		{op: opPutKeySlot, id: id, slot: slot},
		{op: opGetKeyParams, id: id},
		{op: opGetKeySlot, id: id, name: [32]byte{5}},
	}
}

func TestParseRequestRejects(t *testing.T) {
	id := make([]byte, IDSize)
	name := make([]byte, NameSize)
	cases := []struct {
		name string
		t    wire.Type
		body []byte
	}{
		{"unknown type", 0x7f, id},
		{"short id", opGetManifest, id[:15]},
		{"trailing", opGetManifest, append(id, 0)},
		{"empty chunk", opPutChunk, append(id, name...)},
		{"no names", opHasChunks, id},
		{"partial name", opHasChunks, append(id, 1)},
		{"unsorted names", opPutManifest, append(append(append(append(id, 2), bytes.Repeat([]byte{2}, 32)...), name...), 'm')},
		{"non-canonical varint", opPutManifest, append(append(id, 0x80, 0x00), 'm')},
		{"no manifest", opPutManifest, append(id, 0)},
		{"list with body", opList, []byte{0}},
		{"bad params", opPutKeySlot, append(append(id, 1, 0, 0, 0), make([]byte, 32+32+WrappedSize)...)},
	}
	for _, tc := range cases {
		if _, err := parseRequest(tc.t, tc.body); !errors.Is(err, errBadRequest) {
			t.Errorf("%s: %v, want errBadRequest", tc.name, err)
		}
	}
}

func FuzzParseRequest(f *testing.F) {
	for _, r := range sampleRequests() {
		t, b := r.encode()
		f.Add(byte(t), b)
	}
	f.Fuzz(func(t *testing.T, typ byte, body []byte) {
		r, err := parseRequest(wire.Type(typ), body)
		if err != nil {
			return
		}
		gt, gb := r.encode()
		if byte(gt) != typ || !bytes.Equal(gb, body) {
			t.Fatalf("round trip: %#x %x, want %#x %x", gt, gb, typ, body)
		}
	})
}

func FuzzParseBackups(f *testing.F) {
	f.Add(appendBackups(nil, []Backup{{ID: [16]byte{1}, Updated: 1700000000, Size: 12345}, {ID: [16]byte{2}}}))
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, b []byte) {
		list, err := parseBackups(b)
		if err != nil {
			return
		}
		if got := appendBackups(nil, list); !bytes.Equal(got, b) {
			t.Fatalf("round trip: %x, want %x", got, b)
		}
	})
}

func FuzzParseKeyParams(f *testing.F) {
	f.Add(appendParams(nil, archive.DefaultParams(), [32]byte{9}))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, salt, err := parseKeyParams(b)
		if err != nil {
			return
		}
		if got := appendParams(nil, p, salt); !bytes.Equal(got, b) {
			t.Fatalf("round trip: %x, want %x", got, b)
		}
	})
}

func FuzzParseMeta(f *testing.F) {
	f.Add([]byte(`{"owner":"x","created":1,"updated":2,"size":3,"fails":4,"locked":true}`))
	f.Add([]byte(`{"owner":""}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseMeta(b)
		if err != nil {
			return
		}
		if m.Owner == "" || m.Size < 0 || m.Fails < 0 || m.Fails > MaxFails {
			t.Fatalf("accepted %+v", m)
		}
	})
}

func sha256Of(b [32]byte) [32]byte { return sha256.Sum256(b[:]) }

// BenchmarkGetChunk is the relay's side of a restore: one GetChunk answered
// from the directory store, written to a sink (the stream's cost aside).
func BenchmarkGetChunk(b *testing.B) {
	for _, size := range []int{128 << 10, 8 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			st, err := vaultstore.NewDir(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			s, err := New(Config{Store: st})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			id, name := [IDSize]byte{1}, [NameSize]byte{2}
			if err := s.putChunk(ctx, alice.String(), id, name, bytes.Repeat([]byte{7}, size)); err != nil {
				b.Fatal(err)
			}
			typ, body := (&request{op: opGetChunk, id: id, name: name}).encode()
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if err := s.answer(ctx, io.Discard, bob, typ, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGetChunkLibp2p is GetChunk end to end: a device and a relay
// host on loopback, one stream per goroutine (4 at once, as a restore
// makes them), each asking for the chunk over and over.
func BenchmarkGetChunkLibp2p(b *testing.B) {
	const size = 8 << 20
	st, err := vaultstore.NewDir(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	srv, dev := loopbackHost(b), loopbackHost(b)
	s, err := Register(srv, Config{Store: st})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := dev.Connect(ctx, peer.AddrInfo{ID: srv.ID(), Addrs: srv.Addrs()}); err != nil {
		b.Fatal(err)
	}
	id, name := [IDSize]byte{1}, [NameSize]byte{2}
	if err := s.putChunk(ctx, alice.String(), id, name, bytes.Repeat([]byte{7}, size)); err != nil {
		b.Fatal(err)
	}
	typ, body := (&request{op: opGetChunk, id: id, name: name}).encode()
	b.SetBytes(size)
	b.ReportAllocs()
	b.SetParallelism(2) // 2 × GOMAXPROCS goroutines
	b.RunParallel(func(pb *testing.PB) {
		st, err := dev.NewStream(ctx, srv.ID(), ProtocolID)
		if err != nil {
			b.Error(err)
			return
		}
		defer st.Close()
		r := wire.NewReader(st)
		for pb.Next() {
			if err := wire.Write(st, typ, body); err != nil {
				b.Error(err)
				return
			}
			if rt, rb, err := r.Next(); err != nil || rt != rData || len(rb) != size {
				b.Errorf("answer %#x of %d bytes, %v", rt, len(rb), err)
				return
			}
		}
	})
}

func loopbackHost(tb testing.TB) host.Host {
	tb.Helper()
	h, err := p2p.NewHost(context.Background(), p2p.Config{Home: tb.TempDir(), ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { h.Close() })
	return h
}
