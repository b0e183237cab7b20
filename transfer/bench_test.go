package transfer

import (
	"context"
	"crypto/rand"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"
	"lukechampine.com/blake3"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/chatstore/seed"
	"github.com/ferryhq/ferry/internal/benchenv"
	"github.com/ferryhq/ferry/internal/scratch/scratchtest"
)

// Benchmark sizes come from the environment so that the default run stays
// quick: FERRY_BENCH_MESSAGES (default 20000) and FERRY_BENCH_MEDIA_MB
// (default 16). For the targets:
//
//	FERRY_BENCH_MESSAGES=1000000 FERRY_BENCH_MEDIA_MB=1024 go test -run '^$' -bench . -benchtime 1x ./transfer
//
// The source history is seeded once per process (half with seed 1, half
// with seed 2), and a copy of its first half is the "half-full" target.
func benchSize(b *testing.B) (msgs int, media int64) { return benchenv.Size(b) }

type benchData struct {
	dir        string
	src, half  string // homes, closed
	srcStats   chatstore.Stats
	halfStats  chatstore.Stats
	err        error
	once       sync.Once
	cleanupDir func()
}

// fixture is the process's seeded data (built on first use, removed by
// TestMain): one value shared by the benchmarks, never mutated after once.
var fixture benchData

func TestMain(m *testing.M) {
	code := scratchtest.Main(m, snapshotPrefix)
	if fixture.dir != "" {
		os.RemoveAll(fixture.dir)
	}
	os.Exit(code)
}

func benchFixture(b *testing.B) *benchData {
	b.Helper()
	msgs, media := benchSize(b)
	d := &fixture
	d.once.Do(func() {
		ctx := context.Background()
		d.dir, d.err = os.MkdirTemp("", "ferry-bench-*")
		if d.err != nil {
			return
		}
		d.half = filepath.Join(d.dir, "half")
		d.src = filepath.Join(d.dir, "src")
		s, err := chatstore.Open(ctx, d.half, chatstore.Options{Create: true})
		if err != nil {
			d.err = err
			return
		}
		d.halfStats, d.err = seed.Add(ctx, s, seed.Options{Messages: msgs / 2, MediaBytes: media / 2, Seed: 1})
		s.Close()
		if d.err != nil {
			return
		}
		if d.err = copyTree(d.half, d.src); d.err != nil {
			return
		}
		s, err = chatstore.Open(ctx, d.src, chatstore.Options{})
		if err != nil {
			d.err = err
			return
		}
		d.srcStats, d.err = seed.Add(ctx, s, seed.Options{Messages: msgs - msgs/2, MediaBytes: media - media/2, Seed: 2})
		s.Close()
	})
	if d.err != nil {
		b.Fatalf("bench fixture: %v", d.err)
	}
	return d
}

func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if e.IsDir() {
			return os.MkdirAll(to, 0o700)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(to)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}

func benchOpen(b *testing.B, home string, opts chatstore.Options) *chatstore.Store {
	b.Helper()
	s, err := chatstore.Open(context.Background(), home, opts)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func report(b *testing.B, msgs int64) {
	b.ReportMetric(float64(msgs)*float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	if rss := peakRSS(); rss > 0 {
		b.ReportMetric(float64(rss)/(1<<20), "peak-RSS-MiB")
	}
}

// BenchmarkSnapshot: VACUUM INTO, compress and hash the database, hash the
// multi-chunk media.
func BenchmarkSnapshot(b *testing.B) {
	d := benchFixture(b)
	src := benchOpen(b, d.src, chatstore.Options{ReadOnly: true})
	defer src.Close()
	ctx := context.Background()
	work := b.TempDir()
	for b.Loop() {
		s, err := Snapshot(ctx, src, work)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(s.Manifest().DBSize + s.Manifest().Stats.MediaBytes)
		s.Close()
	}
	report(b, d.srcStats.Messages)
}

// BenchmarkChunkHash: one 4 MiB chunk — media (BLAKE3 only) and database
// (zstd fastest + BLAKE3 on the source; BLAKE3 + decompress + BLAKE3 on the
// target).
func BenchmarkChunkHash(b *testing.B) {
	media := make([]byte, DefaultChunkSize)
	rand.Read(media)
	b.Run("media", func(b *testing.B) {
		b.SetBytes(int64(len(media)))
		for b.Loop() {
			blake3.Sum256(media)
		}
	})
	d := benchFixture(b)
	snapPath := filepath.Join(b.TempDir(), "snap.db")
	src := benchOpen(b, d.src, chatstore.Options{})
	if err := src.Snapshot(context.Background(), snapPath); err != nil {
		b.Fatal(err)
	}
	src.Close()
	f, err := os.Open(snapPath)
	if err != nil {
		b.Fatal(err)
	}
	raw := make([]byte, DefaultChunkSize)
	n, _ := io.ReadFull(f, raw)
	f.Close()
	raw = raw[:n]
	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	dec, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	var z []byte
	b.Run("db-source", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			z = enc.EncodeAll(raw, z[:0])
			blake3.Sum256(z)
		}
		b.ReportMetric(float64(len(z))/float64(len(raw)), "ratio")
	})
	out := make([]byte, 0, len(raw))
	b.Run("db-target", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			blake3.Sum256(z)
			out, _ = dec.DecodeAll(z, out[:0])
			blake3.Sum256(out)
		}
	})
}

