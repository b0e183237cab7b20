package daemon

import (
	"context"
	"errors"

	"github.com/ferryhq/ferry"
)

// The control API's messages (see control.go for the endpoints). Secrets
// (passwords, recovery keys) travel in them: the socket serves its own
// user only.

// receiveRequest starts a receive. Without Yes the daemon asks: the offer
// event has "ask": true, and the stream waits for POST
// /v1/sessions/{id}/confirm.
type receiveRequest struct {
	Code  string   `json:"code,omitempty"` // a code, a ferry: link, or none
	Yes   bool     `json:"yes,omitempty"`  // accept the offer without asking
	Relay string   `json:"relay,omitempty"`
	Addrs []string `json:"addrs,omitempty"`
}

type exportRequest struct {
	Path     string `json:"path"` // absolute
	Password []byte `json:"password,omitempty"`
	Replace  bool   `json:"replace,omitempty"`
}

type exportResult struct {
	ferry.ExportResult
	RecoveryKey string `json:"recovery_key"`
}

type importRequest struct {
	Path     string `json:"path"` // absolute
	Key      string `json:"key,omitempty"`
	Password []byte `json:"password,omitempty"`
}

// historyImportRequest: without Owner and with Ask, the daemon asks which
// person is the user: an "ask-owner" event, answered with POST
// /v1/sessions/{id}/owner.
type historyImportRequest struct {
	Path     string `json:"path"` // absolute
	Format   string `json:"format,omitempty"`
	TimeZone string `json:"time_zone,omitempty"`
	Owner    string `json:"owner,omitempty"`
	Ask      bool   `json:"ask,omitempty"`
	DryRun   bool   `json:"dry_run,omitempty"` // only say what it would add
}

type backupRequest struct {
	Relay    string `json:"relay,omitempty"`
	Password []byte `json:"password,omitempty"`
}

type backupResult struct {
	ferry.BackupResult
	RecoveryKey string `json:"recovery_key"`
}

type restoreRequest struct {
	Relay    string `json:"relay,omitempty"`
	Key      string `json:"key,omitempty"`
	Password []byte `json:"password,omitempty"`
	Backup   string `json:"backup,omitempty"`
}

type confirmRequest struct {
	Accept *bool `json:"accept"`
}

type ownerRequest struct {
	Owner *string `json:"owner"` // "" for none of them
}

// streamStart is a stream's first line: the ID that its confirm, owner and
// cancel requests name.
type streamStart struct {
	Kind   ferry.EventKind `json:"event"` // eventStarted
	Stream string          `json:"stream"`
}

const eventStarted ferry.EventKind = "started"

// errorBody is an error as the control API sends it: the *ferry.Error's
// fields (a final stream line, or the body of a non-2xx answer).
type errorBody struct {
	Error     string          `json:"error"`
	Hint      string          `json:"hint,omitempty"`
	Resumable bool            `json:"resumable,omitempty"`
	Code      ferry.ErrorCode `json:"error_code,omitempty"`
}

// wireError is err as the control API sends it; shuttingDown says the
// daemon is stopping, which the sentence then says.
func wireError(err error, shuttingDown bool) errorBody {
	e := ferry.AsError(err)
	b := errorBody{Error: e.Sentence, Hint: e.Hint, Resumable: e.Resumable, Code: e.Code}
	if b.Code == "" && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		b.Code = ferry.CodeInterrupted
	}
	if shuttingDown {
		b.Error = "the daemon is shutting down: " + b.Error
	}
	return b
}

// err turns a received error back into a *ferry.Error; cause, if not nil,
// becomes its Err (the client's context error, so that errors.Is sees it).
func (b errorBody) err(cause error) *ferry.Error {
	return &ferry.Error{Code: b.Code, Sentence: b.Error, Hint: b.Hint, Resumable: b.Resumable, Err: cause}
}

// wireKey is a request's recovery key: the zero key for "" (none given).
func wireKey(s string) (ferry.RecoveryKey, error) {
	if s == "" {
		return ferry.RecoveryKey{}, nil
	}
	return ferry.ParseRecoveryKey(s)
}
