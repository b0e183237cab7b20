package mobile

import (
	"os"
	"os/exec"
	"testing"
)

// TestCrossCompile: the Go side of the bindings builds for iOS without cgo
// (GOOS=ios, as gomobile builds it; an app's framework itself needs cgo and
// Xcode: README.md). android/arm64 is among .ci/run's cross-compiles of
// every package.
func TestCrossCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: cross-compiling takes minutes")
	}
	cmd := exec.Command("go", "build", ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=ios", "GOARCH=arm64", "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("ios/arm64: %v\n%s", err, out)
	}
}