// archiveFile exports the fixture's source to a file once per benchmark.
func archiveFile(b *testing.B, d *benchData) (string, *ExportResult) {
	b.Helper()
	src := benchOpen(b, d.src, chatstore.Options{ReadOnly: true})
	defer src.Close()
	p := filepath.Join(b.TempDir(), "history.ferry")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	res, err := Export(context.Background(), src, f, ExportOptions{WorkDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return p, &res
}

// BenchmarkExport: snapshot, compress, hash, seal, write to a file.
func BenchmarkExport(b *testing.B) {
	d := benchFixture(b)
	src := benchOpen(b, d.src, chatstore.Options{ReadOnly: true})
	defer src.Close()
	ctx := context.Background()
	dir := b.TempDir()
	p := filepath.Join(dir, "history.ferry")
	for b.Loop() {
		f, err := os.Create(p)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Export(ctx, src, f, ExportOptions{WorkDir: dir}); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		f.Close()
		fi, _ := os.Stat(p)
		b.SetBytes(fi.Size())
	}
	report(b, d.srcStats.Messages)
}

// BenchmarkImport: open, verify and stage every chunk, digest check, adopt
// into an empty store.
func BenchmarkImport(b *testing.B) {
	d := benchFixture(b)
	p, ex := archiveFile(b, d)
	fi, _ := os.Stat(p)
	b.SetBytes(fi.Size())
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		home := filepath.Join(b.TempDir(), "home")
		dst := benchOpen(b, home, chatstore.Options{Create: true})
		f, err := os.Open(p)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		res, err := Import(ctx, f, dst, ImportOptions{Key: &ex.Key})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		f.Close()
		if res.Target != d.srcStats {
			b.Fatalf("target %+v, want %+v", res.Target, d.srcStats)
		}
		resultMetrics(b, res)
		dst.Close()
		os.RemoveAll(home)
		b.StartTimer()
	}
	report(b, d.srcStats.Messages)
}

func benchMigrate(b *testing.B, into string, added int64) {
	d := benchFixture(b)
	src := benchOpen(b, d.src, chatstore.Options{ReadOnly: true})
	defer src.Close()
	ctx := context.Background()
	snap, err := Snapshot(ctx, src, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer snap.Close()
	b.SetBytes(snap.Manifest().TotalBytes())
	for b.Loop() {
		b.StopTimer()
		home := filepath.Join(b.TempDir(), "home")
		if into == "" {
			os.Mkdir(home, 0o700)
		} else if err := copyTree(into, home); err != nil {
			b.Fatal(err)
		}
		dst := benchOpen(b, home, chatstore.Options{Create: true})
		b.StartTimer()
		recv, err := NewReceiver(dst, snap.Manifest())
		if err != nil {
			b.Fatal(err)
		}
		if err := fetch(ctx, ReadSource(snap, 4), recv, nil); err != nil {
			b.Fatal(err)
		}
		res, err := recv.Commit(ctx)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if res.Target != d.srcStats || res.Added.Messages != added {
			b.Fatalf("target %+v, added %d; want %+v, %d", res.Target, res.Added.Messages, d.srcStats, added)
		}
		resultMetrics(b, res)
		dst.Close()
		os.RemoveAll(home)
		b.StartTimer()
	}
	report(b, added)
}

// resultMetrics reports where a transfer's time went.
func resultMetrics(b *testing.B, res Result) {
	b.ReportMetric(res.Transfer.Seconds(), "transfer-s")
	b.ReportMetric(res.Verify.Seconds(), "verify-s")
	b.ReportMetric(res.Install.Seconds(), "install-s")
	b.ReportMetric(res.Merge.Seconds(), "merge-s")
	b.ReportMetric(float64(res.MediaInstalled), "media-files")
}

// BenchmarkMigrateEmpty: the whole engine in process (snapshot taken once,
// outside the timer) into an empty store: msgs/s over all messages.
func BenchmarkMigrateEmpty(b *testing.B) {
	d := benchFixture(b)
	benchMigrate(b, "", d.srcStats.Messages)
}

// BenchmarkMigrateHalfFull: into a store that holds the first half of the
// source's history: msgs/s over the messages merged.
func BenchmarkMigrateHalfFull(b *testing.B) {
	d := benchFixture(b)
	benchMigrate(b, d.half, d.srcStats.Messages-d.halfStats.Messages)
}
