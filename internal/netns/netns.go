package netns

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Available skips the test, with a sentence saying why, unless this process
// can create network namespaces: Linux, root, iproute2's `ip` on PATH, and a
// probe namespace that can really be added and deleted.
func Available(t testing.TB) {
	t.Helper()
	if err := probe(); err != nil {
		t.Skipf("network namespace tests skipped: %v", err)
	}
}

func probe() error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("network namespaces need Linux (this is %s)", runtime.GOOS)
	}
	if os.Geteuid() != 0 {
		return errors.New("network namespaces need root (run the tests as root, e.g. in CI)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return errors.New("the `ip` command (iproute2) is not installed; CI must `apt-get install -y iproute2`")
	}
	name := newPrefix() + "probe"
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return fmt.Errorf("cannot create a network namespace: ip netns add: %v: %s", err, strings.TrimSpace(string(out)))
	}
	if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
		return fmt.Errorf("cannot delete a network namespace: ip netns del %s: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// A Lab is one test's set of namespaces and bridges. Create it with New; it
// is torn down by t.Cleanup.
type Lab struct {
	t      testing.TB
	prefix string // fy<pid>x<random>-
	sw     string // the switch namespace that owns every bridge

	mu       sync.Mutex // guards the fields below
	bridges  []*Bridge
	hosts    []*NS
	started  []*exec.Cmd
	nextHost int
}

// A Bridge is one L2 segment (a Linux bridge in the lab's switch namespace).
type Bridge struct {
	Name   string       // as given to Lab.Bridge, e.g. "net1"
	Subnet netip.Prefix // 10.99.<n>.0/24
	dev    string
}

// An NS is one host: a network namespace with a link on each bridge it
// joined.
type NS struct {
	Name  string // the namespace name, unique to this run
	lab   *Lab
	addrs map[*Bridge]netip.Addr
	links map[*Bridge]string
}

// New returns an empty lab (no bridges, no hosts), or skips the test when
// namespaces are not available. Everything the lab creates is deleted when
// the test ends, pass or fail.
func New(t testing.TB) *Lab {
	t.Helper()
	Available(t)
	sweepStale()
	l := &Lab{t: t, prefix: newPrefix(), nextHost: 1}
	l.sw = l.prefix + "sw"
	t.Cleanup(l.cleanup)
	l.ip("netns", "add", l.sw)
	l.ip("-n", l.sw, "link", "set", "lo", "up")
	return l
}

// Bridge adds a new bridge with its own /24.
func (l *Lab) Bridge(name string) *Bridge {
	l.t.Helper()
	l.mu.Lock()
	idx := len(l.bridges) + 1
	if idx > 250 {
		l.mu.Unlock()
		l.t.Fatalf("netns: too many bridges")
	}
	b := &Bridge{
		Name:   name,
		Subnet: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 99, byte(idx), 0}), 24),
		dev:    "br" + strconv.Itoa(idx),
	}
	l.bridges = append(l.bridges, b)
	l.mu.Unlock()

	l.ip("-n", l.sw, "link", "add", b.dev, "type", "bridge", "forward_delay", "0", "mcast_snooping", "0")
	l.ip("-n", l.sw, "link", "set", b.dev, "up")
	return b
}

