package vault

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ferryhq/ferry/internal/archive"
	"github.com/ferryhq/ferry/internal/fakeclock"
	"github.com/ferryhq/ferry/internal/wire"
	"github.com/ferryhq/ferry/p2p"
	"github.com/ferryhq/ferry/p2p/p2ptest"
	"github.com/ferryhq/ferry/relay/vaultproto"
	"github.com/ferryhq/ferry/relay/vaultstore"
)

type clock = fakeclock.Clock

// t2026 is where a test server's clock starts.
var t2026 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

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
	c := fakeclock.New(t2026)
	cfg.Store = st
	if cfg.Now == nil {
		cfg.Now = c.Now
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

// do sends req as acct and returns the answer's body, or the error an
// Error answer maps to, as a client sees them.
func do(t *testing.T, s *Server, acct peer.ID, req vaultproto.Request) ([]byte, error) {
	t.Helper()
	return doIn(t, s, &session{from: acct, relay: "relay"}, req)
}

// doIn is do on the stream whose state is sess.
func doIn(t *testing.T, s *Server, sess *session, req vaultproto.Request) ([]byte, error) {
	t.Helper()
	typ, body := req.Encode()
	var buf bytes.Buffer
	if err := s.answer(context.Background(), &buf, sess, typ, body); err != nil {
		t.Fatalf("answer: %v", err)
	}
	rt, rb, err := wire.NewReader(&buf).Next()
	if err != nil || buf.Len() != 0 {
		t.Fatalf("answer: %v, %d bytes after it", err, buf.Len())
	}
	if rt == wire.Error {
		return nil, vaultproto.ErrorOf(wire.ParseError(rb))
	}
	return rb, nil
}

var alice, bob = peer.ID("alice-device"), peer.ID("bob-device")

func TestQuotaAndSize(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Quota: 1000, MaxBackupSize: 700}
	s, _ := newServerAt(t, dir, cfg)
	id1, id2 := [vaultproto.IDSize]byte{1}, [vaultproto.IDSize]byte{2}
	steps := []struct {
		acct peer.ID
		req  vaultproto.Request
		want error
	}{
		{alice, vaultproto.Request{Op: vaultproto.OpPutChunk, ID: id1, Name: [32]byte{1}, Data: make([]byte, 600)}, nil},
		{alice, vaultproto.Request{Op: vaultproto.OpPutChunk, ID: id1, Name: [32]byte{1}, Data: make([]byte, 600)}, nil}, // already there
		{alice, vaultproto.Request{Op: vaultproto.OpPutChunk, ID: id1, Name: [32]byte{2}, Data: make([]byte, 200)}, vaultproto.ErrTooLarge},
		{alice, vaultproto.Request{Op: vaultproto.OpPutChunk, ID: id2, Name: [32]byte{3}, Data: make([]byte, 500)}, vaultproto.ErrQuota},
		{alice, vaultproto.Request{Op: vaultproto.OpPutChunk, ID: id2, Name: [32]byte{3}, Data: make([]byte, 300)}, nil},
		{bob, vaultproto.Request{Op: vaultproto.OpPutChunk, ID: [vaultproto.IDSize]byte{3}, Name: [32]byte{3}, Data: make([]byte, 900)}, vaultproto.ErrTooLarge},
		{alice, vaultproto.Request{Op: vaultproto.OpPutManifest, ID: id1, Names: [][32]byte{{1}, {9}}, Data: []byte("m")}, vaultproto.ErrMissingChunks},
		{alice, vaultproto.Request{Op: vaultproto.OpPutManifest, ID: id1, Names: [][32]byte{{1}}, Data: []byte("m")}, nil},
		{bob, vaultproto.Request{Op: vaultproto.OpPutManifest, ID: id1, Names: [][32]byte{{1}}, Data: []byte("m")}, vaultproto.ErrForbidden},
	}
	for i, st := range steps {
		if _, err := do(t, s, st.acct, st.req); !errors.Is(err, st.want) {
			t.Fatalf("step %d: %v, want %v", i, err, st.want)
		}
	}
	b, err := do(t, s, alice, vaultproto.Request{Op: vaultproto.OpList})
	if err != nil {
		t.Fatal(err)
	}
	list, err := vaultproto.ParseBackups(b)
	if err != nil || len(list) != 2 || list[0].ID != id1 || list[0].Size != 601 || list[1].Size != 300 {
		t.Errorf("list: %+v, %v; want backup 1 of 601 bytes, backup 2 of 300", list, err)
	}
	// A restarted relay still counts backup 2's chunks, which no manifest
	// accounts for yet.
	s, _ = newServerAt(t, dir, cfg)
	if _, err := do(t, s, alice, vaultproto.Request{Op: vaultproto.OpPutChunk, ID: id2, Name: [32]byte{4}, Data: make([]byte, 200)}); !errors.Is(err, vaultproto.ErrQuota) {
		t.Errorf("over the quota after a restart: %v, want ErrQuota", err)
	}
	if _, err := do(t, s, alice, vaultproto.Request{Op: vaultproto.OpPutChunk, ID: id2, Name: [32]byte{4}, Data: make([]byte, 90)}); err != nil {
		t.Errorf("within the quota after a restart: %v", err)
	}
}

