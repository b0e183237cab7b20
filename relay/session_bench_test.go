package relay_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ferryhq/ferry/p2p"
	"github.com/ferryhq/ferry/p2p/p2ptest"
)

// startRelayProcess runs the test binary as a relay process and returns
// its address and PID; it is killed when the benchmark ends.
func startRelayProcess(b *testing.B) (string, int) {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envServe+"="+b.TempDir())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "relay: ")
	if err != nil || !ok {
		b.Fatalf("relay process printed %q (%v)", line, err)
	}
	return addr, cmd.Process.Pid
}

// procStat returns a process's resident set (bytes) and CPU time.
func procStat(b *testing.B, pid int) (rss int64, cpu time.Duration) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Skipf("no /proc (not Linux?): %v", err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			rss = kb << 10
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64) // fields 14 and 15 of stat(5)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return rss, time.Duration(utime+stime) * 10 * time.Millisecond // USER_HZ = 100
}

// BenchmarkRelaySessions runs 100 concurrent relayed sessions, each
// pushing 10 MiB per op through a relay in its own process, and reports the
// relay's RSS growth (idle connections, and peak while moving data) and CPU
// time per MiB relayed.
func BenchmarkRelaySessions(b *testing.B) {
	const (
		senders  = 10 // 10 circuits each, within MaxCircuits
		sessions = 100
		n        = 10 << 20
	)
	ctx := testContext(b)
	addr, pid := startRelayProcess(b)
	var tx []host.Host
	var info peer.AddrInfo
	for range senders {
		h, i := newSender(b, addr)
		h.SetStreamHandler(sinkProto, sinkHandler)
		tx, info = append(tx, h), i
	}
	base, _ := procStat(b, pid)
	rx := make([]host.Host, sessions)
	for i := range rx {
		rx[i] = p2ptest.Host(b)
		if err := p2p.DialViaRelay(ctx, rx[i], info, tx[i%senders].ID()); err != nil {
			b.Fatal(err)
		}
	}
	idle, cpu0 := procStat(b, pid)

	var peak int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if rss, _ := procStat(b, pid); rss > peak {
					peak = rss
				}
			}
		}
	}()
	b.SetBytes(sessions * n)
	b.ResetTimer()
	for range b.N {
		var push sync.WaitGroup
		for i := range rx {
			push.Add(1)
			go func() {
				defer push.Done()
				pushOnce(ctx, b, rx[i], tx[i%senders].ID(), make([]byte, 64<<10), n)
			}()
		}
		push.Wait()
	}
	b.StopTimer()
	close(stop)
	wg.Wait()
	_, cpu1 := procStat(b, pid)
	b.ReportMetric(float64(idle-base)/sessions, "idle-rss-B/session")
	b.ReportMetric(float64(peak-base)/sessions, "peak-rss-B/session")
	b.ReportMetric(float64(cpu1-cpu0)/float64(time.Millisecond)/float64(sessions*b.N)/(n>>20), "relay-cpu-ms/MiB")
}
