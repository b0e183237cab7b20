package backup

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"lukechampine.com/blake3"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/chatstore/storetest"
	"github.com/ferryhq/ferry/internal/archive"
	"github.com/ferryhq/ferry/internal/fakeclock"
	"github.com/ferryhq/ferry/internal/treetest"
	"github.com/ferryhq/ferry/p2p/p2ptest"
	"github.com/ferryhq/ferry/relay"
	"github.com/ferryhq/ferry/relay/vault"
	"github.com/ferryhq/ferry/relay/vaultproto"
	"github.com/ferryhq/ferry/relay/vaultstore"
	"github.com/ferryhq/ferry/relay/vaultstore/miniotest"
	"github.com/ferryhq/ferry/transfer"
)

// Packs in tests are small, and only media chunks smaller than most of the
// seeded ones go into them, so that a backup is many objects of each kind.
const (
	testPack      = 128 << 10
	testPackMedia = 16 << 10
)

// cheapParams keep password tests fast; real backups use DefaultParams.
var cheapParams = archive.Params{Time: 1, MemoryKiB: 64, Threads: 1}

// vaultRelay is a relay with a vault in a directory, restartable with the
// same identity and objects.
type vaultRelay struct {
	t        *testing.T
	dataDir  string
	vaultDir string // or s3 when set
	s3       string
	srv      *relay.Server
	clock    *fakeclock.Clock // the relay's clock: password waits pass when a test says
	ttl      time.Duration    // of backups; 0: the default
}

// newTestClock is a clock that moves only when told.
func newTestClock() *fakeclock.Clock { return fakeclock.New(time.Now()) }

func startVaultRelay(t *testing.T) *vaultRelay {
	r := &vaultRelay{t: t, dataDir: t.TempDir(), vaultDir: t.TempDir(), clock: newTestClock()}
	r.start()
	return r
}

func (r *vaultRelay) start() {
	r.t.Helper()
	if r.clock == nil {
		r.clock = newTestClock()
	}
	var st vaultstore.Store
	var err error
	if r.s3 != "" {
		st, err = vaultstore.NewS3(context.Background(), r.s3)
	} else {
		st, err = vaultstore.NewDir(r.vaultDir)
	}
	if err != nil {
		r.t.Fatalf("open vault store: %v", err)
	}
	srv, err := relay.New(context.Background(), relay.Config{
		DataDir:  r.dataDir,
		Listen:   []string{"/ip4/127.0.0.1/tcp/0"},
		Vault:    st,
		VaultTTL: r.ttl,
		Now:      r.clock.Now,
	})
	if err != nil {
		r.t.Fatalf("relay.New: %v", err)
	}
	r.srv = srv
	r.t.Cleanup(func() { srv.Close() })
}

func (r *vaultRelay) restart() {
	r.t.Helper()
	r.srv.Close()
	r.start()
}

func (r *vaultRelay) addr() string { return r.srv.Addrs()[0].String() }

func dial(t *testing.T, h host.Host, r *vaultRelay) *vaultproto.Client {
	t.Helper()
	c, err := vaultproto.Dial(context.Background(), h, r.addr())
	if err != nil {
		t.Fatalf("vaultproto.Dial: %v", err)
	}
	return c
}

// testOpts gives opts the tests' sizes of chunks and packs, a work
// directory, and cheap Argon2id parameters for a password.
func testOpts(t *testing.T, opts Options) Options {
	opts.chunkSize, opts.packSize, opts.packMedia = testChunk, testPack, testPackMedia
	if opts.WorkDir == "" {
		opts.WorkDir = t.TempDir()
	}
	if len(opts.Password) > 0 && opts.Params == (archive.Params{}) {
		opts.Params = cheapParams
	}
	opts.floor = cheapParams
	return opts
}

func backup(t *testing.T, s *chatstore.Store, conn Conn, opts Options) Result {
	t.Helper()
	res, err := Upload(context.Background(), s, conn, testOpts(t, opts))
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	return res
}

func seededStore(t *testing.T, seedv uint64) (*chatstore.Store, chatstore.Stats) {
	s := storetest.New(t)
	st := storetest.Seed(t, s, 150, 400<<10, seedv)
	return s, st
}

