package importers

import (
	"errors"
	"fmt"
)

// The kinds of bad input. Import returns an *Error that carries one of them
// (test with errors.Is) and a sentence about this input: which file, line or
// message, and what to do. Nothing is written to the home on any of them.
var (
	// ErrNotExport: the input is neither a WhatsApp nor a Telegram export.
	ErrNotExport = errors.New("not a WhatsApp or Telegram export")
	// ErrDamaged: the export is cut off or corrupt (a zip whose directory
	// or an entry does not read, a JSON that stops half way).
	ErrDamaged = errors.New("the export is damaged or incomplete")
	// ErrDateFormat: a WhatsApp chat whose dates and times are in a form
	// this importer does not know.
	ErrDateFormat = errors.New("the chat's dates are in a form Ferry cannot read")
	// ErrMissingMedia: the chat names an attachment the export does not hold.
	ErrMissingMedia = errors.New("an attachment named in the chat is missing from the export")
	// ErrUnsafeName: an attachment's name would reach outside the export
	// (../, an absolute path, a backslash, a NUL).
	ErrUnsafeName = errors.New("an attachment's name points outside the export")
	// ErrUnknownOwner: the owner named is not among the people in the export.
	ErrUnknownOwner = errors.New("the owner named is not in the export")
)

// Error is a failed import: Text is the sentence to show.
type Error struct {
	Kind error  // one of the Err* kinds above
	Text string // the sentence, naming the input
	Err  error  // the cause, when there is one
}

func (e *Error) Error() string        { return e.Text }
func (e *Error) Is(target error) bool { return target == e.Kind }
func (e *Error) Unwrap() error        { return e.Err }

// badInput makes an *Error of kind with a formatted sentence.
func badInput(kind, cause error, format string, args ...any) *Error {
	return &Error{Kind: kind, Text: fmt.Sprintf(format, args...), Err: cause}
}
