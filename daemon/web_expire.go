package daemon

import (
	"time"
)

// What a job keeps after it ended, and when it lets go of it:
//
//   - a backup's new recovery key (web_backup.go): until the page takes it
//     (POST /api/jobs/{id}/key), or webKeyTTL after the backup ended,
//     whichever comes first; then it is wiped from memory.
//   - an import preview's export (web_import.go): until the page imports it
//     (POST /api/jobs/{id}/import, which hands it to the import), cancels
//     it, or webPreviewTTL passes; a staged upload is removed then.
//
// Times come from WebConfig.Now; expire runs every webExpireEvery, and
// before every take, so that nothing outlives its time by more than that.
// When the server stops, everything goes.
const (
	webKeyTTL      = 10 * time.Minute
	webPreviewTTL  = 30 * time.Minute
	webExpireEvery = 15 * time.Second
)

// expireEvery runs expire every d until the hub stops.
func (h *jobHub) expireEvery(d time.Duration) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			h.expire()
		case <-h.ctx.Done():
			return
		}
	}
}

// expire lets go of what waited past its time.
func (h *jobHub) expire() {
	now := h.w.now()
	var cleanups []func()
	h.mu.Lock()
	for _, e := range h.jobs {
		if !e.key.IsZero() && !now.Before(e.keyUntil) {
			h.wipeKeyLocked(e)
			e.job.log(now, "expired", "the recovery key was not taken within 10 minutes and is forgotten: back up again for a new one")
			h.changedLocked(e)
		}
		if p := e.pending; p != nil && !now.Before(p.until) {
			cleanups = append(cleanups, h.dropPendingLocked(e, now, "the preview waited 30 minutes and was put away: nothing was imported; choose the export again"))
		}
	}
	h.mu.Unlock()
	for _, c := range cleanups {
		c()
	}
}

// wipeKeyLocked forgets e's recovery key.
func (h *jobHub) wipeKeyLocked(e *jobEntry) {
	e.key.Wipe()
	e.keyUntil = time.Time{}
	if e.job.Backup != nil {
		e.job.Backup.KeyReady = false
	}
}

// takeKey hands out e's recovery key and forgets it; "" when there is none
// (any more).
func (h *jobHub) takeKey(e *jobEntry) string {
	h.expire()
	h.mu.Lock()
	defer h.mu.Unlock()
	k := e.key.String()
	if k != "" {
		h.wipeKeyLocked(e)
		h.changedLocked(e)
	}
	return k
}

// takePending hands e's previewed export to the caller, who now owns its
// clean-up; nil when there is none (any more).
func (h *jobHub) takePending(e *jobEntry) *pendingImport {
	h.expire()
	h.mu.Lock()
	defer h.mu.Unlock()
	p := e.pending
	if p != nil {
		e.pending, e.job.Ready = nil, false
		e.job.log(h.w.now(), "accepted", "importing it")
		h.changedLocked(e)
	}
	return p
}

// dropPending puts e's previewed export away (a staged upload is removed),
// with why in its log.
func (h *jobHub) dropPending(e *jobEntry, why string) {
	h.mu.Lock()
	c := func() {}
	if e.pending != nil {
		c = h.dropPendingLocked(e, h.w.now(), why)
	}
	h.mu.Unlock()
	c()
}

// dropPendingLocked detaches e's pending export and returns its clean-up,
// for the caller to run without the lock.
func (h *jobHub) dropPendingLocked(e *jobEntry, now time.Time, why string) func() {
	p := e.pending
	e.pending, e.job.Ready = nil, false
	e.job.log(now, "cancelled", why)
	h.changedLocked(e)
	if p.job.cleanup == nil {
		return func() {}
	}
	return p.job.cleanup
}

// releaseAll lets go of everything (the server stops).
func (h *jobHub) releaseAll() {
	var cleanups []func()
	h.mu.Lock()
	for _, e := range h.jobs {
		if !e.key.IsZero() {
			h.wipeKeyLocked(e)
		}
		if e.pending != nil {
			cleanups = append(cleanups, h.dropPendingLocked(e, h.w.now(), "the app stopped: nothing was imported"))
		}
	}
	h.mu.Unlock()
	for _, c := range cleanups {
		c()
	}
}
