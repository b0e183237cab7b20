package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	lib "github.com/ferryhq/ferry"

	"github.com/ferryhq/ferry/chatstore"
	chatseed "github.com/ferryhq/ferry/chatstore/seed"
	"github.com/ferryhq/ferry/internal/redistest"
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
	addr, relay := startLoopbackRelay(t, filepath.Join(dir, "relay"),
		"--max-reservations-per-ip", strconv.Itoa(2*sessions), "--ip-burst", strconv.Itoa(10*sessions), "--ip-rate", "1000")

	type pair struct {
		send, recv *lib.Device
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
			pairs[i].want, err = chatseed.Add(ctx, st, chatseed.Options{Messages: 200, MediaBytes: int64(mediaMB) << 20, Seed: uint64(i + 1)})
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
			pairs[i].send = &lib.Device{Home: src, Listen: loop, NoMDNS: true, WorkDir: dir}
			pairs[i].recv = &lib.Device{Home: dst, Listen: loop, NoMDNS: true}
			for _, d := range []*lib.Device{pairs[i].send, pairs[i].recv} {
				if err := d.Start(ctx); err != nil {
					errs <- err
					return
				}
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
		// A pair's own context: a receiver that fails ends its sender too,
		// which would otherwise wait for the test's whole timeout.
		pctx, pcancel := context.WithCancel(ctx)
		defer pcancel()
		go func() {
			defer wg.Done()
			s, err := p.send.Send(pctx, lib.SendOptions{Relay: addr})
			if err == nil {
				codes <- s.Code()
				_, err = s.Wait(pctx)
			}
			if err != nil && !errors.Is(err, context.Canceled) {
				results <- fmt.Errorf("sender %d: %w", i, err)
			}
			if err != nil {
				close(codes)
			}
		}()
		go func() {
			defer wg.Done()
			code, ok := <-codes
			if !ok {
				return
			}
			res, err := p.recv.Receive(pctx, code, lib.ReceiveOptions{Relay: addr})
			if err != nil {
				pcancel() // its sender waits for nobody now
				results <- fmt.Errorf("receiver %d: %w", i, err)
				return
			}
			if res.Target.Digest != p.want.Digest {
				results <- fmt.Errorf("receiver %d: digest %s, want its own sender's %s", i, res.Target.Digest, p.want.Digest)
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

// startLoopbackRelay runs ferry relay on 127.0.0.1 and returns its address.
func startLoopbackRelay(t *testing.T, data string, extra ...string) (string, *exec.Cmd) {
	t.Helper()
	relay := exec.Command(ferryBin, append([]string{"relay", "--listen", "/ip4/127.0.0.1/tcp/0", "--data", data}, extra...)...)
	out, err := relay.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	relay.Stderr = os.Stderr
	if err := relay.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { relay.Process.Kill(); relay.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "relay: ") {
		t.Fatalf("relay did not start: %q %v", line, err)
	}
	return strings.TrimSpace(strings.TrimPrefix(line, "relay: ")), relay
}

// loopbackDevice starts an in-process device on loopback (no mDNS) in a new
// home, seeded with messages and media when messages > 0.
func loopbackDevice(t *testing.T, home string, messages, mediaMB int, seed uint64) (*lib.Device, chatstore.Stats) {
	t.Helper()
	ctx := context.Background()
	st, err := chatstore.Open(ctx, home, chatstore.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	var stats chatstore.Stats
	if messages > 0 {
		if stats, err = chatseed.Add(ctx, st, chatseed.Options{Messages: messages, MediaBytes: int64(mediaMB) << 20, Seed: seed}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	d := &lib.Device{Home: home, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, NoMDNS: true, WorkDir: t.TempDir()}
	t.Cleanup(func() { d.Close() })
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return d, stats
}

// TestRelayScaleOutWithRedis: two relay processes behind one name share
// their rendezvous state in Redis; the sender registers its code on one, the
// receiver claims it on the other and the migration goes through.
func TestRelayScaleOutWithRedis(t *testing.T) {
	redis := redistest.Start(t)
	dir := t.TempDir()
	addr1, _ := startLoopbackRelay(t, filepath.Join(dir, "relay1"), "--redis", redis)
	addr2, _ := startLoopbackRelay(t, filepath.Join(dir, "relay2"), "--redis", redis)
	sender, want := loopbackDevice(t, filepath.Join(dir, "a"), 2000, 3, 1)
	receiver, _ := loopbackDevice(t, filepath.Join(dir, "b"), 0, 0, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s, err := sender.Send(ctx, lib.SendOptions{Relay: addr1})
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	var path string
	res, err := receiver.Receive(ctx, s.Code(), lib.ReceiveOptions{Relay: addr2, Events: func(e lib.Event) {
		if e.Kind == lib.EventConnected {
			path = e.Path
		}
	}})
	if err != nil {
		t.Fatalf("receive through the second relay: %v", err)
	}
	if _, err := s.Wait(ctx); err != nil {
		t.Fatalf("send: %v", err)
	}
	if res.Target.Digest != want.Digest || path != "relayed" {
		t.Errorf("digest %s over %q, want %s relayed", res.Target.Digest, path, want.Digest)
	}
}
