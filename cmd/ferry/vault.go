package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	lib "github.com/ferryhq/ferry"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ferryhq/ferry/daemon"
	"github.com/ferryhq/ferry/relay/vaultstore"
)

func (a *app) backupCmd() *cobra.Command {
	var (
		relayAddr string
		password  bool
	)
	cmd := &cobra.Command{
		Use:   "backup --relay ADDR [--password]",
		Short: "Keep an end-to-end encrypted backup of the history on a relay",
		Long: `Back up the whole history to a relay's vault, encrypted on this device: the
relay's operator cannot read it, nor test a guess of what it holds. Later
backups of this home are incremental: only what the vault lacks is sent.

Prints "backup: ID". The first time, without --password, it also prints a
64-digit recovery key: keep it, it is the only way to restore. With --password
the key is locked under your password instead, and restoring needs the password
and the backup ID. The relay hands the locked key only to someone who proves the
password, and locks the backup after 10 wrong ones, but its operator holds the
locked key and can try passwords offline (slowly, Argon2id): pick a long one.
The recovery key has no such weakness.

The backup key is kept in HOME/vault.json (readable only by you) so that later
backups reuse it; switching between --password and a recovery key starts a new
backup with a new key, and the old backup stays on the relay as it was (the home
keeps its key: ferry backups lists it, ferry backups rm deletes it). List and
delete backups with ferry backups.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if relayAddr == "" {
				return usageError{errors.New("--relay ADDR is required: the relay that keeps the backup")}
			}
			opts := lib.BackupOptions{Relay: relayAddr}
			if password {
				var err error
				if opts.Password, err = a.readPassword("Password for the backup: ", true); err != nil {
					return err
				}
			}
			var res lib.BackupResult
			err := a.withVaultAPI(ctx, func(api daemon.API) error {
				v := a.newOpView(lib.PhaseBackingUp, true)
				opts.Events = v.event
				var err error
				res, err = api.Backup(ctx, opts)
				v.finish()
				return err
			})
			if err != nil {
				return err
			}
			defer res.Key.Wipe()
			type jsonOut struct {
				Backup        string    `json:"backup"`
				Seq           uint64    `json:"seq"`
				New           bool      `json:"new"`
				Stats         lib.Stats `json:"stats"`
				Chunks        int       `json:"chunks"`
				ChunksSent    int       `json:"chunks_sent"`
				ChunksSkipped int       `json:"chunks_skipped"`
				BytesSent     int64     `json:"bytes_sent"`
				Seconds       float64   `json:"seconds"`
				RecoveryKey   string    `json:"recovery_key,omitempty"`
				// Previous is the backup of the key this one switched
				// away from: it stays on the relay.
				Previous string `json:"previous_backup,omitempty"`
			}
			id := res.ID
			j := jsonOut{id, res.Seq, res.NewKey, res.Stats, res.Chunks, res.ChunksSent, res.ChunksSkipped, res.BytesSent, res.Took.Seconds(), "", ""}
			showKey := res.NewKey && !password
			if showKey {
				j.RecoveryKey = res.Key.String()
			}
			if res.Previous != nil {
				j.Previous = res.Previous.ID
			}
			return a.emit(j, func() {
				fmt.Fprintf(a.stdout, "backed up %d messages, %d attachments (%s) in %s: sent %d chunks (%s), %d already on the relay\n",
					res.Stats.Messages, res.Stats.Attachments, humanBytes(res.Stats.MediaBytes), res.Took.Round(time.Millisecond),
					res.ChunksSent, humanBytes(res.BytesSent), res.ChunksSkipped)
				fmt.Fprintf(a.stdout, "backup: %s\n", id)
				if showKey {
					fmt.Fprintf(a.stdout, "recovery key: %s\n", j.RecoveryKey)
					fmt.Fprintln(a.stdout, "Keep this key somewhere safe: without it the backup cannot be restored.")
				}
				if res.Previous != nil {
					fmt.Fprintln(a.stdout, switchNote(res.Previous, password))
				}
			})
		},
	}
	cmd.Flags().StringVar(&relayAddr, "relay", "", "the relay's address, as printed by ferry relay")
	a.relayWaitFlag(cmd.Flags())
	cmd.Flags().BoolVar(&password, "password", false, "lock the backup key with a password (from FERRY_PASSWORD or a prompt) instead of showing a recovery key")
	return cmd
}

func (a *app) restoreCmd() *cobra.Command {
	var (
		relayAddr, key, backupID string
		password                 bool
	)
	cmd := &cobra.Command{
		Use:   "restore --relay ADDR (--key KEY | --password --backup ID)",
		Short: "Restore a backup from a relay into this home",
		Long: `Fetch a backup from a relay's vault, verify every piece of it, and merge it into
this home. Needs the recovery key, or the password and the backup ID; never the
device that made it. Nothing is changed unless the whole backup is intact: a
tampered, incomplete or wrong backup leaves the home as it was. An interrupted
restore continues where it stopped when run again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if relayAddr == "" {
				return usageError{errors.New("--relay ADDR is required: the relay that keeps the backup")}
			}
			if (key == "") == !password {
				return usageError{errors.New("give either --key KEY (the recovery key) or --password with --backup ID")}
			}
			if password && backupID == "" {
				return usageError{errors.New("--backup ID is required with --password: the ID printed by ferry backup")}
			}
			opts := lib.RestoreOptions{Relay: relayAddr, BackupID: strings.TrimSpace(backupID)}
			if opts.BackupID != "" {
				if err := lib.CheckBackupID(opts.BackupID); err != nil {
					return err
				}
			}
			if key != "" {
				k, err := lib.ParseRecoveryKey(key)
				if err != nil {
					return err
				}
				defer k.Wipe()
				opts.Key = k
			}
			if password {
				pw, err := a.readPassword("Password of the backup: ", false)
				if err != nil {
					return err
				}
				opts.Password = pw
			}
			var res lib.Result
			err := a.withVaultAPI(ctx, func(api daemon.API) error {
				v := a.newOpView(lib.PhaseRestoring, true)
				opts.Events = v.event
				var err error
				res, err = api.Restore(ctx, opts)
				v.finish()
				return err
			})
			if err != nil {
				return err
			}
			return a.reportResult(res, "restore", "restored")
		},
	}
	cmd.Flags().StringVar(&relayAddr, "relay", "", "the relay's address, as printed by ferry relay")
	a.relayWaitFlag(cmd.Flags())
	cmd.Flags().StringVar(&key, "key", "", "the recovery key printed by ferry backup (spaces optional)")
	cmd.Flags().BoolVar(&password, "password", false, "the backup is locked with a password (from FERRY_PASSWORD or a prompt)")
	cmd.Flags().StringVar(&backupID, "backup", "", "the backup ID printed by ferry backup (needed with --password)")
	return cmd
}

