package ferry_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/ferryhq/ferry"
)

// chat is a small WhatsApp export (Android, US English) for the examples to
// start a history from.
const chat = `3/8/25, 9:05 AM - Bob: Morning! Are we still on for Saturday?
3/8/25, 9:07 AM - Alice: Yes! Meet at the station at ten.
3/8/25, 9:08 AM - Bob: See you there.
`

// oldDevice is a Device whose history holds the chat above, and a folder
// for the examples' other homes (removed by the returned func).
func oldDevice(ctx context.Context) (*ferry.Device, string, func()) {
	dir, err := os.MkdirTemp("", "ferry-example-")
	if err != nil {
		log.Fatal(err)
	}
	export := filepath.Join(dir, "WhatsApp Chat with Bob.txt")
	if err := os.WriteFile(export, []byte(chat), 0o600); err != nil {
		log.Fatal(err)
	}
	old := &ferry.Device{Home: filepath.Join(dir, "old"), Name: "old phone", NoMDNS: true, Listen: loopback}
	if _, err := old.ImportHistory(ctx, export, ferry.HistoryImportOptions{TimeZone: "UTC", Owner: "Alice"}); err != nil {
		log.Fatal(err)
	}
	return old, dir, func() { old.Close(); os.RemoveAll(dir) }
}

// loopback keeps the examples' hosts on this machine.
var loopback = []string{"/ip4/127.0.0.1/tcp/0"}

// A migration between two Devices: the old one sends, the new one receives
// with what the old one shows. Here the new device is handed the send's
// ferry: link (what its QR code holds), so that it needs no discovery; a
// person would type Sending.Code instead, and the devices find each other
// on the local network (or through Device.Relay).
func Example() {
	ctx := context.Background()
	old, dir, cleanup := oldDevice(ctx)
	defer cleanup()

	sending, err := old.Send(ctx, ferry.SendOptions{})
	if err != nil {
		log.Fatal(err)
	}

	phone := &ferry.Device{Home: filepath.Join(dir, "new"), Name: "new phone", NoMDNS: true, Listen: loopback}
	defer phone.Close()
	res, err := phone.Receive(ctx, sending.Link(), ferry.ReceiveOptions{
		// Confirm sees what is offered before anything moves.
		Confirm: func(ctx context.Context, o ferry.Offer) (bool, error) {
			fmt.Printf("%s offers %d messages\n", o.Device, o.Messages)
			return true, nil
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	sent, err := sending.Wait(ctx) // what the receiver reported to the sender
	if err != nil {
		log.Fatal(err)
	}
	src, err := old.Stats(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("received messages:", res.Target.Messages)
	fmt.Println("same history:", res.Target.Digest == src.Digest)
	fmt.Println("the sender saw it verified:", sent.Target.Digest == src.Digest)
	// Output:
	// old phone offers 3 messages
	// received messages: 3
	// same history: true
	// the sender saw it verified: true
}

// An export and import round trip: the archive is sealed under a new
// recovery key, which the person writes down; the new device imports it with
// the key as they type it.
func ExampleDevice_Export() {
	ctx := context.Background()
	old, dir, cleanup := oldDevice(ctx)
	defer cleanup()

	var archive bytes.Buffer
	key, err := old.Export(ctx, &archive, ferry.ExportOptions{})
	if err != nil {
		log.Fatal(err)
	}
	typed := key.String() // 64 hex digits in groups of four

	k, err := ferry.ParseRecoveryKey(typed)
	if err != nil {
		log.Fatal(err)
	}
	laptop := &ferry.Device{Home: filepath.Join(dir, "laptop")}
	defer laptop.Close()
	res, err := laptop.Import(ctx, bytes.NewReader(archive.Bytes()), k)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("imported messages:", res.Target.Messages, "adopted:", res.Adopted)

	// A wrong key changes nothing, and says so in a sentence.
	wrong, _ := ferry.ParseRecoveryKey("0000 0000 0000 0000 0000 0000 0000 0000 0000 0000 0000 0000 0000 0000 0000 0001")
	other := &ferry.Device{Home: filepath.Join(dir, "other")}
	_, err = other.Import(ctx, bytes.NewReader(archive.Bytes()), wrong)
	var fe *ferry.Error
	if errors.As(err, &fe) {
		fmt.Println(fe.Code, "-", fe.Sentence, "- resumable:", fe.Resumable)
	}
	// Output:
	// imported messages: 3 adopted: true
	// wrong-key - the recovery key does not open this archive - resumable: false
}

// ParseRecoveryKey takes a key as RecoveryKey.String prints it, with or
// without the spaces; a malformed one is an *Error that says what is wrong.
func ExampleParseRecoveryKey() {
	_, err := ferry.ParseRecoveryKey("1234 5678")
	fmt.Println(ferry.CodeOf(err))
	// Output:
	// bad-recovery-key
}
