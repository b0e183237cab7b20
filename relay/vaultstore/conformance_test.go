package vaultstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
)

// testConformance runs the behaviour every Store must have against the
// stores open returns; each call must return a fresh, empty store.
func testConformance(t *testing.T, open func(t *testing.T) Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s Store)
	}{
		{"PutGetStatDelete", testPutGetStatDelete},
		{"Overwrite", testOverwrite},
		{"Missing", testMissing},
		{"List", testList},
		{"InterruptedPut", testInterruptedPut},
		{"CancelledPut", testCancelledPut},
		{"LongReader", testLongReader},
		{"ConcurrentPuts", testConcurrentPuts},
		{"ConcurrentSameKey", testConcurrentSameKey},
		{"ConcurrentPutDelete", testConcurrentPutDelete},
		{"BadKeys", testBadKeys},
		{"Swap", testSwap},
		{"SwapCounter", func(t *testing.T, s Store) { testSwapCounter(t, s, s) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open(t))
		})
	}
}

// failingReader yields n bytes of data, then fails with errBroken: a client
// whose connection drops mid-upload.
type failingReader struct {
	data []byte
	n    int
}

var errBroken = errors.New("connection dropped")

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errBroken
	}
	k := copy(p, f.data[:min(len(f.data), f.n)])
	f.data, f.n = f.data[k:], f.n-k
	return k, nil
}

// onlyReader hides every method but Read, so stores cannot seek or retry.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func payload(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7+i/251)
	}
	return b
}

func mustPut(t *testing.T, s Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(context.Background(), key, onlyReader{bytes.NewReader(data)}, int64(len(data))); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func mustGet(t *testing.T, s Store, key string) []byte {
	t.Helper()
	rc, size, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get(%q): read: %v", key, err)
	}
	if size != int64(len(got)) {
		t.Errorf("Get(%q) size = %d, but read %d bytes", key, size, len(got))
	}
	return got
}

func assertMissing(t *testing.T, s Store, key string) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.Stat(ctx, key); !errors.Is(err, ErrNotFound) {
		t.Errorf("Stat(%q) error = %v, want ErrNotFound", key, err)
	}
	rc, _, err := s.Get(ctx, key)
	if err == nil {
		rc.Close()
	}
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(%q) error = %v, want ErrNotFound", key, err)
	}
}

func assertList(t *testing.T, s Store, prefix string, want []string) {
	t.Helper()
	objs, err := s.List(context.Background(), prefix)
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	var got []string
	for _, o := range objs {
		got = append(got, o.Key)
		if sz, err := s.Stat(context.Background(), o.Key); err != nil || sz != o.Size {
			t.Errorf("List(%q): %s of %d bytes, Stat says %d, %v", prefix, o.Key, o.Size, sz, err)
		}
	}
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !slices.Equal(got, want) {
		t.Errorf("List(%q) = %q, want %q", prefix, got, want)
	}
}

func testPutGetStatDelete(t *testing.T, s Store) {
	ctx := context.Background()
	for _, size := range []int{0, 1, 4096, 1<<20 + 3} {
		key := fmt.Sprintf("acct/A1/chunks/size-%d", size)
		data := payload(size, byte(size))
		mustPut(t, s, key, data)
		if got := mustGet(t, s, key); !bytes.Equal(got, data) {
			t.Errorf("Get(%q) returned %d bytes differing from the %d put", key, len(got), len(data))
		}
		n, err := s.Stat(ctx, key)
		if err != nil || n != int64(size) {
			t.Errorf("Stat(%q) = %d, %v; want %d, nil", key, n, err, size)
		}
		if err := s.Delete(ctx, key); err != nil {
			t.Errorf("Delete(%q): %v", key, err)
		}
		assertMissing(t, s, key)
	}
	assertList(t, s, "", nil)
}

func testOverwrite(t *testing.T, s Store) {
	const key = "acct/A1/manifest"
	mustPut(t, s, key, []byte("a longer first version"))
	mustPut(t, s, key, []byte("v2"))
	if got, want := string(mustGet(t, s, key)), "v2"; got != want {
		t.Errorf("after overwrite Get = %q, want %q", got, want)
	}
	assertList(t, s, "", []string{key})
}

