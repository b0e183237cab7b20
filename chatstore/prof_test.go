package chatstore

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestProfMerge(t *testing.T) {
	if os.Getenv("FERRY_PROF") == "" {
		t.Skip()
	}
	n := 1000000
	ctx := context.Background()
	a, _ := seeded(t, SeedOptions{Messages: n / 2, Seed: 1})
	snapA := snapshot(t, a)
	a.Close()
	c, _ := seeded(t, SeedOptions{Messages: n / 2, Seed: 2})
	snapB := snapshot(t, c)
	c.Close()
	dst := newStore(t)
	staged := filepath.Join(dst.Home(), "staged.db")
	copyFile(t, snapA, staged)
	if err := dst.Adopt(ctx, staged); err != nil {
		t.Fatal(err)
	}
	t0, c0 := time.Now(), cpuNow()
	if err := validateSnapshot(ctx, snapB); err != nil {
		t.Fatal(err)
	}
	t.Logf("validate %v cpu %v", time.Since(t0), cpuNow()-c0)
	t0, c0 = time.Now(), cpuNow()
	if _, err := dst.Merge(ctx, snapB); err != nil {
		t.Fatal(err)
	}
	t.Logf("merge(incl validate) %v cpu %v", time.Since(t0), cpuNow()-c0)
	t0, c0 = time.Now(), cpuNow()
	if err := dst.CheckContains(ctx, snapB); err != nil {
		t.Fatal(err)
	}
	t.Logf("check %v cpu %v", time.Since(t0), cpuNow()-c0)
	t0, c0 = time.Now(), cpuNow()
	dst.Stats(ctx)
	t.Logf("stats %v cpu %v", time.Since(t0), cpuNow()-c0)
	t0, c0 = time.Now(), cpuNow()
	var cnt int64
	dst.db.QueryRow("SELECT count(*) FROM messages").Scan(&cnt)
	t.Logf("count %v cpu %v", time.Since(t0), cpuNow()-c0)
	t0, c0 = time.Now(), cpuNow()
	dst.db.QueryRow("SELECT count(*) FROM messages").Scan(&cnt)
	t.Logf("count %v cpu %v", time.Since(t0), cpuNow()-c0)
	t0, c0 = time.Now(), cpuNow()
	for _, q := range []string{"PRAGMA page_count", "PRAGMA wal_checkpoint(TRUNCATE)"} {
		var x, y, z int64
		err := dst.db.QueryRow(q).Scan(&x, &y, &z)
		if err != nil {
			dst.db.QueryRow(q).Scan(&x)
		}
		t.Logf("%s %d %d %d", q, x, y, z)
	}
	t.Logf("stats %v cpu %v", time.Since(t0), cpuNow()-c0)
}
