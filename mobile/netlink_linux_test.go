package mobile

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ferryhq/ferry"
)

// androidEnv marks the child process of TestWithoutNetlink.
const androidEnv = "FERRY_MOBILE_NO_NETLINK_CHILD"

// TestWithoutNetlink: as on Android 11 and later, where apps may not use
// netlink and Go's net.Interfaces and net.InterfaceAddrs fail, a migration
// between two mobile devices that are given their addresses and use the
// app's discovery works. The test runs itself again as a child process
// that a seccomp filter refuses every netlink socket (EACCES, as Android's
// SELinux policy does), checks that net.Interfaces fails there, and
// migrates; as a control, a send that relies on Ferry's own mDNS cannot
// advertise there (it finds no interface), which is what the addresses and
// the app's discovery are for.
func TestWithoutNetlink(t *testing.T) {
	if os.Getenv(androidEnv) != "" {
		withoutNetlink(t)
		return
	}
	if _, ok := auditArch[runtime.GOARCH]; !ok {
		t.Skipf("no seccomp filter written for %s", runtime.GOARCH)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestWithoutNetlink$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), androidEnv+"=1", "FERRY_MOBILE_TMP="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if strings.Contains(string(out), "SKIP: no seccomp") {
		t.Skipf("the child could not refuse netlink:\n%s", out)
	}
	if err != nil || !strings.Contains(string(out), "migrated without netlink") {
		t.Fatalf("the child without netlink: %v\n%s", err, out)
	}
}

// withoutNetlink is the child's part.
func withoutNetlink(t *testing.T) {
	if err := refuseNetlink(); err != nil {
		t.Skipf("no seccomp filter: %v", err)
	}
	// Nothing below may run with netlink: above all not the control
	// send's mDNS, which would otherwise announce on the real network.
	if ifs, err := net.Interfaces(); err == nil {
		t.Fatalf("net.Interfaces works under the filter (%d interfaces): refusing to go on", len(ifs))
	}
	if _, err := net.InterfaceAddrs(); err == nil {
		t.Fatal("net.InterfaceAddrs works under the filter: refusing to go on")
	}
	dir := os.Getenv("FERRY_MOBILE_TMP")
	for _, d := range []string{"old", "plain"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}

	old := newDevice(t, seeded(t, filepath.Join(dir, "old"), 1), "old phone")
	phone := newDevice(t, filepath.Join(dir, "new"), "new phone")
	send, err := old.Send("", nil)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if err := phone.ServiceFound(send.Service()); err != nil {
		t.Fatalf("ServiceFound: %v", err)
	}
	op, err := phone.Receive(send.Code(), "", nil)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	if _, err := wait(t, op); err != nil {
		t.Fatalf("receive: %v", err)
	}
	if _, err := wait(t, send); err != nil {
		t.Fatalf("send: %v", err)
	}
	if got, want := stats(t, phone).Digest, stats(t, old).Digest; got != want {
		t.Fatalf("digest %s, want %s", got, want)
	}
	fmt.Println("migrated without netlink")

	// The control: Ferry's own mDNS, without the app's addresses.
	cfg, _ := json.Marshal(map[string]any{"home": seeded(t, filepath.Join(dir, "plain"), 4), "name": "plain phone",
		"listen": []string{"127.0.0.1"}})
	plain, err := NewDevice(string(cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Stop()
	var ev recorder
	s, err := plain.Send("", &ev)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	defer s.Cancel()
	e, ok := ev.waitFor(func(e ferry.Event) bool { return e.Kind == ferry.EventWaiting })
	if !ok || !strings.Contains(e.Message, "cannot advertise") {
		t.Errorf("a send on Ferry's own mDNS without netlink: %q, want that it cannot advertise", e.Message)
	}
}

// auditArch is the seccomp architecture of each GOARCH this test filters.
var auditArch = map[string]uint32{"amd64": unix.AUDIT_ARCH_X86_64, "arm64": unix.AUDIT_ARCH_AARCH64}

// refuseNetlink makes socket(AF_NETLINK, …) fail with EACCES in every
// thread of this process, from now on.
func refuseNetlink() error {
	arch, ok := auditArch[runtime.GOARCH]
	if !ok {
		return fmt.Errorf("no filter for %s", runtime.GOARCH)
	}
	const (
		offNr   = 0  // seccomp_data.nr
		offArch = 4  // seccomp_data.arch
		offArg0 = 16 // seccomp_data.args[0], low half (little-endian)
	)
	ld := func(off uint32) unix.SockFilter {
		return unix.SockFilter{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: off}
	}
	jeq := func(k uint32, jt, jf uint8) unix.SockFilter {
		return unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: k, Jt: jt, Jf: jf}
	}
	ret := func(k uint32) unix.SockFilter { return unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: k} }
	prog := []unix.SockFilter{
		ld(offArch),
		jeq(arch, 0, 4), // another architecture: ALLOW
		ld(offNr),
		jeq(unix.SYS_SOCKET, 0, 2), // another call: ALLOW
		ld(offArg0),
		jeq(unix.AF_NETLINK, 1, 0), // netlink: ERRNO, else ALLOW
		ret(unix.SECCOMP_RET_ALLOW),
		ret(unix.SECCOMP_RET_ERRNO | uint32(unix.EACCES)),
	}
	fp := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	if _, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fp))); errno != 0 {
		return fmt.Errorf("seccomp: %w", errno)
	}
	runtime.KeepAlive(prog)
	return nil
}
