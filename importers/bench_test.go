package importers

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/internal/benchenv"
	"github.com/ferryhq/ferry/internal/exportgen"
)

// The import benchmarks generate an export of FERRY_BENCH_MESSAGES
// messages (default 20000; the figure is for 1,000,000) and import
// it into a new home each round:
//
//	FERRY_BENCH_MESSAGES=1000000 go test -run '^$' -bench Import -benchtime 1x ./importers
//
// bench/import.sh measures the same through the ferry binary, with the
// process's peak RSS.
func BenchmarkImportWhatsApp(b *testing.B) {
	benchImport(b, "WhatsApp Chat with Bench Group.txt", exportgen.WriteWhatsApp)
}

func BenchmarkImportWhatsAppZip(b *testing.B) {
	benchImport(b, "WhatsApp Chat with Bench Group.zip", exportgen.WriteWhatsAppZip)
}

func BenchmarkImportTelegram(b *testing.B) {
	benchImport(b, "result.json", exportgen.WriteTelegram)
}

func benchImport(b *testing.B, name string, write func(w io.Writer, o exportgen.Options) error) {
	msgs, _ := benchenv.Size(b)
	p := filepath.Join(b.TempDir(), name)
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	if err := write(f, exportgen.Options{Messages: msgs, Seed: 1}); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	fi, _ := os.Stat(p)
	b.SetBytes(fi.Size())
	ctx := context.Background()
	var read int64
	var cpu time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		st, err := chatstore.Open(ctx, filepath.Join(b.TempDir(), "home"), chatstore.Options{Create: true})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		c0 := cpuNow()
		res, err := Import(ctx, st, p, Options{Location: time.UTC})
		cpu += cpuNow() - c0
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if res.Unreadable != 0 || res.Added.Messages != res.Read {
			b.Fatalf("read %d, added %d, %d unreadable", res.Read, res.Added.Messages, res.Unreadable)
		}
		read = res.Read
		st.Close()
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(read)*float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	// On a shared machine the CPU time says more than the wall time; the
	// import runs its parser and its writer side by side, so on two idle
	// cores msgs/s is above msgs/cpu-s.
	b.ReportMetric(float64(read)*float64(b.N)/cpu.Seconds(), "msgs/cpu-s")
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MiB")
	}
}

// cpuNow is the CPU time (user + system) the process has used.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