func (a *app) backupsCmd() *cobra.Command {
	var relayAddr string
	cmd := &cobra.Command{
		Use:   "backups --relay ADDR",
		Short: "List this device's backups on a relay, and those of every backup key it holds",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if relayAddr == "" {
				return usageError{errors.New("--relay ADDR is required")}
			}
			var list []lib.BackupInfo
			err := a.withVaultAPI(ctx, func(api daemon.API) error {
				var err error
				list, err = api.Backups(ctx, relayAddr)
				return err
			})
			if err != nil {
				return err
			}
			type entry struct {
				Backup  string     `json:"backup"`
				Updated time.Time  `json:"updated"`
				Size    int64      `json:"size"`
				Stats   *lib.Stats `json:"stats,omitempty"` // absent when this home lacks the key
				// KeyUnchecked: the relay cannot check this home's key of
				// it (see lib.BackupInfo): its size is unknown.
				KeyUnchecked bool `json:"key_unchecked,omitempty"`
			}
			j := struct {
				Backups []entry `json:"backups"`
			}{Backups: []entry{}}
			for _, b := range list {
				j.Backups = append(j.Backups, entry{Backup: b.ID, Updated: b.Updated, Size: b.Size, Stats: b.Stats, KeyUnchecked: b.KeyUnchecked})
			}
			return a.emit(j, func() {
				if len(list) == 0 {
					fmt.Fprintln(a.stdout, "no backups of this device, nor of a key it holds, on that relay")
					return
				}
				for _, e := range j.Backups {
					counts := ""
					if e.Stats != nil {
						counts = fmt.Sprintf("  %d conversations, %d messages, %d attachments", e.Stats.Conversations, e.Stats.Messages, e.Stats.Attachments)
					}
					size := humanBytes(e.Size)
					if e.KeyUnchecked {
						size, counts = "?", counts+"  (made by an older Ferry, or kept by an older relay: only the device that made it can delete it)"
					}
					fmt.Fprintf(a.stdout, "%s  %s  %s%s\n", e.Backup, e.Updated.Local().Format("2006-01-02 15:04"), size, counts)
				}
			})
		},
	}
	cmd.PersistentFlags().StringVar(&relayAddr, "relay", "", "the relay's address, as printed by ferry relay")
	a.relayWaitFlag(cmd.PersistentFlags())
	rm := &cobra.Command{
		Use:   "rm ID --relay ADDR",
		Short: "Delete a backup of this device, or of a key it holds, from a relay",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if relayAddr == "" {
				return usageError{errors.New("--relay ADDR is required")}
			}
			if err := lib.CheckBackupID(args[0]); err != nil {
				return err
			}
			err := a.withVaultAPI(ctx, func(api daemon.API) error { return api.DeleteBackup(ctx, relayAddr, args[0]) })
			if err != nil {
				return err
			}
			return a.emit(map[string]string{"deleted": args[0]}, func() {
				fmt.Fprintf(a.stdout, "deleted backup %s\n", args[0])
			})
		},
	}
	cmd.AddCommand(rm)
	return cmd
}

