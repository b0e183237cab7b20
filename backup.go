package ferry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ferryhq/ferry/backup"
	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/relay/vaultproto"
	"github.com/ferryhq/ferry/transfer"
)

// BackupOptions say where and how a backup is kept.
type BackupOptions struct {
	// Relay is the relay whose vault keeps the backup; "" means
	// Device.Relay.
	Relay string
	// Password, if set, locks the backup key under it instead of showing a
	// recovery key. The relay hands the locked key only to someone who
	// proves the password, but its operator can try passwords offline
	// (slowly), so it should be long.
	Password []byte
	// Events, if set, gets the progress (PhaseBackingUp) and EventRelayLost,
	// one event at a time.
	Events func(Event)
}

// BackupResult reports a backup.
type BackupResult struct {
	// ID names the backup on the relay (32 hex digits).
	ID string `json:"backup"`
	// Key is the backup key. NewKey says this is the first backup made
	// with it: show Key then (unless a password locks it); later backups
	// of this home reuse it and are incremental.
	Key    RecoveryKey `json:"-"`
	NewKey bool        `json:"new"`
	// Seq is this backup's number (1 for the first).
	Seq   uint64 `json:"seq"`
	Stats Stats  `json:"stats"`
	// Chunks is the number of pieces the backup refers to; ChunksSent of
	// them were uploaded (BytesSent sealed bytes), ChunksSkipped were on
	// the relay already.
	Chunks        int           `json:"chunks"`
	ChunksSent    int           `json:"chunks_sent"`
	ChunksSkipped int           `json:"chunks_skipped"`
	BytesSent     int64         `json:"bytes_sent"`
	Took          time.Duration `json:"took"`
	// Previous, when not nil, is the backup this home made before with
	// the other kind of key: this backup switched between a password and
	// a recovery key, and is a new one. The earlier backup stays on the
	// relay as it was, and the home keeps its key, so that Backups lists
	// it with its counts and DeleteBackup deletes it.
	Previous *PreviousBackup `json:"previous,omitempty"`
}

// PreviousBackup is the backup a switch of keys left behind.
type PreviousBackup struct {
	ID string `json:"backup"`
	// Password says it is locked with a password; else it opens with its
	// recovery key.
	Password bool `json:"password"`
}

// RestoreOptions say which backup to restore and how to open it: Key, or
// Password with BackupID.
type RestoreOptions struct {
	// Relay is the relay whose vault keeps the backup; "" means
	// Device.Relay.
	Relay    string
	Key      RecoveryKey
	Password []byte
	// BackupID is needed with Password; with Key it is checked.
	BackupID string
	// Events, if set, gets the progress (PhaseRestoring, PhaseIndexing) and
	// EventRelayLost, one event at a time.
	Events func(Event)
}

// BackupInfo is a backup on a relay: one of this device's, or one whose
// key this home holds, whichever device made it.
type BackupInfo struct {
	ID      string    `json:"backup"`
	Updated time.Time `json:"updated"`
	Size    int64     `json:"size"`
	// Stats are what it holds; nil when this home lacks its key (the
	// counts are sealed inside it).
	Stats *Stats `json:"stats,omitempty"`
	// KeyUnchecked says the relay cannot check this home's key of the
	// backup (the backup, or the relay, is of a Ferry before owner keys):
	// its Size is unknown (0), and only the device that made it can
	// delete it.
	KeyUnchecked bool `json:"key_unchecked,omitempty"`
}

