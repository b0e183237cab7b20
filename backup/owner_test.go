package backup

import (
	"context"
	"errors"
	"testing"

	"github.com/ferryhq/ferry/chatstore/storetest"
	"github.com/ferryhq/ferry/p2p/p2ptest"
	"github.com/ferryhq/ferry/relay/vaultproto"
)

// TestVaultKnownAfterRestore: the home a backup was restored into holds
// its key, and with it lists the backup (with its counts) and deletes it,
// though another device made it; a home with another key does neither.
func TestVaultKnownAfterRestore(t *testing.T) {
	r := startVaultRelay(t)
	ctx := context.Background()
	src, want := seededStore(t, 11)
	ca := dial(t, p2ptest.Host(t), r)
	res := backup(t, src, ca, Options{})
	if !res.OwnerKey {
		t.Errorf("the relay keeps no owner key of the backup")
	}

	dst := storetest.New(t)
	cb := dial(t, p2ptest.Host(t), r)
	if _, err := Restore(ctx, cb, dst, RestoreOptions{Key: &res.Key}); err != nil {
		t.Fatal(err)
	}
	known, err := Known(ctx, cb, dst.Home())
	if err != nil {
		t.Fatal(err)
	}
	if len(known) != 1 || known[0].ID != res.ID || known[0].Size <= 0 || known[0].Stats == nil || *known[0].Stats != want || known[0].Current || known[0].NoOwnerKey {
		t.Fatalf("the restored home knows %+v; want the backup %x with its size and counts %+v", known, res.ID, want)
	}
	if st, err := Describe(ctx, cb, dst.Home(), res.ID); err != nil || st != want {
		t.Errorf("Describe in the restored home: %+v, %v", st, err)
	}

	other, _ := seededStore(t, 12)
	cc := dial(t, p2ptest.Host(t), r)
	mine := backup(t, other, cc, Options{})
	known, err = Known(ctx, cc, other.Home())
	if err != nil || len(known) != 1 || known[0].ID != mine.ID || !known[0].Current {
		t.Errorf("a home with another key knows %+v, %v; want only its own backup", known, err)
	}
	if err := Delete(ctx, cc, other.Home(), res.ID); !errors.Is(err, vaultproto.ErrForbidden) {
		t.Errorf("a home with another key deletes: %v, want ErrForbidden", err)
	}
	if err := Delete(ctx, cb, dst.Home(), res.ID); err != nil {
		t.Fatalf("the restored home deletes: %v", err)
	}
	if list, err := ca.List(ctx); err != nil || len(list) != 0 {
		t.Errorf("the owner's list after the delete: %+v, %v", list, err)
	}
	if known, err := Known(ctx, cb, dst.Home()); err != nil || len(known) != 0 {
		t.Errorf("the restored home knows %+v, %v after the delete; want nothing", known, err)
	}
}

// TestVaultKeySwitch: a backup with a password after one with a recovery
// key (and back) names the backup it switched away from, and the home
// keeps its key: Known lists it with its counts.
func TestVaultKeySwitch(t *testing.T) {
	r := startVaultRelay(t)
	ctx := context.Background()
	s, want := seededStore(t, 13)
	c := dial(t, p2ptest.Host(t), r)
	first := backup(t, s, c, Options{})
	if first.Previous != nil {
		t.Errorf("the first backup names a previous one: %+v", first.Previous)
	}
	pw := backup(t, s, c, Options{Password: []byte("a password")})
	if pw.ID == first.ID || pw.Previous == nil || pw.Previous.ID != first.ID || pw.Previous.Password {
		t.Fatalf("switch to a password: ID %x, previous %+v; want a new ID and previous %x (a recovery key)", pw.ID, pw.Previous, first.ID)
	}
	if again := backup(t, s, c, Options{Password: []byte("a password")}); again.Previous != nil || again.ID != pw.ID {
		t.Errorf("a backup that switched nothing: ID %x, previous %+v", again.ID, again.Previous)
	}
	back := backup(t, s, c, Options{})
	if back.Previous == nil || back.Previous.ID != pw.ID || !back.Previous.Password {
		t.Fatalf("switch back to a recovery key: previous %+v; want %x (a password)", back.Previous, pw.ID)
	}
	known, err := Known(ctx, c, s.Home())
	if err != nil {
		t.Fatal(err)
	}
	got := map[[16]byte]Listed{}
	for _, l := range known {
		got[l.ID] = l
	}
	for _, id := range [][16]byte{first.ID, pw.ID, back.ID} {
		if l, ok := got[id]; !ok || l.Stats == nil || *l.Stats != want || l.Current != (id == back.ID) {
			t.Errorf("backup %x listed as %+v (found %v); want its counts %+v", id, l, ok, want)
		}
	}
}

// TestVaultOlderRelayOwnerKey: a relay that knows no owner keys (it
// answers their requests as malformed, as relays before them do) still
// takes the backup, and the client says that it keeps none.
func TestVaultOlderRelayOwnerKey(t *testing.T) {
	_, addr := startFakeRelay(t, func() []byte { return nil })
	c, err := vaultproto.Dial(context.Background(), p2ptest.Host(t), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if err := c.PutOwnerKey(ctx, [16]byte{1}, [32]byte{2}); !errors.Is(err, errors.ErrUnsupported) || !errors.Is(err, vaultproto.ErrOwnerKeysUnsupported) {
		t.Errorf("PutOwnerKey on an older relay: %v, want ErrOwnerKeysUnsupported", err)
	}
	if _, _, err := c.ListWithKey(ctx, [16]byte{1}, func([]byte) [64]byte { return [64]byte{} }); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("ListWithKey on an older relay: %v, want ErrOwnerKeysUnsupported", err)
	}
}
