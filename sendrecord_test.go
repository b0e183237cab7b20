package ferry

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// The record of an unfinished send is frozen by testdata/sending-v1.json.
func TestSendRecordFormat(t *testing.T) {
	id, err := peer.Decode("12D3KooWLRqyGjTUVjKtvCZ7Jj3udmhc5Rq6zz7BN2xUUW5kfS8v")
	if err != nil {
		t.Fatal(err)
	}
	want := sendRecord{Version: 1, Receiver: id, Since: time.Date(2026, 12, 6, 15, 4, 5, 0, time.UTC)}
	b, err := os.ReadFile(filepath.Join("testdata", "sending-v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseSendRecord(b)
	if err != nil || *got != want {
		t.Fatalf("parse: %+v, %v; want %+v", got, err, want)
	}
	enc, err := want.marshal()
	if err != nil || string(enc) != string(b) {
		t.Errorf("marshal:\n%s\nwant\n%s", enc, b)
	}
	for _, bad := range []string{
		`{}`,
		`{"version":2,"receiver":"` + id.String() + `","since":"2026-12-06T15:04:05Z"}`,
		`{"version":1,"receiver":"nope","since":"2026-12-06T15:04:05Z"}`,
		`{"version":1,"receiver":"","since":"2026-12-06T15:04:05Z"}`,
		`{"version":1,"receiver":"` + id.String() + `","since":"2026-12-06T15:04:05Z","extra":1}`,
		`{"version":1,"receiver":"` + id.String() + `","since":"2026-12-06T15:04:05Z"} {}`,
		`[`,
	} {
		if _, err := parseSendRecord([]byte(bad)); err == nil {
			t.Errorf("parsed %s", bad)
		}
	}
}

func TestSendRecordAllows(t *testing.T) {
	r := &sendRecord{Version: 1, Receiver: "a-peer", Since: time.Date(2026, 12, 6, 15, 4, 5, 0, time.UTC)}
	for _, tt := range []struct {
		id   peer.ID
		at   time.Duration
		want bool
	}{
		{"a-peer", 0, true},
		{"a-peer", resumeWindow - time.Second, true},
		{"a-peer", resumeWindow, false},
		{"a-peer", -time.Hour, false}, // a clock set back
		{"another", time.Minute, false},
		{"", time.Minute, false},
	} {
		if got := r.allows(tt.id, r.Since.Add(tt.at)); got != tt.want {
			t.Errorf("allows(%q, Since%+v) = %v, want %v", tt.id, tt.at, got, tt.want)
		}
	}
	if (*sendRecord)(nil).allows("a-peer", r.Since) {
		t.Error("no record allows a device")
	}
}

func TestSendRecordFile(t *testing.T) {
	home := t.TempDir()
	id, other := newPeerID(t), newPeerID(t)
	if r, err := readSendRecord(home); r != nil || err != nil {
		t.Fatalf("no file: %+v, %v; want nothing", r, err)
	}
	now := time.Date(2026, 12, 6, 15, 4, 5, 600, time.UTC)
	if err := writeSendRecord(home, id, now); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(home, SendRecordFile)); err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("record file mode %v (%v), want private", fi.Mode(), err)
	}
	if r, err := readSendRecord(home); err != nil || r.Receiver != id || !r.Since.Equal(now.Truncate(time.Second)) {
		t.Errorf("read back %+v, %v", r, err)
	}
	if err := clearSendRecord(home, other); err != nil {
		t.Fatal(err)
	}
	if r, _ := readSendRecord(home); r == nil {
		t.Error("clearing for another device removed the record")
	}
	if err := clearSendRecord(home, id); err != nil {
		t.Fatal(err)
	}
	if r, err := readSendRecord(home); r != nil || err != nil {
		t.Errorf("after clearing: %+v, %v; want nothing", r, err)
	}
	// A record that does not parse is an error to read, and is cleared.
	if err := os.WriteFile(filepath.Join(home, SendRecordFile), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r, err := readSendRecord(home); r != nil || err == nil {
		t.Errorf("corrupt record: %+v, %v; want an error", r, err)
	}
	if err := clearSendRecord(home, id); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(home, SendRecordFile)); !os.IsNotExist(err) {
		t.Errorf("corrupt record still there after clearing (%v)", err)
	}
}

func newPeerID(t *testing.T) peer.ID {
	t.Helper()
	_, pub, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// FuzzParseSendRecord: whatever parses survives a round trip.
func FuzzParseSendRecord(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "sending-v1.json")); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"version":1,"receiver":"x","since":"0001-01-01T00:00:00Z"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseSendRecord(b)
		if err != nil {
			return
		}
		enc, err := r.marshal()
		if err != nil {
			t.Fatalf("marshal %+v: %v", r, err)
		}
		r2, err := parseSendRecord(enc)
		if err != nil || r2.Receiver != r.Receiver || !r2.Since.Equal(r.Since) {
			t.Fatalf("round trip of %s: %+v, %v; want %+v", enc, r2, err, r)
		}
	})
}