func testMissing(t *testing.T, s Store) {
	ctx := context.Background()
	assertMissing(t, s, "never/put")
	if err := s.Delete(ctx, "never/put"); err != nil {
		t.Errorf("Delete of a missing key: %v, want nil", err)
	}
	mustPut(t, s, "a/b", []byte("x"))
	assertMissing(t, s, "a")     // a prefix is not an object
	assertMissing(t, s, "a/b/c") // nor is a path under an object
	assertMissing(t, s, "A/b")   // keys are case-sensitive
	assertList(t, s, "nothing/", nil)
	assertList(t, s, "a/b/", nil)
}

func testList(t *testing.T, s Store) {
	// No key is a prefix of another (see ErrKeyConflict).
	keys := []string{"a/x", "a/b/y", "a/b/z", "ab/z", "b", "A/q", "a/-", "a/_", "c-d/e"}
	for _, k := range keys {
		mustPut(t, s, k, []byte(k))
	}
	all := slices.Clone(keys)
	slices.Sort(all)
	tests := []struct {
		prefix string
		want   []string
	}{
		{"", all},
		{"a/", []string{"a/-", "a/_", "a/b/y", "a/b/z", "a/x"}},
		{"a/b/", []string{"a/b/y", "a/b/z"}},
		{"ab/", []string{"ab/z"}},
		{"A/", []string{"A/q"}},
		{"b/", nil},
		{"c/", nil},
		{"c-d/", []string{"c-d/e"}},
	}
	for _, tt := range tests {
		assertList(t, s, tt.prefix, tt.want)
	}
	// Deleting keeps the rest, and a deleted subtree lists as empty.
	for _, k := range []string{"a/b/y", "a/b/z"} {
		if err := s.Delete(context.Background(), k); err != nil {
			t.Fatalf("Delete(%q): %v", k, err)
		}
	}
	assertList(t, s, "a/b/", nil)
	assertList(t, s, "a/", []string{"a/-", "a/_", "a/x"})
	mustPut(t, s, "a/b/w", []byte("again"))
	assertList(t, s, "a/b/", []string{"a/b/w"})
}

func testInterruptedPut(t *testing.T, s Store) {
	ctx := context.Background()
	sizes := []int{1 << 10, 3 << 20}
	if !testing.Short() {
		sizes = append(sizes, 17<<20) // above S3 clients' single-PUT threshold
	}
	for _, size := range sizes {
		data := payload(size, 1)
		for _, previous := range []bool{false, true} {
			key := fmt.Sprintf("int/s%d/prev-%t", size, previous)
			if previous {
				mustPut(t, s, key, []byte("old"))
			}
			// A reader that fails midway.
			err := s.Put(ctx, key, &failingReader{data: data, n: size / 2}, int64(size))
			if !errors.Is(err, errBroken) {
				t.Errorf("Put(%q) with a reader failing at %d of %d bytes: error = %v, want one wrapping the reader's", key, size/2, size, err)
			}
			// A reader that ends early.
			err = s.Put(ctx, key, onlyReader{bytes.NewReader(data[:size/2])}, int64(size))
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("Put(%q) of %d bytes from a reader of %d: error = %v, want io.ErrUnexpectedEOF", key, size, size/2, err)
			}
			if previous {
				if got := string(mustGet(t, s, key)); got != "old" {
					t.Errorf("after interrupted Puts Get(%q) = %d bytes, want the previous object", key, len(got))
				}
			} else {
				assertMissing(t, s, key)
			}
		}
	}
	var want []string
	for _, size := range sizes {
		want = append(want, fmt.Sprintf("int/s%d/prev-true", size))
	}
	slices.Sort(want)
	assertList(t, s, "", want)
}

func testCancelledPut(t *testing.T, s Store) {
	ctx, cancel := context.WithCancel(context.Background())
	data := payload(1<<20, 2)
	// Cancel once half the data has been read.
	r := &hookReader{r: bytes.NewReader(data), at: len(data) / 2, hook: cancel}
	if err := s.Put(ctx, "cancel/me", r, int64(len(data))); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with a context cancelled midway: error = %v, want context.Canceled", err)
	}
	assertMissing(t, s, "cancel/me")
	if err := s.Put(ctx, "cancel/me", bytes.NewReader(data), int64(len(data))); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with a cancelled context: error = %v, want context.Canceled", err)
	}
	assertMissing(t, s, "cancel/me")
}

