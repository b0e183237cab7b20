package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	lib "github.com/ferryhq/ferry"

	"github.com/mdp/qrterminal/v3"
	"github.com/spf13/cobra"

	"github.com/ferryhq/ferry/daemon"
)

// socketPath is the control socket of the daemon of a home.
func socketPath(home string) string { return filepath.Join(home, "ferry.sock") }

// device is the home's Device as the CLI runs it in-process.
func (a *app) device() *lib.Device {
	return &lib.Device{Home: a.home, Version: "ferry " + version, Logger: a.log}
}

// withAPI runs fn against the home's running daemon, or, when none runs,
// against a Device of this process (which starts a libp2p host only for
// the commands that need one): one home, one host.
func (a *app) withAPI(ctx context.Context, fn func(daemon.API) error) error {
	if c, err := daemon.Dial(ctx, socketPath(a.home)); err == nil {
		defer c.Close()
		a.log.Debug("using the running daemon", "socket", socketPath(a.home))
		return fn(c)
	} else if !errors.Is(err, daemon.ErrNoDaemon) {
		return err
	}
	return a.withDevice(ctx, func(d *lib.Device) error { return fn(d) })
}

// withDevice runs fn with the home's Device in this process, closed after.
// A home the user did not name (the platform's data directory) gets its
// parent directories made.
func (a *app) withDevice(ctx context.Context, fn func(*lib.Device) error) error {
	if !a.homeSet {
		if err := os.MkdirAll(filepath.Dir(a.home), 0o700); err != nil {
			return fmt.Errorf("create %s: %w", filepath.Dir(a.home), err)
		}
	}
	d := a.device()
	defer d.Close()
	return fn(d)
}

func (a *app) daemonCmd() *cobra.Command {
	var (
		listen   []string
		ui       bool
		uiListen string
	)
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Run the Ferry service for this home (send, receive and the control socket)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if c, err := daemon.Dial(ctx, socketPath(a.home)); err == nil {
				c.Close()
				return errDaemonRunning(daemon.ErrDaemonRunning)
			}
			return a.withDevice(ctx, func(d *lib.Device) error {
				d.Listen = listen
				return a.runDaemon(ctx, d, ui, uiListen)
			})
		},
	}
	cmd.Flags().StringArrayVar(&listen, "listen", nil, "libp2p multiaddr to listen on (repeatable; default TCP and QUIC on all interfaces)")
	cmd.Flags().BoolVar(&ui, "ui", false, "also serve the web app (see ferry ui) and print its address")
	cmd.Flags().StringVar(&uiListen, "ui-listen", "127.0.0.1:0", "with --ui: where to serve the web app, on this machine")
	return cmd
}

// runDaemon starts d, takes the control socket and serves it (and the web
// app, with ui) until ctx ends. It prints its addresses only once both are
// its own: a second daemon of the same home says nothing but that one runs.
func (a *app) runDaemon(ctx context.Context, d *lib.Device, ui bool, uiListen string) error {
	if err := d.Start(ctx); err != nil {
		return err
	}
	ctl, err := a.listenControl()
	if err != nil {
		return err
	}
	defer ctl.Close()
	if ui {
		// The web app prints its own ready line, once it listens too.
		return a.serveWeb(ctx, d, ctl, uiListen, false, a.printDaemon(ctx, d))
	}
	a.printDaemon(ctx, d)()
	err = ctl.Serve(ctx, d, a.log)
	if ctx.Err() != nil {
		return nil // SIGINT/SIGTERM: a clean stop
	}
	return err
}

// printDaemon returns what prints a started daemon's identity, addresses
// and control socket.
func (a *app) printDaemon(ctx context.Context, d *lib.Device) func() {
	return func() {
		st, _ := d.Status(ctx)
		if a.json {
			_ = json.NewEncoder(a.stdout).Encode(map[string]any{"event": "ready", "peer_id": st.PeerID, "addrs": st.Addrs, "socket": socketPath(a.home)})
			return
		}
		fmt.Fprintf(a.stdout, "daemon: %s\n", st.PeerID)
		for _, ad := range st.Addrs {
			fmt.Fprintf(a.stdout, "listening: %s\n", ad)
		}
		fmt.Fprintf(a.stdout, "control: %s\n", socketPath(a.home))
	}
}

// listenControl takes the home's control socket, or says that another
// daemon has it.
func (a *app) listenControl() (*daemon.ControlListener, error) {
	ctl, err := daemon.ListenControl(socketPath(a.home))
	if errors.Is(err, daemon.ErrDaemonRunning) {
		return nil, errDaemonRunning(err)
	}
	return ctl, err
}

// errDaemonRunning is the sentence for a daemon that finds its home's
// socket taken.
func errDaemonRunning(err error) error {
	return &lib.Error{Sentence: "a ferry daemon is already running for this home",
		Hint: "the other commands of this home use it; stop it before you start another", Err: err}
}

