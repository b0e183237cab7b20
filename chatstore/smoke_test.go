package chatstore

import (
	"context"
	"testing"
	"time"
)

func TestSmoke(t *testing.T) {
	ctx := context.Background()
	t0 := time.Now()
	s, st := seeded(t, SeedOptions{Messages: 20000, MediaBytes: 20 << 20, Seed: 1})
	t.Logf("seed %v %+v", time.Since(t0), st)
	t0 = time.Now()
	st2 := mustStats(t, s)
	t.Logf("stats %v", time.Since(t0))
	if st2 != st {
		t.Fatalf("got %+v want %+v", st2, st)
	}
	p := snapshot(t, s)
	t0 = time.Now()
	d := newStore(t)
	if err := d.Adopt(ctx, p); err != nil {
		t.Fatal(err)
	}
	t.Logf("adopt %v", time.Since(t0))
	if got := mustStats(t, d); got != st {
		t.Fatalf("adopt: got %+v want %+v", got, st)
	}
}
