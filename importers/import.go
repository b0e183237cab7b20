package importers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/internal/scratch"
)

// Options for Import. The zero value imports with the format found, times
// in the local zone, and no owner.
type Options struct {
	// Format of the export; FormatAuto (or "") decides from the input.
	Format Format
	// Location is the zone of times that an export writes without one
	// (every WhatsApp time; Telegram's only in old exports). nil: time.Local.
	// It decides the messages' times, so their IDs: import an export with
	// the same zone on every device.
	Location *time.Location
	// Owner names the device's owner among the people in the export (as
	// the export writes the name, or a Telegram id such as user123); ""
	// for none, unless AskOwner picks one.
	Owner string
	// AskOwner, when set and Owner is "", is called once the export is
	// read if more than one person wrote in it, with their names; it
	// returns the owner's name, or "" for none.
	AskOwner func(ctx context.Context, names []string) (string, error)
	// Progress, when set, is called now and then with the number of
	// messages read so far.
	Progress func(read int64)
	// StageDir is where the import stages its database and media before
	// it commits; it must be on the home's file system. "": the home's
	// .staging directory.
	StageDir string
}

// Result reports an import.
type Result struct {
	Format Format `json:"format"`
	// Chats and Read count what the export holds: conversations, and
	// messages and events.
	Chats int   `json:"chats"`
	Read  int64 `json:"read"`
	// Owner lists the people marked as the device's owner.
	Owner []string `json:"owner"`
	// Added counts what the home did not hold yet.
	Added Added `json:"added"`
	// Unreadable counts the lines or messages that could not be read and
	// were not imported; Problems lists the first of them.
	Unreadable int       `json:"unreadable"`
	Problems   []Problem `json:"problems"`
	// DryRun is set on what Preview returns: Added is what Import would
	// add, and nothing was written.
	DryRun bool `json:"dry_run"`
	// Took is how long the import ran.
	Took time.Duration `json:"-"`

	staged chatstore.MergeResult // what the staged database holds
}

// Added counts what an import added to the home.
type Added struct {
	Conversations int64 `json:"conversations"`
	Messages      int64 `json:"messages"`
	Attachments   int64 `json:"attachments"`
	MediaBytes    int64 `json:"media_bytes"` // of media files the home did not have
}

// stagingDir is the home's staging area; transfers use it too
// (transfer.StagingDir), and an import's own directory in it is named
// import-*.
const stagingDir = ".staging"

// Import reads the export at path and merges it into st in one
// transaction: the rows go to a database staged next to the home, the
// media files into staging too, and only once the whole export has been
// read without error are the media moved into the home and the rows merged
// (or adopted, into an empty home). On any error nothing changes in the
// history; the staging directory is removed either way.
func Import(ctx context.Context, st *chatstore.Store, path string, opts Options) (Result, error) {
	start := time.Now()
	in, err := open(path, &opts)
	if err != nil {
		return Result{}, err
	}
	defer in.c.close()

	base := opts.StageDir
	if base == "" {
		base = filepath.Join(st.Home(), stagingDir)
	}
	// What an import that was killed left behind: the home is locked, so
	// no other import is running.
	if old, _ := filepath.Glob(filepath.Join(base, "import-*")); len(old) > 0 {
		for _, o := range old {
			os.RemoveAll(o)
		}
	}
	stage, done, err := newStage(base, "import")
	if err != nil {
		return Result{}, fmt.Errorf("import: %w", err)
	}
	defer done()

	res, b, w, err := stageImport(ctx, in, stage, opts)
	if err != nil {
		return Result{}, err
	}
	if err := commit(ctx, st, b, w, &res); err != nil {
		return Result{}, err
	}
	res.Took = time.Since(start)
	return res, nil
}