func (a *app) sendCmd() *cobra.Command {
	var req lib.SendOptions
	cmd := &cobra.Command{
		Use:   "send",
		Short: "Offer this home's history to a new device; prints a code to type there",
		Long: `Offer this home's history to a new device; prints a code to type there.

The send serves one device: the one that pairs with the code, or with --to the
paired device named (no code). A paired device that asks a send meant for
another is refused. If a send is stopped before its receiver finished, the same
command again lets that receiver continue without a code (for a day).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			return a.withAPI(ctx, func(api daemon.API) error {
				r := a.newRenderer(false)
				defer r.finish()
				s, err := api.Send(ctx, req)
				if err != nil {
					return err
				}
				for e := range s.Events() {
					r.event(e)
				}
				res, err := s.Wait(ctx)
				if err != nil {
					return err
				}
				return r.result(res.Report())
			})
		},
	}
	cmd.Flags().StringVar(&req.Code, "code", "", "use this code instead of a new one")
	cmd.Flags().IntVar(&req.CodeWords, "code-words", 0, "words in a new code (default 2; more words, more secret)")
	cmd.Flags().StringVar(&req.Relay, "relay", "", "also wait for the receiver on this relay (its full multiaddr, as printed by ferry relay)")
	cmd.Flags().StringVar(&req.To, "to", "", "send to this paired device only, with no code (its name or the start of its peer ID, as ferry devices lists them)")
	return cmd
}

func (a *app) receiveCmd() *cobra.Command {
	var (
		req    lib.ReceiveOptions
		accept bool
	)
	cmd := &cobra.Command{
		Use:   "receive [CODE | ferry:LINK]",
		Short: "Receive the history offered by ferry send on the other device",
		Long: `Receive the history offered by ferry send on the other device.

Give the code it shows, or the ferry: link its QR code holds (the code and the
sender's addresses, for a network where devices cannot find each other).
Devices that paired before need no code: ferry receive alone continues an
interrupted migration or fetches what is new.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			target := ""
			if len(args) == 1 {
				target = args[0]
				if lib.IsURI(target) {
					if err := lib.CheckTarget(target); err != nil {
						return usageError{err}
					}
				}
			}
			if !accept && !a.canAsk() {
				return usageError{errors.New("cannot ask whether to accept the offer (no terminal): add --yes")}
			}
			return a.withAPI(ctx, func(api daemon.API) error {
				r := a.newRenderer(!accept)
				defer r.finish()
				opt := req
				opt.Events = r.event
				if !accept {
					opt.Confirm = r.confirm
				}
				res, err := api.Receive(ctx, target, opt)
				if err != nil {
					return err
				}
				return r.result(res.Report())
			})
		},
	}
	cmd.Flags().BoolVarP(&accept, "yes", "y", false, "accept the offer without asking")
	cmd.Flags().StringArrayVar(&req.Addrs, "peer", nil, "the sender's full multiaddr (…/p2p/ID), to skip the local-network search")
	cmd.Flags().StringVar(&req.Relay, "relay", "", "find the sender through this relay (the same as on the sender); the local network is still tried")
	return cmd
}

func (a *app) devicesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "devices",
		Short: "List the devices this one has paired with",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withAPI(cmd.Context(), func(api daemon.API) error {
				ds, err := api.Devices(cmd.Context())
				if err != nil {
					return err
				}
				return a.emit(ds, func() {
					if len(ds) == 0 {
						fmt.Fprintln(a.stdout, "no paired devices")
					}
					for _, d := range ds {
						seen := ""
						if !d.LastSeen.IsZero() {
							seen = ", last seen " + d.LastSeen.Local().Format("2006-01-02 15:04")
						}
						fmt.Fprintf(a.stdout, "%s  %-24s paired %s%s\n", d.PeerID, d.Name, d.PairedAt.Local().Format("2006-01-02 15:04"), seen)
					}
				})
			})
		},
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "forget ID",
		Short: "Remove a paired device: it will need a code again",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withAPI(cmd.Context(), func(api daemon.API) error {
				if err := api.Forget(cmd.Context(), args[0]); err != nil {
					return err
				}
				return a.emit(map[string]string{"forgotten": args[0]}, func() {
					fmt.Fprintf(a.stdout, "forgot %s\n", args[0])
				})
			})
		},
	})
	return cmd
}

