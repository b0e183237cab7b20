package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/daemon"
)

// TestRelayLoad runs 100 migrations of 10 MiB each at once through one relay
// process on loopback: all must complete and verify with their own history
// (each sender's history is seeded differently, so a byte crossing between
// sessions breaks a digest), and the relay's peak memory stays bounded.
func TestRelayLoad(t *testing.T) {
	sessions, mediaMB := 100, 10
	if testing.Short() {
		sessions, mediaMB = 10, 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir := t.TempDir()
	relay := exec.Command(ferryBin, "relay", "--listen", "/ip4/127.0.0.1/tcp/0", "--data", filepath.Join(dir, "relay"),
		"--max-reservations-per-ip", strconv.Itoa(2*sessions), "--ip-burst", strconv.Itoa(10*sessions), "--ip-rate", "1000")
	out, err := relay.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	relay.Stderr = os.Stderr
	if err := relay.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { relay.Process.Kill(); relay.Wait() })
	buf := make([]byte, 4096)
	n, err := out.Read(buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), "relay: ") {
		t.Fatalf("relay did not start: %q %v", buf[:n], err)
	}
	addr := strings.TrimSpace(strings.TrimPrefix(strings.SplitN(string(buf[:n]), "\n", 2)[0], "relay: "))

	type pair struct {
		send, recv *daemon.Daemon
		want       chatstore.Stats
		dst        string
	}
	pairs := make([]pair, sessions)
	loop := []string{"/ip4/127.0.0.1/tcp/0"}
	var wg sync.WaitGroup
	errs := make(chan error, 2*sessions)
	for i := range pairs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src, dst := filepath.Join(dir, fmt.Sprint("s", i)), filepath.Join(dir, fmt.Sprint("r", i))
			st, err := chatstore.Open(ctx, src, chatstore.Options{Create: true})
			if err != nil {
				errs <- err
				return
			}
			pairs[i].want, err = chatstore.Seed(ctx, st, chatstore.SeedOptions{Messages: 200, MediaBytes: int64(mediaMB) << 20, Seed: uint64(i + 1)})
			st.Close()
			if err != nil {
				errs <- err
				return
			}
			if err := os.Mkdir(dst, 0o700); err != nil {
				errs <- err
				return
			}
			pairs[i].dst = dst
			if pairs[i].send, err = daemon.New(ctx, daemon.Config{Home: src, Listen: loop, NoMDNS: true, WorkDir: dir}); err != nil {
				errs <- err
				return
			}
			if pairs[i].recv, err = daemon.New(ctx, daemon.Config{Home: dst, Listen: loop, NoMDNS: true}); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, p := range pairs {
		t.Cleanup(func() { p.send.Close(); p.recv.Close() })
	}

	start := time.Now()
	results := make(chan error, 2*sessions)
	for i := range pairs {
		p := pairs[i]
		wg.Add(2)
		codes := make(chan string, 1)
		go func() {
			defer wg.Done()
			_, err := p.send.Send(ctx, daemon.SendRequest{Relay: addr}, func(e daemon.Event) {
				if e.Kind == daemon.EventCode {
					codes <- e.Code
				}
			})
			if err != nil {
				results <- fmt.Errorf("sender %d: %w", i, err)
				close(codes)
			}
		}()
		go func() {
			defer wg.Done()
			code, ok := <-codes
			if !ok {
				return
			}
			rep, err := p.recv.Receive(ctx, daemon.ReceiveRequest{Code: code, Yes: true, Relay: addr}, nil)
			if err != nil {
				results <- fmt.Errorf("receiver %d: %w", i, err)
				return
			}
			if rep.TargetDigest != p.want.Digest {
				results <- fmt.Errorf("receiver %d: digest %s, want its own sender's %s", i, rep.TargetDigest, p.want.Digest)
			}
		}()
	}
	wg.Wait()
	close(results)
	for err := range results {
		t.Error(err)
	}
	took := time.Since(start)
	for i, p := range pairs {
		if got := stats(t, p.dst); got != p.want {
			t.Errorf("receiver %d holds %+v, want %+v", i, got, p.want)
		}
	}
	hwm := peakRSS(t, relay.Process.Pid)
	t.Logf("%d relayed migrations of %d MiB in %s; relay peak RSS %d MiB", sessions, mediaMB, took.Round(time.Millisecond), hwm>>20)
	if limit := int64(64<<20) + int64(sessions)*(4<<20); hwm > limit {
		t.Errorf("relay peak RSS %d MiB for %d sessions: want at most %d MiB (4 MiB a session)", hwm>>20, sessions, limit>>20)
	}
}

// peakRSS reads a process's peak resident set size from /proc.
func peakRSS(t *testing.T, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			kb, _ := strconv.ParseInt(strings.Fields(l)[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}