func TestVaultBackupRestore(t *testing.T) {
	r := startVaultRelay(t)
	for _, mode := range []string{"key", "password"} {
		t.Run(mode, func(t *testing.T) {
			src, want := seededStore(t, 1)
			opts := Options{}
			if mode == "password" {
				opts.Password = []byte("correct horse battery staple")
			}
			res := backup(t, src, dial(t, p2ptest.Host(t), r), opts)
			if !res.New || res.Seq != 1 {
				t.Errorf("first backup: New %v, Seq %d; want true, 1", res.New, res.Seq)
			}
			if res.ChunksSent != res.Chunks || res.ChunksSkipped != 0 || res.Chunks == 0 {
				t.Errorf("first backup sent %d of %d chunks, skipped %d", res.ChunksSent, res.Chunks, res.ChunksSkipped)
			}
			fi, err := os.Stat(filepath.Join(src.Home(), StateFile))
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: %v, mode %v; want 0600", StateFile, err, fi.Mode().Perm())
			}

			// A new device restores with the key or the password alone.
			dst := storetest.New(t)
			ropts := RestoreOptions{Key: &res.Key}
			if mode == "password" {
				ropts = RestoreOptions{Password: opts.Password, BackupID: FormatID(res.ID), floor: cheapParams}
			}
			var done, total int64
			ropts.Progress = func(d, t int64) { done, total = d, t } // one call at a time
			counted := &countConn{Client: dial(t, p2ptest.Host(t), r), gets: map[[32]byte]int{}}
			got, err := Restore(context.Background(), counted, dst, ropts)
			if err != nil {
				t.Fatalf("Restore: %v", err)
			}
			if got.Target.Digest != want.Digest || got.Target.Messages != want.Messages {
				t.Errorf("restored %+v, want %+v", got.Target, want)
			}
			// Small media chunks went into packs, the others alone.
			vk, err := deriveKeys(res.Key)
			if err != nil {
				t.Fatal(err)
			}
			vm, m, err := fetchManifest(context.Background(), dial(t, p2ptest.Host(t), r), vk, res.ID, &state{Seen: map[string]uint64{}})
			if err != nil {
				t.Fatal(err)
			}
			if media := m.NumChunks() - len(m.DBChunks); len(vm.media) == 0 || len(vm.media) == media {
				t.Errorf("%d of %d media chunks in packs: want some, not all (packed up to %d bytes)", len(vm.media), media, testPackMedia)
			}
			// Each object was fetched once, the pack that holds the last
			// database pieces and the first packed media chunks too.
			if last := vm.pieces[len(vm.pieces)-1].pack; !slices.ContainsFunc(vm.media, func(r mediaRef) bool { return r.pack == last }) {
				t.Errorf("no pack holds both database pieces and media chunks")
			}
			for n, k := range counted.gets {
				if k != 1 {
					t.Errorf("object %x fetched %d times, want once", n[:4], k)
				}
			}
			// Progress covers the database as well as the media.
			if total <= want.MediaBytes || done != total {
				t.Errorf("restore progress ended at %d of %d bytes; want all of more than the %d bytes of media", done, total, want.MediaBytes)
			}
			treetest.Empty(t, filepath.Join(dst.Home(), transfer.StagingDir))
		})
	}
}

func TestVaultIncremental(t *testing.T) {
	r := startVaultRelay(t)
	src := storetest.New(t)
	storetest.Seed(t, src, 150, 2<<20, 1)
	conn := dial(t, p2ptest.Host(t), r)
	first := backup(t, src, conn, Options{})

	var mu sync.Mutex
	var done, total int64
	again := backup(t, src, conn, Options{Progress: func(d, tot int64) { mu.Lock(); done, total = d, tot; mu.Unlock() }})
	if done != total || total == 0 {
		t.Errorf("progress of an unchanged backup ended at %d of %d", done, total)
	}
	if again.New || again.Seq != 2 || again.ChunksSent != 0 || again.ChunksSkipped != again.Chunks {
		t.Errorf("unchanged backup: New %v Seq %d sent %d skipped %d of %d; want false 2 0 all",
			again.New, again.Seq, again.ChunksSent, again.ChunksSkipped, again.Chunks)
	}
	if again.ID != first.ID || again.Key != first.Key {
		t.Error("second backup of the home used another key")
	}

	want := storetest.Seed(t, src, 20, 0, 2) // a little new history
	inc := backup(t, src, conn, Options{})
	if inc.ChunksSkipped == 0 || inc.ChunksSent == 0 {
		t.Errorf("incremental backup sent %d, skipped %d", inc.ChunksSent, inc.ChunksSkipped)
	}
	if inc.BytesSent*4 > first.BytesSent {
		t.Errorf("incremental backup sent %d bytes, first %d: want less than a quarter", inc.BytesSent, first.BytesSent)
	}
	t.Logf("first backup %d chunks %d bytes; incremental %d chunks %d bytes", first.ChunksSent, first.BytesSent, inc.ChunksSent, inc.BytesSent)

	dst := storetest.New(t)
	got, err := Restore(context.Background(), dial(t, p2ptest.Host(t), r), dst, RestoreOptions{Key: &first.Key})
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if got.Target.Digest != want.Digest {
		t.Errorf("restored digest %s, want %s (the latest backup)", got.Target.Digest, want.Digest)
	}

	// The relay lost every object but the manifest: the next backup finds
	// the packs the previous manifest names gone and sends them again
	// (referring to them would leave a backup that cannot be restored).
	for _, f := range chunkFiles(t, r.vaultDir) {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	healed := backup(t, src, conn, Options{})
	if healed.ChunksSent != healed.Chunks {
		t.Errorf("backup after the objects were lost sent %d of %d objects, want all", healed.ChunksSent, healed.Chunks)
	}
	got, err = Restore(context.Background(), dial(t, p2ptest.Host(t), r), storetest.New(t), RestoreOptions{Key: &first.Key})
	if err != nil || got.Target.Digest != want.Digest {
		t.Errorf("restore after the healing backup: digest %s, %v; want %s", got.Target.Digest, err, want.Digest)
	}
}

// chunkFiles lists the stored chunk objects of a directory vault.
func chunkFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Base(filepath.Dir(p)) == "c" {
			out = append(out, p)
		}
		return nil
	})
	slices.Sort(out)
	if len(out) < 2 {
		t.Fatalf("vault holds %d chunk files", len(out))
	}
	return out
}

