package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	lib "github.com/ferryhq/ferry"

	"github.com/spf13/cobra"

	"github.com/ferryhq/ferry/chatstore"
	chatseed "github.com/ferryhq/ferry/chatstore/seed"
	"github.com/ferryhq/ferry/internal/units"
	"github.com/ferryhq/ferry/relay"
)

func (a *app) demoCmd() *cobra.Command {
	var (
		messages int
		mediaMB  int64
		keep     bool
		direct   bool
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Migrate a generated history between two devices through a relay on this machine, and verify it",
		Long: `Seed a realistic history in a temporary "old device" home, start a relay and
two devices with real libp2p hosts on loopback, let them meet on the relay by
code and pair, migrate the history through the relay into the empty "new
device" home, verify it, and print a report. --direct connects the two devices
directly instead. Nothing leaves this machine and nothing outside a temporary
directory is touched.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if messages < 0 || mediaMB < 0 {
				return usageError{fmt.Errorf("--messages and --media-mb must not be negative")}
			}
			return a.runDemo(cmd.Context(), messages, mediaMB, keep, direct)
		},
	}
	cmd.Flags().IntVar(&messages, "messages", 50000, "messages in the generated history")
	cmd.Flags().Int64Var(&mediaMB, "media-mb", 64, "MiB of attachments in the generated history")
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the two homes and print where they are")
	cmd.Flags().BoolVar(&direct, "direct", false, "connect the devices directly instead of through the relay")
	return cmd
}

// demoReport is what ferry demo prints.
type demoReport struct {
	Source       lib.Stats `json:"source"`
	Target       lib.Stats `json:"target"`
	DigestEqual  bool      `json:"digest_equal"`
	Code         string    `json:"code"`
	Path         string    `json:"path"`
	Paired       bool      `json:"paired"`
	SenderDigest string    `json:"sender_reported_digest"`
	Bytes        int64     `json:"bytes"`
	SeedSeconds  float64   `json:"seed_seconds"`
	Seconds      float64   `json:"seconds"`
	MBPerSecond  float64   `json:"mb_per_second"`
	MsgsPerSec   float64   `json:"messages_per_second"`
	Homes        []string  `json:"homes,omitempty"`
}

func (a *app) runDemo(ctx context.Context, messages int, mediaMB int64, keep, direct bool) error {
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
	_, err = chatseed.Add(ctx, src, chatseed.Options{Messages: messages, MediaBytes: mediaMB << 20, Seed: 1, Progress: p.Set})
	p.Finish()
	src.Close()
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	seedTook := time.Since(seedStart)

	if err := os.Mkdir(newHome, 0o700); err != nil {
		return fmt.Errorf("make new device home: %w", err)
	}
	// Two devices with real libp2p hosts on loopback. Discovery is off: the
	// demo hands the receiver the sender's address, and nothing leaves this
	// machine.
	loop := []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}
	oldDev := &lib.Device{Home: oldHome, Name: "old device", Version: "ferry " + version, Listen: loop, NoMDNS: true, WorkDir: dir, Logger: a.log}
	defer oldDev.Close()
	newDev := &lib.Device{Home: newHome, Name: "new device", Version: "ferry " + version, Listen: loop, NoMDNS: true, Logger: a.log}
	defer newDev.Close()
	// The relay: both devices meet there by code, and the bytes flow
	// through it (end-to-end encrypted), as between two networks.
	var relayAddr string
	if !direct {
		srv, err := relay.New(ctx, relay.Config{DataDir: filepath.Join(dir, "relay"), Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Logger: a.log})
		if err != nil {
			return fmt.Errorf("start relay: %w", err)
		}
		defer srv.Close()
		relayAddr = srv.Addrs()[0].String()
		a.say("Relay on this machine: %s", relayAddr)
	}

	how := "through the relay"
	if direct {
		how = "directly"
	}
	a.say("Migrating to the new device (%s) %s, over libp2p on loopback...", newHome, how)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sending, err := oldDev.Send(ctx, lib.SendOptions{Relay: relayAddr})
	if err != nil {
		return fmt.Errorf("old device: %w", err)
	}
	code := sending.Code()
	a.say("  old device shows the code %s; the new device types it", code)
	start := time.Now()
	var (
		bar    *progress
		path   string
		paired bool
	)
	target := code
	if direct {
		// The link holds the code and the old device's addresses.
		target = sending.Link()
	}
	got, err := newDev.Receive(ctx, target, lib.ReceiveOptions{Relay: relayAddr, Events: func(e lib.Event) {
		switch e.Kind {
		case lib.EventConnected:
			path = e.Path
		case lib.EventPaired:
			paired = true
		case lib.EventProgress:
			if bar == nil {
				bar = a.newProgress("receiving ("+path+")", e.Total, true)
			}
			bar.Set(e.Done, e.Total)
		}
	}})
	if bar != nil {
		bar.Finish()
	}
	if err != nil {
		return fmt.Errorf("new device: %w", err)
	}
	sent, err := sending.Wait(ctx)
	if err != nil {
		return fmt.Errorf("old device: %w", err)
	}
	took := time.Since(start)
	source, err := oldDev.Stats(ctx)
	if err != nil {
		return err
	}
	final, err := newDev.Stats(ctx)
	if err != nil {
		return err
	}
	rep := demoReport{
		Source: source, Target: final, DigestEqual: source.Digest == final.Digest,
		Code: code, Path: path, Paired: paired, SenderDigest: sent.Target.Digest,
		Bytes: got.Bytes, SeedSeconds: seedTook.Seconds(), Seconds: took.Seconds(),
		MBPerSecond: float64(got.Bytes) / 1e6 / took.Seconds(),
		MsgsPerSec:  float64(final.Messages) / took.Seconds(),
	}
	if keep {
		rep.Homes = []string{oldHome, newHome}
	}
	if err := a.emit(rep, func() { printDemo(a, rep) }); err != nil {
		return err
	}
	if !rep.DigestEqual {
		return fmt.Errorf("the new device's digest %s differs from the old device's %s", final.Digest, source.Digest)
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
	fmt.Fprintf(w, "  paired with code %s; path: %s; the sender saw the receiver's digest: %v\n", r.Code, r.Path, r.SenderDigest == r.Target.Digest)
	fmt.Fprintf(w, "  moved %s in %.2f s (pairing, transfer, commit, verify): %s, %.0f messages/s (seeding took %.2f s)\n",
		humanBytes(r.Bytes), r.Seconds, units.PerSecond(r.Bytes, time.Duration(r.Seconds*float64(time.Second))), r.MsgsPerSec, r.SeedSeconds)
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
