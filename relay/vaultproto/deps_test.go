package vaultproto

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies: a device that backs up and restores links the protocol
// and the client only, never the relay's server or its storage backends.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list -deps: %v (no go command here)", err)
	}
	forbidden := []string{
		"github.com/ferryhq/ferry/relay/vault",
		"github.com/ferryhq/ferry/relay/vaultstore",
		"github.com/ferryhq/ferry/relay",
		"github.com/minio/minio-go/v7",
		"github.com/redis/go-redis/v9",
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if dep == f || strings.HasPrefix(dep, f+"/") && f != "github.com/ferryhq/ferry/relay" {
				t.Errorf("vaultproto links %s", dep)
			}
		}
	}
}