func TestTTL(t *testing.T) {
	s, c := newServer(t, Config{TTL: 24 * time.Hour})
	id := [vaultproto.IDSize]byte{1}
	for _, req := range []vaultproto.Request{
		{Op: vaultproto.OpPutChunk, ID: id, Name: [32]byte{1}, Data: []byte("chunk")},
		{Op: vaultproto.OpPutManifest, ID: id, Names: [][32]byte{{1}}, Data: []byte("manifest")},
	} {
		if _, err := do(t, s, alice, req); err != nil {
			t.Fatal(err)
		}
	}
	c.Advance(23 * time.Hour)
	if b, err := do(t, s, bob, vaultproto.Request{Op: vaultproto.OpGetManifest, ID: id}); err != nil || string(b) != "manifest" {
		t.Fatalf("before the TTL: %q, %v", b, err)
	}
	c.Advance(2 * time.Hour)
	n, err := s.Sweep(context.Background())
	if err != nil || n != 1 {
		t.Errorf("Sweep: %d, %v; want 1", n, err)
	}
	if _, err := do(t, s, bob, vaultproto.Request{Op: vaultproto.OpGetManifest, ID: id}); !errors.Is(err, vaultproto.ErrNotFound) {
		t.Errorf("after the TTL: %v, want ErrNotFound", err)
	}
	objs, err := s.store.List(context.Background(), "")
	if err != nil || len(objs) != 0 {
		t.Errorf("store after sweep: %v, %v; want empty", objs, err)
	}
}

// unlock asks for backup id's key parameters and answers the challenge
// with a proof signed by priv, on one stream of acct's, as a device does.
func unlock(t *testing.T, s *Server, acct peer.ID, id [vaultproto.IDSize]byte, priv ed25519.PrivateKey) ([]byte, error) {
	t.Helper()
	sess := &session{from: acct, relay: "relay"}
	b, err := doIn(t, s, sess, vaultproto.Request{Op: vaultproto.OpGetKeyParams, ID: id})
	if err != nil {
		return nil, err
	}
	_, _, _, challenge, err := vaultproto.ParseKeyParams(b)
	if err != nil {
		t.Fatalf("key parameters: %v", err)
	}
	return doIn(t, s, sess, vaultproto.Request{Op: vaultproto.OpGetKeySlot, ID: id, Sig: signWith(priv, vaultproto.ProofMessage(id, challenge, sess.relay, sess.from))})
}

// putSlot puts a key slot whose proofs priv signs.
func putSlot(t *testing.T, s *Server, acct peer.ID, id [vaultproto.IDSize]byte, seed byte) (vaultproto.KeySlot, ed25519.PrivateKey) {
	t.Helper()
	pub, priv := testKey(seed)
	slot := vaultproto.KeySlot{Version: vaultproto.KeySlotV2, Params: archive.Params{Time: 1, MemoryKiB: 64, Threads: 1}, Salt: [32]byte{seed}, Verifier: pub, Wrapped: [vaultproto.WrappedSize]byte{seed}}
	if _, err := do(t, s, acct, vaultproto.Request{Op: vaultproto.OpPutKeySlot, ID: id, Slot: slot}); err != nil {
		t.Fatal(err)
	}
	return slot, priv
}

func TestLockout(t *testing.T) {
	s, clk := newServer(t, Config{})
	id := [vaultproto.IDSize]byte{1}
	slot, right := putSlot(t, s, alice, id, 1)
	_, wrong := testKey(99)
	if b, err := unlock(t, s, bob, id, right); err != nil || !bytes.Equal(b, slot.Wrapped[:]) {
		t.Fatalf("right proof: %x, %v", b, err)
	}
	for i := range MaxFails {
		if _, err := unlock(t, s, bob, id, wrong); !errors.Is(err, vaultproto.ErrWrongPassword) {
			t.Fatalf("wrong proof %d: %v", i, err)
		}
		clk.Advance(maxWait)
	}
	if _, err := unlock(t, s, bob, id, right); !errors.Is(err, vaultproto.ErrLocked) {
		t.Errorf("right proof after %d wrong ones: %v, want ErrLocked", MaxFails, err)
	}
	if _, err := do(t, s, bob, vaultproto.Request{Op: vaultproto.OpGetKeyParams, ID: id}); !errors.Is(err, vaultproto.ErrLocked) {
		t.Errorf("key parameters after %d wrong proofs: %v, want ErrLocked", MaxFails, err)
	}
	if _, err := do(t, s, bob, vaultproto.Request{Op: vaultproto.OpPutKeySlot, ID: id, Slot: slot}); !errors.Is(err, vaultproto.ErrForbidden) {
		t.Errorf("another device resets the slot: %v, want ErrForbidden", err)
	}
	_, right = putSlot(t, s, alice, id, 2)
	if _, err := unlock(t, s, bob, id, right); err != nil {
		t.Errorf("after the owner's new slot: %v", err)
	}
}