func manifestFile(t *testing.T, dir string) string {
	t.Helper()
	var out string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasPrefix(filepath.Base(p), "manifest") {
			out = p
		}
		return nil
	})
	if out == "" {
		t.Fatal("no manifest file in the vault")
	}
	return out
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestVaultHostileOperator(t *testing.T) {
	r := startVaultRelay(t)
	src, _ := seededStore(t, 1)
	res := backup(t, src, dial(t, p2ptest.Host(t), r), Options{})
	conn := dial(t, p2ptest.Host(t), r)

	cases := []struct {
		name   string
		tamper func(t *testing.T) (undo func())
		want   error
	}{
		{"flipped byte", func(t *testing.T) func() {
			p := chunkFiles(t, r.vaultDir)[1]
			b := readFile(t, p)
			orig := slices.Clone(b)
			b[len(b)/2] ^= 1
			writeFile(t, p, b)
			return func() { writeFile(t, p, orig) }
		}, ErrCorrupt},
		{"swapped chunks", func(t *testing.T) func() {
			fs := chunkFiles(t, r.vaultDir)
			a, b := readFile(t, fs[0]), readFile(t, fs[1])
			writeFile(t, fs[0], b)
			writeFile(t, fs[1], a)
			return func() { writeFile(t, fs[0], a); writeFile(t, fs[1], b) }
		}, ErrCorrupt},
		{"deleted chunk", func(t *testing.T) func() {
			p := chunkFiles(t, r.vaultDir)[0]
			b := readFile(t, p)
			os.Remove(p)
			return func() { writeFile(t, p, b) }
		}, ErrIncomplete},
		{"forged manifest", func(t *testing.T) func() {
			p := manifestFile(t, r.vaultDir)
			b := readFile(t, p)
			orig := slices.Clone(b)
			b[20] ^= 0x80
			writeFile(t, p, b)
			return func() { writeFile(t, p, orig) }
		}, ErrCorrupt},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dst := storetest.New(t)
			storetest.Seed(t, dst, 30, 0, 9)
			before := storetest.Stats(t, dst)
			dst.Close()
			treeBefore := treetest.Tree(t, dst.Home())
			dst = storetest.Open(t, dst.Home(), chatstore.Options{})
			undo := tc.tamper(t)
			defer undo()
			_, err := Restore(context.Background(), conn, dst, RestoreOptions{Key: &res.Key})
			if !errors.Is(err, tc.want) {
				t.Fatalf("Restore: %v; want %v", err, tc.want)
			}
			if got := storetest.Stats(t, dst); got != before {
				t.Errorf("target changed: %+v, want %+v", got, before)
			}
			dst.Close()
			treetest.Same(t, "target home", treetest.Tree(t, dst.Home()), treeBefore)
		})
	}

	// Undone, the backup restores again.
	if _, err := Restore(context.Background(), conn, storetest.New(t), RestoreOptions{Key: &res.Key}); err != nil {
		t.Fatalf("Restore after undoing the damage: %v", err)
	}
}