// Host adds a namespace joined to each of the given bridges, in order: the
// link to bridges[i] is eth<i> inside it. With two or more bridges it is a
// "router" that can reach every segment but forwards nothing between them.
func (l *Lab) Host(name string, bridges ...*Bridge) *NS {
	l.t.Helper()
	l.mu.Lock()
	hostIdx := l.nextHost
	l.nextHost++
	if hostIdx > 250 {
		l.mu.Unlock()
		l.t.Fatalf("netns: too many hosts")
	}
	n := &NS{
		Name:  l.prefix + name,
		lab:   l,
		addrs: make(map[*Bridge]netip.Addr),
		links: make(map[*Bridge]string),
	}
	l.hosts = append(l.hosts, n)
	l.mu.Unlock()

	l.ip("netns", "add", n.Name)
	l.ip("-n", n.Name, "link", "set", "lo", "up")
	for i, b := range bridges {
		link := "eth" + strconv.Itoa(i)
		peer := fmt.Sprintf("h%db%d", hostIdx, i)
		sub := b.Subnet.Addr().As4()
		addr := netip.AddrFrom4([4]byte{sub[0], sub[1], sub[2], byte(hostIdx)})
		l.ip("-n", l.sw, "link", "add", peer, "type", "veth", "peer", "name", link, "netns", n.Name)
		l.ip("-n", l.sw, "link", "set", peer, "master", b.dev)
		l.ip("-n", l.sw, "link", "set", peer, "up")
		l.ip("-n", n.Name, "addr", "add", netip.PrefixFrom(addr, 24).String(), "dev", link)
		l.ip("-n", n.Name, "link", "set", link, "up")
		// mDNS needs a multicast route; one per link, the first preferred.
		l.ip("-n", n.Name, "route", "add", "224.0.0.0/4", "dev", link, "metric", strconv.Itoa(i))
		n.addrs[b] = addr
		n.links[b] = link
	}
	return n
}

// Addr is the host's IPv4 address on bridge b (the zero Addr if it has no
// link there).
func (n *NS) Addr(b *Bridge) netip.Addr { return n.addrs[b] }

// Link is the name of the host's interface on bridge b, e.g. "eth0".
func (n *NS) Link(b *Bridge) string { return n.links[b] }

// Command returns an unstarted command that runs name with args inside the
// namespace (through `ip netns exec`, which execs it, so the PID is the
// program's own). The caller may set Env, Stdin, Stdout, … before starting
// it, preferably with Start so that it is killed at cleanup.
func (n *NS) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	if ctx == nil {
		ctx = context.Background()
	}
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
	setProcessGroup(cmd)
	return cmd
}

// Start starts cmd (from Command) and arranges for its process group to be
// killed, by PID, when the test ends. The caller still owns cmd.Wait.
func (n *NS) Start(cmd *exec.Cmd) error {
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("netns: start in %s: %w", n.Name, err)
	}
	n.lab.mu.Lock()
	n.lab.started = append(n.lab.started, cmd)
	n.lab.mu.Unlock()
	return nil
}

// Run runs name with args inside the namespace and returns its combined
// output.
func (n *NS) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := n.Command(ctx, name, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("netns: %s in %s: %w: %s", name, n.Name, err, strings.TrimSpace(string(out)))
	}
	return out, nil
}

// ip runs `ip args...` and fails the test if it fails.
func (l *Lab) ip(args ...string) {
	l.t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		l.t.Fatalf("netns: ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
}

func (l *Lab) cleanup() {
	l.mu.Lock()
	started, hosts := l.started, l.hosts
	l.started, l.hosts = nil, nil
	l.mu.Unlock()

	for _, cmd := range started {
		if cmd.Process != nil {
			killProcessGroup(cmd.Process.Pid)
		}
	}
	for _, n := range hosts {
		if out, err := exec.Command("ip", "netns", "del", n.Name).CombinedOutput(); err != nil {
			l.t.Errorf("netns cleanup: ip netns del %s: %v: %s", n.Name, err, out)
		}
	}
	// Deleting the switch namespace deletes the bridges and the veth peers.
	if out, err := exec.Command("ip", "netns", "del", l.sw).CombinedOutput(); err != nil {
		l.t.Errorf("netns cleanup: ip netns del %s: %v: %s", l.sw, err, out)
	}
}

// newPrefix returns fy<pid>x<6 hex>-, unique to this run.
func newPrefix() string {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return fmt.Sprintf("fy%dx%s-", os.Getpid(), hex.EncodeToString(b[:]))
}

var stalePattern = regexp.MustCompile(`^fy([0-9]+)x[0-9a-f]{6}-`)

// sweepStale deletes namespaces that a killed test run of this harness left
// behind: names of our exact pattern whose creating process is gone.
func sweepStale() {
	entries, err := os.ReadDir("/run/netns")
	if err != nil {
		return
	}
	for _, e := range entries {
		m := stalePattern.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		if _, err := os.Stat("/proc/" + m[1]); err == nil {
			continue // its owner still runs
		}
		_ = exec.Command("ip", "netns", "del", e.Name()).Run()
	}
}
