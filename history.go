package ferry

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/importers"
	"github.com/ferryhq/ferry/internal/scratch"
)

// Stats counts what the home's history holds and gives its digest. It
// only reads.
func (d *Device) Stats(ctx context.Context) (Stats, error) {
	st, err := d.openSource(ctx)
	if err != nil {
		return Stats{}, err
	}
	defer st.Close()
	s, err := st.Stats(ctx)
	if err != nil {
		return Stats{}, userError(fmt.Errorf("stats: %w", err))
	}
	return s, nil
}

// Verify re-hashes every media file of the history against what the
// database says it holds.
func (d *Device) Verify(ctx context.Context) error {
	st, err := d.openSource(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Verify(ctx); err != nil {
		return userError(fmt.Errorf("verify media: %w", err))
	}
	return nil
}

// HistoryImportOptions say how a chat export is read.
type HistoryImportOptions struct {
	// Format is "whatsapp", "telegram", or ""/"auto" to decide from the
	// export.
	Format string
	// TimeZone is the IANA name of the zone of the times an export writes
	// without one (every WhatsApp time), such as "Europe/Berlin"; "" means
	// this machine's. It decides the messages' IDs: use the same on every
	// device.
	TimeZone string
	// Owner names the user among the people of the export (as the export
	// writes the name, or a Telegram id such as user123), so that their
	// messages show as theirs; "" for none, unless AskOwner picks one.
	Owner string
	// AskOwner, if set and Owner is "", is asked which of the people is the
	// user when more than one wrote (after an EventAskOwner with their
	// names); "" means none of them.
	AskOwner func(ctx context.Context, names []string) (string, error)
	// Events, if set, gets the progress (PhaseReadingExport, with messages
	// read as Done, then PhaseIndexing), one event at a time.
	Events func(Event)
	// DryRun reads the export as an import does and reports what it would
	// add (the result's DryRun is set), writing nothing: the home is only
	// read, and not created if it is missing.
	DryRun bool
}

// PhaseReadingExport is the progress phase of a history import: messages
// read from the export.
const PhaseReadingExport = "importing"

// HistoryImportResult reports a history import.
type HistoryImportResult struct {
	importers.Result
	Seconds float64 `json:"seconds"`
}

// ImportHistory brings a chat exported from WhatsApp or Telegram (the
// file or folder at path: a .zip, a .txt, a Telegram export's folder or
// result.json) into this home (created if missing), media included. The
// whole export goes in one transaction: if any part of it cannot be read,
// nothing is written. Importing the same export again, on another device,
// or after migrating the history, adds nothing twice. With opt.DryRun it
// only says what it would add.
func (d *Device) ImportHistory(ctx context.Context, path string, opt HistoryImportOptions) (HistoryImportResult, error) {
	f, err := importers.ParseFormat(opt.Format)
	if err != nil {
		return HistoryImportResult{}, &Error{Code: CodeBadFormat, Sentence: err.Error(), Err: err}
	}
	loc := time.Local
	if opt.TimeZone != "" {
		if loc, err = time.LoadLocation(opt.TimeZone); err != nil {
			return HistoryImportResult{}, &Error{Code: CodeBadTimeZone, Err: err,
				Sentence: fmt.Sprintf("unknown time zone %q", opt.TimeZone),
				Hint:     "give a name such as Europe/Berlin, America/New_York or UTC"}
		}
	}
	emit := stamp(opt.Events)
	ask := opt.AskOwner
	if ask != nil {
		ask = func(ctx context.Context, names []string) (string, error) {
			emit(Event{Kind: EventAskOwner, Names: names})
			return opt.AskOwner(ctx, names)
		}
	}
	iopt := importers.Options{Format: f, Location: loc, Owner: opt.Owner, AskOwner: ask,
		Progress: func(n int64) { emit(Event{Kind: EventProgress, Phase: PhaseReadingExport, Done: n}) }}
	if opt.DryRun {
		return d.previewHistory(ctx, path, iopt, emit)
	}
	created, err := d.makeHome()
	if err != nil {
		return HistoryImportResult{}, err
	}
	st, err := chatstore.Open(ctx, d.Home, chatstore.Options{Create: true})
	if err != nil {
		if created {
			os.RemoveAll(d.Home)
		}
		return HistoryImportResult{}, userError(fmt.Errorf("open %s: %w", d.Home, err))
	}
	res, err := importers.Import(ctx, st, path, iopt)
	if err == nil {
		emit(Event{Kind: EventProgress, Phase: PhaseReadingExport, Done: res.Read, Total: res.Read})
		catchUpIndex(ctx, st, d.log(), emit)
	}
	if cerr := st.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close %s: %w", d.Home, cerr)
	}
	if err != nil {
		if created {
			os.RemoveAll(d.Home)
		}
		return HistoryImportResult{}, importError(err)
	}
	return HistoryImportResult{Result: res, Seconds: res.Took.Seconds()}, nil
}

