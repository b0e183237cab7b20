package miniotest

import (
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// TestStartStops checks that a server Start runs for a test answers while
// the test runs and is gone once it has ended.
func TestStartStops(t *testing.T) {
	t.Setenv(EnvServer, "") // a server of its own, even in CI
	var host string
	t.Run("server", func(t *testing.T) {
		u, err := url.Parse(Start(t))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := u.Query().Get("secure"), "false"; got != want {
			t.Errorf("secure = %q, want %q", got, want)
		}
		host = u.Host
		c, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatalf("dial the running server: %v", err)
		}
		c.Close()
	})
	if host == "" {
		t.Skip("no server was started")
	}
	if c, err := net.Dial("tcp", host); err == nil {
		c.Close()
		t.Errorf("server on %s still accepts connections after its test ended", host)
	}
}

// TestStartBuckets checks that each call names a bucket of its own on one
// server (the one $FERRY_TEST_S3 names in CI), and that the server answers.
func TestStartBuckets(t *testing.T) {
	a, err := url.Parse(Start(t))
	if err != nil {
		t.Fatal(err)
	}
	b, err := url.Parse(Start(t))
	if err != nil {
		t.Fatal(err)
	}
	name := regexp.MustCompile(`^/ft-[0-9a-f]{16}$`)
	if !name.MatchString(a.Path) || !name.MatchString(b.Path) || a.Path == b.Path {
		t.Errorf("buckets %q and %q: want two distinct /ft-<16 hex digits>", a.Path, b.Path)
	}
	if c, err := net.Dial("tcp", a.Host); err != nil {
		t.Errorf("dial the server: %v", err)
	} else {
		c.Close()
	}
}

func TestCheckLoopback(t *testing.T) {
	for u, ok := range map[string]bool{
		"s3://u:p@127.0.0.1:9000": true,
		"s3://u:p@[::1]:9000":     true,
		"s3://u:p@10.0.0.1:9000":  false,
		"s3://u:p@localhost:9000": false, // a name could resolve anywhere
		"s3://u:p@s3.example.com": false,
	} {
		if err := checkLoopback(u); (err == nil) != ok {
			t.Errorf("checkLoopback(%q) = %v, want ok=%v", u, err, ok)
		}
	}
}

// TestStartWaitsForReady: with $FERRY_TEST_S3_READY set, Start uses the
// server $FERRY_TEST_S3 names only once the file says "ok" (CI starts the
// tests while MinIO still builds).
func TestStartWaitsForReady(t *testing.T) {
	ready := filepath.Join(t.TempDir(), "ready")
	t.Setenv(EnvServer, "s3://u:p@127.0.0.1:1")
	t.Setenv(EnvReady, ready)
	go func() {
		time.Sleep(300 * time.Millisecond)
		os.WriteFile(ready, []byte("ok\n"), 0o600)
	}()
	t0 := time.Now()
	u, err := url.Parse(Start(t))
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(t0); took < 250*time.Millisecond || u.Host != "127.0.0.1:1" {
		t.Fatalf("Start returned %s after %v; want the named server, once the file said ok", u, took)
	}
}
