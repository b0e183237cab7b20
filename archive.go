package ferry

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/ferryhq/ferry/chatstore"
	"github.com/ferryhq/ferry/internal/archive"
	"github.com/ferryhq/ferry/transfer"
)

// RecoveryKey is the secret that opens an archive or a backup: 256 bits,
// shown to the user as 64 hexadecimal digits. Its zero value is no key.
// String shows the digits (on purpose: to print the key for its owner);
// its log/slog and %#v forms are redacted.
type RecoveryKey struct {
	k   archive.Key
	set bool
}

// ParseRecoveryKey reads a recovery key as String prints it (64 hex digits
// in groups of four), with or without the spaces, in any case. A malformed
// key is an Error that says what is wrong with it.
func ParseRecoveryKey(s string) (RecoveryKey, error) {
	k, err := archive.ParseRecoveryKey(s)
	if err != nil {
		return RecoveryKey{}, userError(err)
	}
	return RecoveryKey{k: k, set: true}, nil
}

// String is the key as 64 lowercase hex digits in groups of four, or ""
// for the zero RecoveryKey.
func (k RecoveryKey) String() string {
	if !k.set {
		return ""
	}
	return k.k.RecoveryString()
}

// GoString redacts the key.
func (k RecoveryKey) GoString() string { return "ferry.RecoveryKey(REDACTED)" }

// LogValue redacts the key in log/slog output.
func (k RecoveryKey) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// IsZero reports whether k holds no key.
func (k RecoveryKey) IsZero() bool { return !k.set }

// Wipe overwrites the key with zeros; k is the zero RecoveryKey afterwards.
func (k *RecoveryKey) Wipe() {
	k.k.Wipe()
	k.set = false
}

func (k RecoveryKey) archiveKey() *archive.Key {
	if !k.set {
		return nil
	}
	c := k.k
	return &c
}

func recoveryKey(k archive.Key) RecoveryKey { return RecoveryKey{k: k, set: true} }

// ExportOptions say how an archive is sealed.
type ExportOptions struct {
	// Password, if set, locks the archive under it (Argon2id) instead of a
	// recovery key; anyone who has the file can then try passwords
	// (slowly), so it should be long.
	Password []byte
	// Replace lets ExportFile replace a file that is there already.
	Replace bool
	// Events, if set, gets the progress (PhaseExporting), one event at a
	// time.
	Events func(Event)
}

// ExportResult reports an export.
type ExportResult struct {
	// Key opens the archive (one with a password too).
	Key      RecoveryKey `json:"-"`
	File     string      `json:"file,omitempty"` // ExportFile: the archive
	Bytes    int64       `json:"bytes"`          // ExportFile: its size
	Snapshot string      `json:"snapshot"`       // the snapshot's ID, in hex
	Stats    Stats       `json:"stats"`          // what it holds
	Chunks   int         `json:"chunks"`
	// SnapshotTime is the time taken to snapshot, compress and hash;
	// WriteTime the time to read, seal and write.
	SnapshotTime time.Duration `json:"snapshot_time"`
	WriteTime    time.Duration `json:"write_time"`
}

// Export writes the whole history as one sealed archive to w and returns
// the key that opens it: a new random one, or, with opt.Password, the key
// the password unlocks. The home is only read.
func (d *Device) Export(ctx context.Context, w io.Writer, opt ExportOptions) (RecoveryKey, error) {
	res, err := d.export(ctx, w, opt, d.WorkDir)
	return res.Key, err
}