// hookReader calls hook once at bytes have been read.
type hookReader struct {
	r    io.Reader
	n    int
	at   int
	hook func()
}

func (h *hookReader) Read(p []byte) (int, error) {
	if h.hook != nil && h.n >= h.at {
		h.hook()
		h.hook = nil
	}
	if h.hook != nil && len(p) > h.at-h.n {
		p = p[:h.at-h.n]
	}
	k, err := h.r.Read(p)
	h.n += k
	return k, err
}

func testLongReader(t *testing.T, s Store) {
	// Put stores exactly size bytes even if the reader has more.
	data := []byte("0123456789")
	if err := s.Put(context.Background(), "long", onlyReader{bytes.NewReader(data)}, 4); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if got, want := string(mustGet(t, s, "long")), "0123"; got != want {
		t.Errorf("Get = %q, want %q", got, want)
	}
	if err := s.Put(context.Background(), "neg", bytes.NewReader(data), -1); err == nil {
		t.Errorf("Put with size -1 succeeded")
	}
}

func testConcurrentPuts(t *testing.T, s Store) {
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	var want []string
	for i := range n {
		key := fmt.Sprintf("conc/d%d/k%02d", i%3, i)
		want = append(want, key)
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := payload(64<<10+i, byte(i))
			errs[i] = s.Put(context.Background(), key, bytes.NewReader(data), int64(len(data)))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Put %d: %v", i, err)
		}
	}
	slices.Sort(want)
	assertList(t, s, "conc/", want)
	for _, k := range want {
		got := mustGet(t, s, k)
		var idx int
		fmt.Sscanf(k[len(k)-2:], "%d", &idx)
		if !bytes.Equal(got, payload(64<<10+idx, byte(idx))) {
			t.Errorf("Get(%q) differs from what was put", k)
		}
	}
}

func testConcurrentSameKey(t *testing.T, s Store) {
	// Concurrent writers and deleters of one key: readers see one whole
	// version or nothing, and the survivor is one whole version.
	const n = 8
	const key = "same/key"
	versions := make([][]byte, n)
	for i := range versions {
		versions[i] = payload(256<<10, byte(i*31))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 3*n)
	for i := range n {
		wg.Add(3)
		go func() {
			defer wg.Done()
			if err := s.Put(context.Background(), key, bytes.NewReader(versions[i]), int64(len(versions[i]))); err != nil {
				errs <- fmt.Errorf("Put %d: %w", i, err)
			}
		}()
		go func() {
			defer wg.Done()
			if i%4 == 0 {
				if err := s.Delete(context.Background(), key); err != nil {
					errs <- fmt.Errorf("Delete: %w", err)
				}
			}
		}()
		go func() {
			defer wg.Done()
			rc, _, err := s.Get(context.Background(), key)
			if errors.Is(err, ErrNotFound) {
				return
			}
			if err != nil {
				errs <- fmt.Errorf("Get: %w", err)
				return
			}
			defer rc.Close()
			got, err := io.ReadAll(rc)
			if err != nil {
				// A server may end a read whose object was replaced
				// under it (MinIO: "pre-conditions ... did not hold"):
				// an error is fine, a mixed version is not. The vault
				// never overwrites an object that is being read anyway
				// (chunks are content-named).
				return
			}
			if !slices.ContainsFunc(versions, func(v []byte) bool { return bytes.Equal(v, got) }) {
				errs <- fmt.Errorf("Get returned %d bytes that are no whole version", len(got))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	mustPut(t, s, key, versions[0])
	if got := mustGet(t, s, key); !bytes.Equal(got, versions[0]) {
		t.Errorf("final Get is not the last version put")
	}
	assertList(t, s, "same/", []string{key})
}

func testConcurrentPutDelete(t *testing.T, s Store) {
	// Writers and deleters of different keys in one directory: a Delete
	// emptying a directory never makes another key's Put fail.
	const n, rounds = 8, 20
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, n)
	var want []string
	for i := range n {
		key := fmt.Sprintf("pd/x/y/k%d", i)
		want = append(want, key)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				if err := s.Put(ctx, key, bytes.NewReader([]byte(key)), int64(len(key))); err != nil {
					errs[i] = err
					return
				}
				if err := s.Delete(ctx, key); err != nil {
					errs[i] = err
					return
				}
			}
			errs[i] = s.Put(ctx, key, bytes.NewReader([]byte(key)), int64(len(key)))
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	assertList(t, s, "pd/", want)
}

// badKeys are keys every Store must reject.
var badKeys = []string{
	"", "/", "a/", "/a", "a//b", ".", "..", "../a", "a/..", "foo/../bar", "a/./b",
	"./a", "a.b", `a\b`, `..\a`, "C:/a", "C:", "a b", "a\x00b", "ä", "a/b/",
	"a?b", "a*", "%2e%2e", "~", "a\nb", string(make([]byte, 600)),
	"x" + string(bytes.Repeat([]byte("y"), maxSegmentLen)),
}

func testBadKeys(t *testing.T, s Store) {
	ctx := context.Background()
	for _, k := range badKeys {
		if err := s.Put(ctx, k, bytes.NewReader([]byte("x")), 1); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Put(%q) error = %v, want ErrInvalidKey", k, err)
		}
		if _, _, err := s.Get(ctx, k); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Get(%q) error = %v, want ErrInvalidKey", k, err)
		}
		if _, err := s.Stat(ctx, k); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Stat(%q) error = %v, want ErrInvalidKey", k, err)
		}
		if err := s.Delete(ctx, k); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Delete(%q) error = %v, want ErrInvalidKey", k, err)
		}
	}
	for _, p := range []string{"a", "/", "a//", "../", "foo/../", "a/b", "./"} {
		if _, err := s.List(ctx, p); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("List(%q) error = %v, want ErrInvalidKey", p, err)
		}
	}
	assertList(t, s, "", nil)
}

