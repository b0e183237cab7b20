// Package relay is the Ferry relay server: it lets two devices that cannot
// reach each other find each other by code and move their (end-to-end
// encrypted) bytes through it.
//
// # Circuit relay
//
// A Server runs a libp2p host (TCP and QUIC; TLS 1.3 or Noise) with the
// circuit relay v2 service. Senders reserve a slot and are then reachable at
// <relay addr>/p2p/<relay>/p2p-circuit/p2p/<sender>; receivers reserve one
// too before they claim a code (see Rendezvous rules for who may open a
// circuit to whom). libp2p's defaults
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
//	                          (before the receiver reserved a slot too)
//
// On one machine a relayed byte costs three AEAD passes each way (end to
// end, and each hop's own TLS) against one, on the same two cores; so
// loopback shows the CPU cost, not what a relay on its own machine and
// network delivers.
//
// # Rendezvous wire format (/ferry/rendezvous/2)
//
// One request and one response per libp2p stream. The client writes the
// request and closes its side for writing; the relay reads until then (at
// most MaxRequestLen+1 bytes, 10 s), answers, and closes the stream.
// Integers are big-endian.
//
//	request:  op        u8   1 register, 2 claim (look up), 3 unregister
//	          len       u8   1..32
//	          nameplate len bytes, ASCII letters and digits
//	          nallow    u8   0..16; 0 unless op is register
//	          nallow times:
//	            idlen   u8   1..64
//	            peer    idlen bytes, a binary peer ID (multihash), each
//	                    at most once: peers the sender lets reach it
//	                    through the relay without claiming (its paired
//	                    devices)
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
// bytes, trailing bytes, an allow-list outside a register or naming a peer
// twice, a peer ID in a failure, relay addresses without a peer ID) is
// malformed. Statuses:
//
//	0 ok              1 malformed        2 unknown nameplate
//	3 expired         4 claims full      5 in use by another sender
//	6 rate-limited    7 no reservation   8 unavailable (store down, full)
//	9 limit (the caller or its address holds as many as allowed)
//
// Version 1 had no allow-list and no status 9; it is not served.
//
// # Rendezvous rules
//
// Register binds nameplate → the stream's authenticated remote peer, which
// must hold a relay reservation. It waits Config.RendezvousTTL (default
// 10 minutes) for claims. While it is held (waiting, and for a TTL after
// each new claim) no other peer can register that nameplate (in use); its
// own sender may register it again, which renews it and replaces its
// allow-list but keeps its claims. One peer holds at most
// Config.MaxNameplatesPerPeer (default 4) registrations at once, one
// address (an IPv4 address, an IPv6 /56) at most MaxReservationsPerIP
// (status 9 beyond).
//
// Claim, by a peer that holds a relay reservation, returns the sender's peer
// ID and the addresses of the relay process it registered with
// (Config.Announce, or its listen addresses). Up to Config.MaxClaims
// (default 3, the sender's pairing attempts) peers may claim one
// nameplate, at most MaxClaims-1 of them from one address, so that one
// address cannot take every claim; later ones hear "claims full". Each
// claimer dials the sender and pairing decides which one had the code. A
// claimer may claim again (a receiver that restarted), which extends
// nothing. One peer holds at most Config.MaxClaimsPerPeer (default 4)
// claims at once, one address at most MaxReservationsPerIP. An expired
// registration answers "expired" for one more TTL, then "unknown".
// Unregister forgets the caller's own registration.
//
// Circuits: while a peer's registration is remembered (held or expired),
// the relay opens a relayed connection to it only from the peers that
// claimed that nameplate and those on its allow-list; circuits to a peer
// that registered nothing are open to every peer, as libp2p's relay has
// them. When the store cannot answer, the circuit is refused.
//
// Requests are rate-limited per source address and per peer ID (token
// buckets: Config.IPRate and PeerRate), across every relay process that
// shares the store.
//
// # State
//
// Rendezvous state lives in memory, or with Config.Redis in Redis so that
// several relay processes behind one name share it. Each nameplate is one
// hash, ferry:rv:<nameplate>, with fields p (sender peer ID, base58), i
// (its address), r (its relay process's addresses), e (end of the hold,
// ms), a:<peer> for each allowed peer and k:<peer> = <address> for each
// claimer, dropped by Redis' own key TTL a TTL after the hold ends. Sets
// ferry:rvh:r:<owner> and ferry:rvh:c:<owner> name the nameplates an owner
// (p:<peer ID> or ip:<address>) registered or claimed; they are hints,
// checked against the hashes whenever they are counted. Rate buckets are
// ferry:rl:<owner> (GCRA: the time at which the bucket is full again).
// Every operation is one Lua script, so that register, claim and the
// circuit check are atomic across relays; the scripts read hashes named by
// the sets, so the relays need one Redis server (not a Redis Cluster), and
// all of them the same version of Ferry. Relay slots themselves belong to
// the relay process a peer is connected to; that is why a claim names the
// relay process to dial the sender through, which may be another one than
// the process answering, and why a peer reserves a slot on the process it
// registers or claims with. Each process needs its own identity (DataDir)
// and addresses that clients can reach (Config.Announce).
//
// # Health and metrics
//
// With Config.Metrics, an HTTP server answers GET /healthz (200 when the
// rendezvous store answers) and GET /metrics (Prometheus): ferry_relay_sessions
// (relayed connections open), ferry_relay_bytes_total, ferry_relay_reservations,
// ferry_relay_refusals_total{reason}, ferry_relay_rendezvous_ops_total{op,status},
// plus Go and process metrics.
package relay
