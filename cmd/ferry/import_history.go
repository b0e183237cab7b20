package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // --tz works where the system has no zone database

	lib "github.com/ferryhq/ferry"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/ferryhq/ferry/daemon"
	"github.com/ferryhq/ferry/importers"
)

func (a *app) historyImportCmd() *cobra.Command {
	var format, tz, me string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "import PATH",
		Short: "Bring a WhatsApp or Telegram export into the history (media included)",
		Long: `Bring a chat exported from WhatsApp or Telegram into this home, media included.

PATH is what the app exported:
  WhatsApp ("Export chat", Android or iPhone): the .zip, or the .txt (with or
    without its media next to it), or the folder the .zip was unpacked into.
  Telegram Desktop ("Export chat history", or "Export Telegram data", format
    JSON): the export's folder, its result.json, or a .zip of the folder.

The whole export goes in one transaction: if any part of it cannot be read
(a damaged zip, a JSON cut short, an attachment the chat names but the export
lacks), nothing is written. Single lines that cannot be read are counted and
listed, never dropped silently. Importing the same export again, on another
device, or after migrating the history, adds nothing twice; a later, longer
export of the same chat adds only the new messages.

WhatsApp writes times without a zone: --tz names the zone of the phone that
made the export (default: this computer's). Use the same --tz on every device.
--me names you among the people of the chat, so that your messages show as
yours; without it, ferry asks on a terminal when more than one person wrote.

--dry-run reads the export the same way and says what it would add (the
lines it could not read too), writing nothing: the home is left as it was,
and not created if it is missing.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := importers.ParseFormat(format); err != nil {
				return usageError{err}
			}
			if tz != "" {
				if _, err := time.LoadLocation(tz); err != nil {
					return usageError{fmt.Errorf("unknown time zone %q for --tz: give a name such as Europe/Berlin, America/New_York or UTC", tz)}
				}
			}
			opts := lib.HistoryImportOptions{Format: format, TimeZone: tz, Owner: me, DryRun: dryRun}
			if !a.json && stdinIsTerminal(a.stdin) && isTerminal(a.stderr) {
				opts.AskOwner = askOwner(a.stdin, a.stderr)
			}
			return a.importHistory(cmd.Context(), args[0], opts)
		},
	}
	cmd.Flags().StringVar(&format, "format", "auto", "export format: auto, whatsapp or telegram")
	cmd.Flags().StringVar(&tz, "tz", "", "time zone of the export's times, e.g. Europe/Berlin (default: the local zone)")
	cmd.Flags().StringVar(&me, "me", "", "your name in the chat, as the export writes it (or your Telegram id, e.g. user123)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "say what the import would add, and write nothing")
	return cmd
}

// importHistory imports the export at path into the home.
func (a *app) importHistory(ctx context.Context, path string, opts lib.HistoryImportOptions) error {
	var res lib.HistoryImportResult
	err := a.withAPI(ctx, func(api daemon.API) error {
		v := a.newOpView(lib.PhaseReadingExport, false)
		opts.Events = v.event
		var err error
		res, err = api.ImportHistory(ctx, path, opts)
		v.finish()
		return err
	})
	if lib.CodeOf(err) == lib.CodeUnknownOwner {
		return usageError{err}
	}
	if err != nil {
		return err
	}
	type jsonOut struct {
		importers.Result
		Home    string  `json:"home"`
		Seconds float64 `json:"seconds"`
	}
	return a.emit(jsonOut{res.Result, a.home, res.Seconds}, func() { printImport(a.stdout, path, res.Result) })
}

// printImport tells what an import added, in a few lines.
func printImport(w io.Writer, path string, r importers.Result) {
	what := map[importers.Format]string{importers.FormatWhatsApp: "WhatsApp", importers.FormatTelegram: "Telegram"}[r.Format]
	did, added, held := "imported", "added", "held"
	if r.DryRun {
		did, added, held = "read (dry run, nothing written)", "would add", "holds"
	}
	fmt.Fprintf(w, "%s %s export %s in %s: %s, %s read\n", did, what, path, r.Took.Round(time.Millisecond),
		plural(int64(r.Chats), "chat"), plural(r.Read, "message"))
	fmt.Fprintf(w, "%s %s, %s, %s (%s of media)\n", added, plural(r.Added.Conversations, "conversation"),
		plural(r.Added.Messages, "message"), plural(r.Added.Attachments, "attachment"), humanBytes(r.Added.MediaBytes))
	if r.Added == (importers.Added{}) {
		fmt.Fprintf(w, "this home already %s all of it\n", held)
	}
	if len(r.Owner) > 0 {
		fmt.Fprintf(w, "you: %s\n", strings.Join(r.Owner, ", "))
	}
	if r.Unreadable == 0 {
		return
	}
	unit, verb := "line", "was"
	if r.Format == importers.FormatTelegram {
		unit = "message"
	}
	if r.Unreadable != 1 {
		verb = "were"
	}
	if r.DryRun {
		verb = "would not be imported"
	} else {
		verb += " not imported"
	}
	fmt.Fprintf(w, "%s could not be read and %s:\n", plural(int64(r.Unreadable), unit), verb)
	const show = 10
	for i, p := range r.Problems {
		if i == show {
			break
		}
		fmt.Fprintf(w, "  %s, %s: %s: %q\n", p.File, p.Where, p.Reason, p.Text)
	}
	if r.Unreadable > show {
		fmt.Fprintf(w, "  … and %d more (--json lists up to %d)\n", r.Unreadable-show, len(r.Problems))
	}
}

func plural(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.FormatInt(n, 10) + " " + noun + "s"
}

func stdinIsTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// askOwner asks on a terminal which of the people in an export is the user.
func askOwner(in io.Reader, out io.Writer) func(context.Context, []string) (string, error) {
	return func(ctx context.Context, names []string) (string, error) {
		r := bufio.NewReader(in)
		fmt.Fprintln(out, "Which of these people is you? (Your messages then show as yours; --me NAME says it up front.)")
		for i, n := range names {
			fmt.Fprintf(out, "  %d) %s\n", i+1, n)
		}
		fmt.Fprintln(out, "  0) none of them")
		for range 3 {
			if err := ctx.Err(); err != nil {
				return "", err
			}
			fmt.Fprint(out, "Number: ")
			line, err := r.ReadString('\n')
			line = strings.TrimSpace(line)
			if line == "" && err != nil {
				return "", nil // end of input: no one
			}
			n, perr := strconv.Atoi(line)
			switch {
			case perr == nil && n == 0:
				return "", nil
			case perr == nil && n >= 1 && n <= len(names):
				return names[n-1], nil
			}
			for _, name := range names {
				if strings.EqualFold(line, name) {
					return name, nil
				}
			}
			fmt.Fprintf(out, "Give a number from 0 to %d.\n", len(names))
		}
		return "", nil
	}
}
