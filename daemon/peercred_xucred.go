//go:build darwin || freebsd

package daemon

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// checkPeer refuses a control connection unless the process at the other end
// runs as our uid (LOCAL_PEERCRED, what getpeereid uses).
func checkPeer(c *net.UnixConn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("peer credentials: %w", err)
	}
	var (
		cred *unix.Xucred
		gerr error
	)
	if err := raw.Control(func(fd uintptr) {
		cred, gerr = unix.GetsockoptXucred(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
	}); err != nil {
		return fmt.Errorf("peer credentials: %w", err)
	}
	if gerr != nil {
		return fmt.Errorf("peer credentials: getsockopt LOCAL_PEERCRED: %w", gerr)
	}
	if want := os.Getuid(); int(cred.Uid) != want {
		return fmt.Errorf("peer runs as uid %d, not %d", cred.Uid, want)
	}
	return nil
}
