package relay_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"testing"

	"github.com/ferryhq/ferry/relay"
)

// envServe makes the test binary act as a relay process (see
// startRelayProcess), so that benchmarks can measure the relay's own RSS
// and CPU apart from the clients'.
const envServe = "FERRY_RELAY_TEST_SERVE_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(envServe); dir != "" {
		os.Exit(serve(dir))
	}
	os.Exit(m.Run())
}

// serve runs a relay until stdin closes.
func serve(dir string) int {
	s, err := relay.New(context.Background(), relay.Config{
		DataDir: dir,
		Listen:  []string{"/ip4/127.0.0.1/tcp/0"},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer s.Close()
	fmt.Printf("relay: %s\n", s.Addrs()[0])
	io.Copy(io.Discard, bufio.NewReader(os.Stdin))
	return 0
}