func TestVaultOldManifest(t *testing.T) {
	r := startVaultRelay(t)
	src, _ := seededStore(t, 1)
	conn := dial(t, p2ptest.Host(t), r)
	res := backup(t, src, conn, Options{})
	old := readFile(t, manifestFile(t, r.vaultDir))
	storetest.Seed(t, src, 10, 0, 2)
	backup(t, src, conn, Options{})
	writeFile(t, manifestFile(t, r.vaultDir), old)

	before := storetest.Stats(t, src)
	_, err := Restore(context.Background(), conn, src, RestoreOptions{Key: &res.Key})
	if !errors.Is(err, ErrRollback) {
		t.Fatalf("Restore of an old manifest on the device that made the backup: %v; want ErrRollback", err)
	}
	if got := storetest.Stats(t, src); got != before {
		t.Errorf("target changed: %+v, want %+v", got, before)
	}
}

func TestVaultWrongKey(t *testing.T) {
	r := startVaultRelay(t)
	src, _ := seededStore(t, 1)
	res := backup(t, src, dial(t, p2ptest.Host(t), r), Options{})
	conn := dial(t, p2ptest.Host(t), r)
	dst := storetest.New(t)

	_, err := Restore(context.Background(), conn, dst, RestoreOptions{Key: testKey(t)})
	if !errors.Is(err, vaultproto.ErrNotFound) {
		t.Errorf("Restore with another key: %v; want vaultproto.ErrNotFound", err)
	}
	other := FormatID([16]byte{1})
	_, err = Restore(context.Background(), conn, dst, RestoreOptions{Key: &res.Key, BackupID: other})
	if !errors.Is(err, ErrID) {
		t.Errorf("Restore with the key of another backup ID: %v; want ErrID", err)
	}
	_, err = Restore(context.Background(), conn, dst, RestoreOptions{Password: []byte("x")})
	if !errors.Is(err, ErrID) {
		t.Errorf("Restore with a password and no ID: %v; want ErrID", err)
	}
	if st := storetest.Stats(t, dst); st.Messages != 0 {
		t.Errorf("target has %d messages after failed restores", st.Messages)
	}
}

func TestVaultPasswordLockout(t *testing.T) {
	r := startVaultRelay(t)
	src, want := seededStore(t, 1)
	pw := []byte("the right one")
	owner := p2ptest.Host(t)
	res := backup(t, src, dial(t, owner, r), Options{Password: pw})
	conn := dial(t, p2ptest.Host(t), r)
	id := FormatID(res.ID)

	for i := range vault.MaxFails {
		_, err := Restore(context.Background(), conn, storetest.New(t), RestoreOptions{Password: []byte("wrong"), BackupID: id, floor: cheapParams})
		if !errors.Is(err, vaultproto.ErrWrongPassword) {
			t.Fatalf("wrong password %d: %v; want vaultproto.ErrWrongPassword", i+1, err)
		}
		r.clock.Advance(time.Hour) // past the wait after a wrong password
	}
	// The relay restarts: the count survives, and the right password is
	// refused too.
	r.restart()
	conn = dial(t, p2ptest.Host(t), r)
	dst := storetest.New(t)
	_, err := Restore(context.Background(), conn, dst, RestoreOptions{Password: pw, BackupID: id, floor: cheapParams})
	if !errors.Is(err, vaultproto.ErrLocked) {
		t.Fatalf("right password after %d wrong ones: %v; want vaultproto.ErrLocked", vault.MaxFails, err)
	}
	if st := storetest.Stats(t, dst); st.Messages != 0 {
		t.Errorf("locked restore wrote %d messages", st.Messages)
	}
	// Its owner's next password backup puts a new key slot: unlocked.
	backup(t, src, dial(t, owner, r), Options{Password: pw})
	got, err := Restore(context.Background(), conn, dst, RestoreOptions{Password: pw, BackupID: id, floor: cheapParams})
	if err != nil {
		t.Fatalf("restore after the owner's new backup: %v", err)
	}
	if got.Target.Digest != want.Digest {
		t.Errorf("restored digest %s, want %s", got.Target.Digest, want.Digest)
	}
}

