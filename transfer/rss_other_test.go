//go:build !linux

package transfer

func peakRSS() int64 { return 0 }
