package main

import (
	"context"
	"fmt"
	lib "github.com/ferryhq/ferry"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferryhq/ferry/chatstore"
	chatseed "github.com/ferryhq/ferry/chatstore/seed"
	"github.com/ferryhq/ferry/daemon"
	"github.com/ferryhq/ferry/internal/units"
)

func (a *app) historyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "history",
		Short: "Make, inspect, read or search the chat history in a home",
	}
	cmd.AddCommand(a.seedCmd(), a.statsCmd(), a.historyImportCmd())
	cmd.AddCommand(a.historyReadCmds()...)
	return cmd
}

func (a *app) seedCmd() *cobra.Command {
	var (
		messages int
		mediaMB  int64
		seed     uint64
	)
	cmd := &cobra.Command{
		Use:   "seed",
		Short: "Generate a realistic, deterministic chat history (adds to what is there)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if messages < 0 || mediaMB < 0 {
				return usageError{fmt.Errorf("--messages and --media-mb must not be negative")}
			}
			ctx := cmd.Context()
			st, err := a.openHistory(ctx, true)
			if err != nil {
				return err
			}
			defer st.Close()
			p := a.newProgress("seeding", int64(messages), false)
			start := time.Now()
			stats, err := chatseed.Add(ctx, st, chatseed.Options{
				Messages: messages, MediaBytes: mediaMB << 20, Seed: seed,
				Progress: p.Set,
			})
			p.Finish()
			if err != nil && ctx.Err() != nil {
				// One transaction: nothing of it stays, and nothing resumes.
				return &lib.Error{Code: lib.CodeInterrupted, Sentence: "interrupted: nothing was seeded", Err: err}
			}
			if err != nil {
				return fmt.Errorf("seed: %w", err)
			}
			took := time.Since(start)
			a.catchUpIndex(ctx, st)
			return a.emit(struct {
				chatstore.Stats
				Seconds float64 `json:"seconds"`
			}{stats, took.Seconds()}, func() {
				fmt.Fprintf(a.stdout, "seeded %s in %s\n", a.home, took.Round(time.Millisecond))
				printStats(a, stats)
			})
		},
	}
	cmd.Flags().IntVar(&messages, "messages", 10000, "number of messages to add")
	cmd.Flags().Int64Var(&mediaMB, "media-mb", 16, "MiB of attachments to add")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "random seed; the same seed gives the same history")
	return cmd
}

func (a *app) statsCmd() *cobra.Command {
	var verify bool
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Count what a home holds and print its digest",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			return a.withAPI(ctx, func(api daemon.API) error {
				stats, err := api.Stats(ctx)
				if err != nil {
					return err
				}
				if !verify {
					return a.emit(stats, func() { printStats(a, stats) })
				}
				if err := api.Verify(ctx); err != nil {
					return err
				}
				return a.emit(struct {
					chatstore.Stats
					Verified bool `json:"verified"`
				}{stats, true}, func() {
					printStats(a, stats)
					fmt.Fprintf(a.stdout, "verified:      every media file matches its hash (%d attachments, %s)\n",
						stats.Attachments, humanBytes(stats.MediaBytes))
				})
			})
		},
	}
	cmd.Flags().BoolVar(&verify, "verify", false, "also re-hash every media file, and say that they match")
	return cmd
}

// openSource opens the home read-only: a source is only ever read.
func (a *app) openSource(ctx context.Context) (*chatstore.Store, error) {
	return a.openHistory(ctx, false)
}

// openHistory opens the home's history, for the commands that read it with
// chatstore's queries or write generated data into it.
func (a *app) openHistory(ctx context.Context, write bool) (*chatstore.Store, error) {
	if write && !a.homeSet {
		if err := os.MkdirAll(filepath.Dir(a.home), 0o700); err != nil {
			return nil, fmt.Errorf("create %s: %w", filepath.Dir(a.home), err)
		}
	}
	return a.device().OpenHistory(ctx, write)
}

func printStats(a *app, s chatstore.Stats) {
	fmt.Fprintf(a.stdout, "conversations: %d\nmessages:      %d\nattachments:   %d\nmedia:         %s\ndigest:        %s\n",
		s.Conversations, s.Messages, s.Attachments, humanBytes(s.MediaBytes), s.Digest)
}

func humanBytes(n int64) string { return units.Bytes(n) }
