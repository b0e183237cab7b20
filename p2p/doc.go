// Package p2p gives a Ferry device its libp2p host and finds other devices
// on the local network.
//
// # Host
//
// NewHost starts a libp2p host whose Ed25519 identity is kept in
// <home>/identity.key (libp2p's protobuf PrivateKey encoding, mode 0600,
// created on first use), so the peer ID that paired devices pin survives
// restarts. Transports are TCP and QUIC; streams are yamux over TLS 1.3 or
// Noise on TCP, QUIC's own TLS 1.3 on QUIC. libp2p's resource manager is on,
// with its default limits; the connection manager keeps 16–48 connections
// (sessions protect theirs). The relay transport is enabled so that
// /p2p-circuit addresses can be dialled.
//
// Defaults were chosen by BenchmarkStreamThroughput (one stream, 256 MiB per
// op, two hosts on loopback, 2 shared cores, go-libp2p v0.51.0):
//
//	tls-tcp     1120–1290 MB/s
//	noise-tcp    660– 905 MB/s
//	tls-quic     320– 405 MB/s
//
// So TLS is offered first (Noise is the fallback), and when a peer offers
// both TCP and QUIC, TCP is dialled first and QUIC 250 ms later, the reverse
// of libp2p's default ranking.
//
// What the host tells other peers about its own addresses (libp2p identify,
// its pushes and the signed peer record) is its public addresses only
// (Advertised): none of its loopback, LAN, CGNAT or link-local addresses
// reaches any peer that way, paired or not. Devices find each other by mDNS,
// by an address the user gives or through a relay; DialAddrs is what the
// host can be dialled at.
//
// # Finding the other device
//
// Discover is the one call behind which a receiver finds its sender and
// connects to it (discover.go): at the addresses it was given (a ferry:
// link), through a relay's rendezvous by the code's nameplate (with mDNS
// on the side, which wins when it answers within a second), or by mDNS
// alone; without a nameplate, any device the caller knows (a paired one)
// that is sending. The pieces it is made of (Find, Claim, DialViaRelay,
// ...) stay exported for the sender's side and for reconnects.
//
// # Discovery wire format (mDNS / DNS-SD, RFC 6762 and 6763)
//
// A sender advertises one instance of service type _ferry._tcp in domain
// local. on every up, multicast-capable, non-loopback interface:
//
//	instance  <peer ID>._ferry._tcp.local.
//	SRV       target <lower-cased peer ID>.local., port = the host's TCP port
//	A/AAAA    the interfaces' addresses on which the host listens
//	          (IPv6 link-local addresses are left out: a record cannot
//	          carry their zone)
//	TXT       v=1             format version; other versions are ignored
//	          np=<nameplate>  1–32 ASCII letters and digits, the first part
//	                          of the code, picking this session among others
//	          id=<peer ID>    the sender's libp2p peer ID (base58)
//	          quic=<port>     optional: the host's QUIC (UDP) port
//
// TXT keys are case-insensitive; only the first occurrence of a key counts;
// unknown keys and empty keys are ignored (RFC 6763 section 6). An entry
// lacking v, np or id, or with a bad value for any of them, is skipped.
//
// The receiver browses _ferry._tcp.local. and stops at the first entry whose
// np equals its nameplate; it dials id at <each address>/tcp/<SRV port>
// (and /udp/<quic>/quic-v1). The id is not trusted by itself: libp2p's
// handshake proves the peer holds that key, and pairing binds both peer IDs.
// If nothing matches within the timeout, Find returns ErrNotFound, whose
// text names the likely causes and the fix (a relay).
//
// An app that does this discovery with its platform's own DNS-SD API
// (package mobile) uses Service: NewService is the instance a sender's app
// registers, the records above at the addresses the app gives (no list of
// interfaces asked of the system), and Service.Sender reads what a
// receiver's app found with the checks above.
package p2p
