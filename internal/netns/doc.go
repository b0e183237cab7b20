// Package netns builds throwaway Linux network namespaces for tests: hosts
// wired to bridges, with commands run inside them through `ip netns exec`.
//
// It is test support only. Everything it creates carries a per-run unique
// prefix (fy<pid>x<random>-), lives in namespaces that the harness owns, and
// is deleted by t.Cleanup whether the test passes or fails; processes it
// started are killed by PID first. Nothing is created in the root namespace.
//
// Layout: a Lab owns one "switch" namespace holding every bridge. Each host
// namespace gets one veth pair per bridge it joins (eth0, eth1, … inside the
// host, the peer end enslaved to the bridge inside the switch namespace), an
// IPv4 address 10.99.<bridge>.<host>/24, lo up, and a route for 224.0.0.0/4
// on its first link so that mDNS works (lo has no MULTICAST flag). IP
// forwarding stays off everywhere, so a host joined to two bridges (a
// "router") does not route between them: hosts on different bridges cannot
// reach each other except through a program running on such a host.
//
// It needs root and iproute2's `ip` (CI installs it with
// `apt-get install -y iproute2`); Available skips the test otherwise.
package netns
