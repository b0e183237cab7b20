package mobile

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ferryhq/ferry"
	"github.com/ferryhq/ferry/p2p"
	"github.com/ferryhq/ferry/pairing"
)

// TestMigrateWithAppDiscovery: two mobile devices on loopback, Ferry's own
// mDNS off; "the app's discovery" hands the service the sender says to
// advertise to the receiver, which dials it and receives the whole history:
// its digest is the sender's, and the events came as JSON.
func TestMigrateWithAppDiscovery(t *testing.T) {
	oldHome := seeded(t, t.TempDir(), 1)
	old := newDevice(t, oldHome, "old phone")
	phone := newDevice(t, filepath.Join(t.TempDir(), "new"), "new phone")
	src := stats(t, old)

	var sent, got recorder
	send, err := old.Send(`{"code_words":2}`, &sent)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	code, err := pairing.ParseCode(send.Code())
	if err != nil {
		t.Fatalf("the send's code %q: %v", send.Code(), err)
	}
	if !strings.HasPrefix(send.Link(), "ferry:") || !strings.Contains(send.Link(), "127.0.0.1") {
		t.Errorf("Link = %q: want a ferry: link at the app's address 127.0.0.1", send.Link())
	}

	// What the app registers with its platform's DNS-SD: the records
	// Ferry's mDNS would send.
	var svc service
	if err := json.Unmarshal([]byte(send.Service()), &svc); err != nil {
		t.Fatalf("Service %q: %v", send.Service(), err)
	}
	st, _ := old.Status()
	var status ferry.Status
	json.Unmarshal([]byte(st), &status)
	if svc.Type != p2p.ServiceType || svc.Instance != status.PeerID || svc.Port == 0 ||
		!slices.Equal(svc.Addresses, []string{"127.0.0.1"}) ||
		svc.TXT["v"] != "1" || svc.TXT["np"] != strconv.Itoa(int(code.Nameplate)) || svc.TXT["id"] != status.PeerID {
		t.Errorf("Service = %+v: want type %s, instance and id %s, a port, address 127.0.0.1, np %d",
			svc, p2p.ServiceType, status.PeerID, code.Nameplate)
	}

	// The app's browser on the new phone found and resolved it.
	if err := phone.ServiceFound(send.Service()); err != nil {
		t.Fatalf("ServiceFound: %v", err)
	}
	recv, err := phone.Receive(send.Code(), "", &got)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	resJSON, err := wait(t, recv)
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	var res ferry.Result
	if err := json.Unmarshal([]byte(resJSON), &res); err != nil {
		t.Fatalf("result %q: %v", resJSON, err)
	}
	sentJSON, err := wait(t, send)
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	var sres ferry.Result
	json.Unmarshal([]byte(sentJSON), &sres)

	dst := stats(t, phone)
	if dst.Digest != src.Digest || res.Target.Digest != src.Digest || sres.Target.Digest != src.Digest {
		t.Errorf("digests: receiver %s (its result %s, the sender's %s), want the sender's %s",
			dst.Digest, res.Target.Digest, sres.Target.Digest, src.Digest)
	}
	if dst.Messages != src.Messages || src.Messages == 0 {
		t.Errorf("messages: got %d, want %d", dst.Messages, src.Messages)
	}

	sent.checkJSON(t, "sender")
	got.checkJSON(t, "receiver")
	if e, ok := sent.first(ferry.EventCode); !ok || e.Code != send.Code() || e.Link != send.Link() {
		t.Errorf("the sender's code event %+v: want code %s and link %s", e, send.Code(), send.Link())
	}
	for _, k := range []ferry.EventKind{ferry.EventPaired, ferry.EventProgress, ferry.EventDone} {
		if !slices.Contains(got.kinds(), k) {
			t.Errorf("the receiver's events %v lack %q", got.kinds(), k)
		}
	}
	if !slices.Contains(sent.kinds(), ferry.EventDone) {
		t.Errorf("the sender's events %v lack %q", sent.kinds(), ferry.EventDone)
	}
	if !recv.Done() || recv.Err() != nil || send.Err() != nil {
		t.Errorf("after the end: Done %v, Err %v and %v", recv.Done(), recv.Err(), send.Err())
	}
}

