package relay

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

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