// switchNote says what became of the backup a switch between a recovery
// key and a password left behind.
func switchNote(p *lib.PreviousBackup, password bool) string {
	was, now := "a recovery key", "a password"
	if p.Password {
		was = "a password"
	}
	if !password {
		now = "a recovery key"
	}
	return fmt.Sprintf("This is a new backup, locked with %s. The earlier one, %s, made with %s, stays on the relay as it was:\n"+
		"this home keeps its key, ferry backups lists it with its counts, and ferry backups rm %s deletes it (from this device, or any that holds its key).",
		now, p.ID, was, p.ID)
}

// withVaultAPI runs fn for a vault command: over the running daemon, or
// a Device of this process whose host listens on loopback only (a vault
// client needs no connection from outside). --relay-wait sets how long the
// command keeps trying when the connection to the relay drops.
func (a *app) withVaultAPI(ctx context.Context, fn func(daemon.API) error) error {
	if c, err := daemon.Dial(ctx, socketPath(a.home)); err == nil {
		defer c.Close()
		a.log.Debug("using the running daemon", "socket", socketPath(a.home))
		return fn(c)
	} else if !errors.Is(err, daemon.ErrNoDaemon) {
		return err
	}
	return a.withDevice(ctx, func(d *lib.Device) error {
		d.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
		d.RelayRetry = a.relayWait
		if d.RelayRetry == 0 {
			d.RelayRetry = -1 // give up at once
		}
		return fn(d)
	})
}

// relayWaitFlag registers --relay-wait on a vault command.
func (a *app) relayWaitFlag(fs *pflag.FlagSet) {
	fs.DurationVar(&a.relayWait, "relay-wait", time.Minute, "when the connection to the relay is lost, how long to keep trying before giving up (0: give up at once)")
}

// vaultConfig holds the ferry relay flags of the vault.
type vaultConfig struct {
	dir, s3, quota, maxSize, total string
	ttl                            time.Duration
}

func (v *vaultConfig) flags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&v.dir, "vault-dir", "", "keep devices' encrypted backups in this directory (default DATA/vault)")
	cmd.Flags().StringVar(&v.s3, "s3", "", "keep backups in S3-compatible storage instead: s3://ACCESS:SECRET@HOST[:PORT]/BUCKET[/PREFIX][?secure=false]")
	cmd.Flags().StringVar(&v.quota, "quota", "", "bytes one device may keep in the vault, e.g. 10GiB (default 10GiB)")
	cmd.Flags().StringVar(&v.maxSize, "max-backup-size", "", "largest backup accepted, e.g. 8GiB (default 8GiB)")
	cmd.Flags().StringVar(&v.total, "vault-size", "", "bytes the vault keeps for all devices together, e.g. 500GiB (default 100GiB)")
	cmd.Flags().DurationVar(&v.ttl, "backup-ttl", 0, "delete backups not refreshed for this long (default 4320h: 180 days)")
}

// apply opens the vault's store and fills the relay config.
func (v *vaultConfig) apply(ctx context.Context, dataDir string, quota, maxSize, total *int64, ttl *time.Duration) (vaultstore.Store, error) {
	var err error
	if *total, err = parseSize(v.total); err != nil {
		return nil, usageError{fmt.Errorf("--vault-size: %w", err)}
	}
	if *quota, err = parseSize(v.quota); err != nil {
		return nil, usageError{fmt.Errorf("--quota: %w", err)}
	}
	if *maxSize, err = parseSize(v.maxSize); err != nil {
		return nil, usageError{fmt.Errorf("--max-backup-size: %w", err)}
	}
	if v.ttl < 0 {
		return nil, usageError{errors.New("--backup-ttl must be positive")}
	}
	*ttl = v.ttl
	if v.s3 != "" {
		if v.dir != "" {
			return nil, usageError{errors.New("give --vault-dir or --s3, not both")}
		}
		return vaultstore.NewS3(ctx, v.s3)
	}
	dir := v.dir
	if dir == "" {
		dir = filepath.Join(dataDir, "vault")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("vault directory: %w", err)
	}
	return vaultstore.NewDir(dir)
}

// parseSize parses a byte count such as 512MiB, 10GB or 4096; "" is 0.
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], strings.TrimSpace(s[i:])
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("%q is not a size such as 512MiB or 10GB", s)
	}
	mult := map[string]float64{
		"": 1, "b": 1,
		"k": 1 << 10, "kib": 1 << 10, "kb": 1e3,
		"m": 1 << 20, "mib": 1 << 20, "mb": 1e6,
		"g": 1 << 30, "gib": 1 << 30, "gb": 1e9,
		"t": 1 << 40, "tib": 1 << 40, "tb": 1e12,
	}[strings.ToLower(unit)]
	if mult == 0 {
		return 0, fmt.Errorf("%q: unknown unit %q (use B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)", s, unit)
	}
	if f*mult >= 1<<62 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return int64(f * mult), nil
}
