// Package fakeclock is the clock tests hand to a Config's Now: it stands
// still until the test moves it, so that waits, TTLs and lockouts pass when
// a test says, never by sleeping.
package fakeclock

import (
	"sync/atomic"
	"time"
)

// Clock is a settable clock, safe for concurrent use. Its zero value reads
// the Unix epoch; New starts it elsewhere.
type Clock struct{ ns atomic.Int64 }

// New returns a clock reading t.
func New(t time.Time) *Clock {
	c := &Clock{}
	c.ns.Store(t.UnixNano())
	return c
}

// Now is the clock's time: pass c.Now as a Config's Now.
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()) }

// Advance moves the clock forward by d (back, for a negative d).
func (c *Clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
