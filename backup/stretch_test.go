package backup

import (
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/ferryhq/ferry/chatstore/storetest"
	"github.com/ferryhq/ferry/internal/wire"
	"github.com/ferryhq/ferry/p2p"
	"github.com/ferryhq/ferry/p2p/p2ptest"
	"github.com/ferryhq/ferry/relay/vaultproto"
)

// fakeRelay is a hostile relay: a real libp2p host on loopback that
// serves /ferry/vault/1 and answers a request for a backup's key
// parameters with what params returns. It records every request type it
// got after that.
type fakeRelay struct {
	mu   sync.Mutex
	seen []wire.Type
}

func startFakeRelay(t *testing.T, params func() []byte) (*fakeRelay, string) {
	t.Helper()
	h := p2ptest.Host(t)
	f := &fakeRelay{}
	h.SetStreamHandler(vaultproto.ProtocolID, func(st network.Stream) {
		defer st.Close()
		r := wire.NewReader(st)
		for {
			typ, _, err := r.Next()
			if err != nil {
				return
			}
			f.mu.Lock()
			f.seen = append(f.seen, typ)
			f.mu.Unlock()
			if typ != 0x09 { // GetKeyParams
				wire.Write(st, wire.Error, []byte{4}, []byte("no"))
				continue
			}
			wire.Write(st, 0x84, params())
		}
	})
	return f, p2p.DialAddrs(h)[0].String() + "/p2p/" + h.ID().String()
}

func (f *fakeRelay) requests() []wire.Type {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]wire.Type(nil), f.seen...)
}

// weakParams encodes Argon2id parameters of one pass over 8 KiB (the
// floor of archive.Params.Validate) with salt s, in the key slot format
// of version v (a v2 answer carries a challenge after the salt).
func weakParams(v byte, time, memKiB uint64, threads byte) []byte {
	b := []byte{v}
	b = binary.AppendUvarint(b, time)
	b = binary.AppendUvarint(b, memKiB)
	b = append(b, threads)
	b = append(b, make([]byte, 32)...) // salt
	if v >= 2 {
		b = append(b, make([]byte, 32)...) // challenge
	}
	return b
}

// TestVaultRefusesWeakStretch: a relay that serves Argon2id parameters
// weaker than Ferry's own defaults gets a clear refusal and no proof: the
// client never sends the request that carries one (GetKeySlot), so the
// relay has nothing to guess the password against at its chosen cost.
// Before the fix, the client took 1 pass over 8 KiB and sent a proof
// computed with it (a guess then costs 66 µs instead of ~5 s).
func TestVaultRefusesWeakStretch(t *testing.T) {
	id := strings.Repeat("ab", 16)
	for _, tt := range []struct {
		name   string
		params []byte
	}{
		{"1 pass over 8 KiB", weakParams(2, 1, 8, 1)},
		{"1 pass over 8 KiB, old key slot", weakParams(1, 1, 8, 1)},
		{"2 passes over 64 MiB", weakParams(2, 2, 64<<10, 4)},
		{"3 passes over 32 MiB", weakParams(2, 3, 32<<10, 4)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, addr := startFakeRelay(t, func() []byte { return tt.params })
			c, err := vaultproto.Dial(context.Background(), p2ptest.Host(t), addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			dst := storetest.New(t)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err = Restore(ctx, c, dst, RestoreOptions{Password: []byte("correct horse battery staple"), BackupID: id})
			if !errors.Is(err, ErrWeakStretch) && !errors.Is(err, vaultproto.ErrOldKeySlot) {
				t.Errorf("restore from a relay serving %s: %v, want ErrWeakStretch (or ErrOldKeySlot)", tt.name, err)
			}
			for _, typ := range f.requests() {
				if typ == 0x0a { // GetKeySlot: the proof
					t.Errorf("the client sent a proof to a relay serving %s", tt.name)
				}
			}
			if st := storetest.Stats(t, dst); st.Messages != 0 {
				t.Errorf("the refused restore wrote %d messages", st.Messages)
			}
		})
	}
}
