//go:build !linux

package chatstore

func peakRSS() int64 { return 0 }
