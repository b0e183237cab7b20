// Package ferry moves a person's chat history from one device to another,
// end to end encrypted: directly over the local network, through a relay,
// as an encrypted archive, or as an encrypted backup on a relay. It is the
// one API the ferry command, ferry daemon (package daemon), the web app and
// apps all stand on.
//
// A Device is one device's Ferry: its history home and, once started, its
// libp2p host. It is usable with only Home set:
//
//	d := &ferry.Device{Home: dir}
//	defer d.Close()
//	s, err := d.Send(ctx, ferry.SendOptions{})      // on the old device: s.Code(), s.Link()
//	res, err := d.Receive(ctx, code, ferry.ReceiveOptions{}) // on the new one
//	key, err := d.Export(ctx, w, ferry.ExportOptions{})
//	res, err := d.Import(ctx, r, key)
//	b, err := d.Backup(ctx, ferry.BackupOptions{Relay: addr})
//	res, err := d.Restore(ctx, ferry.RestoreOptions{Relay: addr, Key: b.Key})
//
// # Events
//
// Progress reaches the caller as Events: on Sending.Events for a send, to
// the Events callback of the options for every other call (one at a time,
// in order). They are the same events the CLI renders and the daemon
// streams.
//
// # Errors
//
// Every failure a user can cause or act on is an *Error (or wraps one): a
// sentence, an optional hint, and whether doing the same again resumes
// (Resumable is true exactly when it does: a migration into a home that
// kept what it verified, a backup whose pieces reached the relay, a send
// whose receiver was chosen). Its Code is stable; no text names a flag of
// the ferry command, which renders the errors with its own words.
//
// # Sessions
//
// Send and Receive run sessions (session.go: their states, typed, with
// their transitions drawn in a comment). A receiver finds the sender by
// discovery (package p2p: mDNS, the relay's rendezvous, or the addresses a
// ferry: link holds), pairs with the code (package pairing), and pulls the
// history over the transfer protocol below. A dropped connection is
// retried, and what was verified is kept: the pull continues where it
// stopped.
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
//   - With SendOptions.To (ferry send --to NAME): the paired device the user
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
// # Transfer protocol (/ferry/transfer/2, and /1 for an older Ferry)
//
// Only the send's receiver is served (see above): handleTransfer decides,
// and refuses anyone else with transfer.Refuse before a byte of history is
// read. The protocol itself (spec, messages, the serving side
// transfer.ServeWith and the receiving side transfer.PeerSource with
// transfer.Pull) is package transfer's. A send lists its history's media
// when it starts and serves them at once (transfer.EarlyMedia), while its
// snapshot is made; a receive that has nothing to ask its user first
// (ReceiveOptions.Confirm nil, or confirmed in an earlier attempt) fetches
// them while it waits for the manifest (transfer.Prefetch), so the first
// bytes move within a second of the devices connecting, whatever the size
// of the history. A receive that asks first starts after the answer, as
// before.
package ferry
