// Command typecheck type-checks packages and everything they import from
// source, for the GOOS and GOARCH in its environment, and prints every error
// (exit status 1 if there is one). .ci/run uses it for the platforms it
// checks without building: the compiler's front end, without its back end
// and without a build cache of each platform's dependencies.
//
//	GOOS=windows GOARCH=amd64 CGO_ENABLED=0 go run ./internal/typecheck ./...
package main

import (
	"fmt"
	"os"

	"golang.org/x/tools/go/packages"
)

func main() {
	cfg := &packages.Config{Mode: packages.LoadAllSyntax, Tests: false}
	pkgs, err := packages.Load(cfg, os.Args[1:]...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "typecheck:", err)
		os.Exit(1)
	}
	n := packages.PrintErrors(pkgs)
	count := 0
	packages.Visit(pkgs, nil, func(*packages.Package) { count++ })
	if n > 0 {
		fmt.Fprintf(os.Stderr, "typecheck: %d errors in %d packages\n", n, count)
		os.Exit(1)
	}
	fmt.Printf("typecheck: %d packages, no errors\n", count)
}
