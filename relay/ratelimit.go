package relay

import (
	"context"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"
)

// rateLimits limit rendezvous requests per source address and per peer ID:
// in memory for one relay process (memLimits), or in Redis for all the
// relays sharing it (redisLimits).
type rateLimits interface {
	// allow takes a token from the bucket of address ip (an addrKey), then
	// from that of peer p. If one is empty it says which (fromAddress or
	// fromDevice) and how long to wait; a token taken from the address's
	// bucket stays taken.
	allow(ctx context.Context, ip string, p peer.ID, now time.Time) (from string, wait time.Duration, err error)
}

// The buckets allow names.
const (
	fromAddress = "from your address"
	fromDevice  = "from your device"
)

// rateSpec is one kind of bucket: it refills at perSecond tokens a
// second and holds burst.
type rateSpec struct {
	perSecond float64
	burst     int
}

// memLimits are the rate limits of one relay process.
type memLimits struct{ byIP, byPeer *limiter }

var _ rateLimits = memLimits{}

func newMemLimits(byIP, byPeer rateSpec) memLimits {
	return memLimits{
		byIP:   newLimiter(byIP.perSecond, byIP.burst, 1<<16),
		byPeer: newLimiter(byPeer.perSecond, byPeer.burst, 1<<16),
	}
}

func (l memLimits) allow(_ context.Context, ip string, p peer.ID, now time.Time) (string, time.Duration, error) {
	if ok, wait := l.byIP.allow(ip, now); !ok {
		return fromAddress, wait, nil
	}
	if ok, wait := l.byPeer.allow(string(p), now); !ok {
		return fromDevice, wait, nil
	}
	return "", 0, nil
}

// limiter is a set of token buckets keyed by peer ID or IP address. It keeps
// at most max keys: idle keys are dropped first, and when all are busy a
// new key is refused, so a flood of fresh keys cannot grow memory.
type limiter struct {
	every rate.Limit
	burst int
	max   int

	mu      sync.Mutex
	buckets map[string]*bucket // guarded by mu
}

type bucket struct {
	lim  *rate.Limiter
	last time.Time
}

func newLimiter(perSecond float64, burst, max int) *limiter {
	return &limiter{every: rate.Limit(perSecond), burst: burst, max: max, buckets: make(map[string]*bucket)}
}

// allow takes one token for key at now, or says how long to wait.
func (l *limiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= l.max {
			l.dropIdleLocked(now)
			if len(l.buckets) >= l.max {
				return false, time.Second
			}
		}
		b = &bucket{lim: rate.NewLimiter(l.every, l.burst)}
		l.buckets[key] = b
	}
	b.last = now
	r := b.lim.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Minute
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// dropIdleLocked forgets buckets that have refilled completely: forgetting
// them loses nothing.
func (l *limiter) dropIdleLocked(now time.Time) {
	full := time.Duration(float64(l.burst) / float64(l.every) * float64(time.Second))
	for k, b := range l.buckets {
		if now.Sub(b.last) >= full {
			delete(l.buckets, k)
		}
	}
}