// export writes the archive to w, with the snapshot in workDir.
func (d *Device) export(ctx context.Context, w io.Writer, opt ExportOptions, workDir string) (ExportResult, error) {
	st, err := d.openSource(ctx)
	if err != nil {
		return ExportResult{}, err
	}
	defer st.Close()
	emit := stamp(opt.Events)
	tr, err := transfer.Export(ctx, st, w, transfer.ExportOptions{Password: opt.Password, WorkDir: workDir,
		Progress: func(done, total int64) {
			emit(Event{Kind: EventProgress, Phase: PhaseExporting, Done: done, Total: total})
		}})
	if err != nil {
		if interrupted(err) {
			return ExportResult{}, interruptedError(err, "no archive was written", "", false)
		}
		return ExportResult{}, userError(err)
	}
	return ExportResult{Key: recoveryKey(tr.Key), Snapshot: hex.EncodeToString(tr.SnapshotID[:]), Stats: tr.Stats,
		Chunks: tr.Chunks, SnapshotTime: tr.Snapshot, WriteTime: tr.Write}, nil
}

// ExportFile writes the archive to the file path: into a temporary file
// beside it, renamed into place only when complete, so that a failed export
// never leaves half an archive. A file there already is an Error unless
// opt.Replace.
func (d *Device) ExportFile(ctx context.Context, path string, opt ExportOptions) (ExportResult, error) {
	if _, err := os.Stat(path); err == nil && !opt.Replace {
		return ExportResult{}, &Error{Code: CodeFileExists, Sentence: path + " already exists",
			Hint: "pick another file, or replace it"}
	}
	if err := d.needHome(); err != nil {
		return ExportResult{}, err
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.part")
	if err != nil {
		return ExportResult{}, userError(fmt.Errorf("create %s: %w", path, err))
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	// The snapshot goes beside the archive, unless Device.WorkDir says
	// otherwise: there is room for the one, so likely for the other.
	workDir := d.WorkDir
	if workDir == "" {
		workDir = dir
	}
	res, err := d.export(ctx, tmp, opt, workDir)
	if err != nil {
		return res, err
	}
	for _, step := range []func() error{tmp.Sync, tmp.Close, func() error { return os.Rename(tmp.Name(), path) }} {
		if err := step(); err != nil {
			return res, userError(fmt.Errorf("write %s: %w", path, err))
		}
	}
	ok = true
	res.File = path
	if fi, err := os.Stat(path); err == nil {
		res.Bytes = fi.Size()
	}
	return res, nil
}

// ImportOptions say how to open an archive: with Key, or with Password.
type ImportOptions struct {
	Key      RecoveryKey
	Password []byte
	// Events, if set, gets the progress (PhaseImporting, then
	// PhaseIndexing), one event at a time.
	Events func(Event)
}

// Import verifies the archive r and merges it into this home (created if
// missing). Nothing is changed unless the whole archive is intact and opens
// with key: a wrong key, a damaged or cut-off archive or a full disk leave
// the home as it was. What was verified before an interruption is kept, so
// that importing the same archive again continues.
func (d *Device) Import(ctx context.Context, r io.Reader, key RecoveryKey) (Result, error) {
	return d.ImportArchive(ctx, r, ImportOptions{Key: key})
}

// ImportArchive is Import with options: a password instead of the key, and
// progress events.
func (d *Device) ImportArchive(ctx context.Context, r io.Reader, opt ImportOptions) (Result, error) {
	if !opt.Key.IsZero() && len(opt.Password) > 0 {
		return Result{}, errKeyAndPw
	}
	emit := stamp(opt.Events)
	return d.intoHome(ctx, emit, func(st *chatstore.Store) (transfer.Result, error) {
		return transfer.Import(ctx, r, st, transfer.ImportOptions{Key: opt.Key.archiveKey(), Password: opt.Password,
			Progress: func(done, total int64) {
				emit(Event{Kind: EventProgress, Phase: PhaseImporting, Done: done, Total: total})
			}})
	})
}

// ImportFile imports the archive in the file path.
func (d *Device) ImportFile(ctx context.Context, path string, opt ImportOptions) (Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return Result{}, userError(fmt.Errorf("open archive: %w", err))
	}
	defer f.Close()
	return d.ImportArchive(ctx, f, opt)
}

// stamp returns a func that stamps events with the time and calls emit
// (if not nil) with one at a time.
func stamp(emit func(Event)) func(Event) {
	return emitter(&session{}, emit)
}
