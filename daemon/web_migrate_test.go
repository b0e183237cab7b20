package daemon

import (
	"bytes"
	"context"
	"github.com/ferryhq/ferry"
	"image/png"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"rsc.io/qr"

	"github.com/ferryhq/ferry/chatstore"
)

// TestWebSendReceive migrates a history between two devices through their
// web apps, as two pages would: a send shows a code and a ferry: link, the
// receiver is given the link (no mDNS here), sees the offer, accepts, and
// both see the result with equal digests; the receiving app then shows the
// history it did not have.
func TestWebSendReceive(t *testing.T) {
	old := startUIDevice(t, "old phone", uiHome(t, 1500, 2<<20, true))
	neu := startUIDevice(t, "new phone", uiHome(t, 0, 0, false))
	oldEvents, newEvents := old.events(t), neu.events(t)

	var send webJob
	res := old.request(t, http.MethodPost, "/api/send", webSendRequest{}, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("POST /api/send: %s %s", res.Status, res.body)
	}
	mustJSON(t, res.body, &send)
	send = oldEvents.until(t, send.ID, "a code and a link", func(j webJob) bool { return j.Code != "" && j.Link != "" })
	if !strings.HasPrefix(send.Link, "ferry:"+send.Code+"?peer=/ip4/127.0.0.1/tcp/") {
		t.Errorf("link %q: want the code and the sender's loopback address", send.Link)
	}
	u, err := ferry.ParseURI(send.Link)
	if err != nil || len(u.Peers) == 0 || !strings.HasSuffix(u.Peers[0], "/p2p/"+old.peerID(t)) {
		t.Errorf("link %q: %+v %v", send.Link, u, err)
	}
	checkQR(t, old, send)

	var recv webJob
	res = neu.request(t, http.MethodPost, "/api/receive", webReceiveRequest{Code: send.Link}, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("POST /api/receive: %s %s", res.Status, res.body)
	}
	mustJSON(t, res.body, &recv)
	recv = newEvents.until(t, recv.ID, "the offer", func(j webJob) bool { return j.Confirm })
	if recv.Offer == nil || recv.Offer.Device != "old phone" || recv.Offer.Messages != 1506 || recv.State != jobOffer {
		t.Errorf("offer: %+v in %+v", recv.Offer, recv)
	}
	if res := neu.request(t, http.MethodPost, "/api/jobs/"+recv.ID+"/confirm", confirmRequest{}, nil); res.StatusCode != http.StatusBadRequest {
		t.Errorf("confirm without an answer: %s", res.Status)
	}
	yes := true
	if res := neu.request(t, http.MethodPost, "/api/jobs/"+recv.ID+"/confirm", confirmRequest{Accept: &yes}, nil); res.StatusCode != http.StatusNoContent {
		t.Fatalf("confirm: %s %s", res.Status, res.body)
	}
	if res := neu.request(t, http.MethodPost, "/api/jobs/"+recv.ID+"/confirm", confirmRequest{Accept: &yes}, nil); res.StatusCode != http.StatusConflict {
		t.Errorf("a second answer: %s", res.Status)
	}
	done := func(j webJob) bool { return j.Ended && j.State == jobDone }
	recv = newEvents.until(t, recv.ID, "the end", done)
	send = oldEvents.until(t, send.ID, "the end", done)
	for _, j := range []webJob{recv, send} {
		if !j.Verified || j.Report == nil || j.Report.SourceDigest != j.Report.TargetDigest || j.Report.Messages != 1506 {
			t.Errorf("%s: verified %v, report %+v", j.Kind, j.Verified, j.Report)
		}
		if j.Progress == nil || j.Progress.Done != j.Progress.Total || j.Progress.Total == 0 {
			t.Errorf("%s: progress %+v, want all of it", j.Kind, j.Progress)
		}
	}
	if recv.Path == "" {
		t.Errorf("the receiver does not say which path the bytes took")
	}
	if send.Receiver == nil || send.Receiver.Name != "new phone" || send.Report.Receiver != "new phone" {
		t.Errorf("the send does not name its receiver: %+v, report %+v", send.Receiver, send.Report)
	}
	// The receiving app opens the history that arrived in place of none.
	var convs []webConversation
	neu.getJSON(t, "/api/conversations", &convs)
	var oldConvs []webConversation
	old.getJSON(t, "/api/conversations", &oldConvs)
	if len(convs) == 0 || len(convs) != len(oldConvs) {
		t.Errorf("after the migration the new device lists %d conversations, the old %d", len(convs), len(oldConvs))
	}
	if a, b := stats(t, old.home), stats(t, neu.home); a.Digest != b.Digest || b.Digest != recv.Report.TargetDigest {
		t.Errorf("digests: old %s, new %s, reported %s", a.Digest, b.Digest, recv.Report.TargetDigest)
	}
	var found webSearch
	neu.getJSON(t, "/api/search?q=onerror", &found)
	if len(found.Hits) != 1 {
		t.Errorf("searching the migrated history: %d hits", len(found.Hits))
	}
}

