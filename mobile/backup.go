package mobile

import (
	"github.com/ferryhq/ferry"
)

// backupOptions are Backup's options, as JSON.
type backupOptions struct {
	Relay string `json:"relay,omitempty"` // "" means the configuration's
}

// backupResult is what Backup's WaitResult returns: ferry.BackupResult's JSON,
// and, the first time a home backs up without a password, the recovery key
// to show the user (64 hex digits in groups of four): it alone opens the
// backup.
type backupResult struct {
	ferry.BackupResult
	RecoveryKey string `json:"recovery_key,omitempty"`
}

// Backup backs the whole history up to a relay's vault, encrypted on this
// device, with options {"relay":"…"} ("" for the configuration's relay).
// With a password (nil or empty for none), the backup's key is locked under
// it; without, the first backup's result carries the recovery key to show.
// Later backups are incremental. WaitResult returns the JSON described at
// backupResult: {"backup":"<id>","new":true,"seq":1,"stats":{…},
// "recovery_key":"…",…}.
func (d *Device) Backup(optionsJSON string, password []byte, l Listener) (*Operation, error) {
	var opt backupOptions
	if err := readOptions(optionsJSON, &opt); err != nil {
		return nil, err
	}
	dev, op, ctx := d.newOperation()
	bo := ferry.BackupOptions{Relay: opt.Relay, Password: clone(password), Events: emitter(l)}
	d.run(op, func() (any, error) {
		b, err := dev.Backup(ctx, bo)
		if err != nil {
			return nil, err
		}
		r := backupResult{BackupResult: b}
		if b.NewKey && len(bo.Password) == 0 {
			r.RecoveryKey = b.Key.String()
		}
		b.Key.Wipe()
		return r, nil
	})
	return op, nil
}

// restoreOptions are Restore's options, as JSON.
type restoreOptions struct {
	Relay    string `json:"relay,omitempty"`     // "" means the configuration's
	BackupID string `json:"backup_id,omitempty"` // needed with a password
}

// Restore fetches a backup from a relay's vault, verifies it and merges it
// into this home, with options {"relay":"…","backup_id":"…"}: opened with
// recoveryKey (as shown, with or without spaces) or, if that is "", with
// password (then backup_id is needed). A malformed recovery key is refused
// at once. WaitResult returns the JSON of ferry.Result.
func (d *Device) Restore(optionsJSON, recoveryKey string, password []byte, l Listener) (*Operation, error) {
	var opt restoreOptions
	if err := readOptions(optionsJSON, &opt); err != nil {
		return nil, err
	}
	ro := ferry.RestoreOptions{Relay: opt.Relay, BackupID: opt.BackupID, Password: clone(password)}
	if recoveryKey != "" {
		k, err := ferry.ParseRecoveryKey(recoveryKey)
		if err != nil {
			return nil, asError(err)
		}
		ro.Key = k
	}
	dev, op, ctx := d.newOperation()
	ro.Events = emitter(l)
	d.run(op, func() (any, error) {
		defer ro.Key.Wipe()
		return dev.Restore(ctx, ro)
	})
	return op, nil
}

// clone copies a secret the app passed: gobind's byte slices belong to the
// caller once the call returns.
func clone(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}
