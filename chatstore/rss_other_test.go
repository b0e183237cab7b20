//go:build !linux

package chatstore

import "time"

func peakRSS() int64 { return 0 }

func cpuNow() time.Duration { return 0 }
