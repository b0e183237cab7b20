// Package daemon runs Ferry's long-lived service: the libp2p host, discovery,
// send and receive sessions, and the local control API.
//
// # Transfer protocol (/ferry/transfer/1)
//
// Only peers in the trust store may open it. The receiver drives: on one
// stream it asks for the manifest (GetManifest → Manifest), then on several
// streams in parallel it asks for each chunk it lacks (GetChunk i → Chunk i
// data), verifying every chunk against the manifest before staging it, and
// after it has committed and checked the digest it sends Done with its report
// and waits for Ack. Framing is package internal/wire.
package daemon
