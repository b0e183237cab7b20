// Package miniotest gives tests of code that talks to S3-compatible storage
// a bucket of their own on a MinIO server on loopback: the one CI starts
// (named by $FERRY_TEST_S3), or else a throwaway server per test.
package miniotest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"go/build"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// InstallHint tells how to get the binary Start needs.
const InstallHint = "go install github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c"

// EnvServer names the variable with the URL of a running server for Start
// to use instead of starting one: s3://USER:PASSWORD@127.0.0.1:PORT
// (.ci/run starts one and sets it). Its host must be a loopback address.
const EnvServer = "FERRY_TEST_S3"

// EnvReady names the variable with the path of a file that .ci/run writes
// once the server $FERRY_TEST_S3 names is live ("ok"), or once it knows
// that it will not be (anything else: why). Start waits for that file (up
// to readyWait), so that the tests need not wait for MinIO's build before
// they begin; without "ok" it goes on as without $FERRY_TEST_S3.
const EnvReady = "FERRY_TEST_S3_READY"

// readyWait bounds Start's wait for $FERRY_TEST_S3_READY.
const readyWait = 20 * time.Minute

const (
	user     = "ferrytest"
	password = "ferrytest-secret"
)

// Binary returns the path of the minio binary: on PATH, else in
// $GOPATH/bin; "" if there is none.
func Binary() string {
	if p, err := exec.LookPath("minio"); err == nil {
		return p
	}
	for _, dir := range filepath.SplitList(build.Default.GOPATH) {
		p := filepath.Join(dir, "bin", "minio")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// Start returns the URL of a bucket of the test's own, which does not exist
// yet, in the form vaultstore.NewS3 takes:
//
//	s3://USER:PASSWORD@127.0.0.1:PORT/BUCKET?secure=false
//
// The server is the one $FERRY_TEST_S3 names, if set; otherwise Start runs
// a MinIO server on 127.0.0.1 with a free port, its own data directory and
// credentials, waits until it is live, and kills it when the test ends.
// Without either, Start skips the test. The bucket's name is random and at
// most 40 characters, so a test may derive other names from it.
func Start(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvServer)
	if path := os.Getenv(EnvReady); path != "" {
		if why := waitReady(path); why != "ok" {
			t.Logf("miniotest: the server $%s names is not there (%s); going on without it", EnvServer, why)
			base = ""
		}
	}
	if base == "" {
		base = startServer(t)
	} else if err := checkLoopback(base); err != nil {
		t.Fatalf("miniotest: $%s: %v", EnvServer, err)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("miniotest: %v", err)
	}
	var r [8]byte
	rand.Read(r[:])
	u.Path = "/ft-" + hex.EncodeToString(r[:])
	u.RawQuery = "secure=false"
	return u.String()
}

// waitReady waits until the file at path exists and returns its first
// line, or why it gave up.
func waitReady(path string) string {
	deadline := time.Now().Add(readyWait)
	for {
		if b, err := os.ReadFile(path); err == nil {
			line, _, _ := bytes.Cut(b, []byte("\n"))
			return string(line)
		}
		if time.Now().After(deadline) {
			return fmt.Sprintf("no word in %s after %v", path, readyWait)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkLoopback accepts only a server URL on a loopback address: tests talk
// to nothing else.
func checkLoopback(base string) error {
	u, err := url.Parse(base)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q is not a loopback address", u.Hostname())
	}
	return nil
}

// startServer runs a server for the test alone and returns its URL without
// a bucket.
func startServer(t testing.TB) string {
	t.Helper()
	bin := Binary()
	if bin == "" {
		t.Skipf("miniotest: no minio binary on PATH or in GOPATH/bin, skipping the S3 test; install one with: %s", InstallHint)
	}
	var lastErr error
	for range 3 { // a port taken between probe and listen: try another
		url, err := start(t, bin)
		if err == nil {
			return url
		}
		lastErr = err
	}
	t.Fatalf("miniotest: %v", lastErr)
	return ""
}

func start(t testing.TB, bin string) (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	consolePort, err := freePort()
	if err != nil {
		return "", err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, "server", "--quiet",
		"--address", addr,
		"--console-address", fmt.Sprintf("127.0.0.1:%d", consolePort),
		t.TempDir())
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+user,
		"MINIO_ROOT_PASSWORD="+password,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"MINIO_CALLHOME_ENABLE=off",
	)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	setDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	stop := func() {
		cmd.Process.Kill()
		<-exited
	}
	if err := waitLive(addr, exited); err != nil {
		stop()
		return "", fmt.Errorf("minio on %s: %w (exit: %v); output:\n%s", addr, err, waitErr, out.String())
	}
	t.Cleanup(stop)
	return fmt.Sprintf("s3://%s:%s@%s", user, password, addr), nil
}

// waitLive polls MinIO's liveness endpoint until it answers 200 without
// "x-minio-server-status: offline" (which it sends while its object layer
// is still starting, when S3 requests fail), the process exits, or a minute
// passes.
func waitLive(addr string, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/minio/health/live", nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && resp.Header.Get("x-minio-server-status") == "" {
				return nil
			}
		}
		select {
		case <-exited:
			return fmt.Errorf("exited before it was live")
		case <-ctx.Done():
			return fmt.Errorf("not live after a minute")
		case <-tick.C:
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