// TestFakeServiceGetsNothing: a device on the network that advertises a
// service with the receiver's nameplate but does not know the code (here a
// real sender with a code of its own) cannot make the receiver take its
// history: pairing fails, and the receiver says so with a sentence and a
// code, its home empty. Handed the real sender's service too, the receiver
// goes on to it and receives the real history.
func TestFakeServiceGetsNothing(t *testing.T) {
	real := newDevice(t, seeded(t, t.TempDir(), 1), "old phone")
	fake := newDevice(t, seeded(t, t.TempDir(), 2), "stranger")

	send, err := real.Send("", nil)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	code, _ := pairing.ParseCode(send.Code())
	fakeCode := code
	for slices.Equal(fakeCode.Words, code.Words) {
		c, err := pairing.NewCode(2)
		if err != nil {
			t.Fatal(err)
		}
		fakeCode.Words = c.Words
	}
	var fakeEvents recorder
	fakeSend, err := fake.Send(`{"code":"`+fakeCode.String()+`"}`, &fakeEvents)
	if err != nil {
		t.Fatalf("fake Send: %v", err)
	}
	defer fakeSend.Cancel()

	// Only the fake is found: nothing is received, and the error says why.
	victim := newDevice(t, filepath.Join(t.TempDir(), "victim"), "victim", 2)
	if err := victim.ServiceFound(fakeSend.Service()); err != nil {
		t.Fatalf("ServiceFound: %v", err)
	}
	op, err := victim.Receive(send.Code(), "", nil)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	_, err = wait(t, op)
	if err == nil {
		t.Fatal("receive from a device without the code: no error")
	}
	f := failureOf(t, err)
	if f.Code != string(ferry.CodeCodeMismatch) || op.Err() == nil || op.Err().Code != f.Code {
		t.Errorf("failure %q (code %q, Err %v): want code %s", f.Error(), f.Code, op.Err(), ferry.CodeCodeMismatch)
	}
	var fj ferry.Error
	if err := json.Unmarshal([]byte(f.JSON()), &fj); err != nil || fj.Code != ferry.CodeCodeMismatch || fj.Sentence != f.Sentence {
		t.Errorf("Failure.JSON = %s (%v)", f.JSON(), err)
	}
	noHistory(t, victim)
	if _, ok := fakeEvents.first(ferry.EventPairFailed); !ok {
		t.Errorf("the fake sender's events %v: want its failed pairing", fakeEvents.kinds())
	}

	// The fake is found first, then the real sender: the receiver moves on.
	phone := newDevice(t, filepath.Join(t.TempDir(), "new"), "new phone")
	for _, s := range []string{fakeSend.Service(), send.Service()} {
		if err := phone.ServiceFound(s); err != nil {
			t.Fatalf("ServiceFound: %v", err)
		}
	}
	op, err = phone.Receive(send.Code(), "", nil)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	if _, err := wait(t, op); err != nil {
		t.Fatalf("receive with the fake found first: %v", err)
	}
	if got, want := stats(t, phone).Digest, stats(t, real).Digest; got != want {
		t.Errorf("digest %s, want the real sender's %s", got, want)
	}
}

// TestCancel: Cancel ends a receive that waits for its sender, and a send
// that waits for its receiver, with a Failure that says so; Stop ends what
// still runs.
func TestCancel(t *testing.T) {
	phone := newDevice(t, filepath.Join(t.TempDir(), "new"), "new phone")
	op, err := phone.Receive("7-apple-river", "", nil)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	op.Cancel()
	_, err = wait(t, op)
	if f := failureOf(t, err); f.Code != string(ferry.CodeInterrupted) {
		t.Errorf("cancelled receive: %q (code %q), want code %s", f.Error(), f.Code, ferry.CodeInterrupted)
	}

	old := newDevice(t, seeded(t, t.TempDir(), 1), "old phone")
	send, err := old.Send("", nil)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	send.Cancel()
	if _, err := wait(t, send); err == nil {
		t.Error("cancelled send: no error")
	} else if f := failureOf(t, err); f.Code != string(ferry.CodeInterrupted) {
		t.Errorf("cancelled send: %q (code %q), want code %s", f.Error(), f.Code, ferry.CodeInterrupted)
	}

	send, err = old.Send("", nil)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if err := old.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if !send.Done() || send.Err() == nil {
		t.Errorf("after Stop: Done %v, Err %v; want the send ended with a Failure", send.Done(), send.Err())
	}
}

