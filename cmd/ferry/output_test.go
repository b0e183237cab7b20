package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestProgressLinesOnce: with --json a progress state is printed once, so
// Finish right after the last update adds no duplicate line, while a final
// state not printed yet is.
func TestProgressLinesOnce(t *testing.T) {
	var stderr bytes.Buffer
	a := &app{json: true, stderr: &stderr}
	p := a.newProgress("restoring", 10, true)
	p.Set(4, 10) // printed: the first line
	p.Finish()   // the same state: nothing new
	p.Set(9, 10) // within 500 ms of the last line: held back
	p.Finish()   // printed
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"done":4`) || !strings.Contains(lines[1], `"done":9`) {
		t.Errorf("progress lines:\n%s\nwant one for 4 and one for 9", stderr.String())
	}
}

// TestProgressBarBinaryUnits: a progress bar of bytes counts in binary
// units (KiB, MiB), as every summary does, never in decimal ones (kB, MB).
func TestProgressBarBinaryUnits(t *testing.T) {
	var stderr bytes.Buffer
	a := &app{progress: true, stderr: &stderr}
	p := a.newProgress("receiving", 30<<20, true)
	p.Set(3<<20, 30<<20)
	p.Finish()
	out := stderr.String()
	if !strings.Contains(out, "MiB") || strings.Contains(out, " MB") {
		t.Errorf("progress bar:\n%q\nwant binary units (MiB), as the summaries", out)
	}
}
