// Command outside is a program of another module that uses Ferry only
// through its public API (package github.com/ferryhq/ferry): the test
// TestOutsideModule builds it with a replace directive to the checkout and
// runs it. It migrates a history between two Devices, exports and imports
// it, and backs it up to a relay and restores it, and prints one line per
// step that worked.
//
// Usage: outside DIR RELAY
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ferryhq/ferry"
)

const chat = `3/8/25, 9:05 AM - Bob: Morning! Are we still on for Saturday?
3/8/25, 9:07 AM - Alice: Yes! Meet at the station at ten.
3/8/25, 9:08 AM - Bob: See you there.
3/8/25, 9:09 AM - Alice: Bring the tickets.
`

var loopback = []string{"/ip4/127.0.0.1/tcp/0"}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: outside DIR RELAY")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run(ctx, os.Args[1], os.Args[2]); err != nil {
		var fe *ferry.Error
		if errors.As(err, &fe) {
			fmt.Fprintf(os.Stderr, "outside: %s (code %s, hint %q, resumable %v)\n", fe.Sentence, fe.Code, fe.Hint, fe.Resumable)
		} else {
			fmt.Fprintln(os.Stderr, "outside:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, dir, relay string) error {
	export := filepath.Join(dir, "WhatsApp Chat with Bob.txt")
	if err := os.WriteFile(export, []byte(chat), 0o600); err != nil {
		return err
	}
	old := &ferry.Device{Home: filepath.Join(dir, "old"), Name: "old phone", NoMDNS: true, Listen: loopback, Relay: relay}
	defer old.Close()
	if _, err := old.ImportHistory(ctx, export, ferry.HistoryImportOptions{TimeZone: "UTC"}); err != nil {
		return fmt.Errorf("history import: %w", err)
	}
	src, err := old.Stats(ctx)
	if err != nil {
		return fmt.Errorf("stats: %w", err)
	}
	fmt.Printf("history: %d messages\n", src.Messages)

	// A migration between two Devices on loopback.
	sending, err := old.Send(ctx, ferry.SendOptions{})
	if err != nil {
		return fmt.Errorf("send: %w", err)
	}
	var sawProgress bool
	go func() {
		for e := range sending.Events() {
			_ = e // a sender's events: code, receiver, progress, done
		}
	}()
	phone := &ferry.Device{Home: filepath.Join(dir, "new"), Name: "new phone", NoMDNS: true, Listen: loopback}
	defer phone.Close()
	res, err := phone.Receive(ctx, sending.Link(), ferry.ReceiveOptions{Events: func(e ferry.Event) {
		if e.Kind == ferry.EventProgress {
			sawProgress = true
		}
	}})
	if err != nil {
		return fmt.Errorf("receive: %w", err)
	}
	if _, err := sending.Wait(ctx); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	if res.Target.Digest != src.Digest || !sawProgress {
		return fmt.Errorf("migrated digest %s (progress seen: %v), want %s", res.Target.Digest, sawProgress, src.Digest)
	}
	fmt.Println("migrated: same digest")

	// Export and import, with the key as a person types it.
	var archive bytes.Buffer
	key, err := old.Export(ctx, &archive, ferry.ExportOptions{})
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	k, err := ferry.ParseRecoveryKey(key.String())
	if err != nil {
		return fmt.Errorf("parse key: %w", err)
	}
	laptop := &ferry.Device{Home: filepath.Join(dir, "laptop")}
	defer laptop.Close()
	if res, err = laptop.Import(ctx, &archive, k); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if res.Target.Digest != src.Digest {
		return fmt.Errorf("imported digest %s, want %s", res.Target.Digest, src.Digest)
	}
	fmt.Println("exported and imported: same digest")

	// A backup on the relay, restored on another device with its key.
	b, err := old.Backup(ctx, ferry.BackupOptions{})
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	tablet := &ferry.Device{Home: filepath.Join(dir, "tablet"), Relay: relay, Listen: loopback, NoMDNS: true}
	defer tablet.Close()
	if res, err = tablet.Restore(ctx, ferry.RestoreOptions{Key: b.Key}); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if res.Target.Digest != src.Digest {
		return fmt.Errorf("restored digest %s, want %s", res.Target.Digest, src.Digest)
	}
	fmt.Println("backed up and restored: same digest")

	// A user's mistake is an *ferry.Error with a sentence.
	_, err = ferry.ParseRecoveryKey("not a key")
	var fe *ferry.Error
	if !errors.As(err, &fe) || fe.Code != ferry.CodeBadRecoveryKey || fe.Sentence == "" {
		return fmt.Errorf("a malformed key gave %#v", err)
	}
	fmt.Println("errors: typed")
	return nil
}