// TestBadInput: what the app passes wrong is refused at once, with a
// sentence and a code, and changes nothing.
func TestBadInput(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	for _, cfg := range []string{"", "{", `{"home":""}`, `{"home":"x","colour":"red"}`, `{"home":"x","addresses":["router"]}`,
		`{"home":"x","listen":["10.0.0.1","10.0.0.2"]}`, `{"home":"x"} {}`} {
		_, err := NewDevice(cfg)
		if err == nil {
			t.Errorf("NewDevice(%q): no error", cfg)
			continue
		}
		if f := failureOf(t, err); f.Code != CodeBadInput {
			t.Errorf("NewDevice(%q): code %q, want %s", cfg, f.Code, CodeBadInput)
		}
	}
	d := newDevice(t, home, "phone")
	cases := []struct {
		name string
		err  func() error
		code string
	}{
		{"receive a typo", func() error { _, err := d.Receive("7 apple", "", nil); return err }, string(ferry.CodeBadCode)},
		{"receive options", func() error { _, err := d.Receive("", `{"relay":1}`, nil); return err }, CodeBadInput},
		{"send options", func() error { _, err := d.Send(`{"words":3}`, nil); return err }, CodeBadInput},
		{"restore key", func() error { _, err := d.Restore("", "1234 5678", nil, nil); return err }, string(ferry.CodeBadRecoveryKey)},
		{"service JSON", func() error { return d.ServiceFound("not json") }, CodeBadInput},
		{"service type", func() error {
			return d.ServiceFound(`{"instance":"x","type":"_http._tcp","port":80,"addresses":["127.0.0.1"],"txt":{}}`)
		}, CodeBadInput},
		{"service TXT", func() error {
			return d.ServiceFound(`{"instance":"x","type":"_ferry._tcp","port":80,"addresses":["127.0.0.1"],"txt":{"v":"1","np":"7","id":"nope"}}`)
		}, CodeBadInput},
	}
	for _, c := range cases {
		err := c.err()
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if f := failureOf(t, err); f.Code != c.code {
			t.Errorf("%s: %q, code %q, want %s", c.name, f.Error(), f.Code, c.code)
		}
	}
	if _, err := filepath.Glob(filepath.Join(home, "*")); err != nil {
		t.Fatal(err)
	}
	if m, _ := filepath.Glob(filepath.Join(home, "*")); len(m) != 0 {
		t.Errorf("refused calls wrote %v", m)
	}
}

// TestReceiveByLink: the send's ferry: link (its QR code) carries the
// addresses the app gave, so a receiver given it needs no discovery at all.
func TestReceiveByLink(t *testing.T) {
	old := newDevice(t, seeded(t, t.TempDir(), 5), "old phone")
	send, err := old.Send("", nil)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	u, err := ferry.ParseURI(send.Link())
	if err != nil || len(u.Peers) == 0 {
		t.Fatalf("link %q: %v, %d peers", send.Link(), err, len(u.Peers))
	}
	for _, p := range u.Peers {
		if !strings.HasPrefix(p, "/ip4/127.0.0.1/") {
			t.Errorf("link address %s: want only the app's address 127.0.0.1", p)
		}
	}
	phone := newDevice(t, filepath.Join(t.TempDir(), "new"), "new phone")
	op, err := phone.Receive(send.Link(), "", nil)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	if _, err := wait(t, op); err != nil {
		t.Fatalf("receive by link: %v", err)
	}
	if got, want := stats(t, phone).Digest, stats(t, old).Digest; got != want {
		t.Errorf("digest %s, want %s", got, want)
	}
}
