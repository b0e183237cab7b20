package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	lib "github.com/ferryhq/ferry"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/ferryhq/ferry/daemon"
)

func (a *app) uiCmd() *cobra.Command {
	var (
		listen string
		noOpen bool
	)
	cmd := &cobra.Command{
		Use:   "ui [--listen 127.0.0.1:PORT] [--no-open]",
		Short: "Open Ferry in your web browser: read and search your history, move it to a new device",
		Long: `Open Ferry in your web browser: read and search the history, send it to a new
device (a code and a QR code to scan there) or receive it from an old one, and
see the devices paired with this one.

The app is served on this machine only (127.0.0.1) and opens in the browser
when there is one; the address printed ("ui: http://127.0.0.1:PORT/#token=…")
holds a key that only this run knows: open that address, not another. It runs
the Ferry service for this home while it is open (or uses the one that ferry
daemon runs). Stop it with Ctrl-C.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runUI(cmd.Context(), listen, !noOpen)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:0", "where to serve the app: an address of this machine and a port (0: any free one)")
	cmd.Flags().BoolVar(&noOpen, "no-open", false, "print the address but do not open a browser")
	return cmd
}

// runUI serves the web app until ctx ends: over the home's running daemon,
// or over a daemon of its own (which then also serves the control socket,
// so that the CLI uses it meanwhile).
func (a *app) runUI(ctx context.Context, listen string, open bool) error {
	c, err := daemon.Dial(ctx, socketPath(a.home))
	if err == nil {
		defer c.Close()
		a.log.Debug("the app uses the running daemon", "socket", socketPath(a.home))
		return a.serveWeb(ctx, c, nil, listen, open, nil)
	}
	if !errors.Is(err, daemon.ErrNoDaemon) {
		return err
	}
	return a.withDevice(ctx, func(d *lib.Device) error {
		if err := d.Start(ctx); err != nil {
			return err
		}
		ctl, err := a.listenControl()
		if err != nil {
			return err
		}
		defer ctl.Close()
		return a.serveWeb(ctx, d, ctl, listen, open, nil)
	})
}

// serveWeb serves the web app over api, and api on the control socket ctl
// when it is not nil, until ctx ends (a clean stop) or either fails.
// before, if not nil, prints what comes before the app's ready line.
func (a *app) serveWeb(ctx context.Context, api daemon.API, ctl *daemon.ControlListener, listen string, open bool, before func()) error {
	web, err := daemon.NewWebServer(api, daemon.WebConfig{Home: a.home, Listen: listen, Logger: a.log})
	if errors.Is(err, daemon.ErrNotLoopback) {
		return usageError{fmt.Errorf("--listen %s: %w", listen, daemon.ErrNotLoopback)}
	}
	if err != nil {
		return err
	}
	defer web.Close()
	g, gctx := errgroup.WithContext(ctx)
	if ctl != nil {
		g.Go(func() error { return ctl.Serve(gctx, api, a.log) })
	}
	g.Go(func() error { return web.Serve(gctx) })
	if before != nil {
		before()
	}
	if a.json {
		_ = json.NewEncoder(a.stdout).Encode(map[string]any{"event": "ready", "url": web.URL()})
	} else {
		fmt.Fprintf(a.stdout, "ui: %s\n", web.URL())
		fmt.Fprintln(a.stderr, "Ferry is open at this address while this runs; stop it with Ctrl-C.")
	}
	if open {
		stop := a.openBrowser(web.URL())
		defer stop()
	}
	err = g.Wait()
	if ctx.Err() != nil {
		return nil // SIGINT/SIGTERM: a clean stop
	}
	return err
}

// openBrowser opens url in the person's browser, when there is one, and
// returns what to do once the app stops. The URL holds the key, and the
// command line of a program is there for every user of the machine to
// read: so the browser is given a file of the home instead (mode 0600),
// which sends it on to the URL.
func (a *app) openBrowser(url string) func() {
	var opener []string
	switch runtime.GOOS {
	case "darwin":
		opener = []string{"open"}
	case "windows":
		opener = []string{"rundll32", "url.dll,FileProtocolHandler"}
	default:
		if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
			return func() {} // no screen: the printed address is all there is
		}
		opener = []string{"xdg-open"}
	}
	if _, err := exec.LookPath(opener[0]); err != nil {
		return func() {}
	}
	dir := filepath.Join(a.home, "cache")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		a.log.Warn("cannot open a browser", "err", err)
		return func() {}
	}
	f, err := os.CreateTemp(dir, "ui-open-*.html")
	if err != nil {
		a.log.Warn("cannot open a browser", "err", err)
		return func() {}
	}
	u := html.EscapeString(url)
	fmt.Fprintf(f, `<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=%s"><title>Ferry</title><p><a href="%s">Open Ferry</a></p>`, u, u)
	f.Close()
	cmd := exec.Command(opener[0], append(opener[1:], f.Name())...)
	if err := cmd.Start(); err != nil {
		os.Remove(f.Name())
		a.log.Warn("cannot open a browser", "err", err)
		return func() {}
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	return func() {
		os.Remove(f.Name())
		// The opener usually hands the page to a browser and exits at
		// once; one that stays (the browser itself) is left running.
		select {
		case <-exited:
		case <-time.After(time.Second):
		}
	}
}