// TestVaultLockoutAcrossRelays: two relay processes on one vault store
// count a backup's wrong passwords together, so ten in all lock it (before,
// each process counted in its own memory: two relays gave twenty guesses).
func TestVaultLockoutAcrossRelays(t *testing.T) {
	a := startVaultRelay(t)
	b := &vaultRelay{t: t, dataDir: t.TempDir(), vaultDir: a.vaultDir, clock: a.clock}
	b.start()
	src, _ := seededStore(t, 1)
	pw := []byte("the right one")
	res := backup(t, src, dial(t, p2ptest.Host(t), a), Options{Password: pw})
	id := FormatID(res.ID)
	conns := []Conn{dial(t, p2ptest.Host(t), a), dial(t, p2ptest.Host(t), b)}
	// Both relays have read the backup's record.
	for _, c := range conns {
		if _, err := Restore(context.Background(), c, storetest.New(t), RestoreOptions{Password: pw, BackupID: id, floor: cheapParams}); err != nil {
			t.Fatalf("restore with the right password: %v", err)
		}
		a.clock.Advance(time.Hour)
	}
	wrong := 0
	for i := range 3 * vault.MaxFails {
		_, err := Restore(context.Background(), conns[i%2], storetest.New(t), RestoreOptions{Password: []byte("wrong"), BackupID: id, floor: cheapParams})
		switch {
		case errors.Is(err, vaultproto.ErrWrongPassword):
			wrong++
		case errors.Is(err, vaultproto.ErrLocked):
		default:
			t.Fatalf("guess %d: %v", i+1, err)
		}
		a.clock.Advance(time.Hour)
	}
	if wrong != vault.MaxFails {
		t.Errorf("two relays on one store answered %d wrong passwords, want %d", wrong, vault.MaxFails)
	}
}

func TestVaultAccounts(t *testing.T) {
	r := startVaultRelay(t)
	ctx := context.Background()
	src, _ := seededStore(t, 1)
	a := p2ptest.Host(t)
	ca := dial(t, a, r)
	res := backup(t, src, ca, Options{})
	cb := dial(t, p2ptest.Host(t), r)

	list, err := ca.List(ctx)
	if err != nil || len(list) != 1 || list[0].ID != res.ID || list[0].Size == 0 {
		t.Fatalf("owner's list: %+v, %v; want the backup with its size", list, err)
	}
	if list, err := cb.List(ctx); err != nil || len(list) != 0 {
		t.Errorf("another device's list: %+v, %v; want empty", list, err)
	}
	if err := cb.Delete(ctx, res.ID); !errors.Is(err, vaultproto.ErrForbidden) {
		t.Errorf("another device deletes: %v; want vaultproto.ErrForbidden", err)
	}
	if err := cb.PutChunk(ctx, res.ID, [32]byte{1}, []byte("x")); !errors.Is(err, vaultproto.ErrForbidden) {
		t.Errorf("another device writes: %v; want vaultproto.ErrForbidden", err)
	}
	if _, err := cb.HasChunks(ctx, res.ID, [][32]byte{{1}}); !errors.Is(err, vaultproto.ErrForbidden) {
		t.Errorf("another device probes chunks: %v; want vaultproto.ErrForbidden", err)
	}
	// Another device cannot overwrite it by backing up with the same key.
	other := storetest.New(t)
	storetest.Seed(t, other, 5, 0, 3)
	if _, err := Upload(ctx, other, cb, testOpts(t, Options{Key: &res.Key})); !errors.Is(err, vaultproto.ErrForbidden) {
		t.Errorf("another device backs up over it: %v; want vaultproto.ErrForbidden", err)
	}
	if err := ca.Delete(ctx, res.ID); err != nil {
		t.Fatalf("owner deletes: %v", err)
	}
	if list, err := ca.List(ctx); err != nil || len(list) != 0 {
		t.Errorf("list after delete: %+v, %v", list, err)
	}
	if _, err := Restore(ctx, cb, storetest.New(t), RestoreOptions{Key: &res.Key}); !errors.Is(err, vaultproto.ErrNotFound) {
		t.Errorf("restore after delete: %v; want vaultproto.ErrNotFound", err)
	}
	// The owner backs up again: a whole new backup under the same ID.
	again := backup(t, src, ca, Options{})
	if again.ID != res.ID || again.ChunksSent != again.Chunks {
		t.Errorf("backup after delete: ID %x sent %d of %d; want %x, all", again.ID, again.ChunksSent, again.Chunks, res.ID)
	}
	if _, err := Restore(ctx, cb, storetest.New(t), RestoreOptions{Key: &res.Key}); err != nil {
		t.Errorf("restore of the new backup: %v", err)
	}
}

// killConn closes the relay once n chunks went through in one direction.
type killConn struct {
	*vaultproto.Client
	puts, gets atomic.Int64
	putAt      int64
	getAt      int64
	kill       func()
	once       sync.Once
}

func (k *killConn) PutChunk(ctx context.Context, id [16]byte, n [32]byte, b []byte) error {
	err := k.Client.PutChunk(ctx, id, n, b)
	if err == nil && k.puts.Add(1) == k.putAt {
		k.once.Do(k.kill)
	}
	return err
}

func (k *killConn) GetChunk(ctx context.Context, id [16]byte, n [32]byte, buf []byte) ([]byte, error) {
	b, err := k.Client.GetChunk(ctx, id, n, buf)
	if err == nil && k.gets.Add(1) == k.getAt {
		k.once.Do(k.kill)
	}
	return b, err
}

