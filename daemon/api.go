package daemon

import (
	"context"

	"github.com/ferryhq/ferry"
)

// API is what the control socket and the web app serve, and what the CLI
// runs its commands on: a *ferry.Device in-process, or a *Client of the
// home's running daemon, which serves them with its own *ferry.Device.
// Either way one home runs one libp2p host: while a daemon runs, every
// command that needs the network goes through it.
//
// The methods are the Device's. The file ones (ExportFile, ImportFile,
// ImportHistory) take paths, which a daemon opens itself: the client
// sends them absolute, and only its own user reaches the socket.
type API interface {
	Send(ctx context.Context, opt ferry.SendOptions) (*ferry.Sending, error)
	Receive(ctx context.Context, code string, opt ferry.ReceiveOptions) (ferry.Result, error)
	ExportFile(ctx context.Context, path string, opt ferry.ExportOptions) (ferry.ExportResult, error)
	ImportFile(ctx context.Context, path string, opt ferry.ImportOptions) (ferry.Result, error)
	ImportHistory(ctx context.Context, path string, opt ferry.HistoryImportOptions) (ferry.HistoryImportResult, error)
	Backup(ctx context.Context, opt ferry.BackupOptions) (ferry.BackupResult, error)
	Restore(ctx context.Context, opt ferry.RestoreOptions) (ferry.Result, error)
	Backups(ctx context.Context, relay string) ([]ferry.BackupInfo, error)
	DeleteBackup(ctx context.Context, relay, id string) error
	Stats(ctx context.Context) (ferry.Stats, error)
	Verify(ctx context.Context) error
	Status(ctx context.Context) (ferry.Status, error)
	Devices(ctx context.Context) ([]ferry.PairedDevice, error)
	Forget(ctx context.Context, peerID string) error
}

var (
	_ API = (*ferry.Device)(nil)
	_ API = (*Client)(nil)
)
