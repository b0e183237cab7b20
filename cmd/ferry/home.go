package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// resolveHome picks the home directory: the --home flag, else $FERRY_HOME, else
// the platform's data directory ($XDG_DATA_HOME/ferry, ~/.local/share/ferry).
// explicit reports whether the user named it; a home the user did not name is
// created on demand.
func resolveHome(flag string) (home string, explicit bool, err error) {
	if flag != "" {
		return filepath.Clean(flag), true, nil
	}
	if env := os.Getenv("FERRY_HOME"); env != "" {
		return filepath.Clean(env), true, nil
	}
	dir, err := dataDir()
	if err != nil {
		return "", false, fmt.Errorf("no home directory: set --home or FERRY_HOME (%w)", err)
	}
	return filepath.Join(dir, "ferry"), false, nil
}

func dataDir() (string, error) {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return d, nil
	}
	switch runtime.GOOS {
	case "windows", "darwin", "ios":
		return os.UserConfigDir()
	}
	h, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(h, ".local", "share"), nil
}

// ensureHome makes the home directory for a command that writes to it. A home
// the user named must have an existing parent, so a typo in --home is caught
// instead of silently creating a tree somewhere else.
func (a *app) ensureHome() error {
	if fi, err := os.Stat(a.home); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("home %s is a file, not a directory: pick another --home", a.home)
		}
		return nil
	}
	if !a.homeSet {
		return os.MkdirAll(a.home, 0o700)
	}
	parent := filepath.Dir(a.home)
	if _, err := os.Stat(parent); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("home %s cannot be created because %s does not exist: create it first or pick another --home", a.home, parent)
	}
	if err := os.Mkdir(a.home, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("create home %s: %w", a.home, err)
	}
	return nil
}
