package archive

import "fmt"

// Params are the Argon2id cost parameters of a password archive.
type Params struct {
	Time      uint32 // passes over memory
	MemoryKiB uint32 // memory in KiB
	Threads   uint8  // lanes (parallelism)
}

// DefaultParams returns the parameters Ferry uses for new password archives:
// RFC 9106's second recommended option (t=3, 64 MiB, p=4), strong yet within
// a phone's memory and Ferry's 200 MiB RSS budget.
func DefaultParams() Params {
	return Params{Time: 3, MemoryKiB: 64 << 10, Threads: 4}
}

// Bounds on Argon2id parameters, enforced by writers and readers alike. A
// reader must refuse a hostile header that would make it allocate gigabytes
// or spin for hours before it can even say "wrong password".
const (
	maxTime      = 16
	maxMemoryKiB = 128 << 10 // 128 MiB, inside the 200 MiB RSS budget
	maxThreads   = 16
)

// Validate reports whether p is within the bounds above: what a writer
// accepts and what a reader (of an archive header, or of a vault's key
// parameters from a relay) agrees to spend.
func (p Params) Validate() error {
	switch {
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("argon2id time %d outside 1..%d", p.Time, maxTime)
	case p.Threads < 1 || p.Threads > maxThreads:
		return fmt.Errorf("argon2id threads %d outside 1..%d", p.Threads, maxThreads)
	case p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > maxMemoryKiB:
		return fmt.Errorf("argon2id memory %d KiB outside %d..%d", p.MemoryKiB, 8*uint32(p.Threads), maxMemoryKiB)
	}
	return nil
}
