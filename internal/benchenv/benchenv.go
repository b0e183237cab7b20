// Package benchenv reads the size of benchmark histories from the
// environment, so that a default `go test -bench` stays quick while the
// issue's targets can be measured at full size:
//
//	FERRY_BENCH_MESSAGES=1000000 FERRY_BENCH_MEDIA_MB=1024 go test -run '^$' -bench . -benchtime 1x ./chatstore ./transfer
package benchenv

import (
	"os"
	"strconv"
	"testing"
)

// Size returns FERRY_BENCH_MESSAGES (default 20000) and FERRY_BENCH_MEDIA_MB
// (default 16) in bytes.
func Size(b testing.TB) (msgs int, media int64) {
	msgs, media = 20000, 16<<20
	if v := os.Getenv("FERRY_BENCH_MESSAGES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatalf("FERRY_BENCH_MESSAGES: %v", err)
		}
		msgs = n
	}
	if v := os.Getenv("FERRY_BENCH_MEDIA_MB"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			b.Fatalf("FERRY_BENCH_MEDIA_MB: %v", err)
		}
		media = n << 20
	}
	return msgs, media
}
