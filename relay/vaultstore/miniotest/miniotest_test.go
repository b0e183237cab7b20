package miniotest

import (
	"net"
	"net/url"
	"testing"
)

// TestStartStops checks that the server answers while its test runs and
// is gone once the test has ended.
func TestStartStops(t *testing.T) {
	var host string
	t.Run("server", func(t *testing.T) {
		u, err := url.Parse(Start(t))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := u.Path, "/"+Bucket; got != want {
			t.Errorf("URL path = %q, want %q", got, want)
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
