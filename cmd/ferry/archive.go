package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/internal/archive"
	"github.com/ferryhq/ferry/transfer"
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
			if _, err := os.Stat(out); err == nil && !force {
				return fmt.Errorf("%s already exists: pick another --out or add --force to replace it", out)
			}
			st, err := a.openSource(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			var opts transfer.ExportOptions
			if password {
				if opts.Password, err = a.readPassword("Password for the archive: ", true); err != nil {
					return err
				}
			}
			p := a.newProgress("exporting", 0, true)
			opts.Progress = p.Set
			res, err := writeArchive(ctx, st, out, opts)
			p.Finish()
			if err != nil {
				return err
			}
			defer res.Key.Wipe()
			type jsonOut struct {
				File        string          `json:"file"`
				Bytes       int64           `json:"bytes"`
				Snapshot    string          `json:"snapshot"`
				Stats       chatstore.Stats `json:"stats"`
				RecoveryKey string          `json:"recovery_key,omitempty"`
				Seconds     float64         `json:"seconds"`
				SnapshotSec float64         `json:"snapshot_seconds"`
				WriteSec    float64         `json:"write_seconds"`
			}
			fi, _ := os.Stat(out)
			j := jsonOut{File: out, Snapshot: hex.EncodeToString(res.SnapshotID[:]), Stats: res.Stats,
				Seconds: (res.Snapshot + res.Write).Seconds(), SnapshotSec: res.Snapshot.Seconds(), WriteSec: res.Write.Seconds()}
			if fi != nil {
				j.Bytes = fi.Size()
			}
			if !password {
				j.RecoveryKey = res.Key.RecoveryString()
			}
			return a.emit(j, func() {
				fmt.Fprintf(a.stdout, "exported %d messages, %d attachments (%s) to %s in %s\n",
					res.Stats.Messages, res.Stats.Attachments, humanBytes(j.Bytes), out,
					(res.Snapshot + res.Write).Round(time.Millisecond))
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

// writeArchive exports into a temporary file beside out and renames it into
// place only when complete: a failed export never leaves half an archive.
func writeArchive(ctx context.Context, st *chatstore.Store, out string, opts transfer.ExportOptions) (transfer.ExportResult, error) {
	dir := filepath.Dir(out)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(out)+".*.part")
	if err != nil {
		return transfer.ExportResult{}, fmt.Errorf("create %s: %w", out, err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	opts.WorkDir = dir
	res, err := transfer.Export(ctx, st, tmp, opts)
	if err != nil {
		return res, fmt.Errorf("export: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return res, fmt.Errorf("write %s: %w", out, err)
	}
	if err := tmp.Close(); err != nil {
		return res, fmt.Errorf("write %s: %w", out, err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return res, fmt.Errorf("write %s: %w", out, err)
	}
	ok = true
	return res, nil
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
			var opts transfer.ImportOptions
			if key != "" {
				k, err := archive.ParseRecoveryKey(key)
				if err != nil {
					return err
				}
				defer k.Wipe()
				opts.Key = &k
			}
			f, err := os.Open(args[0])
			if err != nil {
				return fmt.Errorf("open archive: %w", err)
			}
			defer f.Close()
			if password {
				if opts.Password, err = a.readPassword("Password of the archive: ", false); err != nil {
					return err
				}
			}
			p := a.newProgress("importing", 0, true)
			opts.Progress = p.Set
			res, err := a.intoHome(ctx, func(st *chatstore.Store) (transfer.Result, error) {
				return transfer.Import(ctx, f, st, opts)
			})
			p.Finish()
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

// intoHome opens the home as a migration target (creating it if needed) and
// runs fn. A failed migration leaves the target's history exactly as it was;
// if verified data stayed staged (the input was cut off, not refused), the
// error says so and a home fn created stays, so that running the same
// command again continues. Otherwise a home it created is removed again.
func (a *app) intoHome(ctx context.Context, fn func(*chatstore.Store) (transfer.Result, error)) (transfer.Result, error) {
	_, statErr := os.Stat(a.home)
	created := errors.Is(statErr, os.ErrNotExist)
	if err := a.ensureHome(); err != nil {
		return transfer.Result{}, err
	}
	st, err := chatstore.Open(ctx, a.home, chatstore.Options{Create: true})
	if err != nil {
		if created {
			os.RemoveAll(a.home)
		}
		return transfer.Result{}, fmt.Errorf("open %s: %w", a.home, err)
	}
	res, err := fn(st)
	if err == nil {
		a.catchUpIndex(ctx, st)
	}
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		return res, nil
	}
	if ents, _ := os.ReadDir(filepath.Join(a.home, transfer.StagingDir)); len(ents) > 0 {
		return res, resumable{err}
	}
	if created {
		os.RemoveAll(a.home)
	}
	return res, err
}

// resumable is a migration that stopped with verified data kept.
type resumable struct{ err error }

func (r resumable) Error() string {
	return userMessage(r.err) + "; what arrived is kept: run the same command again to continue"
}
func (r resumable) Unwrap() error { return r.err }

// reportResult prints what an import or a restore brought in; what names the
// command ("import", "restore") and done its past participle.
func (a *app) reportResult(res transfer.Result, what, done string) error {
	how := "merged into existing history"
	if res.Adopted {
		how = "adopted into an empty home"
	}
	type jsonOut struct {
		Adopted       bool               `json:"adopted"`
		Source        chatstore.Stats    `json:"source"`
		Target        chatstore.Stats    `json:"target"`
		AddedMessages int64              `json:"added_messages"`
		Chunks        int                `json:"chunks"`
		Resumed       int                `json:"resumed"`
		Bytes         int64              `json:"bytes"`
		Seconds       float64            `json:"seconds"`
		DigestEqual   bool               `json:"digest_equal"`
		Phases        map[string]float64 `json:"phase_seconds"`
	}
	j := jsonOut{res.Adopted, res.Source, res.Target, res.Added.Messages, res.Chunks, res.Resumed,
		res.ReceivedBytes, res.Total.Seconds(), res.Source.Digest == res.Target.Digest,
		map[string]float64{"transfer": res.Transfer.Seconds(), "verify": res.Verify.Seconds(), "install": res.Install.Seconds(), "merge": res.Merge.Seconds()}}
	return a.emit(j, func() {
		fmt.Fprintf(a.stdout, "%s %d messages, %d attachments (%s) in %s: %s\n", done,
			res.Source.Messages, res.Source.Attachments, humanBytes(res.Source.MediaBytes),
			res.Total.Round(time.Millisecond), how)
		if res.Resumed > 0 {
			fmt.Fprintf(a.stdout, "resumed: %d of %d chunks were already here from an interrupted %s\n", res.Resumed, res.Chunks, what)
		}
		if !res.Adopted {
			fmt.Fprintf(a.stdout, "added %d new messages; this home now holds %d\n", res.Added.Messages, res.Target.Messages)
		}
		fmt.Fprintf(a.stdout, "verified: digest %s\n", res.Target.Digest)
	})
}
