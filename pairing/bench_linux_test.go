//go:build linux

package pairing

import (
	"context"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// threadCPU is the CPU time (user + system) the calling OS thread has used.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	const rusageThread = 1 // RUSAGE_THREAD
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPair is a full pairing (CPace + Noise XXpsk0 + confirmation) over TCP
// on loopback, one fresh connection per pairing. It reports the CPU time each
// side spent (each side runs on its own locked OS thread, measured with
// RUSAGE_THREAD; work the runtime does on other threads, such as the network
// poller and GC, is in process-cpu-ms/pair only). Wall time per op is latency
// and, on a loaded machine, mostly waiting for a CPU.
func BenchmarkPair(b *testing.B) {
	recv, send := newSides(b)
	code, err := ParseCode("7-zebra-acorn")
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	ctx := context.Background()
	var cpuI, cpuR time.Duration
	proc0 := processCPU()
	b.ResetTimer()
	for b.Loop() {
		type out struct {
			cpu time.Duration
			err error
		}
		rc := make(chan out, 1)
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			c, err := ln.Accept()
			if err != nil {
				rc <- out{err: err}
				return
			}
			defer c.Close()
			t0 := threadCPU()
			_, err = Pair(ctx, c, Config{Role: Responder, Code: code, Local: send.id, RemotePeer: recv.peer})
			rc <- out{threadCPU() - t0, err}
		}()
		ic := make(chan out, 1)
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				ic <- out{err: err}
				return
			}
			defer c.Close()
			t0 := threadCPU()
			_, err = Pair(ctx, c, Config{Role: Initiator, Code: code, Local: recv.id, RemotePeer: send.peer})
			ic <- out{threadCPU() - t0, err}
		}()
		i, r := <-ic, <-rc
		if i.err != nil || r.err != nil {
			b.Fatalf("pair: %v / %v", i.err, r.err)
		}
		cpuI += i.cpu
		cpuR += r.cpu
	}
	n := float64(b.N)
	b.ReportMetric(float64(cpuI.Microseconds())/1000/n, "initiator-cpu-ms/pair")
	b.ReportMetric(float64(cpuR.Microseconds())/1000/n, "responder-cpu-ms/pair")
	b.ReportMetric(float64((processCPU()-proc0).Microseconds())/1000/n, "process-cpu-ms/pair")
}

// BenchmarkNaiveSearch16CPU reports the CPU time to test every 16-bit code
// against a recorded naive PSK-from-code handshake (see offline_test.go).
func BenchmarkNaiveSearch16CPU(b *testing.B) {
	msg := naiveFirstMessage(b, naiveCode16(0x1234))
	p0 := processCPU()
	for b.Loop() {
		if got := searchNaive(msg, 1<<16, 0); len(got) != 1 {
			b.Fatalf("found %v", got)
		}
	}
	b.ReportMetric((processCPU()-p0).Seconds()/float64(b.N), "cpu-s/16-bit-space")
}
