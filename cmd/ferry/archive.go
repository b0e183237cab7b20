package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	lib "github.com/ferryhq/ferry"
	"github.com/ferryhq/ferry/daemon"

	"github.com/spf13/cobra"
)

func (a *app) exportCmd() *cobra.Command {
	var (
		out      string
		password bool
		force    bool
	)
	cmd := &cobra.Command{
		Use:   "export --out FILE [--password]",
		Short: "Write the whole history as one encrypted archive",
		Long: `Write the whole history as one encrypted, verifiable archive.

Without --password a random key seals it, shown once as a 64-digit recovery key:
keep it, or the archive cannot be opened. With --password the key is locked
under your password with Argon2id instead; anyone who has the file can then try
passwords (slowly), so pick a long one. The recovery key has no such weakness.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usageError{errors.New("--out FILE is required: where to write the archive")}
			}
			ctx := cmd.Context()
			opts := lib.ExportOptions{Replace: force}
			if _, err := os.Stat(out); err == nil && !force {
				return &lib.Error{Code: lib.CodeFileExists, Sentence: out + " already exists"}
			}
			if password {
				var err error
				if opts.Password, err = a.readPassword("Password for the archive: ", true); err != nil {
					return err
				}
			}
			var res lib.ExportResult
			err := a.withAPI(ctx, func(api daemon.API) error {
				v := a.newOpView(lib.PhaseExporting, true)
				opts.Events = v.event
				var err error
				res, err = api.ExportFile(ctx, out, opts)
				v.finish()
				return err
			})
			if err != nil {
				return err
			}
			defer res.Key.Wipe()
			type jsonOut struct {
				File        string    `json:"file"`
				Bytes       int64     `json:"bytes"`
				Snapshot    string    `json:"snapshot"`
				Stats       lib.Stats `json:"stats"`
				RecoveryKey string    `json:"recovery_key,omitempty"`
				Seconds     float64   `json:"seconds"`
				SnapshotSec float64   `json:"snapshot_seconds"`
				WriteSec    float64   `json:"write_seconds"`
			}
			j := jsonOut{File: out, Bytes: res.Bytes, Snapshot: res.Snapshot, Stats: res.Stats,
				Seconds: (res.SnapshotTime + res.WriteTime).Seconds(), SnapshotSec: res.SnapshotTime.Seconds(), WriteSec: res.WriteTime.Seconds()}
			if !password {
				j.RecoveryKey = res.Key.String()
			}
			return a.emit(j, func() {
				fmt.Fprintf(a.stdout, "exported %d messages, %d attachments (%s) to %s in %s\n",
					res.Stats.Messages, res.Stats.Attachments, humanBytes(j.Bytes), out,
					(res.SnapshotTime + res.WriteTime).Round(time.Millisecond))
				if !password {
					fmt.Fprintf(a.stdout, "recovery key: %s\n", j.RecoveryKey)
					fmt.Fprintln(a.stdout, "Keep this key somewhere safe: without it the archive cannot be opened.")
				}
			})
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "", "archive file to write")
	cmd.Flags().BoolVar(&password, "password", false, "lock the archive with a password (from FERRY_PASSWORD or a prompt) instead of a recovery key")
	cmd.Flags().BoolVar(&force, "force", false, "replace --out if it exists")
	return cmd
}

func (a *app) importCmd() *cobra.Command {
	var (
		key      string
		password bool
	)
	cmd := &cobra.Command{
		Use:   "import FILE (--key KEY | --password)",
		Short: "Verify an archive and merge it into this home",
		Long: `Verify an archive and merge its history into this home.

Nothing is changed unless the whole archive is intact and opens with the key or
password: a wrong key, a damaged or cut-off file, or a full disk leave the home
exactly as it was. Importing the same archive twice changes nothing; importing
into a home that already holds part of the history adds only what is missing.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (key == "") == !password {
				return usageError{errors.New("give either --key KEY (the recovery key) or --password")}
			}
			ctx := cmd.Context()
			var opts lib.ImportOptions
			if key != "" {
				k, err := lib.ParseRecoveryKey(key)
				if err != nil {
					return err
				}
				defer k.Wipe()
				opts.Key = k
			}
			if password {
				var err error
				if opts.Password, err = a.readPassword("Password of the archive: ", false); err != nil {
					return err
				}
			}
			var res lib.Result
			err := a.withAPI(ctx, func(api daemon.API) error {
				v := a.newOpView(lib.PhaseImporting, true)
				opts.Events = v.event
				var err error
				res, err = api.ImportFile(ctx, args[0], opts)
				v.finish()
				return err
			})
			if err != nil {
				return err
			}
			return a.reportResult(res, "import", "imported")
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "the recovery key printed by ferry export (spaces optional)")
	cmd.Flags().BoolVar(&password, "password", false, "the archive is locked with a password (from FERRY_PASSWORD or a prompt)")
	return cmd
}

// reportResult prints what an import or a restore brought in; what names the
// command ("import", "restore") and done its past participle.
func (a *app) reportResult(res lib.Result, what, done string) error {
	how := "merged into existing history"
	if res.Adopted {
		how = "adopted into an empty home"
	}
	type jsonOut struct {
		Adopted       bool               `json:"adopted"`
		Source        lib.Stats          `json:"source"`
		Target        lib.Stats          `json:"target"`
		AddedMessages int64              `json:"added_messages"`
		Chunks        int                `json:"chunks"`
		Resumed       int                `json:"resumed"`
		Bytes         int64              `json:"bytes"`
		Seconds       float64            `json:"seconds"`
		DigestEqual   bool               `json:"digest_equal"`
		Phases        map[string]float64 `json:"phase_seconds"`
	}
	ph := res.Phases
	j := jsonOut{res.Adopted, res.Source, res.Target, res.Added.Messages, res.Chunks, res.Resumed,
		res.Bytes, res.Took.Seconds(), res.Source.Digest == res.Target.Digest,
		map[string]float64{"transfer": ph.Transfer.Seconds(), "verify": ph.Verify.Seconds(), "install": ph.Install.Seconds(), "merge": ph.Merge.Seconds()}}
	return a.emit(j, func() {
		fmt.Fprintf(a.stdout, "%s %d messages, %d attachments (%s) in %s: %s\n", done,
			res.Source.Messages, res.Source.Attachments, humanBytes(res.Source.MediaBytes),
			res.Took.Round(time.Millisecond), how)
		if res.Resumed > 0 {
			fmt.Fprintf(a.stdout, "resumed: %d of %d chunks were already here from an interrupted %s\n", res.Resumed, res.Chunks, what)
		}
		if !res.Adopted {
			fmt.Fprintf(a.stdout, "added %d new messages; this home now holds %d\n", res.Added.Messages, res.Target.Messages)
		}
		fmt.Fprintf(a.stdout, "verified: digest %s\n", res.Target.Digest)
	})
}