// TestProofBoundToChallenge: a proof answers one challenge, on the stream
// that got it: replayed, sent without asking, or on another stream, it
// opens nothing.
func TestProofBoundToChallenge(t *testing.T) {
	s, clk := newServer(t, Config{})
	id := [vaultproto.IDSize]byte{1}
	_, right := putSlot(t, s, alice, id, 1)
	sess := &session{from: bob, relay: "relay"}
	b, err := doIn(t, s, sess, vaultproto.Request{Op: vaultproto.OpGetKeyParams, ID: id})
	if err != nil {
		t.Fatal(err)
	}
	_, _, _, challenge, _ := vaultproto.ParseKeyParams(b)
	sig := signWith(right, vaultproto.ProofMessage(id, challenge, sess.relay, sess.from))
	if _, err := doIn(t, s, &session{from: bob, relay: "relay"}, vaultproto.Request{Op: vaultproto.OpGetKeySlot, ID: id, Sig: sig}); !errors.Is(err, vaultproto.ErrProtocol) {
		t.Errorf("a proof on another stream: %v, want a bad request", err)
	}
	if _, err := doIn(t, s, sess, vaultproto.Request{Op: vaultproto.OpGetKeySlot, ID: id, Sig: sig}); err != nil {
		t.Fatalf("the proof on its stream: %v", err)
	}
	if _, err := doIn(t, s, sess, vaultproto.Request{Op: vaultproto.OpGetKeySlot, ID: id, Sig: sig}); !errors.Is(err, vaultproto.ErrProtocol) {
		t.Errorf("the same proof again: %v, want a bad request (one proof per challenge)", err)
	}
	clk.Advance(maxWait)
	if _, err := doIn(t, s, sess, vaultproto.Request{Op: vaultproto.OpGetKeyParams, ID: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := doIn(t, s, sess, vaultproto.Request{Op: vaultproto.OpGetKeySlot, ID: id, Sig: sig}); !errors.Is(err, vaultproto.ErrWrongPassword) {
		t.Errorf("an old proof for a new challenge: %v, want ErrWrongPassword", err)
	}
	other := &session{from: bob, relay: "another-relay"}
	b, _ = doIn(t, s, other, vaultproto.Request{Op: vaultproto.OpGetKeyParams, ID: id})
	_, _, _, challenge, _ = vaultproto.ParseKeyParams(b)
	clk.Advance(maxWait)
	if _, err := doIn(t, s, other, vaultproto.Request{Op: vaultproto.OpGetKeySlot, ID: id, Sig: signWith(right, vaultproto.ProofMessage(id, challenge, sess.relay, bob))}); !errors.Is(err, vaultproto.ErrWrongPassword) {
		t.Errorf("a proof made for another relay: %v, want ErrWrongPassword", err)
	}
}

// TestLockoutRightProofDoesNotReset: a right proof takes back only its
// own count, so wrong ones add up across the owner's restores (before,
// each right proof reset the count to 0: 9 more guesses per restore).
func TestLockoutRightProofDoesNotReset(t *testing.T) {
	s, clk := newServer(t, Config{})
	id := [vaultproto.IDSize]byte{1}
	_, right := putSlot(t, s, alice, id, 1)
	_, wrong := testKey(99)
	for i := range MaxFails - 1 {
		if _, err := unlock(t, s, bob, id, wrong); !errors.Is(err, vaultproto.ErrWrongPassword) {
			t.Fatalf("wrong proof %d: %v", i+1, err)
		}
		clk.Advance(maxWait)
	}
	if _, err := unlock(t, s, bob, id, right); err != nil {
		t.Fatalf("right proof after %d wrong ones: %v", MaxFails-1, err)
	}
	clk.Advance(maxWait)
	if _, err := unlock(t, s, bob, id, wrong); !errors.Is(err, vaultproto.ErrWrongPassword) {
		t.Fatalf("wrong proof %d: %v", MaxFails, err)
	}
	clk.Advance(maxWait)
	if _, err := unlock(t, s, bob, id, wrong); !errors.Is(err, vaultproto.ErrLocked) {
		t.Errorf("wrong proof %d (after a right one): %v, want ErrLocked", MaxFails+1, err)
	}
}

// TestLockoutBackoff: after the second attempt in a row, each waits twice
// as long as the one before; an attempt too early is refused unseen.
func TestLockoutBackoff(t *testing.T) {
	s, clk := newServer(t, Config{})
	id := [vaultproto.IDSize]byte{1}
	putSlot(t, s, alice, id, 1)
	_, wrong := testKey(99)
	for i, want := range []time.Duration{0, time.Second, 2 * time.Second, 4 * time.Second} {
		if _, err := unlock(t, s, bob, id, wrong); !errors.Is(err, vaultproto.ErrWrongPassword) {
			t.Fatalf("attempt %d: %v, want ErrWrongPassword", i+1, err)
		}
		if want == 0 {
			continue
		}
		_, err := unlock(t, s, bob, id, wrong)
		var later *vaultproto.TryLaterError
		if !errors.As(err, &later) || later.After != want {
			t.Fatalf("attempt right after %d: %v, want to wait %s", i+1, err, want)
		}
		clk.Advance(want)
	}
}

// TestLockoutSharedStore: two relay processes on one store count wrong
// proofs as one (before, each counted its own: N relays gave N×10).
func TestLockoutSharedStore(t *testing.T) {
	dir := t.TempDir()
	a, clk := newServerAt(t, dir, Config{})
	b, _ := newServerAt(t, dir, Config{Now: clk.Now})
	id := [vaultproto.IDSize]byte{1}
	_, right := putSlot(t, a, alice, id, 1)
	_, wrong := testKey(99)
	if _, err := unlock(t, b, bob, id, right); err != nil { // b has the record cached
		t.Fatal(err)
	}
	answered := 0
	for i := range 3 * MaxFails {
		s := a
		if i%2 == 1 {
			s = b
		}
		clk.Advance(maxWait)
		_, err := unlock(t, s, bob, id, wrong)
		switch {
		case errors.Is(err, vaultproto.ErrWrongPassword):
			answered++
		case errors.Is(err, vaultproto.ErrLocked):
		default:
			t.Fatalf("guess %d: %v", i+1, err)
		}
	}
	if answered != MaxFails {
		t.Errorf("two relays on one store checked %d wrong proofs, want %d", answered, MaxFails)
	}
}

func FuzzParseGuard(f *testing.F) {
	f.Add([]byte(`{"slot":"0123456789abcdef","fails":3,"next":1700000000000}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := parseGuard(b)
		if err != nil {
			return
		}
		again, err := json.Marshal(g)
		if err != nil {
			t.Fatal(err)
		}
		if g2, err := parseGuard(again); err != nil || g2 != g {
			t.Fatalf("round trip: %+v, %v; want %+v", g2, err, g)
		}
	})
}

func FuzzParseMeta(f *testing.F) {
	f.Add([]byte(`{"owner":"x","created":1,"updated":2,"size":3,"fails":4,"locked":true}`))
	f.Add([]byte(`{"owner":""}`))
	f.Add([]byte(`{"version":2,"owner":"x","owner_key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","created":1,"updated":2,"size":3,"fails":0,"locked":false}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseMeta(b)
		if err != nil {
			return
		}
		if m.Owner == "" || m.Size < 0 || m.Fails < 0 || m.Fails > MaxFails || m.Version > metaVersion ||
			len(m.OwnerKey) != 0 && len(m.OwnerKey) != vaultproto.OwnerKeySize {
			t.Fatalf("accepted %+v", m)
		}
	})
}

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
			id, name := [vaultproto.IDSize]byte{1}, [vaultproto.NameSize]byte{2}
			if err := s.putChunk(ctx, alice.String(), id, name, bytes.Repeat([]byte{7}, size)); err != nil {
				b.Fatal(err)
			}
			typ, body := (&vaultproto.Request{Op: vaultproto.OpGetChunk, ID: id, Name: name}).Encode()
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if err := s.answer(ctx, io.Discard, &session{from: bob}, typ, body); err != nil {
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
	srv, dev := p2ptest.Host(b), p2ptest.Host(b)
	s, err := Register(srv, Config{Store: st})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := dev.Connect(ctx, peer.AddrInfo{ID: srv.ID(), Addrs: p2p.DialAddrs(srv)}); err != nil {
		b.Fatal(err)
	}
	id, name := [vaultproto.IDSize]byte{1}, [vaultproto.NameSize]byte{2}
	if err := s.putChunk(ctx, alice.String(), id, name, bytes.Repeat([]byte{7}, size)); err != nil {
		b.Fatal(err)
	}
	typ, body := (&vaultproto.Request{Op: vaultproto.OpGetChunk, ID: id, Name: name}).Encode()
	b.SetBytes(size)
	b.ReportAllocs()
	b.SetParallelism(2) // 2 × GOMAXPROCS goroutines
	b.RunParallel(func(pb *testing.PB) {
		st, err := dev.NewStream(ctx, srv.ID(), vaultproto.ProtocolID)
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
			if rt, rb, err := r.Next(); err != nil || rt != vaultproto.AnswerData || len(rb) != size {
				b.Errorf("answer %#x of %d bytes, %v", rt, len(rb), err)
				return
			}
		}
	})
}

// hookStore is a real store with hooks called before each operation: a
// hook may block (to hold an operation at a point) or fail it.
type hookStore struct {
	vaultstore.Store
	onPut    func(key string) error
	onDelete func(key string) error
	onGet    func(key string)
	onList   func(prefix string)
}

func (h *hookStore) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if h.onPut != nil {
		if err := h.onPut(key); err != nil {
			return err
		}
	}
	return h.Store.Put(ctx, key, r, size)
}

