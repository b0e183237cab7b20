package main

import (
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
