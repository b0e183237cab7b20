// Command ferry moves a chat history from one device to another: directly over
// the local network, through a relay, or as an encrypted archive file.
package main

import (
	"context"
	"errors"
	"io"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// memoryLimit is the soft limit of the Go heap (runtime/debug
// SetMemoryLimit) unless GOMEMLIMIT says otherwise. A migration's buffers
// come and go by the megabyte, and without a limit the heap may grow to
// twice what is live before it is collected (GOGC=100): a receiving side
// of a 1M-message migration reached 189–206 MiB (the Go heap 136 MiB of
// it, SQLite's caches and the mapped binary the rest). SQLite's memory is
// not the Go heap's, so the limit leaves room for it under the 200 MiB a
// side may use. It is soft: past it the collector runs more often, nothing
// fails.
const memoryLimit = 128 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		var j jsonErrors
		printError(os.Stderr, err, errors.As(err, &j))
		os.Exit(exitCode(err))
	}
}

// app holds what every command shares: set once from the global flags, then
// read by the subcommands.
type app struct {
	home     string // --home, resolved
	homeSet  bool   // --home or FERRY_HOME given explicitly
	json     bool   // --json: machine-readable output
	verbose  bool
	stdin    io.Reader
	stdout   io.Writer
	stderr   io.Writer
	log      *slog.Logger
	progress bool // stderr is a terminal and not --json

	relayWait time.Duration // --relay-wait of the vault commands
}

// run parses args and executes one command. It is main without the exits, so
// tests can call it in-process.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr}
	root := a.rootCmd(stdin, stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err != nil && isUsageError(err) {
		err = usageError{err}
	}
	if err != nil && a.json {
		err = jsonErrors{err}
	}
	return err
}

// rootCmd makes the ferry command and its subcommands, writing to the
// given streams.
func (a *app) rootCmd(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "ferry",
		Short:         "Move your chat history to a new device, end-to-end encrypted",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return a.setup(cmd)
		},
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVar(&a.home, "home", "", "Ferry home directory (default $FERRY_HOME, else the XDG data dir)")
	root.PersistentFlags().BoolVar(&a.json, "json", false, "print machine-readable JSON")
	root.PersistentFlags().BoolVarP(&a.verbose, "verbose", "v", false, "log what happens to stderr")
	var cpuProfile string
	root.PersistentFlags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the command to this file")
	_ = root.PersistentFlags().MarkHidden("cpuprofile")
	root.PersistentPostRunE = func(*cobra.Command, []string) error {
		pprof.StopCPUProfile()
		return nil
	}
	prerun := root.PersistentPreRunE
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		if cpuProfile != "" {
			f, err := os.Create(cpuProfile)
			if err != nil {
				return err
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				return err
			}
		}
		return prerun(cmd, args)
	}
	root.AddCommand(
		a.historyCmd(),
		a.exportCmd(),
		a.importCmd(),
		a.demoCmd(),
		a.daemonCmd(),
		a.uiCmd(),
		a.sendCmd(),
		a.receiveCmd(),
		a.devicesCmd(),
		a.statusCmd(),
		a.relayCmd(),
		a.backupCmd(), a.restoreCmd(), a.backupsCmd(),
	)
	return root
}

func (a *app) setup(cmd *cobra.Command) error {
	level := slog.LevelWarn
	if a.verbose {
		level = slog.LevelDebug
	}
	a.log = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))
	// Libraries that use the standard logger (zeroconf prints harmless
	// announcement errors there) speak only with --verbose.
	if a.verbose {
		log.SetOutput(a.stderr)
	} else {
		log.SetOutput(io.Discard)
	}
	a.progress = !a.json && isTerminal(a.stderr)
	home, explicit, err := resolveHome(a.home)
	if err != nil {
		return err
	}
	a.home, a.homeSet = home, explicit
	return nil
}

// usageError marks a mistake on the command line (exit code 2).
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

func exitCode(err error) int {
	var u usageError
	if errors.As(err, &u) {
		return 2
	}
	return 1
}