func (a *app) statusCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show this device's peer ID, addresses and sessions",
		Long: `Show this device's peer ID, and, when ferry daemon runs for this home, its
addresses and sessions. Only looks: without a daemon it starts none, and it
never creates a home or an identity.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			var out statusOut
			c, err := daemon.Dial(ctx, socketPath(a.home))
			switch {
			case err == nil:
				defer c.Close()
				out.Running = true
				if out.Status, err = c.Status(ctx); err != nil {
					return err
				}
			case !errors.Is(err, daemon.ErrNoDaemon):
				return err
			default:
				if out.Status, err = a.device().Status(ctx); err != nil {
					return err
				}
			}
			st := out.Status
			return a.emit(out, func() {
				peerID := st.PeerID
				if peerID == "" {
					peerID = "none yet (the first send, receive or daemon makes one)"
				}
				fmt.Fprintf(a.stdout, "peer ID: %s\nhome:    %s\n", peerID, st.Home)
				if !out.Running {
					fmt.Fprintln(a.stdout, "daemon:  not running (send and receive start their own)")
				}
				for _, ad := range st.Addrs {
					fmt.Fprintf(a.stdout, "address: %s\n", ad)
				}
				for _, s := range st.Sessions {
					fmt.Fprintf(a.stdout, "session: %s %s since %s\n", s.ID, s.State, s.Started.Format("15:04:05"))
				}
			})
		},
	}
}

// statusOut is what ferry status shows: the daemon's status, or what can be
// read from the home when none runs.
type statusOut struct {
	lib.Status
	Running bool `json:"daemon_running"`
}

// canAsk reports whether the user can be asked a question.
func (a *app) canAsk() bool {
	f, err := os.Open("/dev/tty")
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// renderer shows a session's events: JSON lines with --json; otherwise the
// code on stdout, narration on stderr, and a progress bar on a terminal.
type renderer struct {
	a     *app
	ask   bool // the user is asked to confirm the offer
	bar   *progress
	phase string
	path  string
}

func (a *app) newRenderer(ask bool) *renderer {
	return &renderer{a: a, ask: ask}
}

func (r *renderer) event(e lib.Event) {
	a := r.a
	if a.json {
		_ = json.NewEncoder(a.stdout).Encode(e)
		return
	}
	switch e.Kind {
	case lib.EventCode:
		fmt.Fprintf(a.stdout, "code: %s\n", e.Code)
		if a.progress {
			qrterminal.GenerateHalfBlock(e.Code, qrterminal.L, a.stderr)
		}
		if e.Offer != nil {
			fmt.Fprintf(a.stderr, "offering %d messages and %s of media (up to %s to move: what the receiver holds already stays)\n",
				e.Offer.Messages, humanBytes(e.Offer.MediaBytes), humanBytes(e.Offer.Bytes))
		}
	case lib.EventProgress:
		if r.bar == nil || r.phase != e.Phase {
			if r.bar != nil {
				r.bar.Finish()
			}
			desc := e.Phase
			if r.path != "" {
				desc += " (" + r.path + ")"
			}
			r.bar, r.phase = a.newProgress(desc, e.Total, true), e.Phase
		}
		if e.ItemsTotal > 0 {
			label := fmt.Sprintf("%s %d/%d pieces", e.Phase, e.Items, e.ItemsTotal)
			if r.path != "" {
				label = fmt.Sprintf("%s (%s) %d/%d pieces", e.Phase, r.path, e.Items, e.ItemsTotal)
			}
			r.bar.Describe(label)
		}
		r.bar.Set(e.Done, e.Total)
	case lib.EventConnected:
		r.path = e.Path
		fmt.Fprintln(a.stderr, e.Message)
	case lib.EventOffer:
		if e.Offer != nil {
			fmt.Fprintf(a.stderr, "%s offers %d messages and %s of media (%s)\n",
				e.Offer.Device, e.Offer.Messages, humanBytes(e.Offer.MediaBytes), toMove(*e.Offer))
		}
	case lib.EventDone:
		if r.bar != nil {
			r.bar.Finish()
			r.bar = nil
		}
	default:
		if e.Message != "" {
			fmt.Fprintln(a.stderr, e.Message)
		}
	}
}

// confirm asks the user on the terminal whether to accept an offer.
func (r *renderer) confirm(context.Context, lib.Offer) (bool, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return false, nil
	}
	defer tty.Close()
	fmt.Fprint(tty, "Receive it? [y/N] ")
	line, _ := bufio.NewReader(tty).ReadString('\n')
	line = strings.ToLower(strings.TrimSpace(line))
	return line == "y" || line == "yes", nil
}

func (r *renderer) finish() {
	if r.bar != nil {
		r.bar.Finish()
	}
}

// result prints the final report of a session.
func (r *renderer) result(rep lib.Report) error {
	a := r.a
	if a.json {
		return json.NewEncoder(a.stdout).Encode(map[string]any{"event": "result", "report": rep})
	}
	r.finish()
	on := "the receiver"
	if rep.Receiver != "" {
		on = rep.Receiver
	}
	fmt.Fprintf(a.stdout, "done: %d messages, %d attachments; moved %s; digest %s (verified on %s)\n",
		rep.Messages, rep.Attachments, humanBytes(rep.Bytes), rep.TargetDigest, on)
	return nil
}

// toMove says how much of an offer a receiver fetches: what its home lacks.
func toMove(o lib.Offer) string {
	if o.Needed < o.Bytes {
		return fmt.Sprintf("%s to move; this home holds the rest of its %s", humanBytes(o.Needed), humanBytes(o.Bytes))
	}
	return humanBytes(o.Bytes) + " to move"
}