func TestVaultRelayKilled(t *testing.T) {
	r := startVaultRelay(t)
	ctx := context.Background()
	src := storetest.New(t)
	want := storetest.Seed(t, src, 150, 1<<20, 1) // enough objects for a restore to be cut a quarter of the way
	h := p2ptest.Host(t)
	kc := &killConn{Client: dial(t, h, r), putAt: 4, kill: func() { r.srv.Close() }}
	kc.Client.Timeout = 20 * time.Second
	_, err := Upload(ctx, src, kc, testOpts(t, Options{}))
	if err == nil {
		t.Fatal("Backup through a relay killed mid-upload succeeded")
	}
	r.restart()
	res := backup(t, src, dial(t, h, r), Options{})
	// The packs come first and are the same again: every object stored
	// before the kill is skipped.
	if stored := int(kc.puts.Load()); res.ChunksSkipped < stored || res.ChunksSent == res.Chunks {
		t.Errorf("resumed backup sent %d of %d chunks, skipped %d: want the %d stored before the kill skipped", res.ChunksSent, res.Chunks, res.ChunksSkipped, stored)
	}
	if !res.New {
		t.Error("resumed first backup: New false, want true (the key was never shown)")
	}

	// Count the objects a restore fetches, then cut one a quarter of the way
	// (at least past the first: the database's packs come first, staged
	// before any media chunk; four workers fetch at once, so a later cut may
	// come after the last object was already on its way).
	rd := p2ptest.Host(t)
	count := &countConn{Client: dial(t, rd, r), gets: map[[32]byte]int{}}
	if _, err := Restore(ctx, count, storetest.New(t), RestoreOptions{Key: &res.Key}); err != nil {
		t.Fatal(err)
	}
	dst := storetest.New(t)
	fetches := int64(len(count.gets)) // each object once
	if fetches < 8 {
		t.Fatalf("a restore fetches %d objects; the test needs 8 or more", fetches)
	}
	kc = &killConn{Client: dial(t, rd, r), getAt: fetches / 4, kill: func() { r.srv.Close() }}
	if _, err := Restore(ctx, kc, dst, RestoreOptions{Key: &res.Key}); err == nil {
		t.Fatal("Restore through a relay killed mid-download succeeded")
	}
	r.restart()
	got, err := Restore(ctx, dial(t, rd, r), dst, RestoreOptions{Key: &res.Key})
	if err != nil {
		t.Fatalf("Restore after the relay came back: %v", err)
	}
	if got.Resumed == 0 {
		t.Error("resumed restore fetched everything again: Resumed 0")
	}
	if got.Target.Digest != want.Digest {
		t.Errorf("restored digest %s, want %s", got.Target.Digest, want.Digest)
	}
}

// TestVaultS3 runs backup, incremental backup, an upload cut by a relay
// restart, and restore against a real S3-compatible server (MinIO).
func TestVaultS3(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a MinIO server")
	}
	r := &vaultRelay{t: t, dataDir: t.TempDir(), s3: miniotest.Start(t)}
	r.start()
	ctx := context.Background()
	src, _ := seededStore(t, 1)
	h := p2ptest.Host(t)
	kc := &killConn{Client: dial(t, h, r), putAt: 3, kill: func() { r.srv.Close() }}
	if _, err := Upload(ctx, src, kc, testOpts(t, Options{})); err == nil {
		t.Fatal("Backup through a relay killed mid-upload succeeded")
	}
	r.restart()
	res := backup(t, src, dial(t, h, r), Options{})
	if res.ChunksSkipped == 0 {
		t.Errorf("resumed backup skipped nothing (sent %d of %d)", res.ChunksSent, res.Chunks)
	}
	want := storetest.Seed(t, src, 10, 0, 2)
	inc := backup(t, src, dial(t, h, r), Options{})
	if inc.ChunksSent == 0 || inc.ChunksSent*2 > inc.Chunks {
		t.Errorf("incremental backup sent %d of %d chunks", inc.ChunksSent, inc.Chunks)
	}
	got, err := Restore(ctx, dial(t, p2ptest.Host(t), r), storetest.New(t), RestoreOptions{Key: &res.Key})
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if got.Target.Digest != want.Digest {
		t.Errorf("restored digest %s, want %s", got.Target.Digest, want.Digest)
	}
}

