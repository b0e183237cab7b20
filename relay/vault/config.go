package vault

import (
	"cmp"
	"errors"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ferryhq/ferry/relay/vaultstore"
)

// Config configures a vault server. Store is required; every other zero
// field takes the default named in its comment.
type Config struct {
	// Store keeps the objects (see package vaultstore).
	Store vaultstore.Store
	// Quota is the number of stored bytes one account may hold across its
	// backups. Default 10 GiB.
	Quota int64
	// MaxBackupSize is the largest backup accepted. Default 8 GiB.
	MaxBackupSize int64
	// MaxBackups is the number of backups one account may hold. Default 16.
	MaxBackups int
	// TTL is how long a backup lives after it was last written (manifest,
	// key slot or chunks). Default 180 days.
	TTL time.Duration
	// MaxStreams bounds the requests served at once (reading and writing
	// the store). Others wait. Default 64.
	MaxStreams int
	// AccountStreams bounds the requests of one account served at once,
	// so that one device cannot take every one of MaxStreams. Others of
	// that account wait. Default 8.
	AccountStreams int
	// AccountRate and AccountBurst limit the requests of one account
	// (requests per second on the wall clock, bucket size); a request
	// over the limit waits for its turn. Default 1000/s, burst 2000; a
	// negative AccountRate means no limit.
	AccountRate  float64
	AccountBurst int
	// MaxTotal is the number of bytes the vault holds for all accounts
	// together (chunks and manifests, counted at the first write and again
	// at each sweep, kept up to date in between); a write that would pass
	// it is refused with ErrFull. Default 100 GiB.
	MaxTotal int64
	// Allow, if set, decides whether a peer may use the vault at all;
	// others are answered ErrNoAccess. The relay allows the peers that
	// hold a reservation (of which one IP address gets a bounded number).
	Allow func(peer.ID) bool
	// IPStreams bounds the vault streams open at once from one IP address
	// (IPv4, or IPv6 /56); more are answered ErrBusy. Default 256.
	IPStreams int
	// IPRequests bounds the requests of one IP address served at once, of
	// MaxStreams. Others wait. Default MaxStreams/2.
	IPRequests int
	// IPMemory bounds the bytes of the requests being read from one IP
	// address at once; a request past it is refused. Default 256 MiB.
	IPMemory int64
	// IPNewBackups is the number of new backups one IP address may create
	// a day (a token bucket of that size). Default 64.
	IPNewBackups int
	// SweepEvery is how often expired backups are looked for, while
	// requests arrive. Default 1 hour.
	SweepEvery time.Duration
	// Logger receives log lines (never secrets). Nil discards them.
	Logger *slog.Logger
	// Now is the clock of TTLs. Nil means time.Now.
	Now func() time.Time
}

func (c *Config) setDefaults() {
	c.Quota = cmp.Or(c.Quota, 10<<30)
	c.MaxBackupSize = cmp.Or(c.MaxBackupSize, 8<<30)
	c.MaxBackups = cmp.Or(c.MaxBackups, 16)
	c.TTL = cmp.Or(c.TTL, 180*24*time.Hour)
	c.SweepEvery = cmp.Or(c.SweepEvery, time.Hour)
	c.MaxStreams = cmp.Or(c.MaxStreams, 64)
	c.AccountStreams = min(cmp.Or(c.AccountStreams, 8), c.MaxStreams)
	c.AccountRate = cmp.Or(c.AccountRate, 1000)
	c.AccountBurst = cmp.Or(c.AccountBurst, 2000)
	c.MaxTotal = cmp.Or(c.MaxTotal, 100<<30)
	c.IPStreams = cmp.Or(c.IPStreams, 256)
	c.IPRequests = min(cmp.Or(c.IPRequests, max(c.MaxStreams/2, 1)), c.MaxStreams)
	c.IPMemory = cmp.Or(c.IPMemory, 256<<20)
	c.IPNewBackups = cmp.Or(c.IPNewBackups, 64)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

func (c *Config) validate() error {
	switch {
	case c.Store == nil:
		return errors.New("vault: no store configured")
	case c.Quota < 0 || c.MaxBackupSize < 0 || c.MaxBackups < 0 || c.TTL < 0 || c.MaxStreams < 0 ||
		c.AccountStreams < 0 || c.AccountBurst < 0 || c.SweepEvery < 0 || c.MaxTotal < 0 ||
		c.IPStreams < 0 || c.IPRequests < 0 || c.IPMemory < 0 || c.IPNewBackups < 0:
		return errors.New("vault: negative limit configured")
	}
	return nil
}
