package seed

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"lukechampine.com/blake3"

	"github.com/ferryhq/ferry/chatstore"
)

// Options configure Add.
type Options struct {
	// Messages is how many messages to add.
	Messages int
	// MediaBytes is about how many bytes of new media to add, as attachments
	// spread over the new messages (voice notes, photos, documents, videos);
	// none without messages. Media bytes are random, hence incompressible.
	MediaBytes int64
	// Seed picks the history; the same Seed on the same store content gives
	// the same history, byte for byte.
	Seed uint64
	// Progress, when set, is called from Add's goroutine now and then with
	// the work done and the total, in units of one message or 64 KiB of media.
	Progress func(done, total int64)
}

const (
	seedEpoch = 1609459200000 // 2021-01-01T00:00:00Z in Unix ms
	seedSpan  = 2 * 365 * 24 * 3600 * 1000
	mediaUnit = 64 << 10
	mediaJobs = 2
	// stagingDir is the home's staging area (transfer.StagingDir), where
	// Add writes its history file and media before they go in.
	stagingDir = ".staging"
)

// selfID is the owner of the history, the same contact in every seeded store.
var selfID = [16]byte{15: 1}

// Add adds a history to s and returns s's stats after. The result depends
// only on the store's content before the call and on opts, so seeding a
// non-empty store adds new history with new IDs, later than what is there.
func Add(ctx context.Context, s *chatstore.Store, opts Options) (chatstore.Stats, error) {
	if s.ReadOnly() {
		return chatstore.Stats{}, errors.New("seed: the store is read-only")
	}
	if opts.Messages < 0 || opts.MediaBytes < 0 {
		return chatstore.Stats{}, errors.New("seed: negative size")
	}
	before, err := s.Stats(ctx)
	if err != nil {
		return chatstore.Stats{}, fmt.Errorf("seed: %w", err)
	}
	start := int64(seedEpoch)
	convs, err := s.Conversations(ctx)
	if err != nil {
		return chatstore.Stats{}, fmt.Errorf("seed: %w", err)
	}
	var last time.Time
	for _, c := range convs {
		if c.Last.After(last) {
			last = c.Last
		}
	}
	if !last.IsZero() {
		start = last.UnixMilli() + 30*24*3600*1000
	}
	kh := blake3.New(32, nil)
	kh.Write([]byte("ferry seed v1"))
	kh.Write(binary.BigEndian.AppendUint64(nil, opts.Seed))
	kh.Write([]byte(before.Digest))
	var key [32]byte
	kh.Sum(key[:0])

	if err := os.MkdirAll(filepath.Join(s.Home(), stagingDir), 0o700); err != nil {
		return chatstore.Stats{}, fmt.Errorf("seed: %w", err)
	}
	stage, err := os.MkdirTemp(filepath.Join(s.Home(), stagingDir), "seed-*")
	if err != nil {
		return chatstore.Stats{}, fmt.Errorf("seed: %w", err)
	}
	defer func() {
		os.RemoveAll(stage)
		os.Remove(filepath.Join(s.Home(), stagingDir)) // only when empty
	}()

	g := newGenerator(key, start, opts)
	total := int64(opts.Messages) + (g.mediaBytes+mediaUnit-1)/mediaUnit
	var mediaDone atomic.Int64
	progress := func(msgs int64) {
		if opts.Progress != nil {
			opts.Progress(msgs+mediaDone.Load()/mediaUnit, total)
		}
	}

	// The media files are written while the rows go in; the attachment
	// rows, which need the hashes, go last.
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(mediaJobs)
	hashes := make([]chatstore.Hash, len(g.media))
	media := make(chan error, 1)
	go func() {
		for i := range g.media {
			if ectx.Err() != nil {
				break
			}
			eg.Go(func() error {
				h, err := writeMedia(ectx, stage, key, i, g.media[i], &mediaDone)
				hashes[i] = h
				return err
			})
		}
		media <- eg.Wait()
	}()
	w, err := chatstore.NewWriter(ctx, filepath.Join(stage, "seed.db"))
	if err == nil {
		err = g.write(ctx, w, progress, func() error {
			if err := <-media; err != nil {
				return err
			}
			return g.writeAttachments(ctx, w, hashes)
		})
		if err != nil {
			w.Abort()
		}
	}
	if err != nil {
		eg.Wait()
		return chatstore.Stats{}, err
	}
	if _, err := w.Close(ctx); err != nil {
		return chatstore.Stats{}, err
	}
	for i, h := range hashes {
		if err := s.InstallMedia(h, filepath.Join(stage, fmt.Sprint(i))); err != nil {
			return chatstore.Stats{}, fmt.Errorf("seed: %w", err)
		}
	}
	empty, err := s.IsEmpty(ctx)
	if err == nil && empty {
		err = s.AdoptWritten(ctx, w)
	} else if err == nil {
		_, err = s.MergeWritten(ctx, w)
	}
	if err != nil {
		return chatstore.Stats{}, fmt.Errorf("seed: %w", err)
	}
	progress(int64(opts.Messages))
	return s.Stats(ctx)
}

