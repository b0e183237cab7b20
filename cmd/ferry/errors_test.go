package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestJSONErrors: with --json an error is one JSON object on stderr (its
// sentence, the CLI's hint, whether the same command again resumes, and its
// code), and nothing else is printed; the exit code stays what it is
// without --json.
func TestJSONErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	for _, tc := range []struct {
		args     []string
		exit     int
		code     string
		sentence string // a part of it
		hint     string // a part of it
	}{
		{[]string{"--json", "--home", missing, "history", "stats"}, 1, "no-home", "does not exist", "--home"},
		{[]string{"--json", "--home", t.TempDir(), "receive", "--yes", "7-not-words"}, 1, "bad-code", "code", ""},
		{[]string{"--json", "history", "seed", "--no-such-flag"}, 2, "", "unknown flag", ""},
	} {
		r := ferry(t, nil, tc.args...)
		if r.code != tc.exit {
			t.Errorf("%v: exit %d, want %d (stderr %q)", tc.args, r.code, tc.exit, r.stderr)
		}
		if strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || r.stdout != "" {
			t.Errorf("%v: stdout %q, stderr %q; want one line on stderr only", tc.args, r.stdout, r.stderr)
		}
		var got struct {
			Error     string `json:"error"`
			Hint      string `json:"hint"`
			Resumable *bool  `json:"resumable"`
			Code      string `json:"code"`
		}
		if err := json.Unmarshal([]byte(r.stderr), &got); err != nil {
			t.Errorf("%v: stderr %q is not a JSON object: %v", tc.args, r.stderr, err)
			continue
		}
		if got.Code != tc.code || !strings.Contains(got.Error, tc.sentence) || !strings.Contains(got.Hint, tc.hint) ||
			got.Resumable == nil || *got.Resumable {
			t.Errorf("%v: %s; want code %q, a sentence with %q, a hint with %q, resumable false", tc.args, r.stderr, tc.code, tc.sentence, tc.hint)
		}
	}
}
