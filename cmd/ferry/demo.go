package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/transfer"
)

func (a *app) demoCmd() *cobra.Command {
	var (
		messages int
		mediaMB  int64
		keep     bool
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Migrate a generated history between two homes on this machine and verify it",
		Long: `Seed a realistic history in a temporary "old device" home, migrate it into an
empty "new device" home with the transfer engine, verify it, and print a report.
Nothing outside a temporary directory is touched.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runDemo(cmd.Context(), messages, mediaMB, keep)
		},
	}
	cmd.Flags().IntVar(&messages, "messages", 50000, "messages in the generated history")
	cmd.Flags().Int64Var(&mediaMB, "media-mb", 64, "MiB of attachments in the generated history")
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the two homes and print where they are")
	return cmd
}

// demoReport is what ferry demo prints.
type demoReport struct {
	Source      chatstore.Stats `json:"source"`
	Target      chatstore.Stats `json:"target"`
	DigestEqual bool            `json:"digest_equal"`
	Chunks      int             `json:"chunks"`
	Bytes       int64           `json:"bytes"`
	SeedSeconds float64         `json:"seed_seconds"`
	Seconds     float64         `json:"seconds"`
	MBPerSecond float64         `json:"mb_per_second"`
	MsgsPerSec  float64         `json:"messages_per_second"`
	Homes       []string        `json:"homes,omitempty"`
}

func (a *app) runDemo(ctx context.Context, messages int, mediaMB int64, keep bool) error {
	dir, err := os.MkdirTemp("", "ferry-demo-")
	if err != nil {
		return fmt.Errorf("make demo directory: %w", err)
	}
	if !keep {
		defer os.RemoveAll(dir)
	}
	oldHome, newHome := filepath.Join(dir, "old-device"), filepath.Join(dir, "new-device")
	a.say("Seeding %d messages and %d MiB of media on the old device (%s)...", messages, mediaMB, oldHome)
	seedStart := time.Now()
	src, err := chatstore.Open(ctx, oldHome, chatstore.Options{Create: true})
	if err != nil {
		return fmt.Errorf("open old device: %w", err)
	}
	p := a.newProgress("seeding", int64(messages), false)
	_, err = chatstore.Seed(ctx, src, chatstore.SeedOptions{Messages: messages, MediaBytes: mediaMB << 20, Seed: 1, Progress: p.Set})
	p.Finish()
	src.Close()
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	seedTook := time.Since(seedStart)

	a.say("Migrating to the new device (%s)...", newHome)
	start := time.Now()
	src, err = chatstore.Open(ctx, oldHome, chatstore.Options{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("open old device: %w", err)
	}
	defer src.Close()
	snap, err := transfer.Snapshot(ctx, src, dir)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	defer snap.Close()
	dst, err := chatstore.Open(ctx, newHome, chatstore.Options{Create: true})
	if err != nil {
		return fmt.Errorf("open new device: %w", err)
	}
	defer dst.Close()
	recv, err := transfer.NewReceiver(dst, snap.Manifest())
	if err != nil {
		return fmt.Errorf("prepare new device: %w", err)
	}
	m := snap.Manifest()
	p = a.newProgress("migrating", m.TotalBytes(), true)
	err = transfer.Migrate(ctx, snap, recv, 4, func(pr transfer.Progress) { p.Set(pr.Bytes, pr.TotalBytes) })
	p.Finish()
	if err != nil {
		recv.Abort()
		return fmt.Errorf("migrate: %w", err)
	}
	res, err := recv.Commit(ctx)
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	took := time.Since(start)
	final, err := dst.Stats(ctx)
	if err != nil {
		return fmt.Errorf("stats of new device: %w", err)
	}
	rep := demoReport{
		Source: res.Source, Target: final, DigestEqual: res.Source.Digest == final.Digest,
		Chunks: res.Chunks, Bytes: m.TotalBytes(), SeedSeconds: seedTook.Seconds(), Seconds: took.Seconds(),
		MBPerSecond: float64(m.TotalBytes()) / 1e6 / took.Seconds(),
		MsgsPerSec:  float64(final.Messages) / took.Seconds(),
	}
	if keep {
		rep.Homes = []string{oldHome, newHome}
	}
	if err := a.emit(rep, func() { printDemo(a, rep) }); err != nil {
		return err
	}
	if !rep.DigestEqual {
		return fmt.Errorf("the new device's digest %s differs from the old device's %s", final.Digest, res.Source.Digest)
	}
	return nil
}

func printDemo(a *app, r demoReport) {
	w := a.stdout
	fmt.Fprintf(w, "\nFerry demo report\n")
	fmt.Fprintf(w, "  %-14s %14s %14s\n", "", "old device", "new device")
	fmt.Fprintf(w, "  %-14s %14d %14d\n", "conversations", r.Source.Conversations, r.Target.Conversations)
	fmt.Fprintf(w, "  %-14s %14d %14d\n", "messages", r.Source.Messages, r.Target.Messages)
	fmt.Fprintf(w, "  %-14s %14d %14d\n", "attachments", r.Source.Attachments, r.Target.Attachments)
	fmt.Fprintf(w, "  %-14s %14s %14s\n", "media", humanBytes(r.Source.MediaBytes), humanBytes(r.Target.MediaBytes))
	fmt.Fprintf(w, "  digest old:    %s\n  digest new:    %s\n", r.Source.Digest, r.Target.Digest)
	eq := "yes"
	if !r.DigestEqual {
		eq = "NO"
	}
	fmt.Fprintf(w, "  digests equal: %s\n", eq)
	fmt.Fprintf(w, "  moved %s in %d chunks in %.2f s: %.0f MB/s, %.0f messages/s (seeding took %.2f s)\n",
		humanBytes(r.Bytes), r.Chunks, r.Seconds, r.MBPerSecond, r.MsgsPerSec, r.SeedSeconds)
	for _, h := range r.Homes {
		fmt.Fprintf(w, "  kept: %s\n", h)
	}
}

// say prints a line of narration for a human (not with --json).
func (a *app) say(format string, args ...any) {
	if a.json {
		return
	}
	fmt.Fprintf(a.stderr, format+"\n", args...)
}