// TestWebCancelAndDecline: a send cancelled from the page ends as
// cancelled; an offer declined ends the receive with nothing received.
func TestWebCancelAndDecline(t *testing.T) {
	old := startUIDevice(t, "old phone", uiHome(t, 300, 0, false))
	neu := startUIDevice(t, "new phone", uiHome(t, 0, 0, false))
	oldEvents, newEvents := old.events(t), neu.events(t)
	var send, recv webJob
	mustJSON(t, old.request(t, http.MethodPost, "/api/send", nil, nil).body, &send)
	send = oldEvents.until(t, send.ID, "a link", func(j webJob) bool { return j.Link != "" })
	mustJSON(t, neu.request(t, http.MethodPost, "/api/receive", webReceiveRequest{Code: send.Link}, nil).body, &recv)
	newEvents.until(t, recv.ID, "the offer", func(j webJob) bool { return j.Confirm })
	no := false
	if res := neu.request(t, http.MethodPost, "/api/jobs/"+recv.ID+"/confirm", confirmRequest{Accept: &no}, nil); res.StatusCode != http.StatusNoContent {
		t.Fatalf("decline: %s %s", res.Status, res.body)
	}
	recv = newEvents.until(t, recv.ID, "the end", func(j webJob) bool { return j.Ended })
	if recv.State != jobFailed || !strings.Contains(recv.Error, "declined") {
		t.Errorf("declined receive: %s %q", recv.State, recv.Error)
	}
	if neu.web.hist.exists() && stats(t, neu.home).Messages != 0 {
		t.Error("a declined offer left messages behind")
	}
	if res := old.request(t, http.MethodPost, "/api/jobs/"+send.ID+"/cancel", nil, nil); res.StatusCode != http.StatusNoContent {
		t.Fatalf("cancel: %s", res.Status)
	}
	send = oldEvents.until(t, send.ID, "the end", func(j webJob) bool { return j.Ended })
	if send.State != jobCancelled {
		t.Errorf("cancelled send: %s %q", send.State, send.Error)
	}
	// Bad input is a sentence, and starts nothing.
	for _, code := range []string{"", "7-zebra-acron", "ferry:7-zebra-acorn?peer=/ip4/1.2.3.4/tcp/1"} {
		res := neu.request(t, http.MethodPost, "/api/receive", webReceiveRequest{Code: code}, nil)
		if code == "" {
			// No code: a paired device that is sending; there is none.
			mustJSON(t, res.body, &recv)
			recv = newEvents.until(t, recv.ID, "the end", func(j webJob) bool { return j.Ended })
			if recv.State != jobFailed {
				t.Errorf("a receive without a code: %s", recv.State)
			}
			continue
		}
		if res.StatusCode != http.StatusBadRequest || !bytes.Contains(res.body, []byte("code")) && !bytes.Contains(res.body, []byte("/p2p/")) {
			t.Errorf("receive %q: %s %s", code, res.Status, res.body)
		}
	}
}

// checkQR reads the QR code's PNG back module by module and compares it
// with the QR code of the link: the picture is that code, quiet zone
// included.
func checkQR(t *testing.T, u *uiDevice, j webJob) {
	t.Helper()
	res := u.request(t, http.MethodGet, "/api/jobs/"+j.ID+"/qr.png", nil, nil)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("QR code: %s %s", res.Status, res.Header.Get("Content-Type"))
	}
	img, err := png.Decode(bytes.NewReader(res.body))
	if err != nil {
		t.Fatal(err)
	}
	want, err := qr.Encode(j.Link, qr.M)
	if err != nil {
		t.Fatal(err)
	}
	side := (want.Size + 2*qrQuiet) * qrScale
	if b := img.Bounds(); b.Dx() != side || b.Dy() != side {
		t.Fatalf("QR code of %v, want %d px square", b.Size(), side)
	}
	for y := -qrQuiet; y < want.Size+qrQuiet; y++ {
		for x := -qrQuiet; x < want.Size+qrQuiet; x++ {
			r, _, _, _ := img.At((x+qrQuiet)*qrScale+qrScale/2, (y+qrQuiet)*qrScale+qrScale/2).RGBA()
			inside := x >= 0 && y >= 0 && x < want.Size && y < want.Size
			if black := r < 0x8000; black != (inside && want.Black(x, y)) {
				t.Fatalf("QR module (%d, %d) is black=%v, want %v", x, y, black, !black)
			}
		}
	}
	if res := u.request(t, http.MethodGet, "/api/jobs/j-000000000000/qr.png", nil, nil); res.StatusCode != http.StatusNotFound {
		t.Errorf("QR of no job: %s", res.Status)
	}
}

