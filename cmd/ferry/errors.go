package main

import (
	"context"
	"errors"
	"strings"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/daemon"
	"github.com/ferryhq/ferry/internal/archive"
	"github.com/ferryhq/ferry/transfer"
)

// userMessage turns an error into the one sentence a user sees. Known failures
// get a sentence that says what happened and what to do; anything else is
// shown as it is, wrapped context included.
func userMessage(err error) string {
	for _, m := range messages {
		if errors.Is(err, m.err) {
			return m.text
		}
	}
	// Errors whose text already is the sentence: show the most specific link
	// of the chain that still starts with it (it may add a detail, such as
	// which directory is full), without the operation prefixes around it.
	for _, s := range sentences {
		if !errors.Is(err, s) {
			continue
		}
		for e := err; e != nil; e = errors.Unwrap(e) {
			if strings.HasPrefix(e.Error(), s.Error()) {
				return e.Error()
			}
		}
		return s.Error()
	}
	return err.Error()
}

var sentences = []error{
	archive.ErrBadRecoveryKey,
	transfer.ErrWrongKey, transfer.ErrWrongPassword, transfer.ErrNotArchive, transfer.ErrNewerVersion,
	transfer.ErrCorrupt, transfer.ErrTruncated, transfer.ErrChunkCorrupt, transfer.ErrIncomplete,
	transfer.ErrDigestMismatch, transfer.ErrSourceChanged, transfer.ErrTooLarge, transfer.ErrNoSpace,
	transfer.ErrNoKey, transfer.ErrForeignSchema,
}

type message struct {
	err  error
	text string
}

var messages = []message{
	{chatstore.ErrNoHome, "that home does not exist: check --home (or FERRY_HOME), or create the history first with `ferry history seed`"},
	{chatstore.ErrLocked, "the history is in use by another ferry process: wait for it to finish or stop it, then try again"},
	{chatstore.ErrNotAStore, "the home does not hold a Ferry history (its database is not one of ours): check --home"},
	{chatstore.ErrTooNew, "the history was written by a newer version of Ferry: upgrade ferry to use it"},
	{daemon.ErrNotReceiver, "the sender is not sending to this device: give the code it shows (ferry receive CODE), or run ferry send --to NAME there with this device's name"},
	{daemon.ErrSenderForgot, "the sender does not count this device as paired (it was never paired there, or was removed): give the code it shows (ferry receive CODE) to pair again"},
	{chatstore.ErrHomeExposed, "other users can read this home and Ferry cannot make it private (it belongs to another user, or its modes cannot be changed): its owner should run chmod -R go= on it"},
	{chatstore.ErrReadOnlyHome, "this home cannot be written (a read-only file system, or no permission to write there), and this command changes it: use a home you can write to"},
	{chatstore.ErrCorrupt, "the history database is damaged: it fails SQLite's integrity check"},
	{context.Canceled, "interrupted: nothing half-done was kept in the history; run the same command again to continue where it stopped"},
}

// isUsageError tells cobra's own complaints about the command line apart.
func isUsageError(err error) bool {
	s := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand", "accepts ", "requires at least", "invalid argument", "flag needs an argument", "required flag"} {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}