// writeMedia writes media file i, random bytes from a ChaCha8 stream of its
// own, into dir as file i, and returns its hash.
func writeMedia(ctx context.Context, dir string, key [32]byte, i int, size int64, done *atomic.Int64) (chatstore.Hash, error) {
	var mk [32]byte
	h := blake3.New(32, key[:])
	h.Write([]byte("media"))
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(i)))
	h.Sum(mk[:0])
	src := rand.NewChaCha8(mk)
	f, err := os.OpenFile(filepath.Join(dir, fmt.Sprint(i)), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return chatstore.Hash{}, fmt.Errorf("seed: media: %w", err)
	}
	defer f.Close()
	hh := blake3.New(32, nil)
	buf := make([]byte, 1<<20)
	for left := size; left > 0; {
		if err := ctx.Err(); err != nil {
			return chatstore.Hash{}, err
		}
		b := buf[:min(int64(len(buf)), left)]
		src.Read(b)
		hh.Write(b)
		if _, err := f.Write(b); err != nil {
			return chatstore.Hash{}, fmt.Errorf("seed: media: %w", err)
		}
		left -= int64(len(b))
		done.Add(int64(len(b)))
	}
	if err := f.Close(); err != nil {
		return chatstore.Hash{}, fmt.Errorf("seed: media: %w", err)
	}
	var out chatstore.Hash
	hh.Sum(out[:0])
	return out, nil
}

// write writes contacts, conversations, participants, messages and
// reactions; last runs after them (the attachments).
func (g *generator) write(ctx context.Context, w *chatstore.Writer, progress func(int64), last func() error) error {
	if err := w.AddContact(ctx, chatstore.ContactRow{ID: selfID, Name: "Me"}); err != nil {
		return err
	}
	for _, c := range g.contacts {
		if err := w.AddContact(ctx, chatstore.ContactRow{ID: c.id, Name: c.name, Phone: c.phone, Updated: c.t}); err != nil {
			return err
		}
	}
	for _, c := range g.convs {
		if err := w.AddConversation(ctx, chatstore.ConversationRow{ID: c.id, Group: c.kind == 2, Title: c.title, Created: c.t, Updated: c.t}); err != nil {
			return err
		}
		if err := w.AddParticipant(ctx, chatstore.ParticipantRow{Conversation: c.id, Contact: selfID}); err != nil {
			return err
		}
		for _, m := range c.members {
			if err := w.AddParticipant(ctx, chatstore.ParticipantRow{Conversation: c.id, Contact: g.contacts[m].id}); err != nil {
				return err
			}
		}
	}
	r := g.rng
	gap := float64(seedSpan) / float64(max(g.opts.Messages, 1))
	t := g.start
	nextAtt := 0
	for i := range g.opts.Messages {
		if i%8192 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			progress(int64(i))
		}
		t += 1 + int64(r.ExpFloat64()*gap)
		ci := g.pickConv()
		c := &g.convs[ci]
		id := g.newID(t)
		sender := selfID
		if r.IntN(100) >= 45 {
			sender = g.contacts[c.members[r.IntN(len(c.members))]].id
		}
		received := t
		if sender != selfID {
			received += int64(r.IntN(5000))
		}
		body := g.body(c.script)
		var replyTo [16]byte
		if c.nrecent > 0 && r.IntN(100) < 12 {
			replyTo = c.recent[r.IntN(min(c.nrecent, len(c.recent)))]
		}
		var edited, deleted int64
		if r.IntN(100) < 3 {
			edited = t + 10_000 + int64(r.IntN(2*3600*1000))
			body += " " + emojis[r.IntN(len(emojis))]
		}
		if r.IntN(100) < 1 {
			deleted = t + 1000 + int64(r.IntN(24*3600*1000))
		}
		for ; nextAtt < len(g.atts) && g.atts[nextAtt].msg == i; nextAtt++ {
			a := &g.atts[nextAtt]
			a.id = g.newID(t)
			a.owner = id
			tm := time.UnixMilli(t).UTC()
			a.name = fmt.Sprintf("%s-%s-WA%04d.%s", a.prefix, tm.Format("20060102-150405"), nextAtt%10000, a.ext)
			if r.IntN(2) == 0 {
				body = ""
			}
		}
		err := w.AddMessage(ctx, chatstore.MessageRow{ID: id, Conversation: c.id, Sender: sender, Sent: t, Received: received,
			Body: body, ReplyTo: replyTo, Edited: edited, Deleted: deleted})
		if err != nil {
			return err
		}
		if r.IntN(100) < 7 {
			n := 1 + r.IntN(3)
			reactors := map[[16]byte]bool{}
			for range n {
				who := selfID
				if k := r.IntN(len(c.members) + 1); k < len(c.members) {
					who = g.contacts[c.members[k]].id
				}
				if reactors[who] {
					continue
				}
				reactors[who] = true
				if err := w.AddReaction(ctx, chatstore.ReactionRow{Message: id, Reactor: who, Emoji: reactionEmojis[r.IntN(len(reactionEmojis))]}); err != nil {
					return err
				}
			}
		}
		c.recent[c.nrecent%len(c.recent)] = id
		c.nrecent++
	}
	return last()
}

// writeAttachments writes the attachment rows once the media hashes are known.
func (g *generator) writeAttachments(ctx context.Context, w *chatstore.Writer, hashes []chatstore.Hash) error {
	for _, a := range g.atts {
		if a.name == "" {
			return errors.New("seed: attachment without message")
		}
		h := hashes[a.media]
		if err := w.AddAttachment(ctx, chatstore.AttachmentRow{ID: a.id, Message: a.owner, Hash: h, Size: g.media[a.media], MIME: a.mime, Name: a.name}); err != nil {
			return err
		}
	}
	return nil
}