// TestCutPieces: pieces are cut by content, so inserting blocks near the
// start of a database keeps most pieces (and their names) the same.
func TestCutPieces(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	db := make([]byte, 8<<20)
	for i := range db {
		db[i] = byte(rng.Uint32())
	}
	cut := func(b []byte) map[chatstore.Hash]int {
		out := map[chatstore.Hash]int{}
		for len(b) > 0 {
			n := cutPiece(b, true)
			if n < min(len(b), pieceMinBlocks*pieceBlock) || n > pieceMax {
				t.Fatalf("piece of %d bytes", n)
			}
			out[blake3.Sum256(b[:n])] = n
			b = b[n:]
		}
		return out
	}
	before := cut(db)
	grown := append(append(slices.Clone(db[:1<<20]), bytes.Repeat([]byte{9}, 3*pieceBlock)...), db[1<<20:]...)
	after := cut(grown)
	same := 0
	for h := range after {
		if _, ok := before[h]; ok {
			same++
		}
	}
	if avg := len(db) / len(before); avg < 64<<10 || avg > 256<<10 {
		t.Errorf("average piece %d bytes, want about %d", avg, (pieceCutMask+1)*pieceBlock)
	}
	if same*100 < len(after)*95 {
		t.Errorf("after inserting 3 blocks, %d of %d pieces are unchanged; want at least 95%%", same, len(after))
	}
}

func TestReusablePieces(t *testing.T) {
	vm := &manifest{
		packs: []packRef{{chatstore.Hash{1}, 1000}, {chatstore.Hash{2}, 1000}, {chatstore.Hash{3}, 1000}, {chatstore.Hash{4}, 1000}},
		pieces: []dbPiece{
			{hash: chatstore.Hash{10}, pack: 0, n: 300}, // pack 0: 600 of 1000 used
			{hash: chatstore.Hash{11}, pack: 0, off: 300, n: 300},
			{hash: chatstore.Hash{20}, pack: 1, n: 200}, // pack 1: 400 of 1000, however often
			{hash: chatstore.Hash{20}, pack: 1, n: 200},
			{hash: chatstore.Hash{20}, pack: 1, n: 200},
			{hash: chatstore.Hash{30}, pack: 2, n: 900}, // pack 2: lost on the relay
			{hash: chatstore.Hash{40}, pack: 3, n: 300}, // pack 3: 600 of 1000 with its media
		},
		media: []mediaRef{
			{hash: chatstore.Hash{21}, pack: 1, off: 200, n: 200},
			{hash: chatstore.Hash{41}, pack: 3, off: 300, n: 300},
		},
	}
	pieces, media := reusable(vm, []bool{true, true, false, true})
	var hashes []byte
	for _, p := range pieces {
		hashes = append(hashes, p.hash[0])
	}
	for _, r := range media {
		hashes = append(hashes, r.hash[0])
	}
	if want := []byte{10, 11, 40, 41}; !bytes.Equal(hashes, want) {
		t.Errorf("reusable pieces and media %v, want %v (packs 0 and 3: pack 1 is mostly unused, pack 2 gone)", hashes, want)
	}
}

func FuzzParseManifest(f *testing.F) {
	f.Add((&manifest{seq: 3, time: 12345, engine: []byte("FRYM...")}).marshal())
	f.Add((&manifest{seq: 1, engine: []byte("x"), packs: []packRef{{chatstore.Hash{9}, 4096}, {chatstore.Hash{8}, 10}},
		pieces: []dbPiece{{size: 4096, n: 100}, {hash: chatstore.Hash{1}, size: 1, pack: 1, off: 7, n: 3}},
		media:  []mediaRef{{hash: chatstore.Hash{5}, pack: 0, off: 100, n: 3996}}}).marshal())
	f.Add([]byte("FRYV\x02"))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parseManifest(b)
		if err != nil {
			return
		}
		if got := v.marshal(); !bytes.Equal(got, b) {
			t.Fatalf("round trip: %x, want %x", got, b)
		}
	})
}

