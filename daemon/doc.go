// Package daemon runs Ferry's long-lived service: the libp2p host, discovery,
// send and receive sessions, the local control API, and the web app.
//
// The control API (control.go, on a Unix socket) and the web app (web.go, on
// loopback HTTP, with the page embedded from webui/) are two handler tables
// over the same API; the web app reads the history through chatstore's
// queries, as ferry history does. Its guard, the rules every request passes
// before a handler (token, Host, Origin, CSP), is web_guard.go. A ferry: URI
// (uri.go) carries a code and the sender's addresses, for the QR code of a
// send and for a receiver where local discovery does not work.
//
// # Who a send serves
//
// A send session serves one device, its receiver, and nobody else: a
// transfer stream from any other peer is refused before a byte of history is
// read (CodeNotTrusted for a device that is not paired, CodeNotReceiver for a
// paired one), so no other device gets the manifest or a chunk, and none can
// end the session: only the receiver's Done does. The receiver is chosen
// once:
//
//   - With SendRequest.To (ferry send --to NAME): the paired device the user
//     named (its name, or the start of its peer ID; an unknown or ambiguous
//     name is an error that lists the paired devices). No code is shown and
//     none is accepted.
//   - Otherwise: the device that pairs with this session's code. A device
//     paired before that holds the code pairs again: the code the user read
//     out is the consent, whoever asks.
//   - Or, if it asks before anyone paired: the receiver of the last send from
//     this home, if that send did not end with its Done (it was killed, cut
//     off or stopped) and chose it less than 24 hours ago. home/sending.json
//     (SendRecordFile) names it from the moment a send chooses its receiver
//     until that receiver's Done. This is how a sender killed and started
//     again with the same command lets the receiver that was waiting for it,
//     or that runs ferry receive again, continue without a code; once it is
//     back, the code is void.
//
// A paired device that asks a send for someone else is refused, and told to
// give the code or ask for a send to it by name (ErrNotReceiver); a receiver
// that holds a code and is refused pairs with it and asks again. The sender's
// events name the receiver once it is chosen (EventReceiver) and every device
// refused (EventRefused); its report names the receiver as its trust store
// does (Report.Receiver, ReceiverID), whatever the receiver's Done claims.
//
// # Transfer protocol (/ferry/transfer/1)
//
// Only the send's receiver is served (see above): handleTransfer decides,
// and refuses anyone else with transfer.Refuse before a byte of history is
// read. The protocol itself (spec, messages, the serving side
// transfer.Serve and the receiving side transfer.PeerSource with
// transfer.Pull) is package transfer's.
package daemon
