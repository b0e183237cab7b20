package ferry_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/relay"
	"github.com/ferryhq/ferry/relay/vaultstore"
)

// TestOutsideModule builds a module of its own in a temporary directory,
// whose program (testdata/outside/main.go) uses only the public API through
// a replace directive to this checkout, and runs it: it migrates a history
// between two Devices, exports and imports it, and backs it up to a relay
// (started here, on loopback) and restores it. It builds offline, from the
// module cache, with this module's go.sum.
func TestOutsideModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program of another module: not with -short")
	}
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		t.Skipf("no go command beside this test's Go (%v)", err)
	}
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	var goLine string
	for _, l := range strings.Split(string(gomod), "\n") {
		if strings.HasPrefix(l, "go ") {
			goLine = l
			break
		}
	}

	mod := t.TempDir()
	src, err := os.ReadFile(filepath.Join(root, "testdata", "outside", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"main.go": string(src),
		"go.mod": "module example.com/outside\n\n" + goLine + "\n\n" +
			"require github.com/ferryhq/ferry v0.0.0\n\n" +
			"replace github.com/ferryhq/ferry => " + root + "\n",
		"go.sum": string(sum),
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(mod, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(mod, "outside")
	build := exec.Command(gobin, "build", "-o", bin, ".")
	build.Dir = mod
	// -mod=mod lets the go command fill in the requirements that the
	// replaced module brings; go.sum has their hashes, the module cache
	// their code, so nothing is downloaded.
	build.Env = append(os.Environ(), "GOFLAGS=-mod=mod -buildvcs=false", "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build of the outside module: %v\n%s", err, out)
	}

	st, err := vaultstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := relay.New(context.Background(), relay.Config{DataDir: t.TempDir(), Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Vault: st})
	if err != nil {
		t.Fatalf("relay.New: %v", err)
	}
	defer srv.Close()

	run := exec.Command(bin, t.TempDir(), srv.Addrs()[0].String())
	out, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("the outside program failed: %v\n%s", err, out)
	}
	want := "history: 4 messages\nmigrated: same digest\nexported and imported: same digest\n" +
		"backed up and restored: same digest\nerrors: typed\n"
	if string(out) != want {
		t.Errorf("the outside program printed\n%s\nwant\n%s", out, want)
	}
}
