package ferry

import "github.com/ferryhq/ferry/transfer"

// TransferProtocol is the libp2p protocol ID of the chunk transfer; the
// protocol (spec, messages, both sides) is package transfer's.
const TransferProtocol = transfer.Protocol

// TransferProtocolV1 is the transfer's first version (no early media),
// still served for a receiver with an older Ferry.
const TransferProtocolV1 = transfer.ProtocolV1

// Report is what a receiver tells the sender after it committed and
// verified (transfer's Done message): both sides then show the same
// figures.
type Report = transfer.Report
