package main

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/term"
)

// errNoPassword is returned when a password is needed but there is no way to ask.
var errNoPassword = errors.New("a password is needed: set FERRY_PASSWORD or run ferry on a terminal")

// readPassword returns the password from FERRY_PASSWORD, else asks on the
// terminal (twice when confirm, for a new password). It never echoes or logs it.
func (a *app) readPassword(prompt string, confirm bool) ([]byte, error) {
	if p, ok := os.LookupEnv("FERRY_PASSWORD"); ok {
		if p == "" {
			return nil, errors.New("FERRY_PASSWORD is set but empty: set it to the password")
		}
		return []byte(p), nil
	}
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		if f, ok := a.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			tty = f
		} else {
			return nil, errNoPassword
		}
	} else {
		defer tty.Close()
	}
	ask := func(p string) ([]byte, error) {
		fmt.Fprint(tty, p)
		b, err := term.ReadPassword(int(tty.Fd()))
		fmt.Fprintln(tty)
		return b, err
	}
	pw, err := ask(prompt)
	if err != nil {
		return nil, fmt.Errorf("read password: %w", err)
	}
	if len(pw) == 0 {
		return nil, errors.New("the password is empty")
	}
	if confirm {
		again, err := ask("Repeat the password: ")
		if err != nil {
			return nil, fmt.Errorf("read password: %w", err)
		}
		if string(again) != string(pw) {
			return nil, errors.New("the two passwords differ: try again")
		}
	}
	return pw, nil
}
