package transfer

import (
	"os"
	"path/filepath"
)

// HasStaged reports whether home holds verified chunks of an unfinished
// transfer: a staging directory whose journal records at least one chunk.
// A receiver (of the same manifest) started again on home continues from
// them; a staging directory with none would start from nothing, so a caller
// that promises a resume asks this first.
func HasStaged(home string) bool {
	dirs, _ := os.ReadDir(filepath.Join(home, StagingDir))
	for _, d := range dirs {
		fi, err := os.Stat(filepath.Join(home, StagingDir, d.Name(), stagedJournal))
		if err == nil && fi.Size() >= journalRecord {
			return true
		}
	}
	return false
}
