package mobile

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/ferryhq/ferry"
)

// Failure is what every error of this package is: Error is the sentence to
// show (with the hint after a colon), Code says which kind it is (the
// values of ferry.ErrorCode, stable; "" for a failure only a sentence
// describes), Resumable whether doing the same again continues where this
// stopped. An app gets it from Operation.Err, or from the message of the
// exception (Java) or NSError (Objective-C) a call returns.
type Failure struct {
	Code      string
	Sentence  string
	Hint      string
	Resumable bool
}

func (f *Failure) Error() string {
	if f.Hint == "" {
		return f.Sentence
	}
	return f.Sentence + ": " + f.Hint
}

// JSON is f as {"code":…,"error":…,"hint":…,"resumable":…}, the form of
// ferry.Error.
func (f *Failure) JSON() string {
	b, _ := json.Marshal(&ferry.Error{Code: ferry.ErrorCode(f.Code), Sentence: f.Sentence, Hint: f.Hint, Resumable: f.Resumable})
	return string(b)
}

// failure turns any error into a *Failure (nil for nil): a ferry.Error as it
// is, a cancelled operation as one, anything else by its text.
func failure(err error) *Failure {
	if err == nil {
		return nil
	}
	var f *Failure
	if errors.As(err, &f) {
		return f
	}
	if ferry.CodeOf(err) == "" && (errors.Is(err, context.Canceled)) {
		return &Failure{Code: string(ferry.CodeInterrupted), Sentence: "the operation was cancelled"}
	}
	e := ferry.AsError(err)
	return &Failure{Code: string(e.Code), Sentence: e.Sentence, Hint: e.Hint, Resumable: e.Resumable}
}

// asError is failure(err) as an error, nil for nil (a nil *Failure in an
// error interface would not be nil).
func asError(err error) error {
	if f := failure(err); f != nil {
		return f
	}
	return nil
}

// CodeBadInput is the Code of a Failure for what the app passed and this
// package cannot read: malformed JSON, a field it does not know, an address
// that is not one. It is the app's mistake, not the user's; the Sentence
// says which.
const CodeBadInput = "bad-input"

// badInput is the Failure of an input a call refuses.
func badInput(sentence string) *Failure {
	return &Failure{Code: CodeBadInput, Sentence: sentence}
}
