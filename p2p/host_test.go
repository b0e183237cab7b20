package p2p

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"
)

const echoProto = protocol.ID("/ferry/test/echo/1")

// echo serves echoProto: copy everything back, then close.
func echo(s network.Stream) {
	if _, err := io.Copy(s, s); err != nil {
		_ = s.Reset()
		return
	}
	_ = s.Close()
}

func newTestHost(t testing.TB, security string, listen ...string) host.Host {
	t.Helper()
	h, err := NewHost(context.Background(), Config{Home: t.TempDir(), Security: security, ListenAddrs: listen})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// roundTrip sends data over a new echoProto stream to p and checks it comes
// back unchanged.
func roundTrip(ctx context.Context, h host.Host, p peer.ID, data []byte) (network.Stream, error) {
	s, err := h.NewStream(ctx, p, echoProto)
	if err != nil {
		return nil, err
	}
	errc := make(chan error, 1)
	go func() {
		_, err := s.Write(data)
		if err == nil {
			err = s.CloseWrite()
		}
		errc <- err
	}()
	got, err := io.ReadAll(s)
	if werr := <-errc; werr != nil {
		_ = s.Reset()
		return nil, werr
	}
	if err != nil {
		_ = s.Reset()
		return nil, err
	}
	_ = s.Close()
	if !bytes.Equal(got, data) {
		return nil, errors.New("echo: got different bytes back")
	}
	return s, nil
}

const (
	tcp4  = "/ip4/127.0.0.1/tcp/0"
	quic4 = "/ip4/127.0.0.1/udp/0/quic-v1"
)

var defaultSecurityID = map[string]string{SecurityTLS: "/tls/1.0.0", SecurityNoise: "/noise"}[DefaultSecurity]

func TestConnectAndStream(t *testing.T) {
	tests := []struct {
		name         string
		security     string
		listen       []string
		wantSecurity string
		wantQUIC     bool
	}{
		{"tls-tcp", SecurityTLS, []string{tcp4}, "/tls/1.0.0", false},
		{"noise-tcp", SecurityNoise, []string{tcp4}, "/noise", false},
		{"default-tcp", "", []string{tcp4}, defaultSecurityID, false},
		{"quic", "", []string{quic4}, "", true},
		// With both, TCP is preferred: it is the faster path (see doc.go).
		{"tcp-and-quic", "", []string{quic4, tcp4}, defaultSecurityID, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestHost(t, tt.security, tt.listen...)
			b := newTestHost(t, tt.security, tt.listen...)
			b.SetStreamHandler(echoProto, echo)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: DialAddrs(b)}); err != nil {
				t.Fatalf("connect: %v", err)
			}
			data := make([]byte, 1<<20)
			rand.Read(data)
			s, err := roundTrip(ctx, a, b.ID(), data)
			if err != nil {
				t.Fatalf("stream: %v", err)
			}
			st := s.Conn().ConnState()
			if got := string(st.Security); !tt.wantQUIC && got != tt.wantSecurity {
				t.Errorf("security: got %q, want %q", got, tt.wantSecurity)
			}
			if got := st.Transport; (got == "quic-v1") != tt.wantQUIC {
				t.Errorf("transport: got %q, want quic %v", got, tt.wantQUIC)
			}
			if got, want := s.Conn().RemotePeer(), b.ID(); got != want {
				t.Errorf("remote peer: got %s, want %s", got, want)
			}
		})
	}
}

func TestIdentityPersists(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home") // does not exist yet
	var ids []peer.ID
	for range 2 {
		h, err := NewHost(context.Background(), Config{Home: home, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, h.ID())
		if err := h.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if ids[0] != ids[1] {
		t.Errorf("peer ID after restart: got %s, want %s", ids[1], ids[0])
	}
	sk, err := LoadIdentity(home)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := peer.IDFromPrivateKey(sk); err != nil || got != ids[0] {
		t.Errorf("LoadIdentity: got %s (%v), want %s", got, err, ids[0])
	}
	if sk.Type() != crypto.Ed25519 {
		t.Errorf("key type: got %s, want Ed25519", sk.Type())
	}
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(filepath.Join(home, IdentityFile))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("key file mode: got %04o, want 0600", got)
		}
	}
	if entries, _ := os.ReadDir(home); len(entries) != 1 {
		t.Errorf("home after creating the identity: got %d entries, want only %s", len(entries), IdentityFile)
	}
}

func TestIdentityConcurrentFirstUse(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	const n = 8
	keys := make(chan crypto.PrivKey, n)
	errs := make(chan error, n)
	for range n {
		go func() {
			sk, err := LoadIdentity(home)
			keys <- sk
			errs <- err
		}()
	}
	var first crypto.PrivKey
	for range n {
		sk, err := <-keys, <-errs
		if err != nil {
			t.Fatalf("LoadIdentity: %v", err)
		}
		if first == nil {
			first = sk
		} else if !sk.Equals(first) {
			t.Errorf("concurrent first use: got two different keys, want one")
		}
	}
	if entries, _ := os.ReadDir(home); len(entries) != 1 {
		t.Errorf("home: got %d entries, want only %s", len(entries), IdentityFile)
	}
}

