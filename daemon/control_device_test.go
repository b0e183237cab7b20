package daemon

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ferryhq/ferry"
	"github.com/ferryhq/ferry/internal/logtest"
)

// TestControlOverADevice: the control API in front of a real Device serves
// export, import, backup, the list of backups, restore-side errors and the
// devices, on the Device's own host: the backup the client makes belongs to
// the daemon's identity (its home lists it with what it holds), so a
// running daemon is the only host its home needs.
func TestControlOverADevice(t *testing.T) {
	ctx := t.Context()
	relayAddr := startVaultRelay(t)

	dir := t.TempDir()
	chat := filepath.Join(dir, "WhatsApp Chat with Bob.txt")
	if err := os.WriteFile(chat, []byte("3/8/25, 9:05 AM - Bob: Morning!\n3/8/25, 9:07 AM - Alice: Hello.\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := &ferry.Device{Home: filepath.Join(dir, "home"), Relay: relayAddr, NoMDNS: true, Listen: []string{"/ip4/127.0.0.1/tcp/0"}}
	t.Cleanup(func() { d.Close() })
	if _, err := d.ImportHistory(ctx, chat, ferry.HistoryImportOptions{TimeZone: "UTC"}); err != nil {
		t.Fatal(err)
	}
	want, err := d.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}

	logs := logtest.New()
	sock := filepath.Join(dir, "ferry.sock")
	sctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeControl(sctx, sock, d, slog.New(logs)) }()
	t.Cleanup(func() { stop(); <-done })
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	select {
	case err := <-done:
		t.Fatalf("ServeControl: %v", err)
	case <-logs.Waiter(wctx, "control API listening"):
	}
	c := dialClient(t, sock)

	// Export and import through the daemon.
	file := filepath.Join(dir, "out.ferry")
	ex, err := c.ExportFile(ctx, file, ferry.ExportOptions{})
	if err != nil {
		t.Fatalf("export through the daemon: %v", err)
	}
	if ex.Key.IsZero() || ex.Stats.Digest != want.Digest {
		t.Fatalf("export through the daemon: %+v", ex)
	}
	wrong, _ := ferry.ParseRecoveryKey("0000000000000000000000000000000000000000000000000000000000000001")
	if _, err := c.ImportFile(ctx, file, ferry.ImportOptions{Key: wrong}); ferry.CodeOf(err) != ferry.CodeWrongKey || ferry.AsError(err).Resumable {
		t.Errorf("import with a wrong key through the daemon: %#v, want a %s that does not resume", err, ferry.CodeWrongKey)
	}
	if res, err := c.ImportFile(ctx, file, ferry.ImportOptions{Key: ex.Key}); err != nil || res.Target.Digest != want.Digest {
		t.Errorf("import through the daemon: %+v, %v", res, err)
	}

	// A backup through the daemon is the daemon's: its home lists it, with
	// what it holds, directly too.
	b, err := c.Backup(ctx, ferry.BackupOptions{})
	if err != nil {
		t.Fatalf("backup through the daemon: %v", err)
	}
	if !b.NewKey || b.Key.IsZero() || b.Stats.Digest != want.Digest {
		t.Fatalf("backup through the daemon: %+v", b)
	}
	for name, api := range map[string]API{"client": c, "device": d} {
		list, err := api.Backups(ctx, "")
		if err != nil {
			t.Fatalf("%s: backups: %v", name, err)
		}
		i := slices.IndexFunc(list, func(bi ferry.BackupInfo) bool { return bi.ID == b.ID })
		if i < 0 || list[i].Stats == nil || list[i].Stats.Digest != want.Digest {
			t.Errorf("%s: backups %+v, want %s with its stats", name, list, b.ID)
		}
	}
	// Another device restores it with the key the daemon handed over.
	other := &ferry.Device{Home: filepath.Join(dir, "other"), Relay: relayAddr, NoMDNS: true, Listen: []string{"/ip4/127.0.0.1/tcp/0"}}
	t.Cleanup(func() { other.Close() })
	if res, err := other.Restore(ctx, ferry.RestoreOptions{Key: b.Key}); err != nil || res.Target.Digest != want.Digest {
		t.Errorf("restore of the daemon's backup: %+v, %v", res, err)
	}
	if _, err := c.Restore(ctx, ferry.RestoreOptions{Key: wrong}); ferry.CodeOf(err) != ferry.CodeNoBackupForKey {
		t.Errorf("restore with a wrong key through the daemon: %v, want %s", err, ferry.CodeNoBackupForKey)
	}
	if err := c.DeleteBackup(ctx, "", "not-an-id"); ferry.CodeOf(err) != ferry.CodeBadBackupID {
		t.Errorf("delete of a malformed ID through the daemon: %v, want %s", err, ferry.CodeBadBackupID)
	}

	// The devices and the status are the daemon's.
	if ds, err := c.Devices(ctx); err != nil || len(ds) != 0 {
		t.Errorf("devices through the daemon: %+v, %v", ds, err)
	}
	cs, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := d.Status(ctx)
	if err != nil || cs.PeerID == "" || cs.PeerID != ds.PeerID {
		t.Errorf("status through the daemon %+v, of the device %+v (%v): want the same peer ID", cs, ds, err)
	}
}
