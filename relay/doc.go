// Package relay is the Ferry relay server: it lets two devices that cannot
// reach each other find each other by code and move their (end-to-end
// encrypted) bytes through it.
//
// # Circuit relay
//
// A Server runs a libp2p host (TCP and QUIC; TLS 1.3 or Noise) with the
// circuit relay v2 service. Senders reserve a slot and are then reachable at
// <relay addr>/p2p/<relay>/p2p-circuit/p2p/<sender>. libp2p's defaults
// (128 KiB and 2 minutes per relayed connection, meant for hole-punch
// coordination only) are replaced by Config.CircuitData and
// Config.CircuitDuration (defaults 256 GiB per direction, 24 hours).
// Memory is bounded twice. Each stream's yamux receive window on the relay
// is capped at Config.StreamWindow (default 2 MiB), so a relayed session
// buffers at most about 2×StreamWindow + 2×BufferSize on the relay, about
// 2.1 MiB when data flows one way; and the resource manager grants Config.MaxMemory in all and
// MaxCircuits×StreamWindow + 1 MiB per peer. Config.MaxReservations slots
// (Config.MaxReservationsPerIP per source IP), Config.MaxCircuits relayed
// connections per peer. The relay only ever sees the two devices'
// encrypted libp2p streams.
//
// # Figures
//
// Measured on 2 shared cores (load 6–9), go-libp2p v0.51.0, everything on
// loopback (go test -bench 'Relay' ./relay/):
//
//	BenchmarkRelayThroughput  one stream, 64 MiB per op:
//	                          direct 940–1150 MB/s, relayed 350–420 MB/s
//	                          (0.31–0.42 of direct)
//	BenchmarkRelaySessions    100 concurrent sessions × 10 MiB, relay in its
//	                          own process: RSS +110 KiB per idle session,
//	                          +360–400 KiB per busy session at peak; relay
//	                          CPU 1.6–1.7 ms per MiB relayed
//	BenchmarkRendezvous       fresh hosts: reserve, register, claim, dial
//	                          through the relay, one round trip: 8.0–8.5 ms
//
// On one machine a relayed byte costs three AEAD passes each way (end to
// end, and each hop's own TLS) against one, on the same two cores; so
// loopback shows the CPU cost, not what a relay on its own machine and
// network delivers.
//
// # Rendezvous wire format (/ferry/rendezvous/1)
//
// One request and one response per libp2p stream. The client writes the
// request and closes its side for writing; the relay reads until then (at
// most MaxRequestLen+1 bytes, 10 s), answers, and closes the stream.
// Integers are big-endian.
//
//	request:  op        u8   1 register, 2 claim (look up), 3 unregister
//	          len       u8   1..32
//	          nameplate len bytes, ASCII letters and digits
//
//	response: status    u8   see below
//	          seconds   u32  register OK: lifetime of the registration;
//	                         rate-limited: wait before retrying; else 0
//	          idlen     u8   0, or 1..64 in a successful claim
//	          peer      idlen bytes, the sender's binary peer ID (multihash)
//	          nrelay    u8   0, or 0..8 in a successful claim
//	          nrelay times:
//	            alen    u8   1..255
//	            addr    alen bytes, a binary multiaddr (canonical) of the
//	                    relay process holding the sender's slot, ending
//	                    in /p2p/<that relay's ID>
//	          msglen    u8   0..255
//	          message   msglen bytes, UTF-8 without control characters,
//	                    a hint for logs; clients map the status instead
//
// Anything else (unknown op or status, a length that disagrees with the
// bytes, trailing bytes, a peer ID in a failure, relay addresses without a
// peer ID) is malformed. Statuses:
//
//	0 ok              1 malformed        2 unknown nameplate
//	3 expired         4 already claimed  5 in use by another sender
//	6 rate-limited    7 no reservation   8 unavailable (store down, full)
//
// Register binds nameplate → the stream's authenticated remote peer, which
// must hold a relay reservation. It waits Config.RendezvousTTL (default
// 10 minutes) for a claim. While it waits, and for another TTL after it has
// been claimed, no other peer can register that nameplate (in use); its own
// sender may register it again, which starts it over. Claim returns the
// sender's peer ID and the addresses of the relay process it registered
// with (Config.Announce, or its listen addresses), once: later claims by
// other peers hear "claimed", while the claiming peer itself may claim again
// (a receiver that restarted). An expired
// registration answers "expired" for one more TTL, then "unknown".
// Unregister forgets the caller's own registration. Requests are
// rate-limited per peer ID and per source IP (token buckets: Config.PeerRate
// and IPRate), in each relay process.
//
// # State
//
// Rendezvous state lives in memory, or with Config.Redis in Redis so that
// several relay processes behind one name share it: one hash per nameplate
// (ferry:rv:<nameplate>: p peer ID, r relay addresses, c claimed, k claimer,
// e deadline in ms) changed only
// by Lua scripts, so that register and claim are atomic across relays, and
// dropped by Redis' own key TTL. Relay slots themselves belong to the relay
// process a sender is connected to; that is why a claim names the relay
// process to dial the sender through, which may be another one than the
// process answering. Each process needs its own identity (DataDir) and
// addresses that clients can reach (Config.Announce).
//
// # Health and metrics
//
// With Config.Metrics, an HTTP server answers GET /healthz (200 when the
// rendezvous store answers) and GET /metrics (Prometheus): ferry_relay_sessions
// (relayed connections open), ferry_relay_bytes_total, ferry_relay_reservations,
// ferry_relay_refusals_total{reason}, ferry_relay_rendezvous_ops_total{op,status},
// plus Go and process metrics.
package relay