func testSwap(t *testing.T, s Store) {
	ctx := context.Background()
	const key = "swap/k"
	steps := []struct {
		old, new []byte
		want     error
	}{
		{nil, []byte("1"), nil},         // created
		{nil, []byte("2"), ErrConflict}, // exists already
		{[]byte("x"), []byte("2"), ErrConflict},
		{[]byte("1"), []byte("2"), nil},
		{[]byte("1"), []byte("3"), ErrConflict}, // stale
		{[]byte("2"), []byte{}, nil},            // an empty object is one
		{nil, []byte("4"), ErrConflict},
		{[]byte{}, []byte("4"), nil},
	}
	for i, st := range steps {
		if err := s.Swap(ctx, key, st.old, st.new); !errors.Is(err, st.want) && (st.want != nil || err != nil) {
			t.Fatalf("step %d: Swap(%q, %q): %v, want %v", i, st.old, st.new, err, st.want)
		}
	}
	if got := mustGet(t, s, key); string(got) != "4" {
		t.Errorf("after the swaps the object holds %q, want %q", got, "4")
	}
	if err := s.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if err := s.Swap(ctx, key, []byte("4"), []byte("5")); !errors.Is(err, ErrConflict) {
		t.Errorf("Swap of a deleted object: %v, want ErrConflict", err)
	}
	if err := s.Swap(ctx, key, nil, make([]byte, MaxSwap+1)); err == nil || errors.Is(err, ErrConflict) {
		t.Errorf("Swap of %d bytes: %v, want a refusal", MaxSwap+1, err)
	}
	assertMissing(t, s, key)
	if err := s.Swap(ctx, "bad/../key", nil, nil); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("Swap of a bad key: %v, want ErrInvalidKey", err)
	}
}

// testSwapCounter increments one counter from many goroutines through a
// and b (two handles on one store: two relay processes) with Swap: every
// increment counts once.
func testSwapCounter(t *testing.T, a, b Store) {
	ctx := context.Background()
	const key = "swap/counter"
	const workers, each = 6, 8
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		s := a
		if w%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				for {
					var old []byte
					rc, _, err := s.Get(ctx, key)
					switch {
					case errors.Is(err, ErrNotFound):
					case err != nil:
						errs <- err
						return
					default:
						old, err = io.ReadAll(rc)
						rc.Close()
						if err != nil {
							errs <- err
							return
						}
					}
					n := 0
					if old != nil {
						fmt.Sscan(string(old), &n)
					}
					err = s.Swap(ctx, key, old, []byte(fmt.Sprint(n+1)))
					if err == nil {
						break
					}
					if !errors.Is(err, ErrConflict) {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got, want := string(mustGet(t, a, key)), fmt.Sprint(workers*each); got != want {
		t.Errorf("counter after %d increments by Swap: %s", workers*each, got)
	}
}
