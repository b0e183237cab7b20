package mobile

import (
	"os"
	"testing"

	"golang.org/x/tools/go/packages"
)

// TestCrossCompile: the Go side of the bindings compiles for iOS without
// cgo (GOOS=ios, as gomobile builds it; an app's framework itself needs cgo
// and Xcode: README.md). The package and everything it imports are
// type-checked from source with the files iOS's build tags select — what
// go build of this (non-main) package checks, without generating code for
// every dependency (that took minutes). android/arm64 is among .ci/run's
// builds of every package.
func TestCrossCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: type-checking every dependency takes a while")
	}
	cfg := &packages.Config{Mode: packages.LoadAllSyntax,
		Env: append(os.Environ(), "CGO_ENABLED=0", "GOOS=ios", "GOARCH=arm64", "GOFLAGS=-buildvcs=false")}
	pkgs, err := packages.Load(cfg, ".")
	if err != nil {
		t.Fatalf("ios/arm64: %v", err)
	}
	n := 0
	packages.Visit(pkgs, nil, func(p *packages.Package) {
		n++
		for _, e := range p.Errors {
			t.Errorf("ios/arm64: %v", e)
		}
	})
	if n < 100 {
		t.Fatalf("ios/arm64: only %d packages loaded; want the package and all it imports", n)
	}
}
