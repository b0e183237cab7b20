package mobile

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBindings: gobind accepts the package's exported surface and generates
// the Java and Objective-C bindings, and the generated Java compiles (with
// a stub of android.content.Context, which gobind's Seq class refers to).
// It needs gobind (go install golang.org/x/mobile/cmd/gobind, at go.mod's
// version) and javac (Debian's default-jdk-headless); .ci/run installs both.
func TestBindings(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: gobind takes a minute")
	}
	gobind := lookTool(t, "gobind", "install it with: go install golang.org/x/mobile/cmd/gobind (go.mod has its version)")
	javac := lookTool(t, "javac", "install a JDK, such as Debian's default-jdk-headless")

	out := t.TempDir()
	gen := exec.Command(gobind, "-lang=java,objc", "-outdir="+out, "./mobile")
	gen.Dir = ".."                                            // the module's root
	gen.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false") // never -mod=mod: that would rewrite go.mod
	if b, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("gobind: %v\n%s", err, b)
	}

	// The surface an app calls, as gobind names it in each language.
	for file, names := range map[string][]string{
		"java/mobile/Device.java":    {"public Device(String configJSON)", "Operation send(String optionsJSON, Listener l)", "Operation receive(String target", "Operation backup(", "Operation restore(", "String stats()", "void serviceFound(String serviceJSON)", "void stop()"},
		"java/mobile/Operation.java": {"String waitResult()", "void cancel()", "String service()", "String link()", "Failure err()"},
		"java/mobile/Listener.java":  {"void onEvent(String eventJSON)"},
		"java/mobile/Failure.java":   {"String getCode()", "String getSentence()", "boolean getResumable()"},
		"src/gobind/Mobile.objc.h":   {"@interface MobileDevice", "@interface MobileOperation", "@protocol MobileListener", "@interface MobileFailure", "- (NSString* _Nonnull)waitResult:(NSError* _Nullable* _Nullable)error;"},
	} {
		b, err := os.ReadFile(filepath.Join(out, file))
		if err != nil {
			t.Errorf("gobind wrote no %s: %v", file, err)
			continue
		}
		for _, n := range names {
			if !strings.Contains(string(b), n) {
				t.Errorf("%s lacks %q", file, n)
			}
		}
	}

	stub := filepath.Join(out, "stub", "android", "content", "Context.java")
	if err := os.MkdirAll(filepath.Dir(stub), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stub, []byte("package android.content;\n\npublic class Context {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var sources []string
	filepath.WalkDir(out, func(path string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(path, ".java") {
			sources = append(sources, path)
		}
		return err
	})
	// gobind copies the Go doc comments, UTF-8; javac reads sources in the
	// locale's encoding unless told (US-ASCII where LANG is unset, as in CI).
	compile := exec.Command(javac, append([]string{"-d", filepath.Join(out, "classes"), "-Xlint:none", "-encoding", "UTF-8"}, sources...)...)
	if b, err := compile.CombinedOutput(); err != nil {
		t.Fatalf("javac of the generated Java: %v\n%s", err, b)
	}
	for _, class := range []string{"mobile/Device.class", "mobile/Operation.class", "mobile/Listener.class", "mobile/Failure.class", "go/Seq.class"} {
		if _, err := os.Stat(filepath.Join(out, "classes", class)); err != nil {
			t.Errorf("javac made no %s: %v", class, err)
		}
	}
}

// lookTool finds a tool on PATH or in GOPATH/bin, or skips t saying how to
// get it.
func lookTool(t *testing.T, name, how string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if gopath, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(gopath)), "bin", name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Skipf("%s is not installed, so the bindings are not checked: %s", name, how)
	return ""
}
