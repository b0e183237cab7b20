package filelock

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// Two opens of one file take the lock in turn: what the first does while
// it holds it is done before the second gets it.
func TestLockExcludes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	open := func() *os.File {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	var mu sync.Mutex
	var order []string
	log := func(s string) { mu.Lock(); order = append(order, s); mu.Unlock() }
	a := open()
	if err := Lock(a); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		b := open()
		defer b.Close()
		err := Lock(b)
		log("b locked")
		got <- err
	}()
	for range 3 {
		log("a holds")
	}
	if err := Unlock(a); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	a.Close()
	if want := []string{"a holds", "a holds", "a holds", "b locked"}; len(order) != 4 || order[3] != want[3] {
		t.Errorf("order %q, want %q", order, want)
	}
	c := open()
	defer c.Close()
	if err := Lock(c); err != nil {
		t.Errorf("after both closed: %v", err)
	}
}

// TryLock takes a free lock and refuses a held one at once.
func TestTryLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	a, b := openFile(t, path), openFile(t, path)
	defer b.Close()
	if err := TryLock(a); err != nil {
		t.Fatalf("free lock: %v", err)
	}
	if err := TryLock(b); !errors.Is(err, ErrLocked) {
		t.Fatalf("held lock: got %v, want ErrLocked", err)
	}
	a.Close()
	if err := TryLock(b); err != nil {
		t.Fatalf("after the holder closed: %v", err)
	}
}

// openFile opens (making it) the file at path for a lock.
func openFile(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
