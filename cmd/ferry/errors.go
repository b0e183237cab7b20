package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	lib "github.com/ferryhq/ferry"
)

// The library's errors (*ferry.Error) carry a sentence, a hint and whether
// the same again resumes, and never name a flag; the CLI shows them with
// its own words where it has flags or commands to name (cliWords, keyed by
// the error's code).

// cliWords are the CLI's words for the errors whose advice names a flag or
// a command: a sentence (empty: the library's) and a hint ("-": none).
var cliWords = map[lib.ErrorCode]struct{ sentence, hint string }{
	lib.CodeNoHome:           {"", "check --home (or FERRY_HOME), or create the history first with `ferry history seed`"},
	lib.CodeNotAHome:         {"", "pick another --home"},
	lib.CodeHomeIsFile:       {"", "pick another --home"},
	lib.CodeNoHomeParent:     {"", "create it first or pick another --home"},
	lib.CodeNotAStore:        {"", "check --home"},
	lib.CodeNotReceiver:      {"", "give the code it shows (ferry receive CODE), or run ferry send --to NAME there with this device's name"},
	lib.CodeSenderForgot:     {"", "give the code it shows (ferry receive CODE) to pair again"},
	lib.CodeNoCode:           {"", "give the code shown by ferry send on the other device"},
	lib.CodeNoDiscovery:      {"", "give the sender's address with --peer"},
	lib.CodeSenderGone:       {"", "run ferry send on the other device and ferry receive here again; what was received is kept"},
	lib.CodeUnknownDevice:    {"", "see ferry devices"},
	lib.CodeNotArchive:       {"", "check that you picked the file written by `ferry export`"},
	lib.CodeNeedsPassword:    {"", "import it with --password (from FERRY_PASSWORD or a prompt) instead of --key"},
	lib.CodeNeedsKey:         {"", "import it with --key KEY, the recovery key that ferry export printed, instead of --password"},
	lib.CodeFileExists:       {"", "pick another --out or add --force to replace it"},
	lib.CodeNoVault:          {"this relay keeps no backups; its operator can start it with --vault", "-"},
	lib.CodeQuota:            {"", "delete old backups with `ferry backups rm ID`"},
	lib.CodeBadBackupID:      {"", "check the ID printed by `ferry backup` (32 hex digits)"},
	lib.CodeRelayAddr:        {"the relay address must be a multiaddr ending in /p2p/<relay peer ID>, as printed by `ferry relay`", ""},
	lib.CodeRelayUnreachable: {"", "check the --relay address and this device's network"},
	lib.CodeNameplateUnknown: {"", "check the code, and that both sides use the same --relay; if ferry send there has ended (it was stopped, or too many wrong codes were tried), start it again and use its new code"},
	lib.CodeCodeMismatch:     {"", "check the code ferry send shows (the words and the number before them) and run ferry receive again"},
	lib.CodeLastTry:          {"", "run ferry send there again and use its new code"},
	lib.CodeNameplateExpired: {"", "start `ferry send` again and use the new code"},
	lib.CodeNameplateClaimed: {"", "start `ferry send` again and use the new code"},
	lib.CodeNameplateTaken:   {"", "start `ferry send` again to get another code"},
	lib.CodeNotFoundOnLAN:    {"", "check that both are on the same network, or use --relay ADDR on both devices"},
	lib.CodeNoInterface:      {"", "connect to a network, or use --relay ADDR on both devices"},
	lib.CodeUnknownOwner:     {"", "give --me one of those names, or leave --me out"},
}

// words is what the CLI shows of err: the sentence, the hint (the CLI's
// where it has its own), and whether the same command again resumes.
func words(err error) (sentence, hint string, resumable bool) {
	var e *lib.Error
	if !errors.As(err, &e) {
		var u usageError
		if errors.As(err, &u) {
			return u.error.Error(), "", false
		}
		return err.Error(), "", false
	}
	sentence, hint = e.Sentence, e.Hint
	if w, ok := cliWords[e.Code]; ok {
		if w.sentence != "" {
			sentence = w.sentence
		}
		switch w.hint {
		case "":
		case "-": // the sentence says it all
			hint = ""
		default:
			hint = w.hint
		}
	}
	// The library says to run it again; the CLI says what that is.
	hint = strings.ReplaceAll(hint, "run it again", "run the same command again")
	return sentence, hint, e.Resumable
}

// userMessage is the one line a user sees for err.
func userMessage(err error) string {
	s, h, _ := words(err)
	if h == "" {
		return s
	}
	return s + ": " + h
}

// printError shows err on w: "ferry: " and the line, or with --json one
// JSON object, {"error": sentence, "hint": ..., "resumable": ...}.
func printError(w io.Writer, err error, asJSON bool) {
	if !asJSON {
		fmt.Fprintln(w, "ferry: "+userMessage(err))
		return
	}
	s, h, r := words(err)
	_ = json.NewEncoder(w).Encode(struct {
		Error     string        `json:"error"`
		Hint      string        `json:"hint,omitempty"`
		Resumable bool          `json:"resumable"`
		Code      lib.ErrorCode `json:"code,omitempty"`
	}{s, h, r, lib.CodeOf(err)})
}

// jsonErrors marks the error of a run with --json: main prints it as JSON.
type jsonErrors struct{ error }

func (e jsonErrors) Unwrap() error { return e.error }

// sentence is an error shown as msg, with its cause behind it.
func sentence(msg string, err error) error { return &lib.Error{Sentence: msg, Err: err} }

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
