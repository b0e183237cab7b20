package p2p

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

const sinkProto = protocol.ID("/ferry/test/sink/1")

// sink reads a stream to its end, then writes one byte back as a receipt.
func sink(s network.Stream) {
	if _, err := io.Copy(io.Discard, s); err != nil {
		_ = s.Reset()
		return
	}
	_, _ = s.Write([]byte{1})
	_ = s.Close()
}

// BenchmarkStreamThroughput moves 256 MiB per op over one libp2p stream
// between two hosts on loopback, for each security protocol and transport.
// The default Security is chosen from these figures (see doc.go).
func BenchmarkStreamThroughput(b *testing.B) {
	const perOp = 256 << 20
	cases := []struct {
		name, security, listen string
	}{
		{"tls-tcp", SecurityTLS, tcp4},
		{"noise-tcp", SecurityNoise, tcp4},
		{"tls-quic", SecurityTLS, quic4}, // QUIC's own TLS 1.3
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			src := newTestHost(b, c.security, c.listen)
			dst := newTestHost(b, c.security, c.listen)
			dst.SetStreamHandler(sinkProto, sink)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			if err := src.Connect(ctx, peer.AddrInfo{ID: dst.ID(), Addrs: DialAddrs(dst)}); err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, 1<<20)
			b.SetBytes(perOp)
			b.ResetTimer()
			for range b.N {
				s, err := src.NewStream(ctx, dst.ID(), sinkProto)
				if err != nil {
					b.Fatal(err)
				}
				for sent := 0; sent < perOp; sent += len(buf) {
					if _, err := s.Write(buf); err != nil {
						b.Fatal(err)
					}
				}
				if err := s.CloseWrite(); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(s, buf[:1]); err != nil {
					b.Fatalf("receipt: %v", err)
				}
				_ = s.Close()
			}
			b.StopTimer()
			st := src.Network().ConnsToPeer(dst.ID())[0].ConnState()
			if got, want := st.Transport == "quic-v1", c.listen == quic4; got != want {
				b.Fatalf("transport: got %q, want quic %v", st.Transport, want)
			}
		})
	}
}