func stats(t *testing.T, home string) chatstore.Stats {
	t.Helper()
	st, err := chatstore.Open(context.Background(), home, chatstore.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := st.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestURIDialsEveryAddress: a receiver given a ferry: link whose first
// address answers nothing (a LAN address of another network) still reaches
// the sender at the next one.
func TestURIDialsEveryAddress(t *testing.T) {
	old := startUIDevice(t, "old phone", uiHome(t, 200, 0, false))
	neu := startUIDevice(t, "new phone", uiHome(t, 0, 0, false))
	oldEvents := old.events(t)
	var send webJob
	mustJSON(t, old.request(t, http.MethodPost, "/api/send", nil, nil).body, &send)
	send = oldEvents.until(t, send.ID, "a link", func(j webJob) bool { return j.Link != "" })
	u, err := ferry.ParseURI(send.Link)
	if err != nil {
		t.Fatal(err)
	}
	// A port on loopback that nothing listens on, first.
	id := old.peerID(t)
	u.Peers = append([]string{"/ip4/127.0.0.1/tcp/1/p2p/" + id}, u.Peers...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := neu.d.Receive(ctx, u.String(), ferry.ReceiveOptions{})
	if err != nil {
		t.Fatalf("receive by %s: %v", u, err)
	}
	if res.Source.Digest != res.Target.Digest {
		t.Errorf("result %+v", res)
	}
	oldEvents.until(t, send.ID, "the end", func(j webJob) bool { return j.Ended && j.State == jobDone })
}

// TestWebSendTo: once two devices are paired, a send from the page names
// the receiver (no code), the receiver asks with no code, and the sender's
// job says when the receiver connected and by which path.
func TestWebSendTo(t *testing.T) {
	old := startUIDevice(t, "old phone", uiHome(t, 200, 0, false))
	neu := startUIDevice(t, "new phone", uiHome(t, 0, 0, false))
	oldEvents := old.events(t)
	// Pair by a first migration.
	first := old.startJob(t, "/api/send", webSendRequest{})
	first = oldEvents.until(t, first.ID, "a link", func(j webJob) bool { return j.Link != "" })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := neu.d.Receive(ctx, first.Link, ferry.ReceiveOptions{}); err != nil {
		t.Fatal(err)
	}
	oldEvents.until(t, first.ID, "the end", func(j webJob) bool { return j.Ended && j.State == jobDone })

	// An unknown name is a sentence that lists the paired devices.
	bad := oldEvents.until(t, old.startJob(t, "/api/send", webSendRequest{To: "fridge"}).ID, "the end", ended)
	if bad.State != jobFailed || !strings.Contains(bad.Error+bad.Hint, "new phone") {
		t.Errorf("send to an unknown device: %s %q %q", bad.State, bad.Error, bad.Hint)
	}

	send := old.startJob(t, "/api/send", webSendRequest{To: "new phone"})
	send = oldEvents.until(t, send.ID, "its receiver", func(j webJob) bool { return j.Receiver != nil })
	if send.Code != "" || send.Receiver.Name != "new phone" {
		t.Errorf("a send by name shows code %q, receiver %+v", send.Code, send.Receiver)
	}
	// No mDNS here: the receiver is given the sender's addresses.
	u, err := ferry.ParseURI(first.Link)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := neu.d.Receive(ctx, "", ferry.ReceiveOptions{Addrs: u.Peers}); err != nil {
		t.Fatalf("receive without a code: %v", err)
	}
	var states []jobState
	send = oldEvents.until(t, send.ID, "the end", func(j webJob) bool {
		states = append(states, j.State)
		return j.Ended
	})
	if send.State != jobDone || send.Path != "direct (loopback)" || !send.Verified {
		t.Errorf("send to new phone: %s, path %q, verified %v: %s", send.State, send.Path, send.Verified, send.Error)
	}
	if !slices.Contains(states, jobConnected) && !slices.ContainsFunc(send.Log, func(l webLogLine) bool { return l.Kind == ferry.EventConnected }) {
		t.Errorf("the sender never said the receiver connected: states %v, log %+v", states, send.Log)
	}
}
