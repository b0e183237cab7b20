package pairing_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"

	"github.com/ferryhq/ferry/pairing"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Example pairs a sender and a receiver over an in-memory connection, as the
// daemon does over a /ferry/pair/1 libp2p stream.
func Example() {
	var homes []string
	defer func() {
		for _, h := range homes {
			os.RemoveAll(h)
		}
	}()
	newDevice := func(name string) (pairing.Identity, peer.ID, *pairing.Store) {
		key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
		id, _ := peer.IDFromPrivateKey(key)
		home, _ := os.MkdirTemp("", "ferry-example-")
		homes = append(homes, home)
		store, _ := pairing.Open(home)
		return pairing.Identity{Key: key, Name: name, Version: "ferry example"}, id, store
	}
	oldPhone, oldID, oldStore := newDevice("old phone")
	newPhone, newID, newStore := newDevice("new phone")
	ctx := context.Background()

	// Sender: a session with a fresh code, shown to the user.
	session, _ := pairing.NewSendSession(pairing.SessionConfig{
		Local: oldPhone,
		Offer: []byte("3 chats, 1,200 messages"),
		Store: oldStore,
		OnEvent: func(e pairing.Event) {
			if e.Kind == pairing.EventAttemptFailed {
				fmt.Printf("wrong code tried (%d attempts left)\n", e.Remaining)
			}
		},
	})
	typed := session.Code().String() // the receiver's user types this

	// Receiver: parse what the user typed, then pair.
	code, err := pairing.ParseCode(typed)
	if err != nil {
		fmt.Println(err) // e.g. invalid code: "zebar" is not a code word; did you mean "zebra"?
		return
	}
	a, b := net.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := session.Accept(ctx, b, newID)
		done <- err
	}()
	p, err := pairing.Pair(ctx, a, pairing.Config{
		Role: pairing.Initiator, Code: code, Local: newPhone, RemotePeer: oldID, Store: newStore,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("paired with %q, which offers %q\n", p.Device.Name, p.Offer)
	fmt.Println("sender:", <-done)
	devs, _ := oldStore.List()
	fmt.Println("sender trusts:", devs[0].Name, devs[0].PeerID == newID)

	// Output:
	// paired with "old phone", which offers "3 chats, 1,200 messages"
	// sender: <nil>
	// sender trusts: new phone true
}

func ExampleParseCode() {
	for _, s := range []string{"7 Zebra ACORN", "7-zebar-acorn", "7-zebra"} {
		c, err := pairing.ParseCode(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(c, c.Bits() >= 16)
	}
	// Output:
	// 7-zebra-acorn true
	// invalid code: "zebar" is not a code word; did you mean "zebra"?
	// invalid code: want 2 to 8 words after the number, got 1
}
