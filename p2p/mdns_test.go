package p2p

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/netns"
	"github.com/libp2p/go-libp2p/core/peer"
)

// helperEnv switches the test binary into a helper process that runs inside
// a network namespace (see TestHelperProcess).
const helperEnv = "FERRY_P2P_HELPER"

// TestHelperProcess is not a real test. Re-executed inside a namespace with
// helperEnv set, it plays one side of the mDNS test:
//
//	advertise: start a host with default listen addresses (checking that
//	           IPv6 got the IPv4 ports), serve echoProto,
//	           Advertise FERRY_P2P_NP, print "ready <peer ID>", and stop
//	           advertising and exit 0 when stdin closes.
//	find:      Find FERRY_P2P_NP (or FindFunc for peer FERRY_P2P_PEER when
//	           set) within FERRY_P2P_TIMEOUT, then dial the peer
//	           and echo 1 MiB over a stream; print "found <µs to match> <peer
//	           ID> <transport>", or "notfound <ms>" for ErrNotFound; "error: …" and exit 1
//	           otherwise.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		t.Skip("helper process only")
	}
	if err := runHelper(mode, os.Getenv("FERRY_P2P_NP"), os.Getenv("FERRY_P2P_TIMEOUT")); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func runHelper(mode, np, timeout string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	home, err := os.MkdirTemp("", "ferry-p2p-helper-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(home)
	h, err := NewHost(ctx, Config{Home: home})
	if err != nil {
		return err
	}
	defer h.Close()

	switch mode {
	case "advertise":
		li, err := hostListenInfo(h)
		if err != nil {
			return err
		}
		if li.anyV6 && li.tcp6Port != li.tcpPort {
			return fmt.Errorf("default listeners: IPv6 TCP port %d, want the IPv4 one, %d", li.tcp6Port, li.tcpPort)
		}
		h.SetStreamHandler(echoProto, echo)
		stop, err := Advertise(ctx, h, np)
		if err != nil {
			return err
		}
		fmt.Println("ready", h.ID())
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop()
		stop() // idempotent
		return nil
	case "find":
		d, err := time.ParseDuration(timeout)
		if err != nil {
			return err
		}
		start := time.Now()
		var info peer.AddrInfo
		if want := os.Getenv("FERRY_P2P_PEER"); want != "" {
			info, err = FindFunc(ctx, func(_ string, id peer.ID) bool { return id.String() == want }, d)
		} else {
			info, err = Find(ctx, np, d)
		}
		elapsed := time.Since(start)
		if errors.Is(err, ErrNotFound) {
			fmt.Println("notfound", elapsed.Milliseconds())
			return nil
		}
		if err != nil {
			return err
		}
		if err := h.Connect(ctx, info); err != nil {
			return fmt.Errorf("connect to %v: %w", info, err)
		}
		data := make([]byte, 1<<20)
		rand.Read(data)
		s, err := roundTrip(ctx, h, info.ID, data)
		if err != nil {
			return fmt.Errorf("echo: %w", err)
		}
		fmt.Println("found", elapsed.Microseconds(), info.ID, s.Conn().ConnState().Transport)
		return nil
	}
	return fmt.Errorf("unknown helper mode %q", mode)
}

func p2pHelper(ctx context.Context, t *testing.T, n *netns.NS, env ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := n.Command(ctx, exe, "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	return cmd
}

// TestMDNSAcrossNamespaces advertises in one namespace and finds from
// another on the same bridge, then dials and exchanges bytes; a wrong
// nameplate, or the right one from another network, is not found.
func TestMDNSAcrossNamespaces(t *testing.T) {
	lab := netns.New(t)
	lan := lab.Bridge("lan")
	sender := lab.Host("sender", lan)
	receiver := lab.Host("receiver", lan)
	elsewhere := lab.Host("elsewhere", lab.Bridge("other"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	adv := p2pHelper(ctx, t, sender, helperEnv+"=advertise", "FERRY_P2P_NP=42")
	stdin, err := adv.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := adv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sender.Start(adv); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	senderID, ok := strings.CutPrefix(strings.TrimSpace(line), "ready ")
	if !ok {
		_ = adv.Wait()
		t.Fatalf("advertiser: got %q, want ready <peer ID>", line)
	}
	if _, err := peer.Decode(senderID); err != nil {
		t.Fatalf("advertiser peer ID %q: %v", senderID, err)
	}

	tests := []struct {
		name    string
		from    *netns.NS
		np      string
		peer    string // FindFunc by peer ID instead of Find by nameplate
		timeout time.Duration
		want    string
	}{
		{"right nameplate", receiver, "42", "", 5 * time.Second, "found"},
		{"wrong nameplate", receiver, "43", "", time.Second, "notfound"},
		{"other network", elsewhere, "42", "", time.Second, "notfound"},
		{"paired peer by ID", receiver, "", senderID, 5 * time.Second, "found"},
		{"unknown peer ID", receiver, "", testPeerID(t).String(), time.Second, "notfound"},
	}
	// The finders run in parallel; the group returns when all are done.
	t.Run("find", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				find := p2pHelper(ctx, t, tt.from, helperEnv+"=find", "FERRY_P2P_NP="+tt.np, "FERRY_P2P_TIMEOUT="+tt.timeout.String(), "FERRY_P2P_PEER="+tt.peer)
				out, err := find.Output()
				if err != nil {
					t.Fatalf("finder: %v: %s", err, out)
				}
				f := strings.Fields(string(out))
				if len(f) < 2 || f[0] != tt.want {
					t.Fatalf("finder: got %q, want %s", out, tt.want)
				}
				n, err := strconv.ParseInt(f[1], 10, 64)
				if err != nil {
					t.Fatalf("finder: got %q: %v", out, err)
				}
				switch tt.want {
				case "found":
					if len(f) != 4 || f[2] != senderID || f[3] != "tcp" {
						t.Errorf("finder: got %q, want found <µs> %s tcp", out, senderID)
					}
					took := time.Duration(n) * time.Microsecond
					t.Logf("Find start to match: %v", took)
					if took >= time.Second {
						t.Errorf("Find start to match: got %v, want under 1s", took)
					}
				case "notfound":
					took := time.Duration(n) * time.Millisecond
					if took < tt.timeout || took > tt.timeout+time.Second {
						t.Errorf("not found after %v, want about the %v timeout", took, tt.timeout)
					}
				}
			})
		}
	})

	// Closing stdin stops the advertiser, which must exit cleanly.
	if err := stdin.Close(); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(stdout)
	if err := adv.Wait(); err != nil {
		t.Errorf("advertiser exit: %v: %s", err, rest)
	}
}
