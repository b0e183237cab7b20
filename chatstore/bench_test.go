package chatstore

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/benchenv"
)

// Benchmark sizes come from the environment so that the default run stays
// quick: FERRY_BENCH_MESSAGES (default 20000) and FERRY_BENCH_MEDIA_MB
// (default 16). For the targets:
//
//	FERRY_BENCH_MESSAGES=1000000 FERRY_BENCH_MEDIA_MB=1024 go test -run '^$' -bench . -benchtime 1x ./chatstore
func benchSize(b *testing.B) (msgs int, media int64) { return benchenv.Size(b) }

// cpuMeter adds up the CPU time of the timed parts of a benchmark, so that
// figures stay readable on a machine shared with other work.
type cpuMeter struct {
	total, start time.Duration
	running      bool
}

// startTimer starts the benchmark timer and the meter.
func (m *cpuMeter) startTimer(b *testing.B) {
	b.StartTimer()
	m.start, m.running = cpuNow(), true
}

// stopTimer stops both.
func (m *cpuMeter) stopTimer(b *testing.B) {
	b.StopTimer()
	if m.running {
		m.total += cpuNow() - m.start
	}
	m.running = false
}

func reportRate(b *testing.B, msgs int, cpu *cpuMeter) {
	b.ReportMetric(float64(msgs)*float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	if cpu != nil && cpu.total > 0 {
		b.ReportMetric(float64(msgs)*float64(b.N)/cpu.total.Seconds(), "msgs/cpu-s")
	}
	if rss := peakRSS(); rss > 0 {
		b.ReportMetric(float64(rss)/(1<<20), "peak-RSS-MiB")
	}
}

func copyFile(b testing.TB, src, dst string) {
	b.Helper()
	in, err := os.Open(src)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		b.Fatal(err)
	}
	if err := out.Close(); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkSeed(b *testing.B) {
	msgs, media := benchSize(b)
	ctx := context.Background()
	var cpu cpuMeter
	for b.Loop() {
		cpu.stopTimer(b)
		s := newStore(b)
		cpu.startTimer(b)
		if _, err := addSeed(ctx, s, seedOptions{Messages: msgs, MediaBytes: media, Seed: 1}); err != nil {
			b.Fatal(err)
		}
		cpu.stopTimer(b)
		s.Close()
		os.RemoveAll(s.Home())
		cpu.startTimer(b)
	}
	reportRate(b, msgs, &cpu)
}

func BenchmarkDigest(b *testing.B) {
	msgs, _ := benchSize(b)
	s, _ := seeded(b, seedOptions{Messages: msgs, Seed: 1})
	ctx := context.Background()
	var cpu cpuMeter
	for b.Loop() {
		c0 := cpuNow()
		if _, err := s.Stats(ctx); err != nil {
			b.Fatal(err)
		}
		cpu.total += cpuNow() - c0
	}
	reportRate(b, msgs, &cpu)
}

func BenchmarkSnapshot(b *testing.B) {
	msgs, _ := benchSize(b)
	s, _ := seeded(b, seedOptions{Messages: msgs, Seed: 1})
	dir := b.TempDir()
	ctx := context.Background()
	i := 0
	var cpu cpuMeter
	for b.Loop() {
		cpu.startTimer(b)
		p := filepath.Join(dir, strconv.Itoa(i))
		i++
		if err := s.Snapshot(ctx, p); err != nil {
			b.Fatal(err)
		}
		cpu.stopTimer(b)
		os.Remove(p)
		cpu.startTimer(b)
	}
	reportRate(b, msgs, &cpu)
}

// BenchmarkAdopt measures importing into an empty store: validate the
// snapshot, adopt it, and compute the final digest.
func BenchmarkAdopt(b *testing.B) {
	msgs, _ := benchSize(b)
	src, want := seeded(b, seedOptions{Messages: msgs, Seed: 1})
	snap := snapshot(b, src)
	src.Close()
	ctx := context.Background()
	var cpu cpuMeter
	for b.Loop() {
		cpu.stopTimer(b)
		dst := newStore(b)
		staged := filepath.Join(dst.Home(), "staged.db")
		copyFile(b, snap, staged)
		cpu.startTimer(b)
		if err := dst.Adopt(ctx, staged); err != nil {
			b.Fatal(err)
		}
		got, err := dst.Stats(ctx)
		if err != nil {
			b.Fatal(err)
		}
		cpu.stopTimer(b)
		if got != want {
			b.Fatalf("got %+v, want %+v", got, want)
		}
		dst.Close()
		os.RemoveAll(dst.Home())
		cpu.startTimer(b)
	}
	reportRate(b, msgs, &cpu)
}

// BenchmarkMergeHalfFull measures merging msgs/2 new messages into a store
// that holds msgs/2 others: merge, CheckContains, final digest.
func BenchmarkMergeHalfFull(b *testing.B) {
	msgs, _ := benchSize(b)
	ctx := context.Background()
	a, _ := seeded(b, seedOptions{Messages: msgs / 2, Seed: 1})
	snapA := snapshot(b, a)
	a.Close()
	c, _ := seeded(b, seedOptions{Messages: msgs / 2, Seed: 2})
	snapB := snapshot(b, c)
	c.Close()
	var cpu cpuMeter
	for b.Loop() {
		cpu.stopTimer(b)
		dst := newStore(b)
		staged := filepath.Join(dst.Home(), "staged.db")
		copyFile(b, snapA, staged)
		if err := dst.Adopt(ctx, staged); err != nil {
			b.Fatal(err)
		}
		cpu.startTimer(b)
		res, err := dst.Merge(ctx, snapB)
		if err != nil {
			b.Fatal(err)
		}
		if err := dst.CheckContains(ctx, snapB); err != nil {
			b.Fatal(err)
		}
		st, err := dst.Stats(ctx)
		if err != nil {
			b.Fatal(err)
		}
		cpu.stopTimer(b)
		if res.Messages != int64(msgs/2) || st.Messages != int64(msgs/2)*2 {
			b.Fatalf("merged %d, now %d; want %d, %d", res.Messages, st.Messages, msgs/2, msgs/2*2)
		}
		dst.Close()
		os.RemoveAll(dst.Home())
		cpu.startTimer(b)
	}
	reportRate(b, msgs/2, &cpu)
}

// BenchmarkSearch measures one search over a history of FERRY_BENCH_MESSAGES
// messages with its index built (the target: under 50 ms at
// 1,000,000), from the query to the hydrated hits, for a word that occurs
// once, words that occur in about one message in fifty (ranked among their
// newest uses), a Chinese phrase, a prefix and two words together.
func BenchmarkSearch(b *testing.B) {
	msgs, _ := benchSize(b)
	ctx := context.Background()
	s, _ := seeded(b, seedOptions{Messages: msgs, Seed: 1})
	uniqueWords(b, "zanzibar").into(s)
	ix := openIndex(b, s)
	if err := ix.Update(ctx, nil); err != nil {
		b.Fatal(err)
	}
	for _, q := range []struct{ name, query string }{
		{"rare", "zanzibar"},
		{"common", "lunch"},
		{"cjk", "明天"},
		{"prefix", "tomo*"},
		{"two-words", "grab lunch"},
	} {
		b.Run(q.name, func(b *testing.B) {
			var hits int
			for b.Loop() {
				h, err := ix.Search(ctx, q.query, SearchOptions{})
				if err != nil {
					b.Fatal(err)
				}
				hits = len(h)
			}
			if hits == 0 {
				b.Fatalf("%q found nothing", q.query)
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/search")
		})
	}
}

// BenchmarkIndexBuild measures building the search index of a history of
// FERRY_BENCH_MESSAGES messages from scratch (what the first search after
// a migration into an empty home does).
func BenchmarkIndexBuild(b *testing.B) {
	msgs, _ := benchSize(b)
	ctx := context.Background()
	s, _ := seeded(b, seedOptions{Messages: msgs, Seed: 1})
	var cpu cpuMeter
	for b.Loop() {
		cpu.stopTimer(b)
		removeIndex(filepath.Join(s.Home(), IndexName))
		ix := openIndex(b, s)
		cpu.startTimer(b)
		if err := ix.Update(ctx, nil); err != nil {
			b.Fatal(err)
		}
		cpu.stopTimer(b)
		ix.Close()
		cpu.startTimer(b)
	}
	reportRate(b, msgs, &cpu)
}
