package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/ferryhq/ferry/chatstore"
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
// instead of silently creating a tree somewhere else; and an existing folder
// must be a Ferry home or empty (checkHome).
func (a *app) ensureHome() error {
	fi, err := os.Stat(a.home)
	switch {
	case err == nil && !fi.IsDir():
		return fmt.Errorf("home %s is a file, not a directory: pick another --home", a.home)
	case err == nil:
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("home %s: %w", a.home, err)
	case !a.homeSet:
		if err := os.MkdirAll(a.home, 0o700); err != nil {
			return fmt.Errorf("create home %s: %w", a.home, err)
		}
	default:
		parent := filepath.Dir(a.home)
		if _, err := os.Stat(parent); errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("home %s cannot be created because %s does not exist: create it first or pick another --home", a.home, parent)
		}
		if err := os.Mkdir(a.home, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("create home %s: %w", a.home, err)
		}
	}
	return a.checkHome()
}

// checkHome refuses an existing folder that is not a Ferry home, and one
// that other users can read and Ferry cannot make private, before anything
// is written into it (see chatstore.PrepareHome). The first gets a
// sentence that names the folder.
func (a *app) checkHome() error {
	err := chatstore.PrepareHome(a.home)
	if errors.Is(err, chatstore.ErrNotAHome) {
		return sentence{fmt.Sprintf("%s is not a Ferry home: it holds other files, and Ferry writes only into a new or empty folder or an existing home; pick another --home", a.home), err}
	}
	return err
}