// Preview reads and stages the export at path exactly as Import does, asks
// AskOwner as Import would, and counts what Import would add to st now,
// without changing st: nothing is merged, no media file is moved, and the
// staging is removed after. Its Result is the one Import would return,
// with DryRun set; an export Import would refuse, Preview refuses with the
// same error.
//
// st may be read-only (Preview only reads it), or nil for a home that holds
// nothing yet, where all of the export is new. It stages in
// opts.StageDir, else in the home's .staging directory (which it creates,
// and removes if it leaves it empty), in a folder of its own named
// preview-<pid>-*, and leaves other folders there alone: it does not hold the
// home's lock, so an import may be running beside it.
func Preview(ctx context.Context, st *chatstore.Store, path string, opts Options) (Result, error) {
	start := time.Now()
	base := opts.StageDir
	if base == "" {
		if st == nil {
			return Result{}, errors.New("import preview: no home and no staging directory")
		}
		base = filepath.Join(st.Home(), stagingDir)
	}
	in, err := open(path, &opts)
	if err != nil {
		return Result{}, err
	}
	defer in.c.close()
	stage, done, err := newStage(base, "preview")
	if err != nil {
		return Result{}, fmt.Errorf("import preview: %w", err)
	}
	defer done()
	res, b, w, err := stageImport(ctx, in, stage, opts)
	if err != nil {
		return Result{}, err
	}
	if err := wouldAdd(ctx, st, b, w, &res); err != nil {
		return Result{}, err
	}
	res.DryRun = true
	res.Took = time.Since(start)
	return res, nil
}

// newStage makes a new staging folder of this process in base (made if
// missing), named prefix-<pid>-*, after removing the ones that a process
// killed mid-import or mid-preview left there (internal/scratch: only
// those whose process is gone; a dry run beside an import keeps its own).
// done removes it, and base too if that leaves it empty.
func newStage(base, prefix string) (stage string, done func(), err error) {
	if err := os.MkdirAll(base, 0o700); err != nil {
		return "", nil, fmt.Errorf("staging: %w", err)
	}
	for _, kind := range []string{"import", "preview"} {
		scratch.Sweep(base, kind)
	}
	d, err := scratch.New(base, prefix)
	if err != nil {
		return "", nil, fmt.Errorf("staging: %w", err)
	}
	return d.Path(), func() {
		d.Remove()
		os.Remove(base) // if empty
	}, nil
}

// open checks opts (filling in their defaults) and opens the export.
func open(path string, opts *Options) (*input, error) {
	if opts.Format == "" {
		opts.Format = FormatAuto
	}
	if _, err := ParseFormat(string(opts.Format)); err != nil {
		return nil, err
	}
	if opts.Location == nil {
		opts.Location = time.Local
	}
	return openInput(path, opts.Format)
}

// stageImport parses the export into a staged database and staged media.
func stageImport(ctx context.Context, in *input, stage string, opts Options) (Result, *builder, *chatstore.Writer, error) {
	dbPath := filepath.Join(stage, "import.db")
	w, err := chatstore.NewWriter(ctx, dbPath)
	if err != nil {
		return Result{}, nil, nil, err
	}
	defer w.Abort()
	out := make(chan *batch, 4)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		for bt := range out {
			if err := writeBatch(gctx, w, bt); err != nil {
				return err
			}
		}
		return nil
	})
	b := newBuilder(gctx, in.c, stage, out)
	b.progress = opts.Progress
	perr := parse(gctx, in, opts, b)
	if perr == nil {
		perr = b.flush()
	}
	close(out)
	werr := g.Wait()
	// A writer's failure stops the parser with its context: report the
	// writer's error then, and the parser's (or the caller's
	// cancellation) otherwise.
	if werr != nil && (perr == nil || (errors.Is(perr, context.Canceled) && ctx.Err() == nil)) {
		return Result{}, nil, nil, werr
	}
	if perr != nil {
		if ctx.Err() != nil {
			return Result{}, nil, nil, ctx.Err()
		}
		return Result{}, nil, nil, perr
	}
	owners, err := resolveOwner(ctx, b, opts)
	if err != nil {
		return Result{}, nil, nil, err
	}
	if err := b.writeRest(ctx, w); err != nil {
		return Result{}, nil, nil, err
	}
	staged, err := w.Close(ctx)
	if err != nil {
		return Result{}, nil, nil, err
	}
	res := Result{Format: in.format, Chats: len(b.convs), Read: b.read, Owner: owners,
		Unreadable: b.nProblem, Problems: b.problems, staged: staged}
	if res.Owner == nil {
		res.Owner = []string{}
	}
	if res.Problems == nil {
		res.Problems = []Problem{}
	}
	return res, b, w, nil
}

func writeBatch(ctx context.Context, w *chatstore.Writer, bt *batch) error {
	for i := range bt.msgs {
		if err := w.AddMessage(ctx, bt.msgs[i]); err != nil {
			return err
		}
	}
	for i := range bt.atts {
		if err := w.AddAttachment(ctx, bt.atts[i]); err != nil {
			return err
		}
	}
	for i := range bt.reacts {
		if err := w.AddReaction(ctx, bt.reacts[i]); err != nil {
			return err
		}
	}
	return nil
}

