package chatstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Names other parts of Ferry keep in a home. chatstore names them so that it
// can tell a home from any other folder; a test in cmd/ferry checks them
// against their owners' constants.
const (
	identityFile   = "identity.key"  // p2p.IdentityFile: the device's libp2p key
	devicesFile    = "devices.json"  // pairing.StoreFile: the paired devices
	stagingDir     = ".staging"      // transfer.StagingDir
	vaultFile      = "vault.json"    // backup.StateFile
	socketFile     = "ferry.sock"    // the daemon's control socket
	sendCacheDir   = "send-cache"    // transfer.SendCacheDir
	receivedFile   = "received.json" // transfer.ReceivedFile
	sendRecordFile = "sending.json"  // ferry.SendRecordFile
)

// IsHomeName reports whether Ferry writes a file or directory of this name
// directly in a home (temporary files included).
func IsHomeName(name string) bool {
	switch name {
	case DBName, DBName + "-wal", DBName + "-shm", DBName + "-journal", lockName, MediaDir,
		IndexName, IndexName + "-wal", IndexName + "-shm", IndexName + "-journal",
		stagingDir, identityFile, devicesFile, devicesFile + ".lock", vaultFile, socketFile,
		sendCacheDir, receivedFile, sendRecordFile:
		return true
	}
	for _, p := range []string{".identity-", "." + devicesFile + ".tmp-", ".vault-",
		sendCacheDir + "-", "." + sendCacheDir + "-new-", "." + receivedFile + ".tmp-", "." + sendRecordFile + ".tmp-"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// RemoveSendCache removes the sender's cached snapshot from home (see
// transfer.SendCacheDir): a change of the history makes it stale, and it
// holds a copy of the history that need not stay on the disk.
func RemoveSendCache(home string) { os.RemoveAll(filepath.Join(home, sendCacheDir)) }

// PrepareHome checks that the existing directory dir may be used as a Ferry
// home (see the package doc, "What a home is") and that no other user can
// read it, making it private when the caller owns it. It returns an error
// wrapping ErrNotAHome for a folder that holds other things, ErrNotAStore
// when its history.db is another program's database, and ErrHomeExposed when
// it cannot be made private. Open calls it; commands that write other files
// into a home (an identity, a trust store) call it before they do.
func PrepareHome(dir string) error {
	if err := classifyHome(dir); err != nil {
		return err
	}
	return secureHome(dir)
}

// classifyHome returns nil when dir is empty or a Ferry home.
func classifyHome(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("chatstore: read home %s: %w", dir, err)
	}
	if len(ents) == 0 {
		return nil
	}
	all := true
	for _, e := range ents {
		switch e.Name() {
		case DBName:
			return checkDBFile(filepath.Join(dir, DBName))
		case identityFile:
			return nil
		}
		all = all && IsHomeName(e.Name())
	}
	if all {
		// What an interrupted first run leaves: nothing but Ferry's names.
		return nil
	}
	return fmt.Errorf("chatstore: %s holds other files: %w", dir, ErrNotAHome)
}

// sqliteMagic starts every SQLite database file.
const sqliteMagic = "SQLite format 3\x00"

// checkDBFile tells from its header, without SQLite, whether path can be a
// Ferry history database: empty (a database being created), or SQLite with
// application_id "FRRY" or none yet (a new database whose first transaction
// is still in its WAL). The full check comes when SQLite opens it.
func checkDBFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("chatstore: open %s: %w", path, err)
	}
	defer f.Close()
	var hdr [100]byte
	n, err := io.ReadFull(f, hdr[:])
	switch {
	case n == 0 && err == io.EOF:
		return nil
	case err != nil && !errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("chatstore: read %s: %w", path, err)
	case n < len(hdr) || string(hdr[:16]) != sqliteMagic:
		return fmt.Errorf("chatstore: %s is not an SQLite database: %w", path, ErrNotAStore)
	}
	if app := binary.BigEndian.Uint32(hdr[68:]); app != 0 && app != ApplicationID {
		return fmt.Errorf("chatstore: %s has application_id %#x: %w", path, app, ErrNotAStore)
	}
	return nil
}

// createDBFile creates an empty history.db with mode 0600 unless it exists:
// SQLite would make it 0644, and the -wal and -shm files it makes beside a
// database take the database file's mode.
func createDBFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}
