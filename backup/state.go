package backup

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ferryhq/ferry/internal/archive"
	"github.com/ferryhq/ferry/internal/atomicfile"
	"github.com/ferryhq/ferry/internal/usererr"
)

// StateFile is the file in a home that keeps the backup key and sequences.
const StateFile = "vault.json"

// state is home/vault.json.
type state struct {
	Version  int               `json:"version"`
	ID       string            `json:"id,omitempty"`
	Key      string            `json:"key,omitempty"`
	Password bool              `json:"password,omitempty"`
	Done     bool              `json:"done,omitempty"` // a backup with Key completed
	Seen     map[string]uint64 `json:"seen,omitempty"` // backup ID → highest sequence written or restored
	// Stretch: backup ID → the Argon2id parameters of the password slot
	// this home last wrote or opened; a restore refuses less.
	Stretch map[string]archive.Params `json:"stretch,omitempty"`
	// Keys: backup ID → the key (hex) of a backup other than the
	// current one that this home holds the key of: one it made before
	// it switched keys, or one it was restored from. Known, Describe
	// and Delete use them.
	Keys map[string]string `json:"keys,omitempty"`
}

func loadState(home string) (*state, error) {
	b, err := os.ReadFile(filepath.Join(home, StateFile))
	if errors.Is(err, os.ErrNotExist) {
		return &state{Version: 1, Seen: map[string]uint64{}, Stretch: map[string]archive.Params{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", StateFile, err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil || st.Version != 1 {
		return nil, fmt.Errorf("read %s: not a vault state file (remove it to start a new backup): %v", StateFile, err)
	}
	if st.Seen == nil {
		st.Seen = map[string]uint64{}
	}
	if st.Stretch == nil {
		st.Stretch = map[string]archive.Params{}
	}
	return &st, nil
}

func (st *state) key() (archive.Key, bool) { return parseKey(st.Key) }

func parseKey(s string) (archive.Key, bool) {
	var k archive.Key
	if n, err := hex.Decode(k[:], []byte(s)); err != nil || n != len(k) || len(s) != 2*len(k) {
		return archive.Key{}, false
	}
	return k, true
}

func formatKey(k archive.Key) string { return hex.EncodeToString(k[:]) }

// save writes the state atomically with mode 0600.
func (st *state) save(home string) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(home, StateFile), b, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", StateFile, usererr.Disk(home, err))
	}
	return nil
}
