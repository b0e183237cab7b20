package ferry

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/transfer"
)

// The home rules: a call that only reads needs the home to exist; a call
// that writes creates it if it is missing (not its parents); and an
// existing folder is used only if it is a Ferry home or empty, and private
// (chatstore.PrepareHome), before anything is written into it.

// needHome checks that the home exists and may be used.
func (d *Device) needHome() error {
	if d.Home == "" {
		return errors.New("ferry: Device.Home is not set")
	}
	fi, err := os.Stat(d.Home)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return &Error{Code: CodeNoHome, Sentence: fmt.Sprintf("the home %s does not exist", d.Home),
			Hint: "check its path, or create the history first", Err: fmt.Errorf("open %s: %w", d.Home, chatstore.ErrNoHome)}
	case err != nil:
		return fmt.Errorf("home %s: %w", d.Home, err)
	case !fi.IsDir():
		return &Error{Code: CodeHomeIsFile, Sentence: fmt.Sprintf("home %s is a file, not a directory", d.Home), Hint: "pick another home"}
	}
	return d.checkHome()
}

// makeHome creates the home if it is missing and checks it; created says
// that this call made it.
func (d *Device) makeHome() (created bool, err error) {
	if d.Home == "" {
		return false, errors.New("ferry: Device.Home is not set")
	}
	fi, err := os.Stat(d.Home)
	switch {
	case err == nil && !fi.IsDir():
		return false, &Error{Code: CodeHomeIsFile, Sentence: fmt.Sprintf("home %s is a file, not a directory", d.Home), Hint: "pick another home"}
	case err == nil:
	case !errors.Is(err, os.ErrNotExist):
		return false, fmt.Errorf("home %s: %w", d.Home, err)
	default:
		parent := filepath.Dir(d.Home)
		if _, err := os.Stat(parent); errors.Is(err, os.ErrNotExist) {
			return false, &Error{Code: CodeNoHomeParent, Sentence: fmt.Sprintf("home %s cannot be created because %s does not exist", d.Home, parent),
				Hint: "create it first or pick another home"}
		}
		switch err := os.Mkdir(d.Home, 0o700); {
		case err == nil:
			created = true
		case !errors.Is(err, os.ErrExist):
			return false, userError(fmt.Errorf("create home %s: %w", d.Home, err))
		}
	}
	if err := d.checkHome(); err != nil {
		return created, err
	}
	return created, nil
}

// checkHome refuses an existing folder that is not a Ferry home, and one
// that other users can read and Ferry cannot make private.
func (d *Device) checkHome() error {
	err := chatstore.PrepareHome(d.Home)
	if errors.Is(err, chatstore.ErrNotAHome) {
		return &Error{Code: CodeNotAHome, Err: err,
			Sentence: fmt.Sprintf("%s is not a Ferry home: it holds other files, and Ferry writes only into a new or empty folder or an existing home", d.Home),
			Hint:     "pick another home"}
	}
	return userError(err)
}

// openSource opens the home read-only: a source is only ever read.
func (d *Device) openSource(ctx context.Context) (*chatstore.Store, error) {
	if err := d.needHome(); err != nil {
		return nil, err
	}
	st, err := chatstore.Open(ctx, d.Home, chatstore.Options{ReadOnly: true})
	if err != nil {
		return nil, userError(fmt.Errorf("open %s: %w", d.Home, err))
	}
	return st, nil
}

// intoHome opens the home as a migration target (creating it if needed)
// and runs fn. A failed migration leaves the target's history exactly as
// it was. If verified data stayed staged (the input was cut off, not
// refused), the home stays (also one this call created) and the error says
// whether running the same again continues (see resumeHint); otherwise a
// home this call created is removed again.
func (d *Device) intoHome(ctx context.Context, emit func(Event), fn func(*chatstore.Store) (transfer.Result, error)) (Result, error) {
	start := time.Now()
	created, err := d.makeHome()
	if err != nil {
		return Result{}, err
	}
	st, err := chatstore.Open(ctx, d.Home, chatstore.Options{Create: true})
	if err != nil {
		if created {
			os.RemoveAll(d.Home)
		}
		return Result{}, userError(fmt.Errorf("open %s: %w", d.Home, err))
	}
	tr, err := fn(st)
	if err == nil {
		catchUpIndex(ctx, st, d.log(), emit)
	}
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		return resultOf(tr, start), nil
	}
	if staged(d.Home) {
		return Result{}, keptError(err)
	}
	if created {
		os.RemoveAll(d.Home)
	}
	if interrupted(err) {
		return Result{}, interruptedError(err, "nothing half-done was kept in the history", "", false)
	}
	return Result{}, userError(err)
}

// staged reports whether home holds verified pieces of an unfinished
// migration, which the same migration again continues from. (A staging
// directory with none, of a migration cut off before its first piece, is
// nothing to promise a resume on.)
func staged(home string) bool { return transfer.HasStaged(home) }

// keptError is the Error of a migration into a home that stopped with
// verified pieces kept. It is Resumable when the same again continues from
// them: after an interruption, or a failure of the way there (the relay
// went, or was busy). A source that is damaged or cut off fails the same
// way again, so that error says instead what continues: an intact copy.
func keptError(err error) error {
	const kept = "what arrived is kept: "
	if interrupted(err) {
		return interruptedError(err, "nothing half-done was kept in the history", kept+resumeHint, true)
	}
	e := AsError(userError(err))
	switch {
	case e.Code == CodeRelayLost:
		return e.with(kept+resumeHint, true)
	case e.Code == CodeVaultBusy || e.Code == CodeTryLater || e.Code == CodeRelayUnreachable:
		return e.with(joinHints(e.Hint, kept+resumeHint), true)
	case errors.Is(err, transfer.ErrTruncated):
		return e.with(joinHints(e.Hint, "what was verified is kept, so the complete archive imported into this home continues from it"), false)
	}
	return e.with(joinHints(e.Hint, "what was verified is kept, so the same from an intact copy continues from it"), false)
}

// resumeHint is what a resumable error says to do; the CLI says which
// command.
const resumeHint = "run it again to continue where it stopped"

// joinHints appends b to the hint a.
func joinHints(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// resultOf is a migration's Result from the engine's.
func resultOf(tr transfer.Result, start time.Time) Result {
	if tr.Total == 0 {
		tr.Total = time.Since(start)
	}
	return Result{
		Source: tr.Source, Target: tr.Target, Adopted: tr.Adopted, UpToDate: tr.UpToDate,
		Added:  Added{Conversations: tr.Added.Conversations, Messages: tr.Added.Messages, Attachments: tr.Added.Attachments},
		Chunks: tr.Chunks, Resumed: tr.Resumed, Bytes: tr.ReceivedBytes,
		Took:   tr.Total,
		Phases: Phases{Transfer: tr.Transfer, Verify: tr.Verify, Install: tr.Install, Merge: tr.Merge},
	}
}

// homeWriteErr marks an error of writing into the home that says it cannot
// be written (a read-only file system, no permission) as
// chatstore.ErrReadOnlyHome, whose sentence says so.
func homeWriteErr(err error) error {
	if errors.Is(err, syscall.EROFS) || errors.Is(err, os.ErrPermission) {
		return fmt.Errorf("%w: %w", chatstore.ErrReadOnlyHome, err)
	}
	return err
}