func (h *hookStore) Delete(ctx context.Context, key string) error {
	if h.onDelete != nil {
		if err := h.onDelete(key); err != nil {
			return err
		}
	}
	return h.Store.Delete(ctx, key)
}

func (h *hookStore) Get(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	if h.onGet != nil {
		h.onGet(key)
	}
	return h.Store.Get(ctx, key)
}

func (h *hookStore) List(ctx context.Context, prefix string) ([]vaultstore.Object, error) {
	if h.onList != nil {
		h.onList(prefix)
	}
	return h.Store.List(ctx, prefix)
}

func newHookServer(t *testing.T, dir string, cfg Config) (*Server, *hookStore, *clock) {
	t.Helper()
	st, err := vaultstore.NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	h := &hookStore{Store: st}
	c := fakeclock.New(t2026)
	cfg.Store, cfg.Now = h, c.Now
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, h, c
}

func storeKeys(t *testing.T, st vaultstore.Store, prefix string) []string {
	t.Helper()
	objs, err := st.List(context.Background(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range objs {
		keys = append(keys, o.Key)
	}
	return keys
}

// waitFor fails the test if ch is not ready within a generous bound: a
// hang means a lock is held where it must not be.
func waitFor[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// TestDeleteDuringPut: a chunk whose upload ends after its backup was
// deleted does not stay behind, outside every account and quota.
func TestDeleteDuringPut(t *testing.T) {
	dir := t.TempDir()
	s, h, _ := newHookServer(t, dir, Config{})
	id := [vaultproto.IDSize]byte{1}
	if _, err := do(t, s, alice, vaultproto.Request{Op: vaultproto.OpPutChunk, ID: id, Name: [32]byte{1}, Data: []byte("first")}); err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	h.onPut = func(key string) error {
		if strings.HasSuffix(key, hex.EncodeToString([]byte{2})+strings.Repeat("00", 31)) {
			close(entered)
			<-release
		}
		return nil
	}
	done := make(chan error)
	go func() {
		_, err := do(t, s, alice, vaultproto.Request{Op: vaultproto.OpPutChunk, ID: id, Name: [32]byte{2}, Data: []byte("second")})
		done <- err
	}()
	waitFor(t, entered, "the upload")
	if _, err := do(t, s, alice, vaultproto.Request{Op: vaultproto.OpDelete, ID: id}); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := waitFor(t, done, "the upload's answer"); !errors.Is(err, vaultproto.ErrNotFound) {
		t.Errorf("upload into a deleted backup: %v, want ErrNotFound", err)
	}
	if keys := storeKeys(t, h.Store, ""); len(keys) != 0 {
		t.Errorf("store after the delete: %q, want empty", keys)
	}
}

// TestSameChunkInParallel: two uploads of one chunk count its bytes once.
func TestSameChunkInParallel(t *testing.T) {
	s, h, _ := newHookServer(t, t.TempDir(), Config{})
	id := [vaultproto.IDSize]byte{1}
	entered, release := make(chan struct{}, 2), make(chan struct{})
	h.onPut = func(key string) error {
		if strings.Contains(key, "/c/") {
			entered <- struct{}{}
			<-release
		}
		return nil
	}
	req := vaultproto.Request{Op: vaultproto.OpPutChunk, ID: id, Name: [32]byte{1}, Data: make([]byte, 1000)}
	done := make(chan error, 2)
	for range 2 {
		go func() { _, err := do(t, s, alice, req); done <- err }()
	}
	waitFor(t, entered, "an upload")
	// The other upload must wait for this one rather than write too; if it
	// wrote, it would be held here as well.
	select {
	case <-entered:
		t.Error("both uploads of one chunk write it")
		close(release)
	default:
		close(release)
	}
	for range 2 {
		if err := waitFor(t, done, "an upload's answer"); err != nil {
			t.Error(err)
		}
	}
	b, err := do(t, s, alice, vaultproto.Request{Op: vaultproto.OpList})
	if err != nil {
		t.Fatal(err)
	}
	if list, err := vaultproto.ParseBackups(b); err != nil || len(list) != 1 || list[0].Size != 1000 {
		t.Errorf("List: %+v, %v; want one backup of 1000 bytes", list, err)
	}
}

// TestWritesKeepBackupAlive: a backup that is being written does not
// expire, however long ago it was made.
func TestWritesKeepBackupAlive(t *testing.T) {
	const ttl = 24 * time.Hour
	s, c := newServer(t, Config{TTL: ttl})
	id := [vaultproto.IDSize]byte{1}
	var names [][32]byte
	for i := range 6 {
		n := [32]byte{byte(i + 1)}
		names = append(names, n)
		if _, err := do(t, s, alice, vaultproto.Request{Op: vaultproto.OpPutChunk, ID: id, Name: n, Data: []byte("chunk")}); err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		c.Advance(ttl / 2)
		if n, err := s.Sweep(context.Background()); err != nil || n != 0 {
			t.Fatalf("sweep after chunk %d: %d deleted, %v; want none", i, n, err)
		}
	}
	if _, err := do(t, s, alice, vaultproto.Request{Op: vaultproto.OpHasChunks, ID: id, Names: names}); err != nil {
		t.Fatal(err)
	}
	c.Advance(ttl / 2)
	if _, err := do(t, s, alice, vaultproto.Request{Op: vaultproto.OpPutManifest, ID: id, Names: names, Data: []byte("m")}); err != nil {
		t.Errorf("manifest after %v of uploading: %v", 4*ttl, err)
	}
	c.Advance(ttl + time.Second)
	if n, err := s.Sweep(context.Background()); err != nil || n != 1 {
		t.Errorf("sweep a TTL after the last write: %d deleted, %v; want 1", n, err)
	}
}

// TestMaxBackups: one device cannot make backups without end, not even
// empty ones (each costs the relay records).
func TestMaxBackups(t *testing.T) {
	s, _ := newServer(t, Config{MaxBackups: 2})
	slot := vaultproto.KeySlot{Version: vaultproto.KeySlotV2, Params: archive.Params{Time: 1, MemoryKiB: 64, Threads: 1}}
	steps := []struct {
		req  vaultproto.Request
		want error
	}{
		{vaultproto.Request{Op: vaultproto.OpPutChunk, ID: [vaultproto.IDSize]byte{1}, Name: [32]byte{1}, Data: []byte("x")}, nil},
		{vaultproto.Request{Op: vaultproto.OpPutKeySlot, ID: [vaultproto.IDSize]byte{2}, Slot: slot}, nil},
		{vaultproto.Request{Op: vaultproto.OpPutKeySlot, ID: [vaultproto.IDSize]byte{3}, Slot: slot}, vaultproto.ErrQuota},
		{vaultproto.Request{Op: vaultproto.OpPutChunk, ID: [vaultproto.IDSize]byte{3}, Name: [32]byte{1}, Data: []byte("x")}, vaultproto.ErrQuota},
		{vaultproto.Request{Op: vaultproto.OpPutManifest, ID: [vaultproto.IDSize]byte{3}, Data: []byte("m")}, vaultproto.ErrQuota},
		{vaultproto.Request{Op: vaultproto.OpPutManifest, ID: [vaultproto.IDSize]byte{2}, Data: []byte("m")}, nil}, // an existing one
		{vaultproto.Request{Op: vaultproto.OpDelete, ID: [vaultproto.IDSize]byte{1}}, nil},
		{vaultproto.Request{Op: vaultproto.OpPutManifest, ID: [vaultproto.IDSize]byte{3}, Data: []byte("m")}, nil},
	}
	for i, st := range steps {
		if _, err := do(t, s, alice, st.req); !errors.Is(err, st.want) {
			t.Fatalf("step %d: %v, want %v", i, err, st.want)
		}
	}
	if _, err := do(t, s, bob, vaultproto.Request{Op: vaultproto.OpPutKeySlot, ID: [vaultproto.IDSize]byte{9}, Slot: slot}); err != nil {
		t.Errorf("another device's backup: %v", err)
	}
}

// errCrash fails every write after the crash point.
var errCrash = errors.New("relay killed")

// TestCrashLeavesNoOrphans kills the relay after each write of a backup's
// life (make, upload, manifest, key slot, delete) in turn: after a
// restart, whatever is left is listed and deletable by its owner, or
// expires; nothing stays in the store for good.
func TestCrashLeavesNoOrphans(t *testing.T) {
	const ttl = 24 * time.Hour
	id := [vaultproto.IDSize]byte{1}
	slot := vaultproto.KeySlot{Version: vaultproto.KeySlotV2, Params: archive.Params{Time: 1, MemoryKiB: 64, Threads: 1}}
	life := []vaultproto.Request{
		{Op: vaultproto.OpPutChunk, ID: id, Name: [32]byte{1}, Data: []byte("one")},
		{Op: vaultproto.OpPutChunk, ID: id, Name: [32]byte{2}, Data: []byte("two")},
		{Op: vaultproto.OpPutKeySlot, ID: id, Slot: slot},
		{Op: vaultproto.OpPutManifest, ID: id, Names: [][32]byte{{1}}, Data: []byte("m")},
		{Op: vaultproto.OpDelete, ID: id},
	}
	for crash := 0; ; crash++ {
		dir := t.TempDir()
		s, h, _ := newHookServer(t, dir, Config{TTL: ttl})
		writes := 0
		fault := func(string) error {
			if writes++; writes > crash {
				return errCrash
			}
			return nil
		}
		h.onPut, h.onDelete = fault, fault
		for _, req := range life {
			do(t, s, alice, req)
		}
		if writes <= crash {
			break // the whole life ran: every crash point was tried
		}
		// Restart: the owner sees what is left and can delete it.
		s, c := newServerAt(t, dir, Config{TTL: ttl})
		b, err := do(t, s, alice, vaultproto.Request{Op: vaultproto.OpList})
		if err != nil {
			t.Fatalf("crash at write %d: List: %v", crash, err)
		}
		list, _ := vaultproto.ParseBackups(b)
		for _, e := range list {
			if _, err := do(t, s, alice, vaultproto.Request{Op: vaultproto.OpDelete, ID: e.ID}); err != nil {
				t.Errorf("crash at write %d: Delete: %v", crash, err)
			}
		}
		if keys := storeKeys(t, s.store, "v1/b/"); len(keys) != 0 {
			t.Errorf("crash at write %d: after the owner's List and Delete: %q", crash, keys)
		}
		// And without the owner's help, expiry collects it all.
		s, c = newServerAt(t, dir, Config{TTL: ttl})
		c.Advance(ttl + time.Hour)
		if _, err := s.Sweep(context.Background()); err != nil {
			t.Errorf("crash at write %d: Sweep: %v", crash, err)
		}
		if keys := storeKeys(t, s.store, ""); len(keys) != 0 {
			t.Errorf("crash at write %d: store after expiry: %q", crash, keys)
		}
	}
}

// TestAdmitPerAccount: one account gets at most AccountStreams of the
// request slots; another still gets in.
func TestAdmitPerAccount(t *testing.T) {
	s, _ := newServer(t, Config{MaxStreams: 3, AccountStreams: 2})
	ctx := context.Background()
	var held []func()
	for range 2 {
		release, err := s.admit(ctx, "alice", nil)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, release)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := s.admit(short, "alice", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a third request of one account: %v, want it to wait", err)
	}
	got := make(chan error)
	go func() {
		release, err := s.admit(ctx, "bob", nil)
		if err == nil {
			release()
		}
		got <- err
	}()
	if err := waitFor(t, got, "another account's request"); err != nil {
		t.Error(err)
	}
	held[0]()
	release, err := s.admit(ctx, "alice", nil)
	if err != nil {
		t.Fatalf("after one finished: %v", err)
	}
	release()
	held[1]()
}

// rawRequest sends one request on st and reads its answer.
func rawRequest(st network.Stream, r *wire.Reader, req vaultproto.Request) (wire.Type, []byte, error) {
	t, body := req.Encode()
	if err := wire.Write(st, t, body); err != nil {
		return 0, nil, err
	}
	return r.Next()
}

// TestAccountLimitsLibp2p: over real hosts, a device whose requests hold
// its share of the relay's slots does not stop another device, and a
// device's requests beyond its rate wait.
func TestAccountLimitsLibp2p(t *testing.T) {
	srv, devA, devB := p2ptest.Host(t), p2ptest.Host(t), p2ptest.Host(t)
	st, err := vaultstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	h := &hookStore{Store: st}
	const rate, burst = 40, 4
	s, err := Register(srv, Config{Store: h, MaxStreams: 2, AccountStreams: 1, IPRequests: 2, AccountRate: rate, AccountBurst: burst})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id, name := [vaultproto.IDSize]byte{1}, [vaultproto.NameSize]byte{1}
	if err := s.putChunk(ctx, devA.ID().String(), id, name, []byte("chunk")); err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}, 8), make(chan struct{})
	h.onGet = func(key string) {
		if strings.Contains(key, "/c/") {
			entered <- struct{}{}
			<-release
		}
	}
	for _, d := range []host.Host{devA, devB} {
		if err := d.Connect(ctx, peer.AddrInfo{ID: srv.ID(), Addrs: p2p.DialAddrs(srv)}); err != nil {
			t.Fatal(err)
		}
	}
	// Device A: two GetChunk at once; one is served (and held), the
	// other waits for A's only slot, not for one of the relay's two.
	answers := make(chan error, 2)
	for range 2 {
		go func() {
			st, err := devA.NewStream(ctx, srv.ID(), vaultproto.ProtocolID)
			if err != nil {
				answers <- err
				return
			}
			defer st.Close()
			rt, rb, err := rawRequest(st, wire.NewReader(st), vaultproto.Request{Op: vaultproto.OpGetChunk, ID: id, Name: name})
			if err == nil && (rt != vaultproto.AnswerData || string(rb) != "chunk") {
				err = fmt.Errorf("answer %#x %q", rt, rb)
			}
			answers <- err
		}()
	}
	waitFor(t, entered, "device A's first GetChunk")
	stB, err := devB.NewStream(ctx, srv.ID(), vaultproto.ProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	defer stB.Close()
	rB := wire.NewReader(stB)
	bDone := make(chan error)
	go func() {
		_, _, err := rawRequest(stB, rB, vaultproto.Request{Op: vaultproto.OpGetManifest, ID: [vaultproto.IDSize]byte{2}})
		bDone <- err
	}()
	if err := waitFor(t, bDone, "device B's request while A holds its slot"); err != nil {
		t.Error(err)
	}
	close(release)
	for range 2 {
		if err := waitFor(t, answers, "device A's answers"); err != nil {
			t.Error(err)
		}
	}

	// Device B's bucket: burst requests at once, then rate per second.
	const n = 12
	start := time.Now()
	for range n {
		if _, _, err := rawRequest(stB, rB, vaultproto.Request{Op: vaultproto.OpGetManifest, ID: [vaultproto.IDSize]byte{2}}); err != nil {
			t.Fatal(err)
		}
	}
	// The bucket never holds more than burst tokens, so the n requests
	// waited about (n-burst)/rate at least (one token spared for rounding).
	if got, want := time.Since(start), time.Duration(n-burst-1)*time.Second/rate; got < want {
		t.Errorf("%d requests at %d/s, burst %d: took %v, want at least %v", n, rate, burst, got, want)
	}
}

// TestLockoutParallelAndRestart: guesses sent at once are counted one by
// one: at most two are checked (the wait after the second refuses the
// rest unseen), never more than MaxFails in all; the count survives a
// restart of the relay.
func TestLockoutParallelAndRestart(t *testing.T) {
	dir := t.TempDir()
	s, clk := newServerAt(t, dir, Config{})
	id := [vaultproto.IDSize]byte{1}
	_, right := putSlot(t, s, alice, id, 1)
	_, wrong := testKey(99)
	for i := range MaxFails / 2 {
		if _, err := unlock(t, s, bob, id, wrong); !errors.Is(err, vaultproto.ErrWrongPassword) {
			t.Fatalf("wrong proof %d: %v", i, err)
		}
		clk.Advance(maxWait)
	}
	s, _ = newServerAt(t, dir, Config{Now: clk.Now})
	checked := MaxFails / 2
	for round := 0; checked < MaxFails; round++ {
		if round > 2*MaxFails {
			t.Fatalf("still not locked after %d rounds", round)
		}
		clk.Advance(maxWait)
		const guesses = 8
		errs := make(chan error, guesses)
		var wg sync.WaitGroup
		for range guesses {
			wg.Go(func() {
				_, err := unlock(t, s, bob, id, wrong)
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		wrongs := 0
		for err := range errs {
			switch {
			case errors.Is(err, vaultproto.ErrWrongPassword):
				wrongs++
			case errors.Is(err, vaultproto.ErrTryLater), errors.Is(err, vaultproto.ErrLocked):
			default:
				t.Fatalf("guess: %v", err)
			}
		}
		if wrongs > 2 {
			t.Errorf("%d guesses at once: %d checked, want at most 2", guesses, wrongs)
		}
		checked += wrongs
		if checked > MaxFails {
			t.Fatalf("%d wrong proofs checked, want at most %d", checked, MaxFails)
		}
	}
	clk.Advance(maxWait)
	if _, err := unlock(t, s, bob, id, right); !errors.Is(err, vaultproto.ErrLocked) {
		t.Errorf("right proof once locked: %v, want ErrLocked", err)
	}
}

// TestQuotaParallel: uploads racing for the last of the quota cannot
// together go over it.
func TestQuotaParallel(t *testing.T) {
	const quota, size = 10_000, 1000
	s, _ := newServer(t, Config{Quota: quota})
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			do(t, s, alice, vaultproto.Request{Op: vaultproto.OpPutChunk, ID: [vaultproto.IDSize]byte{byte(i % 3)}, Name: [32]byte{byte(i)}, Data: make([]byte, size)})
		})
	}
	wg.Wait()
	var total int64
	for _, o := range func() []vaultstore.Object {
		objs, err := s.store.List(context.Background(), "v1/b/")
		if err != nil {
			t.Fatal(err)
		}
		return objs
	}() {
		if strings.Contains(o.Key, "/c/") {
			total += o.Size
		}
	}
	if total != quota {
		t.Errorf("stored %d bytes of chunks, want the quota, %d", total, quota)
	}
}

// TestHasChunksMany: a large HasChunks (answered from a listing) says
// the same as small ones (answered by a Stat each).
func TestHasChunksMany(t *testing.T) {
	s, _ := newServer(t, Config{})
	id := [vaultproto.IDSize]byte{1}
	var names [][32]byte
	for i := range 3 * hasChunksByList {
		n := [32]byte{byte(i >> 8), byte(i)}
		names = append(names, n)
		if i%3 == 0 {
			if _, err := do(t, s, alice, vaultproto.Request{Op: vaultproto.OpPutChunk, ID: id, Name: n, Data: []byte{byte(i)}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	big, err := do(t, s, alice, vaultproto.Request{Op: vaultproto.OpHasChunks, ID: id, Names: names})
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range names {
		small, err := do(t, s, alice, vaultproto.Request{Op: vaultproto.OpHasChunks, ID: id, Names: [][32]byte{n}})
		if err != nil {
			t.Fatal(err)
		}
		got, want := big[i/8]&(1<<(i%8)) != 0, small[0] == 1
		if got != want || want != (i%3 == 0) {
			t.Fatalf("name %d: many %v, one %v, stored %v", i, got, want, i%3 == 0)
		}
	}
	if _, err := do(t, s, bob, vaultproto.Request{Op: vaultproto.OpHasChunks, ID: id, Names: names}); !errors.Is(err, vaultproto.ErrForbidden) {
		t.Errorf("another device asks: %v, want ErrForbidden", err)
	}
}

// TestSweepInTurns: a sweep round cut off (by its time budget) goes on
// with the next request, without waiting for SweepEvery.
func TestSweepInTurns(t *testing.T) {
	const ttl = 24 * time.Hour
	s, h, c := newHookServer(t, t.TempDir(), Config{TTL: ttl})
	for i := range 3 {
		if _, err := do(t, s, alice, vaultproto.Request{Op: vaultproto.OpPutChunk, ID: [vaultproto.IDSize]byte{byte(i)}, Name: [32]byte{1}, Data: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	c.Advance(ttl + time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	h.onDelete = func(key string) error {
		if strings.HasPrefix(key, "v1/a/") {
			cancel() // the budget runs out as the first backup is gone
		}
		return nil
	}
	s.maybeSweep(ctx)
	metas := 0
	for _, k := range storeKeys(t, h.Store, "v1/b/") {
		if strings.HasSuffix(k, "/meta") {
			metas++
		}
	}
	if metas != 2 {
		t.Fatalf("after the first turn: %d backups left, want 2", metas)
	}
	h.onDelete = nil
	s.maybeSweep(context.Background())
	if keys := storeKeys(t, h.Store, "v1/b/"); len(keys) != 0 {
		t.Errorf("after the second turn: %q left, want nothing", keys)
	}
}

// TestQuotaOverwriteDelete: a new manifest frees the chunks it no longer
// names, and a delete frees the whole backup, also after a restart.
func TestQuotaOverwriteDelete(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Quota: 1000}
	s, _ := newServerAt(t, dir, cfg)
	id := [vaultproto.IDSize]byte{1}
	chunk := func(n byte, size int) vaultproto.Request {
		return vaultproto.Request{Op: vaultproto.OpPutChunk, ID: id, Name: [32]byte{n}, Data: make([]byte, size)}
	}
	steps := []struct {
		restart bool
		req     vaultproto.Request
		want    error
	}{
		{false, chunk(1, 600), nil},
		{false, vaultproto.Request{Op: vaultproto.OpPutManifest, ID: id, Names: [][32]byte{{1}}, Data: []byte("m")}, nil},
		{false, chunk(2, 300), nil},
		{false, chunk(3, 300), vaultproto.ErrQuota}, // 601 + 300 + 300
		{true, chunk(3, 300), vaultproto.ErrQuota},  // the same after a restart
		{false, vaultproto.Request{Op: vaultproto.OpPutManifest, ID: id, Names: [][32]byte{{2}}, Data: []byte("m")}, nil},
		{true, chunk(3, 600), nil}, // 301 + 600: chunk 1 is gone
		{false, chunk(4, 100), vaultproto.ErrQuota},
		{false, vaultproto.Request{Op: vaultproto.OpDelete, ID: id}, nil},
		{true, chunk(4, 1000), nil},
	}
	for i, st := range steps {
		if st.restart {
			s, _ = newServerAt(t, dir, cfg)
		}
		if _, err := do(t, s, alice, st.req); !errors.Is(err, st.want) {
			t.Fatalf("step %d: %v, want %v", i, err, st.want)
		}
	}
}

// BenchmarkSmallAnswerLibp2p is a request with a small answer (an Error:
// no such backup) end to end, one stream: the latency of a round trip.
func BenchmarkSmallAnswerLibp2p(b *testing.B) {
	st, err := vaultstore.NewDir(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	srv, dev := p2ptest.Host(b), p2ptest.Host(b)
	if _, err := Register(srv, Config{Store: st, AccountRate: -1}); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := dev.Connect(ctx, peer.AddrInfo{ID: srv.ID(), Addrs: p2p.DialAddrs(srv)}); err != nil {
		b.Fatal(err)
	}
	s, err := dev.NewStream(ctx, srv.ID(), vaultproto.ProtocolID)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	r := wire.NewReader(s)
	b.ReportAllocs()
	for b.Loop() {
		if rt, _, err := rawRequest(s, r, vaultproto.Request{Op: vaultproto.OpGetManifest, ID: [vaultproto.IDSize]byte{1}}); err != nil || rt != wire.Error {
			b.Fatalf("answer %#x, %v", rt, err)
		}
	}
}

// TestLargeThenSmallOnOneStream: after a large request (whose buffer the
// relay drops) the stream goes on serving.
func TestLargeThenSmallOnOneStream(t *testing.T) {
	st, err := vaultstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv, dev := p2ptest.Host(t), p2ptest.Host(t)
	if _, err := Register(srv, Config{Store: st}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := dev.Connect(ctx, peer.AddrInfo{ID: srv.ID(), Addrs: p2p.DialAddrs(srv)}); err != nil {
		t.Fatal(err)
	}
	s, err := dev.NewStream(ctx, srv.ID(), vaultproto.ProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := wire.NewReader(s)
	id := [vaultproto.IDSize]byte{1}
	data := bytes.Repeat([]byte{9}, 2*maxKeptBody)
	for i, tc := range []struct {
		req  vaultproto.Request
		want wire.Type
		body []byte
	}{
		{vaultproto.Request{Op: vaultproto.OpPutChunk, ID: id, Name: [32]byte{1}, Data: data}, vaultproto.AnswerAck, nil},
		{vaultproto.Request{Op: vaultproto.OpHasChunks, ID: id, Names: [][32]byte{{1}}}, vaultproto.AnswerBitmap, []byte{1}},
		{vaultproto.Request{Op: vaultproto.OpGetChunk, ID: id, Name: [32]byte{1}}, vaultproto.AnswerData, data},
		{vaultproto.Request{Op: vaultproto.OpHasChunks, ID: id, Names: [][32]byte{{1}}}, vaultproto.AnswerBitmap, []byte{1}},
	} {
		rt, rb, err := rawRequest(s, r, tc.req)
		if err != nil || rt != tc.want || !bytes.Equal(rb, tc.body) {
			t.Fatalf("request %d: answer %#x of %d bytes, %v; want %#x of %d", i, rt, len(rb), err, tc.want, len(tc.body))
		}
	}
}
