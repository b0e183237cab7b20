package transfer

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/ferryhq/ferry/internal/wire"
)

// Protocol is the libp2p protocol ID of the transfer (spec in the package
// doc, "Transfer protocol"): version 2, which adds early media to version
// 1. The daemon opens and accepts its streams; this package speaks it on
// any io.ReadWriter.
const Protocol = "/ferry/transfer/2"

// ProtocolV1 is the first version, without early media: a sender still
// serves it, and a receiver falls back to it, for a device with an older
// Ferry.
const ProtocolV1 = "/ferry/transfer/1"

// Message types, each one internal/wire frame.
const (
	msgGetManifest wire.Type = 0x01 // client: empty
	msgGetChunk    wire.Type = 0x02 // client: uvarint(index)
	msgDone        wire.Type = 0x03 // client: JSON Report
	msgGetMedia    wire.Type = 0x04 // client, version 2: empty
	msgGetPiece    wire.Type = 0x05 // client, version 2: hash || uvarint(offset)
	msgManifest    wire.Type = 0x81 // server: the manifest's encoding
	msgChunk       wire.Type = 0x82 // server: uvarint(index) || stored bytes
	msgAck         wire.Type = 0x83 // server: empty
	msgMedia       wire.Type = 0x84 // server, version 2: the early media list
	msgPiece       wire.Type = 0x85 // server, version 2: a media piece's bytes
)

// Codes of an Error answer (wire.Error: code || message): why the sender
// refused.
const (
	CodeInternal    byte = 1 // the sender failed; the receiver may retry
	CodeNotTrusted  byte = 2 // the receiver's peer ID is not a paired device
	CodeNoSession   byte = 3 // nothing is being sent right now
	CodeBadRequest  byte = 4 // the request made no sense (index out of range, ...)
	CodeNotReceiver byte = 5 // the receiver is paired, but the send is for another device
)

// Report is what a receiver tells the sender (Done) after it committed and
// verified: both sides then show the same figures.
type Report struct {
	Messages     int64  `json:"messages"`
	Attachments  int64  `json:"attachments"`
	Bytes        int64  `json:"bytes"` // fetched in this run
	SourceDigest string `json:"source_digest"`
	TargetDigest string `json:"target_digest"`
	// The receiving device, as the sender's trust store names it (its peer
	// ID authenticated by the connection), or as it names itself.
	Receiver   string `json:"receiver,omitempty"`
	ReceiverID string `json:"receiver_id,omitempty"`
}

// putIndex encodes a chunk index.
func putIndex(i uint64) []byte { return binary.AppendUvarint(nil, i) }

// index decodes a chunk index at the start of body and returns the rest.
func index(body []byte) (uint64, []byte, error) {
	i, k := binary.Uvarint(body)
	if k <= 0 {
		return 0, nil, wire.ErrMalformed
	}
	return i, body[k:], nil
}

// answer reads one answer frame and turns an Error message into an error.
func answer(r *wire.Reader, want wire.Type) ([]byte, error) {
	typ, body, err := r.Next()
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read answer: %w", err)
	}
	if typ == wire.Error {
		return nil, wire.ParseError(body)
	}
	if typ != want {
		return nil, fmt.Errorf("answer type %#x, want %#x: %w", typ, want, wire.ErrMalformed)
	}
	return body, nil
}