func TestIdentityRejectsBadFiles(t *testing.T) {
	secp, _, err := crypto.GenerateSecp256k1Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	secpRaw, err := crypto.MarshalPrivateKey(secp)
	if err != nil {
		t.Fatal(err)
	}
	ed, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edRaw, err := crypto.MarshalPrivateKey(ed)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		content []byte
		mode    os.FileMode
		wantErr error // nil: any error
		ok      bool
	}{
		{"valid", edRaw, 0o600, nil, true},
		{"garbage", []byte("not a key"), 0o600, nil, false},
		{"empty", nil, 0o600, nil, false},
		{"secp256k1", secpRaw, 0o600, nil, false},
		{"too large", bytes.Repeat([]byte{1}, 8<<10), 0o600, nil, false},
	}
	if runtime.GOOS != "windows" {
		tests = append(tests, struct {
			name    string
			content []byte
			mode    os.FileMode
			wantErr error
			ok      bool
		}{"world readable", edRaw, 0o644, ErrIdentityPermissions, false})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := t.TempDir()
			path := filepath.Join(home, IdentityFile)
			if err := os.WriteFile(path, tt.content, tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			sk, err := LoadIdentity(home)
			if tt.ok {
				if err != nil || !sk.Equals(ed) {
					t.Fatalf("LoadIdentity: got %v, want the stored key", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("LoadIdentity: got no error, want one")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("LoadIdentity: got %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestNewHostRejectsUnknownSecurity(t *testing.T) {
	_, err := NewHost(context.Background(), Config{Home: t.TempDir(), Security: "plaintext"})
	if err == nil {
		t.Fatal("NewHost with security \"plaintext\": got no error, want one")
	}
}

func FuzzParseIdentity(f *testing.F) {
	ed, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	edRaw, _ := crypto.MarshalPrivateKey(ed)
	secp, _, _ := crypto.GenerateSecp256k1Key(rand.Reader)
	secpRaw, _ := crypto.MarshalPrivateKey(secp)
	f.Add(edRaw)
	f.Add(secpRaw)
	f.Add([]byte{})
	f.Add([]byte{0x08, 0x01, 0x12, 0x40})
	f.Fuzz(func(t *testing.T, raw []byte) {
		sk, err := parseIdentity(raw)
		if err != nil {
			return
		}
		again, err := crypto.MarshalPrivateKey(sk)
		if err != nil {
			t.Fatalf("marshal a parsed key: %v", err)
		}
		sk2, err := parseIdentity(again)
		if err != nil {
			t.Fatalf("parse a marshalled key: %v", err)
		}
		if !sk.Equals(sk2) {
			t.Fatalf("round trip: got a different key")
		}
	})
}

func TestAdvertised(t *testing.T) {
	for _, tt := range []struct {
		addr string
		want bool
	}{
		{"/ip4/1.2.3.4/tcp/4001", true},
		{"/ip4/8.8.8.8/udp/4001/quic-v1", true},
		{"/ip6/2001:4860:4860::8888/tcp/4001", true},
		{"/ip4/127.0.0.1/tcp/4001", false},
		{"/ip6/::1/tcp/4001", false},
		{"/ip4/192.168.1.20/tcp/4001", false},
		{"/ip4/10.0.0.5/udp/4001/quic-v1", false},
		{"/ip4/172.16.3.4/tcp/4001", false},
		{"/ip4/100.64.0.9/tcp/4001", false}, // CGNAT
		{"/ip4/169.254.1.1/tcp/4001", false},
		{"/ip6/fe80::1/tcp/4001", false},
		{"/ip6/fd00::1/tcp/4001", false},
		{"/ip4/0.0.0.0/tcp/4001", false},
	} {
		got := Advertised([]ma.Multiaddr{ma.StringCast(tt.addr)})
		if (len(got) == 1) != tt.want {
			t.Errorf("Advertised(%s) = %v, want advertised=%v", tt.addr, got, tt.want)
		}
	}
}

// A host advertises none of its loopback addresses; DialAddrs still lists
// them for the user.
func TestHostAdvertisesNoPrivateAddrs(t *testing.T) {
	h := newTestHost(t, "", "/ip4/127.0.0.1/tcp/0")
	if got := h.Addrs(); len(got) != 0 {
		t.Errorf("h.Addrs() = %v, want none advertised", got)
	}
	if got := DialAddrs(h); len(got) == 0 {
		t.Errorf("DialAddrs = %v, want the loopback listener", got)
	}
}
