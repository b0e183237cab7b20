package daemon

import "net"

// checkPeer accepts every connection: Windows has no uid to compare and x/sys
// exposes no peer-credential option for AF_UNIX. The socket file inherits the
// ACL of the home directory, which is then the only barrier; keep the home
// private to its user.
func checkPeer(*net.UnixConn) error { return nil }
