package ferry

import "github.com/ferryhq/ferry/transfer"

// TransferProtocol is the libp2p protocol ID of the chunk transfer; the
// protocol (spec, messages, both sides) is package transfer's.
const TransferProtocol = transfer.Protocol

// Report is what a receiver tells the sender after it committed and
// verified (transfer's Done message): both sides then show the same
// figures.
type Report = transfer.Report
