// Package units formats quantities for people.
package units

import (
	"fmt"
	"time"
)

// Bytes formats n bytes with binary prefixes: "512 B", "1.5 MiB".
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// PerSecond formats n bytes moved in d as a rate with binary prefixes:
// "12.5 MiB/s".
func PerSecond(n int64, d time.Duration) string {
	if d <= 0 {
		return "- B/s"
	}
	return Bytes(int64(float64(n)/d.Seconds())) + "/s"
}
