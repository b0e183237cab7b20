package pairing

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// exampleCode matches what reads as a pairing code in prose: a number, then
// two or more lower-case words, joined by hyphens ("7-zebra-acorn").
var exampleCode = regexp.MustCompile(`\b[0-9]{1,5}(-[a-z]{2,}){2,8}\b`)

// TestExampleCodesParse checks every code shown to a person — in the
// README, in help texts and in error messages anywhere in the module's
// non-test sources — against the word list: an example that ParseCode refuses
// teaches the user a code that cannot work.
func TestExampleCodesParse(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		// Tests hold wrong codes on purpose; what a person reads is in
		// the documentation and in the code that prints it.
		if ext := filepath.Ext(path); ext != ".go" && ext != ".md" && ext != ".html" && ext != ".js" || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			for _, m := range exampleCode.FindAllString(line, -1) {
				seen++
				if _, err := ParseCode(m); err != nil {
					rel, _ := filepath.Rel(root, path)
					t.Errorf("%s:%d: example code %q does not parse: %v", rel, i+1, m, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen == 0 {
		t.Fatal("found no example code at all: the pattern or the walk is broken")
	}
}
