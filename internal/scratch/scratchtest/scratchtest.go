// Package scratchtest checks that the tests of a package leave no scratch
// directory (a plaintext snapshot of a history) behind.
package scratchtest

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Main runs m with the system's temporary directory pointed at a fresh one
// of its own (TMPDIR; TMP and TEMP on Windows), inherited by the processes
// the tests start, and fails the run if a directory named PREFIX-* for any
// of prefixes is left in it when the tests are done. Call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(scratchtest.Main(m, "ferry-snapshot")) }
func Main(m *testing.M, prefixes ...string) int {
	root, err := os.MkdirTemp("", "ferry-test-tmp-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "scratchtest:", err)
		return 1
	}
	defer os.RemoveAll(root)
	// Tests may run processes as another user, who must reach their own
	// temporary directories in here.
	os.Chmod(root, 0o755)
	vars := []string{"TMPDIR"}
	if runtime.GOOS == "windows" {
		vars = []string{"TMP", "TEMP"}
	}
	for _, v := range vars {
		old, had := os.LookupEnv(v)
		os.Setenv(v, root)
		if had {
			defer os.Setenv(v, old)
		} else {
			defer os.Unsetenv(v)
		}
	}
	code := m.Run()
	var left []string
	for _, p := range prefixes {
		found, _ := filepath.Glob(filepath.Join(root, p+"-*"))
		left = append(left, found...)
	}
	if len(left) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: the tests left %d scratch directories behind (plaintext history): %v\n", len(left), left)
		if code == 0 {
			code = 1
		}
	}
	return code
}