// parse runs the parser of the input's format.
func parse(ctx context.Context, in *input, opts Options, b *builder) error {
	switch in.format {
	case FormatTelegram:
		return parseTelegram(ctx, telegramExport{file: in.file, open: in.openFile, dir: in.dir(), loc: opts.Location}, b)
	default:
		return parseWhatsApp(ctx, whatsAppChat{file: in.file, open: in.openFile, title: in.title, dir: in.dir(),
			has: in.c.has, loc: opts.Location}, b)
	}
}

// resolveOwner marks the owner's contacts and returns their names.
func resolveOwner(ctx context.Context, b *builder, opts Options) ([]string, error) {
	cands := b.candidates()
	var marked []*contactAcc
	for _, c := range b.contacts {
		if b.owners[c.platform+"\x00"+c.key] {
			marked = append(marked, c)
		}
	}
	want := opts.Owner
	if want == "" && len(marked) == 0 && opts.AskOwner != nil && len(cands) > 1 {
		names := make([]string, len(cands))
		for i, c := range cands {
			names[i] = c.name
		}
		var err error
		if want, err = opts.AskOwner(ctx, names); err != nil {
			return nil, err
		}
	}
	if want != "" {
		var found []*contactAcc
		for _, c := range cands {
			if c.name == want || c.key == want || c.native == want {
				found = append(found, c)
			}
		}
		if len(found) == 0 {
			for _, c := range cands {
				if strings.EqualFold(c.name, want) {
					found = append(found, c)
				}
			}
		}
		if len(found) == 0 {
			var names []string
			for _, c := range cands {
				names = append(names, c.name)
				if len(names) == 20 {
					names = append(names, "…")
					break
				}
			}
			who := "no one wrote in it"
			if len(names) > 0 {
				who = "the people who wrote are " + strings.Join(names, ", ")
			}
			return nil, badInput(ErrUnknownOwner, nil, "%q is not among the people in this export (%s)", want, who)
		}
		marked = append(marked, found...)
	}
	var names []string
	for _, c := range marked {
		if !c.self {
			c.self = true
			names = append(names, c.name)
		}
	}
	sort.Strings(names)
	return names, nil
}

// commit moves the staged media into the home and merges (or adopts) the
// staged database.
func commit(ctx context.Context, st *chatstore.Store, b *builder, w *chatstore.Writer, res *Result) error {
	empty, err := st.IsEmpty(ctx)
	if err != nil {
		return err
	}
	hashes := b.stagedHashes()
	// A failure from here on leaves at most media files that no row
	// refers to (content-addressed, and found present by the next import),
	// as a transfer's commit does.
	for _, h := range hashes {
		if err := ctx.Err(); err != nil {
			return err
		}
		size := b.staged[h]
		if st.HasMedia(h, size) {
			continue
		}
		if err := st.InstallMedia(h, b.stagedPath(h)); err != nil {
			return fmt.Errorf("import: %w", err)
		}
		res.Added.MediaBytes += size
	}
	var added chatstore.MergeResult
	if empty {
		if err := st.AdoptWritten(ctx, w); err != nil {
			return fmt.Errorf("import: %w", err)
		}
		added = res.staged
	} else {
		if added, err = st.MergeWritten(ctx, w); err != nil {
			return fmt.Errorf("import: %w", err)
		}
	}
	res.Added.Conversations, res.Added.Messages, res.Added.Attachments = added.Conversations, added.Messages, added.Attachments
	return nil
}

// wouldAdd counts into res what commit would add to st (nil: an empty
// home), changing nothing.
func wouldAdd(ctx context.Context, st *chatstore.Store, b *builder, w *chatstore.Writer, res *Result) error {
	empty := st == nil
	if !empty {
		var err error
		if empty, err = st.IsEmpty(ctx); err != nil {
			return fmt.Errorf("import preview: %w", err)
		}
	}
	for _, h := range b.stagedHashes() {
		if size := b.staged[h]; empty || !st.HasMedia(h, size) {
			res.Added.MediaBytes += size
		}
	}
	added := res.staged // what adopting it into an empty home adds
	if !empty {
		var err error
		if added, err = st.WouldAdd(ctx, w); err != nil {
			return fmt.Errorf("import preview: %w", err)
		}
	}
	res.Added.Conversations, res.Added.Messages, res.Added.Attachments = added.Conversations, added.Messages, added.Attachments
	return nil
}
