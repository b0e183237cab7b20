package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// The README's flag reference lies between these lines; TestReadmeFlags
// makes it from the commands themselves.
const (
	flagsBegin = "<!-- flags: made by TestReadmeFlags from the commands; FERRY_UPDATE_README=1 go test -run TestReadmeFlags ./cmd/ferry rewrites it -->"
	flagsEnd   = "<!-- end of flags -->"
)

// TestReadmeFlags: the README names every flag of every command, with its
// default and what it does, as the commands define them (a flag added or
// changed without the README fails here).
func TestReadmeFlags(t *testing.T) {
	path := filepath.Join("..", "..", "README.md")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	i, j := strings.Index(readme, flagsBegin), strings.Index(readme, flagsEnd)
	if i < 0 || j < i {
		t.Fatalf("README.md has no flag reference between %q and %q", flagsBegin, flagsEnd)
	}
	want := flagReference()
	got := readme[i+len(flagsBegin) : j]
	if got == want {
		return
	}
	if os.Getenv("FERRY_UPDATE_README") != "" {
		if err := os.WriteFile(path, []byte(readme[:i+len(flagsBegin)]+want+readme[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README.md's flag reference is not the commands' (FERRY_UPDATE_README=1 go test -run TestReadmeFlags ./cmd/ferry rewrites it); it should read:\n%s", want)
}

// flagReference lists each command's own flags, one paragraph a command.
func flagReference() string {
	a := &app{}
	root := a.rootCmd(strings.NewReader(""), io.Discard, io.Discard)
	var b strings.Builder
	b.WriteString("\n")
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
			return
		}
		var flags []string
		fs := c.LocalNonPersistentFlags()
		if c == root {
			fs = c.PersistentFlags()
		}
		fs.VisitAll(func(f *pflag.Flag) {
			if f.Hidden || f.Name == "help" || f.Name == "version" {
				return
			}
			s := "`--" + f.Name
			if f.Shorthand != "" {
				s = "`-" + f.Shorthand + "`, " + s
			}
			if name, _ := pflag.UnquoteUsage(f); name != "" {
				s += " " + strings.ToUpper(strings.TrimSuffix(name, "Array"))
			}
			s += "`"
			usage := strings.ReplaceAll(f.Usage, "|", `\|`)
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "[]" && f.DefValue != "0s" {
				usage += " (default " + f.DefValue + ")"
			}
			flags = append(flags, s+": "+usage)
		})
		if len(flags) > 0 {
			name := "every command"
			if c != root {
				name = "`" + c.CommandPath() + "`"
			}
			b.WriteString("- " + name + ": " + strings.Join(flags, "; ") + ".\n")
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return b.String()
}
