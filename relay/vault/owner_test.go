package vault

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/internal/wire"
	"github.com/ferryhq/ferry/relay/vaultproto"
	"github.com/ferryhq/ferry/relay/vaultstore"
)

// ownerProof asks for a challenge on sess and signs it with the key of
// seed, as a device holding that backup key would.
func ownerProof(t *testing.T, s *Server, sess *session, id [vaultproto.IDSize]byte, seed byte) [vaultproto.SignatureSize]byte {
	t.Helper()
	b, err := doIn(t, s, sess, vaultproto.Request{Op: vaultproto.OpOwnerChallenge, ID: id})
	if err != nil {
		t.Fatalf("owner challenge: %v", err)
	}
	var challenge [vaultproto.ChallengeSize]byte
	copy(challenge[:], b)
	_, priv := testKey(seed)
	return signWith(priv, vaultproto.OwnerProofMessage(id, challenge, sess.relay, sess.from))
}

// TestOwnerKey: a device that proves a backup's key lists and deletes the
// backup another device made; a device with another key, a proof made for
// another device, relay or challenge, a password proof, and a device with
// no proof at all get nothing; and only the owner sets the owner key.
func TestOwnerKey(t *testing.T) {
	s, _ := newServer(t, Config{})
	id := [vaultproto.IDSize]byte{1}
	if _, err := do(t, s, alice, vaultproto.Request{Op: vaultproto.OpPutChunk, ID: id, Name: [32]byte{1}, Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if _, err := do(t, s, alice, vaultproto.Request{Op: vaultproto.OpPutManifest, ID: id, Names: [][32]byte{{1}}, Data: []byte("m")}); err != nil {
		t.Fatal(err)
	}
	if _, err := do(t, s, bob, vaultproto.Request{Op: vaultproto.OpOwnerChallenge, ID: id}); !errors.Is(err, vaultproto.ErrNoOwnerKey) {
		t.Errorf("challenge for a backup without an owner key: %v, want ErrNoOwnerKey", err)
	}
	pub, _ := testKey(1)
	if _, err := do(t, s, alice, vaultproto.Request{Op: vaultproto.OpPutOwnerKey, ID: id, Owner: pub}); err != nil {
		t.Fatal(err)
	}
	evil, _ := testKey(2)
	if _, err := do(t, s, bob, vaultproto.Request{Op: vaultproto.OpPutOwnerKey, ID: id, Owner: evil}); !errors.Is(err, vaultproto.ErrForbidden) {
		t.Errorf("another device replaces the owner key: %v, want ErrForbidden", err)
	}

	refused := func(what string, sess *session, req vaultproto.Request, want error) {
		t.Helper()
		if _, err := doIn(t, s, sess, req); !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", what, err, want)
		}
	}
	bobs := &session{from: bob, relay: "relay"}
	for _, op := range []wire.Type{vaultproto.OpListWithKey, vaultproto.OpDeleteWithKey} {
		req := vaultproto.Request{Op: op, ID: id}
		refused("no challenge", bobs, req, vaultproto.ErrProtocol)
		req.Sig = ownerProof(t, s, bobs, id, 2)
		refused("another key", bobs, req, vaultproto.ErrForbidden)
		req.Sig = ownerProof(t, s, bobs, id, 1)
		refused("a proof on another stream", &session{from: bob, relay: "relay"}, req, vaultproto.ErrProtocol)
		refused("a proof on another device's stream", &session{from: "carol", relay: "relay"}, req, vaultproto.ErrProtocol)
		// Made for alice, sent by bob on a challenge of his own.
		alices := &session{from: alice, relay: "relay"}
		req.Sig = ownerProof(t, s, alices, id, 1)
		doIn(t, s, bobs, vaultproto.Request{Op: vaultproto.OpOwnerChallenge, ID: id})
		refused("a proof made for another device", bobs, req, vaultproto.ErrForbidden)
		other := &session{from: bob, relay: "another-relay"}
		req.Sig = ownerProof(t, s, other, id, 1)
		doIn(t, s, bobs, vaultproto.Request{Op: vaultproto.OpOwnerChallenge, ID: id})
		refused("a proof made for another relay", bobs, req, vaultproto.ErrForbidden)
		// A password proof (the other label) of the same key and challenge.
		b, _ := doIn(t, s, bobs, vaultproto.Request{Op: vaultproto.OpOwnerChallenge, ID: id})
		var challenge [vaultproto.ChallengeSize]byte
		copy(challenge[:], b)
		_, priv := testKey(1)
		req.Sig = signWith(priv, vaultproto.ProofMessage(id, challenge, bobs.relay, bobs.from))
		refused("a password proof", bobs, req, vaultproto.ErrForbidden)
		// A challenge for one backup does not serve another.
		doIn(t, s, bobs, vaultproto.Request{Op: vaultproto.OpOwnerChallenge, ID: id})
		refused("a proof for another backup", bobs, vaultproto.Request{Op: op, ID: [vaultproto.IDSize]byte{9}, Sig: req.Sig}, vaultproto.ErrProtocol)
	}
	refused("another device deletes without a proof", bobs, vaultproto.Request{Op: vaultproto.OpDelete, ID: id}, vaultproto.ErrForbidden)
	if b, err := do(t, s, bob, vaultproto.Request{Op: vaultproto.OpList}); err != nil || len(b) != 1 || b[0] != 0 {
		t.Errorf("another device's own list: %x, %v; want it empty", b, err)
	}

	// The right proof: listed, then deleted; the proof is good once.
	req := vaultproto.Request{Op: vaultproto.OpListWithKey, ID: id, Sig: ownerProof(t, s, bobs, id, 1)}
	b, err := doIn(t, s, bobs, req)
	if err != nil {
		t.Fatalf("list with the key: %v", err)
	}
	list, err := vaultproto.ParseBackups(b)
	if err != nil || len(list) != 1 || list[0].ID != id || list[0].Size != 2 {
		t.Errorf("list with the key: %+v, %v; want backup %x of 2 bytes", list, err, id)
	}
	refused("the same proof again", bobs, req, vaultproto.ErrProtocol)
	req = vaultproto.Request{Op: vaultproto.OpDeleteWithKey, ID: id, Sig: ownerProof(t, s, bobs, id, 1)}
	if _, err := doIn(t, s, bobs, req); err != nil {
		t.Fatalf("delete with the key: %v", err)
	}
	if _, err := do(t, s, alice, vaultproto.Request{Op: vaultproto.OpGetManifest, ID: id}); !errors.Is(err, vaultproto.ErrNotFound) {
		t.Errorf("manifest after a delete with the key: %v, want ErrNotFound", err)
	}
	if b, err := do(t, s, alice, vaultproto.Request{Op: vaultproto.OpList}); err != nil || len(b) != 1 || b[0] != 0 {
		t.Errorf("the owner's list after a delete with the key: %x, %v; want it empty", b, err)
	}
	if used, n, err := s.usage(context.Background(), alice.String()); err != nil || used != 0 || n != 0 {
		t.Errorf("the owner's usage after a delete with the key: %d bytes in %d backups, %v", used, n, err)
	}
}

// TestOldRecords: a record written before owner keys (no version) is
// still served, and gets an owner key from its owner; a record of a newer
// version than this relay's is refused, not misread.
func TestOldRecords(t *testing.T) {
	dir := t.TempDir()
	id := [vaultproto.IDSize]byte{3}
	store, err := vaultstore.NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	write := func(key, s string) {
		t.Helper()
		if err := store.Put(ctx, key, strings.NewReader(s), int64(len(s))); err != nil {
			t.Fatal(err)
		}
	}
	write(backupKey(id, "meta"), `{"owner":"`+alice.String()+`","created":1767225600,"updated":1767225600,"size":1,"fails":0,"locked":false}`)
	write(backupKey(id, "manifest"), "m")
	write(markerKey(alice.String(), id), "")
	s, _ := newServerAt(t, dir, Config{})
	if b, err := do(t, s, bob, vaultproto.Request{Op: vaultproto.OpGetManifest, ID: id}); err != nil || string(b) != "m" {
		t.Fatalf("manifest of an old record: %q, %v", b, err)
	}
	if _, err := do(t, s, bob, vaultproto.Request{Op: vaultproto.OpOwnerChallenge, ID: id}); !errors.Is(err, vaultproto.ErrNoOwnerKey) {
		t.Errorf("challenge of an old record: %v, want ErrNoOwnerKey", err)
	}
	pub, _ := testKey(1)
	if _, err := do(t, s, alice, vaultproto.Request{Op: vaultproto.OpPutOwnerKey, ID: id, Owner: pub}); err != nil {
		t.Fatalf("the owner puts a key on an old record: %v", err)
	}
	bobs := &session{from: bob, relay: "relay"}
	if _, err := doIn(t, s, bobs, vaultproto.Request{Op: vaultproto.OpListWithKey, ID: id, Sig: ownerProof(t, s, bobs, id, 1)}); err != nil {
		t.Errorf("list with the key after the owner put it: %v", err)
	}
	rc, _, err := store.Get(ctx, backupKey(id, "meta"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	if m, err := parseMeta(b); err != nil || m.Version != metaVersion || string(m.OwnerKey) != string(pub[:]) {
		t.Errorf("record rewritten as %s (%v); want version %d with the owner key", b, err, metaVersion)
	}

	newer := [vaultproto.IDSize]byte{4}
	write(backupKey(newer, "meta"), `{"version":3,"owner":"`+alice.String()+`","created":1,"updated":1,"size":1,"fails":0,"locked":false}`)
	s2, _ := newServerAt(t, dir, Config{})
	if _, err := do(t, s2, bob, vaultproto.Request{Op: vaultproto.OpGetManifest, ID: newer}); !errors.Is(err, vaultproto.ErrRelay) {
		t.Errorf("a record of a newer version: %v, want the relay's internal error", err)
	}
}

// TestClientOwnerKey: the device's client over real hosts on loopback:
// a device holding the key lists and deletes another device's backup;
// one signing with another key gets ErrForbidden.
func TestClientOwnerKey(t *testing.T) {
	ctx := context.Background()
	srv := vaultHost(t)
	owner, restored := pair(t, srv), pair(t, srv)
	id := [vaultproto.IDSize]byte{7}
	if err := owner.PutChunk(ctx, id, [32]byte{1}, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := owner.PutManifest(ctx, id, [][32]byte{{1}}, []byte("m")); err != nil {
		t.Fatal(err)
	}
	pub, priv := testKey(1)
	if err := owner.PutOwnerKey(ctx, id, pub); err != nil {
		t.Fatal(err)
	}
	sign := func(msg []byte) [vaultproto.SignatureSize]byte { return signWith(priv, msg) }
	_, wrong := testKey(2)
	signWrong := func(msg []byte) [vaultproto.SignatureSize]byte { return signWith(wrong, msg) }
	if _, _, err := restored.ListWithKey(ctx, id, signWrong); !errors.Is(err, vaultproto.ErrForbidden) {
		t.Errorf("ListWithKey with another key: %v, want ErrForbidden", err)
	}
	if err := restored.DeleteWithKey(ctx, id, signWrong); !errors.Is(err, vaultproto.ErrForbidden) {
		t.Errorf("DeleteWithKey with another key: %v, want ErrForbidden", err)
	}
	if _, size, err := restored.ListWithKey(ctx, id, sign); err != nil || size != 4 {
		t.Errorf("ListWithKey: size %d, %v; want 4 bytes", size, err)
	}
	if err := restored.DeleteWithKey(ctx, id, sign); err != nil {
		t.Fatalf("DeleteWithKey: %v", err)
	}
	if _, _, err := restored.ListWithKey(ctx, id, sign); !errors.Is(err, os.ErrNotExist) || !errors.Is(err, vaultproto.ErrNotFound) {
		t.Errorf("ListWithKey after the delete: %v, want ErrNotFound and fs.ErrNotExist", err)
	}
}