// previewHistory is ImportHistory's dry run: the home is opened
// read-only, and the export staged in its staging directory, removed
// after; a missing home (or one without a history yet) is not created,
// all of the export is new to it, and the export is staged in a temporary
// directory of this machine's.
func (d *Device) previewHistory(ctx context.Context, path string, iopt importers.Options, emit func(Event)) (HistoryImportResult, error) {
	var st *chatstore.Store
	err := d.needHome()
	var fe *Error
	switch {
	case errors.As(err, &fe) && fe.Code == CodeNoHome:
	case err != nil:
		return HistoryImportResult{}, err
	default:
		if _, serr := os.Stat(filepath.Join(d.Home, chatstore.DBName)); serr == nil {
			if st, err = d.openSource(ctx); err != nil {
				return HistoryImportResult{}, err
			}
			defer st.Close()
		}
	}
	if st == nil {
		scratch.Sweep(d.WorkDir, previewPrefix)
		tmp, err := scratch.New(d.WorkDir, previewPrefix)
		if err != nil {
			return HistoryImportResult{}, userError(fmt.Errorf("import preview: staging: %w", err))
		}
		defer tmp.Remove()
		iopt.StageDir = tmp.Path()
	}
	res, err := importers.Preview(ctx, st, path, iopt)
	if err != nil {
		return HistoryImportResult{}, importError(err)
	}
	emit(Event{Kind: EventProgress, Phase: PhaseReadingExport, Done: res.Read, Total: res.Read})
	return HistoryImportResult{Result: res, Seconds: res.Took.Seconds()}, nil
}

// previewPrefix names the folder, in the work directory, where a dry run
// for a home that holds nothing yet stages the export.
const previewPrefix = "ferry-preview"

// importError words an error of an import or of its dry run.
func importError(err error) error {
	if interrupted(err) {
		return interruptedError(err, "nothing was imported", "", false)
	}
	if errors.Is(err, importers.ErrUnknownOwner) {
		return &Error{Code: CodeUnknownOwner, Sentence: err.Error(),
			Hint: "name one of those people as the owner, or none", Err: err}
	}
	return userError(err)
}

// OpenHistory opens the home's history store itself, for what the calls
// above do not cover (reading it with chatstore's queries, as ferry
// history and the web app do; writing generated test data). write opens it
// for writing, creating the home and an empty history if they are missing;
// otherwise it is opened read-only. The home rules apply (see Device.Home).
// The caller closes it; while it is open for writing, migrations into the
// home wait for it (chatstore.ErrLocked).
func (d *Device) OpenHistory(ctx context.Context, write bool) (*chatstore.Store, error) {
	if !write {
		return d.openSource(ctx)
	}
	if _, err := d.makeHome(); err != nil {
		return nil, err
	}
	st, err := chatstore.Open(ctx, d.Home, chatstore.Options{Create: true})
	if err != nil {
		return nil, userError(fmt.Errorf("open %s: %w", d.Home, err))
	}
	return st, nil
}