// Backup backs the whole history up to a relay's vault, encrypted on this
// device: the relay's operator can neither read it nor test a guess of
// what it holds. Later backups of this home are incremental. The home keeps
// the backup key (vault.json) so that later backups reuse it; a password
// backup after a recovery-key one (or the other way round) starts a new
// backup with a new key, and the earlier backup stays (see
// BackupResult.Previous).
func (d *Device) Backup(ctx context.Context, opt BackupOptions) (BackupResult, error) {
	st, err := d.openSource(ctx)
	if err != nil {
		return BackupResult{}, err
	}
	defer st.Close()
	emit := stamp(opt.Events)
	var res backup.Result
	err = d.withVault(ctx, opt.Relay, emit, func(c *vaultproto.Client) error {
		var err error
		res, err = backup.Upload(ctx, st, c, backup.Options{Password: opt.Password, WorkDir: d.WorkDir,
			Progress: func(done, total int64) {
				emit(Event{Kind: EventProgress, Phase: PhaseBackingUp, Done: done, Total: total})
			}})
		return err
	})
	if err != nil {
		return BackupResult{}, backupError(err)
	}
	defer res.Key.Wipe()
	out := BackupResult{ID: backup.FormatID(res.ID), Key: recoveryKey(res.Key), NewKey: res.New, Seq: res.Seq,
		Stats: res.Stats, Chunks: res.Chunks, ChunksSent: res.ChunksSent, ChunksSkipped: res.ChunksSkipped,
		BytesSent: res.BytesSent, Took: res.Duration}
	if p := res.Previous; p != nil {
		out.Previous = &PreviousBackup{ID: backup.FormatID(p.ID), Password: p.Password}
	}
	return out, nil
}

// Restore fetches a backup from a relay's vault, verifies every piece of
// it and merges it into this home (created if missing). Nothing is changed
// unless the whole backup is intact; an interrupted restore continues
// where it stopped when run again.
func (d *Device) Restore(ctx context.Context, opt RestoreOptions) (Result, error) {
	if !opt.Key.IsZero() && len(opt.Password) > 0 {
		return Result{}, errKeyAndPw
	}
	if opt.Key.IsZero() && len(opt.Password) > 0 && opt.BackupID == "" {
		return Result{}, errPwNeedsID
	}
	id := strings.TrimSpace(opt.BackupID)
	if id != "" {
		if err := CheckBackupID(id); err != nil {
			return Result{}, err
		}
	}
	emit := stamp(opt.Events)
	res, err := d.intoHome(ctx, emit, func(st *chatstore.Store) (transfer.Result, error) {
		var res transfer.Result
		err := d.withVault(ctx, opt.Relay, emit, func(c *vaultproto.Client) error {
			var err error
			res, err = backup.Restore(ctx, c, st, backup.RestoreOptions{Key: opt.Key.archiveKey(), Password: opt.Password, BackupID: id,
				Progress: func(done, total int64) {
					emit(Event{Kind: EventProgress, Phase: PhaseRestoring, Done: done, Total: total})
				}})
			return err
		})
		return res, vaultError(err, !opt.Key.IsZero())
	})
	return res, err
}

// Backups lists the backups on a relay of this device, and of every
// backup key this home holds (the backup it was restored from, the one a
// switch of keys left behind), whichever device made them: the relay
// lists another device's backup to this one only for a proof of its key.
// Each comes with what it holds when this home has its key; the oldest
// first.
func (d *Device) Backups(ctx context.Context, relay string) ([]BackupInfo, error) {
	if err := d.needHome(); err != nil {
		return nil, err
	}
	var out []BackupInfo
	err := d.withVault(ctx, relay, nil, func(c *vaultproto.Client) error {
		list, err := c.List(ctx)
		if err != nil {
			return err
		}
		known, err := backup.Known(ctx, c, d.Home)
		if err != nil {
			return err
		}
		out = make([]BackupInfo, 0, len(list)+len(known))
		for _, b := range list {
			bi := BackupInfo{ID: backup.FormatID(b.ID), Updated: time.Unix(b.Updated, 0).UTC(), Size: b.Size}
			// The counts are inside the sealed manifests: only a device
			// that keeps the backup key can show them.
			if st, err := backup.Describe(ctx, c, d.Home, b.ID); err == nil {
				bi.Stats = &st
			}
			out = append(out, bi)
		}
		for _, k := range known {
			id := backup.FormatID(k.ID)
			if slices.ContainsFunc(out, func(b BackupInfo) bool { return b.ID == id }) {
				continue // this device's own
			}
			out = append(out, BackupInfo{ID: id, Updated: k.Updated, Size: k.Size, Stats: k.Stats, KeyUnchecked: k.NoOwnerKey})
		}
		return nil
	})
	if err != nil {
		return nil, vaultError(err, false)
	}
	slices.SortStableFunc(out, func(a, b BackupInfo) int { return a.Updated.Compare(b.Updated) })
	return out, nil
}

