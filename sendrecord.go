package ferry

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ferryhq/ferry/internal/atomicfile"
	"github.com/ferryhq/ferry/internal/strictjson"
)

// SendRecordFile, in the home, names the device that the last send from this
// home was serving, until that device reports that it committed the history:
// a send started again after a kill lets that device in without a code.
const SendRecordFile = "sending.json"

// resumeWindow is how long an unfinished send's receiver stays allowed
// without a code.
const resumeWindow = 24 * time.Hour

const sendRecordVersion = 1

// sendRecord is SendRecordFile (testdata/sending-v1.json):
//
//	{"version":1,"receiver":"<peer ID>","since":"<RFC 3339 time, UTC>"}
type sendRecord struct {
	Version  int       `json:"version"`
	Receiver peer.ID   `json:"receiver"`
	Since    time.Time `json:"since"` // when that send chose its receiver
}

// allows reports whether the record lets id in at now.
func (r *sendRecord) allows(id peer.ID, now time.Time) bool {
	return r != nil && id != "" && id == r.Receiver && !now.Before(r.Since) && now.Sub(r.Since) < resumeWindow
}

func (r sendRecord) marshal() ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// parseSendRecord reads a record strictly: known version, known fields, a
// valid peer ID.
func parseSendRecord(b []byte) (*sendRecord, error) {
	var r sendRecord
	if err := strictjson.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("parse send record: %w", err)
	}
	if r.Version != sendRecordVersion {
		return nil, fmt.Errorf("parse send record: version %d, want %d", r.Version, sendRecordVersion)
	}
	if err := r.Receiver.Validate(); err != nil {
		return nil, fmt.Errorf("parse send record: receiver: %w", err)
	}
	return &r, nil
}

// readSendRecord reads home's record; nil if there is none. A record that
// does not parse is reported and otherwise ignored: it can only let a device
// in, so ignoring it fails safe.
func readSendRecord(home string) (*sendRecord, error) {
	b, err := os.ReadFile(filepath.Join(home, SendRecordFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read send record: %w", err)
	}
	return parseSendRecord(b)
}

// writeSendRecord records that a send from home serves id since now.
func writeSendRecord(home string, id peer.ID, now time.Time) error {
	b, err := sendRecord{Version: sendRecordVersion, Receiver: id, Since: now.UTC().Truncate(time.Second)}.marshal()
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(home, SendRecordFile), b, 0o600); err != nil {
		return fmt.Errorf("write send record: %w", err)
	}
	return nil
}

// clearSendRecord removes home's record if it names id: that device has
// finished.
func clearSendRecord(home string, id peer.ID) error {
	r, err := readSendRecord(home)
	if r == nil && err == nil || r != nil && r.Receiver != id {
		return nil
	}
	// A record that does not parse goes too.
	if err := os.Remove(filepath.Join(home, SendRecordFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("clear send record: %w", err)
	}
	return nil
}