// BenchmarkVault measures a first backup, an incremental backup after
// about 1% new history, and a restore into an empty home, all through a
// relay with a directory vault on loopback.
func BenchmarkVault(b *testing.B) {
	ctx := context.Background()
	src := storetest.Open(b, filepath.Join(b.TempDir(), "src"), chatstore.Options{Create: true})
	st := storetest.Seed(b, src, 20000, 64<<20, 1)
	size := st.MediaBytes
	newRelay := func() (*relay.Server, string) {
		vs, err := vaultstore.NewDir(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		srv, err := relay.New(ctx, relay.Config{DataDir: b.TempDir(), Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Vault: vs})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { srv.Close() })
		return srv, srv.Addrs()[0].String()
	}
	h := p2ptest.Host(b)
	client := func(addr string) *vaultproto.Client {
		c, err := vaultproto.Dial(ctx, h, addr)
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	var key archive.Key
	var addr string
	b.Run("backup", func(b *testing.B) {
		b.SetBytes(size)
		for range b.N {
			os.Remove(filepath.Join(src.Home(), StateFile))
			_, addr = newRelay()
			res, err := Upload(ctx, src, client(addr), Options{WorkDir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			key = res.Key
		}
	})
	b.Run("restore", func(b *testing.B) {
		b.SetBytes(size)
		for range b.N {
			dst := storetest.Open(b, filepath.Join(b.TempDir(), "dst"), chatstore.Options{Create: true})
			if _, err := Restore(ctx, client(addr), dst, RestoreOptions{Key: &key}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("incremental", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			storetest.Seed(b, src, 200, 640<<10, uint64(100+b.N))
			b.StartTimer()
			res, err := Upload(ctx, src, client(addr), Options{WorkDir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(res.BytesSent), "bytes-sent/op")
			b.ReportMetric(100*float64(res.BytesSent)/float64(res.Bytes), "%-of-history/op")
		}
	})
}

// TestVaultRestoreMerges: restoring into a home with history of its own
// merges, and a second restore changes nothing.
func TestVaultRestoreMerges(t *testing.T) {
	r := startVaultRelay(t)
	src, want := seededStore(t, 1)
	res := backup(t, src, dial(t, p2ptest.Host(t), r), Options{})
	dst := storetest.New(t)
	own := storetest.Seed(t, dst, 40, 64<<10, 7)
	conn := dial(t, p2ptest.Host(t), r)
	got, err := Restore(context.Background(), conn, dst, RestoreOptions{Key: &res.Key})
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if got.Adopted || got.Target.Messages != want.Messages+own.Messages {
		t.Errorf("merge: adopted %v, %d messages; want merged, %d", got.Adopted, got.Target.Messages, want.Messages+own.Messages)
	}
	again, err := Restore(context.Background(), conn, dst, RestoreOptions{Key: &res.Key})
	if err != nil {
		t.Fatalf("second Restore: %v", err)
	}
	if again.Target != got.Target || again.Added.Messages != 0 {
		t.Errorf("second restore changed the history: %+v, added %d", again.Target, again.Added.Messages)
	}
}

// countConn counts the fetches of each object.
type countConn struct {
	*vaultproto.Client
	mu   sync.Mutex
	gets map[[32]byte]int // guarded by mu
}

func (c *countConn) GetChunk(ctx context.Context, id [16]byte, n [32]byte, buf []byte) ([]byte, error) {
	c.mu.Lock()
	c.gets[n]++
	c.mu.Unlock()
	return c.Client.GetChunk(ctx, id, n, buf)
}

// raceConn runs before once, on the first GetChunk of a restore.
type raceConn struct {
	*vaultproto.Client
	before func()
	once   sync.Once
}

func (c *raceConn) GetChunk(ctx context.Context, id [16]byte, n [32]byte, buf []byte) ([]byte, error) {
	c.once.Do(c.before)
	return c.Client.GetChunk(ctx, id, n, buf)
}

// TestVaultRestoreRacesBackup: while a restore runs, the device that made
// the backup makes a newer one, and an object only the older one used is
// gone. The restore says the backup changed and to run it again (not that
// the backup is damaged), and running it again restores the newer one.
func TestVaultRestoreRacesBackup(t *testing.T) {
	r := startVaultRelay(t)
	ctx := context.Background()
	src, _ := seededStore(t, 1)
	owner := dial(t, p2ptest.Host(t), r)
	res := backup(t, src, owner, Options{})
	rd := p2ptest.Host(t)
	dst := storetest.New(t)
	c := &raceConn{Client: dial(t, rd, r), before: func() {
		// Runs on a worker goroutine: errors, not fatal ones.
		if _, err := Upload(ctx, src, owner, testOpts(t, Options{})); err != nil {
			t.Errorf("backup during the restore: %v", err) // sequence 2
		}
		// What the relay deletes once no manifest names it.
		if err := os.Remove(chunkFiles(t, r.vaultDir)[0]); err != nil {
			t.Error(err)
		}
	}}
	_, err := Restore(ctx, c, dst, RestoreOptions{Key: &res.Key})
	if !errors.Is(err, ErrChanged) {
		t.Fatalf("restore racing a new backup: %v; want ErrChanged", err)
	}
	if st := storetest.Stats(t, dst); st.Messages != 0 {
		t.Errorf("after the failed restore the home holds %d messages, want none", st.Messages)
	}
	// The newer backup lacks that object too here (it was deleted behind
	// the relay's back): a third backup sends it again, and the restore
	// run again gets everything.
	backup(t, src, owner, Options{})
	if _, err := Restore(ctx, dial(t, rd, r), dst, RestoreOptions{Key: &res.Key}); err != nil {
		t.Errorf("restore run again: %v", err)
	}
}
