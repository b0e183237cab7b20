package mobile

import (
	"os"
	"os/exec"
	"testing"
)

// TestCrossCompile: the Go side of the bindings builds for the phones
// without cgo (an app's library itself needs cgo and the NDK or Xcode:
// README.md). android/arm64 needs -checklinkname=0 for go-libp2p's Android
// network shim; GOOS=ios is what gomobile builds for iOS.
func TestCrossCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: cross-compiling takes minutes")
	}
	for _, target := range []struct{ goos, ldflags string }{
		{"android", "-checklinkname=0"},
		{"ios", ""},
	} {
		cmd := exec.Command("go", "build", "-ldflags="+target.ldflags, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+target.goos, "GOARCH=arm64", "GOFLAGS=-buildvcs=false")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s/arm64: %v\n%s", target.goos, err, out)
		}
	}
}
