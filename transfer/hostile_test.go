package transfer_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ferryhq/ferry/chatstore"
	chatseed "github.com/ferryhq/ferry/chatstore/seed"
	"github.com/ferryhq/ferry/internal/archive"
	"github.com/ferryhq/ferry/transfer"
	"github.com/ferryhq/ferry/transfer/transfertest"
)

func open(t *testing.T, home string) *chatstore.Store {
	t.Helper()
	s, err := chatstore.Open(context.Background(), home, chatstore.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func seeded(t *testing.T, msgs int, media int64, seed uint64) *chatstore.Store {
	t.Helper()
	s := open(t, filepath.Join(t.TempDir(), "home"))
	if _, err := chatseed.Add(context.Background(), s, chatseed.Options{Messages: msgs, MediaBytes: media, Seed: seed}); err != nil {
		t.Fatal(err)
	}
	return s
}

func statsOf(t *testing.T, s *chatstore.Store) chatstore.Stats {
	t.Helper()
	st, err := s.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// hostileSchemas are what a modified sender could put into its history.db.
var hostileSchemas = []struct{ name, q, object string }{
	{"trigger", transfertest.EvilTrigger, `trigger "evil"`},
	{"view", `CREATE VIEW recent AS SELECT * FROM messages`, `view "recent"`},
	{"index", `CREATE INDEX by_body ON messages (body)`, `index "by_body"`},
	{"virtual table", `CREATE VIRTUAL TABLE search USING fts5(body)`, `"search"`},
	{"changed check", `PRAGMA writable_schema = ON; UPDATE sqlite_schema SET sql = replace(sql, 'size >= 0', 'size >= -1') WHERE name = 'attachments'`,
		`table "attachments" differs`},
}

// TestHostileSenderRefused: a history whose schema the sender changed is
// refused whether it arrives by an in-process migration (the path of a
// LAN or relayed one) or by an archive, into an empty home (where it would
// have been adopted) or a non-empty one (merged); the target stays as it
// was and keeps no staging.
func TestHostileSenderRefused(t *testing.T) {
	ctx := context.Background()
	sender := seeded(t, 400, 256<<10, 1)
	key, err := archive.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range hostileSchemas {
		src, err := transfertest.Hostile(ctx, sender, t.TempDir(), tt.q)
		if err != nil {
			t.Fatal(err)
		}
		var arc bytes.Buffer
		if err := transfertest.WriteArchive(ctx, &arc, key, src); err != nil {
			t.Fatal(err)
		}
		for _, into := range []string{"empty", "non-empty"} {
			for _, path := range []string{"migrate", "archive"} {
				t.Run(tt.name+"/"+into+"/"+path, func(t *testing.T) {
					dst := open(t, filepath.Join(t.TempDir(), "home"))
					if into == "non-empty" {
						if _, err := chatseed.Add(ctx, dst, chatseed.Options{Messages: 100, Seed: 9}); err != nil {
							t.Fatal(err)
						}
					}
					before := statsOf(t, dst)
					var err error
					if path == "archive" {
						_, err = transfer.Import(ctx, bytes.NewReader(arc.Bytes()), dst, transfer.ImportOptions{Key: &key})
					} else {
						recv, rerr := transfer.NewReceiver(dst, src.Manifest())
						if rerr != nil {
							t.Fatal(rerr)
						}
						_, err = transfer.Pull(ctx, transfer.ReadSource(src, 2), recv, transfer.PullOptions{})
					}
					if !errors.Is(err, transfer.ErrForeignSchema) || !strings.Contains(err.Error(), tt.object) {
						t.Fatalf("got %v, want ErrForeignSchema naming %s", err, tt.object)
					}
					if got := statsOf(t, dst); got != before {
						t.Errorf("target after the refusal: %+v, want %+v", got, before)
					}
					ents, _ := os.ReadDir(filepath.Join(dst.Home(), transfer.StagingDir))
					if len(ents) != 0 {
						t.Errorf("staging kept %d entries after a refused history", len(ents))
					}
					// The target is still a store whose own schema passes.
					home := dst.Home()
					dst.Close()
					re, err := chatstore.Open(ctx, home, chatstore.Options{ReadOnly: true})
					if err != nil {
						t.Fatalf("reopen the target: %v", err)
					}
					re.Close()
				})
			}
		}
	}
}

// TestHostileTriggerNeverRewritesLaterMerges is the attack on the
// migration path: the trigger is refused into an empty home, the honest
// history that follows is adopted and merged as sent.
func TestHostileTriggerNeverRewritesLaterMerges(t *testing.T) {
	ctx := context.Background()
	hostile := seeded(t, 300, 0, 1)
	honest := seeded(t, 300, 0, 2)
	src, err := transfertest.Hostile(ctx, hostile, t.TempDir(), transfertest.EvilTrigger)
	if err != nil {
		t.Fatal(err)
	}
	dst := open(t, filepath.Join(t.TempDir(), "home"))
	move := func(src transfer.ChunkReader, m *transfer.Manifest) (transfer.Result, error) {
		recv, err := transfer.NewReceiver(dst, m)
		if err != nil {
			t.Fatal(err)
		}
		return transfer.Pull(ctx, transfer.ReadSource(src, 2), recv, transfer.PullOptions{})
	}
	if _, err := move(src, src.Manifest()); !errors.Is(err, transfer.ErrForeignSchema) {
		t.Errorf("hostile history into an empty home: got %v, want ErrForeignSchema", err)
	}
	for _, s := range []*chatstore.Store{hostile, honest} {
		snap, err := transfer.Snapshot(ctx, s, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := move(snap, snap.Manifest()); err != nil {
			t.Fatal(err)
		}
		snap.Close()
	}
	home := dst.Home()
	dst.Close()
	re, err := chatstore.Open(ctx, home, chatstore.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer re.Close()
	got := statsOf(t, re)
	if want := statsOf(t, hostile).Messages + statsOf(t, honest).Messages; got.Messages != want {
		t.Errorf("target holds %d messages, want %d", got.Messages, want)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(re.DBPath())+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var pwned int
	if err := db.QueryRow(`SELECT count(*) FROM messages WHERE body = 'pwned'`).Scan(&pwned); err != nil || pwned != 0 {
		t.Errorf("%d messages rewritten (%v), want none", pwned, err)
	}
}

// A sender whose history is refused gets nothing in through early media
// either: the files it served before its manifest go with the staging,
// none is installed.
func TestHostileSenderEarlyMedia(t *testing.T) {
	ctx := context.Background()
	sender := seeded(t, 300, 3<<20, 3)
	src, err := transfertest.Hostile(ctx, sender, t.TempDir(), transfertest.EvilTrigger)
	if err != nil {
		t.Fatal(err)
	}
	atts, err := chatstore.ListAttachments(ctx, sender.DBPath())
	if err != nil || len(atts) == 0 {
		t.Fatalf("%d attachments, %v", len(atts), err)
	}
	early, err := transfer.NewEarlyMedia(sender, atts)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	streams := func(ctx context.Context) (io.ReadWriteCloser, error) {
		c, s := net.Pipe()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.Close()
			transfer.ServeWith(context.Background(), s, transfer.ServeOptions{Early: early,
				Source: func(context.Context) (transfer.ServeSource, error) { return src, nil }})
		}()
		return c, nil
	}
	dst := open(t, filepath.Join(t.TempDir(), "home"))
	all := make(chan struct{})
	pf := transfer.StartPrefetch(ctx, streams, dst, 2, func(done, total int64) {
		if done == total {
			close(all)
		}
	})
	<-all
	ms, _ := streams(ctx)
	defer ms.Close()
	m, err := transfer.FetchManifest(ms)
	if err != nil {
		t.Fatal(err)
	}
	peers := transfer.NewPeerSource(streams, 2)
	defer peers.Close()
	got := pf.Finish(m, peers)
	if got.Files != len(atts) {
		t.Fatalf("%d early files, want %d", got.Files, len(atts))
	}
	recv, err := transfer.NewReceiver(dst, m)
	if err != nil {
		t.Fatal(err)
	}
	recv.UseEarly(got)
	if _, err := transfer.Pull(ctx, peers, recv, transfer.PullOptions{}); !errors.Is(err, transfer.ErrForeignSchema) {
		t.Fatalf("pull of a hostile history with early media: %v, want ErrForeignSchema", err)
	}
	for _, a := range atts {
		if dst.HasMedia(a.Hash, a.Size) {
			t.Errorf("early media %s installed from a refused history", a.Hash)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(dst.Home(), transfer.StagingDir)); len(entries) != 0 {
		t.Errorf("staging after the refusal: %v", entries)
	}
}
