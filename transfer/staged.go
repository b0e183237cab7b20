package transfer

import (
	"os"
	"path/filepath"
	"slices"
)

// HasStaged reports whether home holds verified chunks of an unfinished
// transfer: a staging directory whose journal records at least one chunk,
// or early media (EarlyDir).
// A receiver (of the same manifest) started again on home continues from
// them; a staging directory with none would start from nothing, so a caller
// that promises a resume asks this first.
func HasStaged(home string) bool {
	dirs, _ := os.ReadDir(filepath.Join(home, StagingDir))
	for _, d := range dirs {
		if d.Name() == EarlyDir {
			if early, _ := os.ReadDir(filepath.Join(home, StagingDir, EarlyDir)); slices.ContainsFunc(early, func(e os.DirEntry) bool {
				fi, err := e.Info()
				return err == nil && fi.Size() > 0
			}) {
				return true
			}
			continue
		}
		fi, err := os.Stat(filepath.Join(home, StagingDir, d.Name(), stagedJournal))
		if err == nil && fi.Size() >= journalRecord {
			return true
		}
	}
	return false
}