// DeleteBackup deletes a backup from a relay: one of this device's, or
// one whose key this home holds (proved to the relay), whichever device
// made it.
func (d *Device) DeleteBackup(ctx context.Context, relay, id string) error {
	if err := CheckBackupID(id); err != nil {
		return err
	}
	bid, err := backup.ParseID(strings.TrimSpace(id))
	if err != nil {
		return userError(err)
	}
	if err := d.needHome(); err != nil {
		return err
	}
	return vaultError(d.withVault(ctx, relay, nil, func(c *vaultproto.Client) error { return backup.Delete(ctx, c, d.Home, bid) }), false)
}

// CheckBackupID reports whether id has the form of a backup ID (32 hex
// digits, as BackupResult.ID prints it; spaces around it are ignored): an
// Error (CodeBadBackupID) that says so if not. Whether a backup has that ID
// only the relay knows.
func CheckBackupID(id string) error {
	if _, err := backup.ParseID(strings.TrimSpace(id)); err != nil {
		return errMalformedID.detail(fmt.Sprintf("%q is not a backup ID", strings.TrimSpace(id)), errMalformedID.Hint, err)
	}
	return nil
}

var errMalformedID = &Error{Code: CodeBadBackupID, Sentence: "that is not a backup ID",
	Hint: "a backup ID is the 32 hex digits the backup printed"}

// withVault runs fn with a client of the relay's vault, over this device's
// own host (started if needed: a vault account is the device's identity,
// and one device runs one host).
func (d *Device) withVault(ctx context.Context, relay string, emit func(Event), fn func(*vaultproto.Client) error) error {
	if relay == "" {
		relay = d.Relay
	}
	if relay == "" {
		return errNoRelay
	}
	n, err := d.start(ctx)
	if err != nil {
		return err
	}
	log := n.log
	// The cause behind the sentence the user sees is logged.
	c, err := vaultproto.Dial(ctx, n.host, relay)
	if err != nil {
		log.Debug("vault", "relay", relay, "err", err)
		return err
	}
	c.Retry = n.cfg.relayRetry
	var once sync.Once
	c.OnRetry = func(err error) {
		log.Debug("vault: connection to the relay lost, trying again", "relay", relay, "err", err)
		once.Do(func() {
			if emit != nil {
				emit(Event{Kind: EventRelayLost, RetrySeconds: c.Retry.Seconds(),
					Message: "lost the connection to the relay: trying again for up to " + c.Retry.String()})
			}
		})
	}
	if err := fn(c); err != nil {
		log.Debug("vault", "relay", relay, "err", err)
		return err
	}
	return nil
}

// backupError is the Error of a backup that failed: one cut off (by its
// context, or by the relay's going away) resumes, since what reached the
// relay stays there and the next backup sends only what it lacks.
func backupError(err error) error {
	if interrupted(err) {
		return interruptedError(err, "the backup is not finished", "what reached the relay is kept: "+resumeHint, true)
	}
	e := AsError(vaultError(err, false))
	if e.Code == CodeRelayLost {
		return e.with(resumeHint, true)
	}
	return e
}

// vaultError is a vault failure as its Error; keyMode says a recovery key
// was given (a backup the vault lacks then most likely means another key).
func vaultError(err error, keyMode bool) error {
	if err == nil {
		return nil
	}
	if keyMode && errors.Is(err, vaultproto.ErrNotFound) {
		return &Error{Code: CodeNoBackupForKey, Sentence: "no backup on this relay opens with this recovery key",
			Hint: "check the key and the relay address (the backup may also have expired or been deleted)", Err: err}
	}
	return userError(err)
}
