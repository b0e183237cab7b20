package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/ferryhq/ferry"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Jobs: the sessions the page starts (send, receive) and the building of
// the search index, each followed from its events to one webJob that the
// page draws. The page learns of every change over /api/events
// (Server-Sent Events): each "job" event is a job's whole state, so a page
// that comes late, or reconnects, draws it right from the next one. Changes
// are sent at most every webEventEvery: a transfer's thousands of
// progress events become a few a second.
//
// A job's state moves like this (any state may end in failed or cancelled):
//
//	send:     starting → waiting (the code is shown) → connected → moving → done
//	receive:  starting → waiting (looking, pairing) → offer (asks) → moving → committing → done
//	index:    moving → done
//	import:   starting → [ask (which person is the user)] → moving → done
//	          (a preview, the same as a dry run; done, it waits (Ready) for POST /api/jobs/{id}/import,
//	          which starts the import itself as a new job)
//	backup:   starting → moving → done (the key is taken once: web_backup.go)
//	restore:  starting → moving → done

type jobState string

const (
	jobStarting   jobState = "starting"
	jobWaiting    jobState = "waiting"
	jobOffer      jobState = "offer"
	jobConnected  jobState = "connected" // send: the receiver's streams arrive; Path says how
	jobAsk        jobState = "ask"       // import: which of Owners is the user?
	jobMoving     jobState = "moving"
	jobCommitting jobState = "committing"
	jobDone       jobState = "done"
	jobFailed     jobState = "failed"
	jobCancelled  jobState = "cancelled"
)

const (
	webEventEvery = 100 * time.Millisecond
	webPing       = 20 * time.Second
	webMaxJobs    = 16 // jobs kept; the oldest ended one goes first
	webMaxLog     = 50 // lines kept per job
	webLinkAddrs  = 4  // addresses in a ferry: link (the QR code stays small)
)

// webJob is one job as the page sees it.
type webJob struct {
	ID       string              `json:"id"`
	Kind     string              `json:"kind"` // "send", "receive", "index"
	Started  time.Time           `json:"started"`
	Session  string              `json:"session,omitempty"` // the daemon's session ID
	State    jobState            `json:"state"`
	Code     string              `json:"code,omitempty"` // send: the code to type on the other device
	Link     string              `json:"link,omitempty"` // send: the ferry: URI its QR code holds
	Path     string              `json:"path,omitempty"` // "direct LAN", "relayed", ...
	Offer    *ferry.Offer        `json:"offer,omitempty"`
	Receiver *ferry.PairedDevice `json:"receiver,omitempty"` // send: the device it serves, once chosen
	Confirm  bool                `json:"confirm,omitempty"`  // receive: waiting for accept or decline
	Progress *webProgress        `json:"progress,omitempty"`
	Log      []webLogLine        `json:"log"`
	Report   *ferry.Report       `json:"report,omitempty"`
	Verified bool                `json:"verified,omitempty"` // both digests in the report are equal
	Error    string              `json:"error,omitempty"`
	Hint     string              `json:"hint,omitempty"`      // what to do about Error
	Resume   bool                `json:"resumable,omitempty"` // the same again continues where this stopped

	// import, backup, restore (web_import.go, web_backup.go)
	Source   string                     `json:"source,omitempty"`  // import: the file's name
	Preview  bool                       `json:"preview,omitempty"` // import: a dry run; Import says what it would add
	Ready    bool                       `json:"ready,omitempty"`   // import: a preview whose export waits for POST /api/jobs/{id}/import
	Owners   []string                   `json:"owners,omitempty"`  // import: the people, while it asks which is the user
	Import   *ferry.HistoryImportResult `json:"import,omitempty"`
	Backup   *webBackupDone             `json:"backup,omitempty"`
	Restored *ferry.Result              `json:"restored,omitempty"`

	Ended   bool  `json:"ended"`
	Version int64 `json:"version"` // grows with every change
}

type webProgress struct {
	Phase      string    `json:"phase"`
	Done       int64     `json:"done"`
	Total      int64     `json:"total"`
	Items      int64     `json:"items,omitempty"`
	ItemsTotal int64     `json:"items_total,omitempty"`
	Time       time.Time `json:"time"`
}

type webLogLine struct {
	Time    time.Time       `json:"time"`
	Kind    ferry.EventKind `json:"kind"`
	Message string          `json:"message"`
}

// jobHub runs and keeps the jobs, and tells the event streams of changes.
type jobHub struct {
	w   *WebServer
	wg  sync.WaitGroup // the jobs' goroutines
	ctx context.Context
	end context.CancelFunc

	mu      sync.Mutex // guards the fields below
	jobs    []*jobEntry
	subs    map[chan struct{}]bool
	version int64
	indexed chan struct{} // closed when the index job in progress ends; nil when none runs
}

type jobEntry struct {
	job     webJob // guarded by jobHub.mu
	cancel  context.CancelFunc
	ask     bool        // a receive that asks before it accepts an offer
	answers chan bool   // the page's answer to the offer
	owners  chan string // an import's answer: which person is the user

	// Guarded by jobHub.mu; let go of by web_expire.go's rules.
	key      ferry.RecoveryKey // a backup's new recovery key, until the page takes it (web_backup.go)
	keyUntil time.Time         // when key is wiped if the page has not taken it
	pending  *pendingImport    // a preview's export, until the page imports it (web_import.go)
}

func newJobHub(w *WebServer) *jobHub {
	ctx, cancel := context.WithCancel(context.Background())
	h := &jobHub{w: w, ctx: ctx, end: cancel, subs: make(map[chan struct{}]bool)}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		h.expireEvery(webExpireEvery)
	}()
	return h
}

// stop cancels the jobs, waits for them, and lets go of what they keep.
// It is idempotent.
func (h *jobHub) stop() {
	h.end()
	h.wg.Wait()
	h.releaseAll()
}

// start registers a new job and runs fn for it in its own goroutine.
func (h *jobHub) start(kind string, ask bool, fn func(ctx context.Context, e *jobEntry) (*ferry.Report, error)) (webJob, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return webJob{}, err
	}
	ctx, cancel := context.WithCancel(h.ctx)
	e := &jobEntry{job: webJob{ID: "j-" + hex.EncodeToString(b[:]), Kind: kind, Started: time.Now().UTC(), State: jobStarting, Log: []webLogLine{}},
		cancel: cancel, ask: ask, answers: make(chan bool, 1), owners: make(chan string, 1)}
	h.mu.Lock()
	if h.ctx.Err() != nil {
		h.mu.Unlock()
		cancel()
		return webJob{}, errors.New("the app is shutting down")
	}
	h.jobs = append(h.jobs, e)
	h.trimLocked()
	h.changedLocked(e)
	snap := e.job
	h.wg.Add(1)
	h.mu.Unlock()
	go func() {
		defer h.wg.Done()
		defer cancel()
		rep, err := fn(ctx, e)
		h.finish(ctx, e, rep, err)
	}()
	return snap, nil
}

// trimLocked drops the oldest ended jobs beyond webMaxJobs.
func (h *jobHub) trimLocked() {
	for len(h.jobs) > webMaxJobs {
		// A job that keeps something is not dropped: it lets go in time.
		i := slices.IndexFunc(h.jobs, func(e *jobEntry) bool { return e.job.Ended && e.key.IsZero() && e.pending == nil })
		if i < 0 {
			return
		}
		h.jobs = slices.Delete(h.jobs, i, i+1)
	}
}

// changedLocked marks e changed and wakes the event streams.
func (h *jobHub) changedLocked(e *jobEntry) {
	h.version++
	e.job.Version = h.version
	for c := range h.subs {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

func (h *jobHub) update(e *jobEntry, f func(j *webJob)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f(&e.job)
	h.changedLocked(e)
}

func (j *webJob) log(t time.Time, kind ferry.EventKind, msg string) {
	if msg == "" {
		return
	}
	j.Log = append(j.Log, webLogLine{Time: t, Kind: kind, Message: msg})
	if len(j.Log) > webMaxLog {
		j.Log = slices.Delete(j.Log, 0, len(j.Log)-webMaxLog)
	}
}

// apply folds one session event into its job.
func (h *jobHub) apply(e *jobEntry, ev ferry.Event) {
	h.update(e, func(j *webJob) {
		if ev.Session != "" {
			j.Session = ev.Session
		}
		t := ev.Time
		if t.IsZero() {
			t = time.Now()
		}
		switch ev.Kind {
		case ferry.EventCode:
			j.Code = ev.Code
			j.State = jobWaiting
		case ferry.EventWaiting, ferry.EventFound, ferry.EventPaired, ferry.EventPairFailed:
			if j.State == jobStarting {
				j.State = jobWaiting
			}
			if ev.Offer != nil {
				j.Offer = ev.Offer
			}
		case ferry.EventConnected:
			j.Path = ev.Path
			if j.State == jobStarting || j.State == jobWaiting {
				j.State = jobConnected
			}
		case ferry.EventReceiver:
			j.Receiver = ev.Device
		case ferry.EventOffer:
			j.Offer = ev.Offer
			if e.ask {
				j.State, j.Confirm = jobOffer, true
			}
		case ferry.EventProgress:
			j.State = jobMoving
			j.Progress = &webProgress{Phase: ev.Phase, Done: ev.Done, Total: ev.Total, Items: ev.Items, ItemsTotal: ev.ItemsTotal, Time: t}
			return // not a line of the log
		case ferry.EventCommitting:
			j.State = jobCommitting
		case ferry.EventDone:
			j.Report = ev.Report
		case ferry.EventError:
			j.log(t, ev.Kind, ev.Error)
		}
		j.log(t, ev.Kind, ev.Message)
	})
}

// finish records how a job ended.
func (h *jobHub) finish(ctx context.Context, e *jobEntry, rep *ferry.Report, err error) {
	h.update(e, func(j *webJob) {
		j.Ended, j.Confirm = true, false
		switch {
		case err == nil:
			j.State = jobDone
			if rep != nil {
				j.Report = rep
				j.Verified = rep.SourceDigest != "" && rep.SourceDigest == rep.TargetDigest
			}
			if j.Progress != nil && j.Progress.Total > 0 {
				j.Progress.Done = j.Progress.Total
			}
		case ctx.Err() != nil && errors.Is(err, context.Canceled):
			j.State, j.Error = jobCancelled, "cancelled"
		default:
			fe := ferry.AsError(err)
			j.State, j.Error, j.Hint, j.Resume = jobFailed, fe.Sentence, fe.Hint, fe.Resumable
		}
	})
}

// jobOf is the job that the request's path names, or nil once it
// answered 404.
func (w *WebServer) jobOf(rw http.ResponseWriter, r *http.Request) *jobEntry {
	e := w.jobs.find(r.PathValue("id"))
	if e == nil {
		writeError(rw, http.StatusNotFound, "no such session")
	}
	return e
}

func (h *jobHub) find(id string) *jobEntry {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range h.jobs {
		if e.job.ID == id {
			return e
		}
	}
	return nil
}

// view is e's job as it stands.
func (h *jobHub) view(e *jobEntry) webJob {
	h.mu.Lock()
	defer h.mu.Unlock()
	return e.job
}

// snapshot is every job, oldest first.
func (h *jobHub) snapshot() []webJob {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]webJob, 0, len(h.jobs))
	for _, e := range h.jobs {
		out = append(out, e.job)
	}
	return out
}

// changedSince is the jobs changed after version v, and the current version.
func (h *jobHub) changedSince(v int64) ([]webJob, int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []webJob
	for _, e := range h.jobs {
		if e.job.Version > v {
			out = append(out, e.job)
		}
	}
	return out, h.version
}

func (h *jobHub) subscribe() (chan struct{}, func()) {
	c := make(chan struct{}, 1)
	h.mu.Lock()
	h.subs[c] = true
	h.mu.Unlock()
	return c, func() {
		h.mu.Lock()
		delete(h.subs, c)
		h.mu.Unlock()
	}
}

// indexing starts the "index" job, which brings the search index up to
// date with its progress shown, unless it runs already; the channel closes
// when it ends.
func (h *jobHub) indexing() <-chan struct{} {
	h.mu.Lock()
	if h.indexed != nil {
		wait := h.indexed
		h.mu.Unlock()
		return wait
	}
	wait := make(chan struct{})
	h.indexed = wait
	h.mu.Unlock()
	done := func() {
		h.mu.Lock()
		h.indexed = nil
		h.mu.Unlock()
		close(wait)
	}
	_, err := h.start("index", false, func(ctx context.Context, e *jobEntry) (*ferry.Report, error) {
		defer done()
		return nil, h.w.buildIndex(ctx, e)
	})
	if err != nil {
		done()
	}
	return wait
}

// buildIndex is the index job.
func (w *WebServer) buildIndex(ctx context.Context, e *jobEntry) error {
	o, err := w.hist.acquire(ctx)
	if errors.Is(err, errNoHistory) {
		return nil
	}
	if err != nil {
		return err
	}
	defer w.hist.release(o)
	ix, err := o.index(ctx)
	if err != nil {
		return err
	}
	n, err := ix.Behind(ctx)
	if err != nil || n == 0 {
		return err
	}
	h := w.jobs
	h.update(e, func(j *webJob) {
		j.State = jobMoving
		j.log(time.Now(), "waiting", fmt.Sprintf("building the search index (%d messages to read)", n))
	})
	var last time.Time
	return ix.Update(ctx, func(done, total int64) {
		if time.Since(last) < webEventEvery && done < total {
			return
		}
		last = time.Now()
		h.update(e, func(j *webJob) {
			j.Progress = &webProgress{Phase: "indexing", Done: done, Total: total, Time: last}
		})
	})
}

type webSendRequest struct {
	Relay string `json:"relay,omitempty"`
	// To is the paired device to send to (its name or the start of its
	// peer ID): no code, only that device is served.
	To string `json:"to,omitempty"`
}

type webReceiveRequest struct {
	Code  string `json:"code"` // a code, or a ferry: URI
	Relay string `json:"relay,omitempty"`
}

func (w *WebServer) send(rw http.ResponseWriter, r *http.Request) {
	var req webSendRequest
	if !readBody(rw, r, &req, true) {
		return
	}
	h := w.jobs
	j, err := h.start("send", false, func(ctx context.Context, e *jobEntry) (*ferry.Report, error) {
		s, err := w.api.Send(ctx, ferry.SendOptions{Relay: req.Relay, To: req.To})
		if err != nil {
			return nil, err
		}
		if link := s.Link(); link != "" {
			h.update(e, func(j *webJob) { j.Link = link })
		}
		for ev := range s.Events() {
			h.applyThrottled(e, ev)
		}
		res, err := s.Wait(ctx)
		if err != nil {
			return nil, err
		}
		rep := res.Report()
		return &rep, nil
	})
	if err != nil {
		writeError(rw, http.StatusServiceUnavailable, err.Error())
		return
	}
	writeJSON(rw, j)
}

func (w *WebServer) receive(rw http.ResponseWriter, r *http.Request) {
	var req webReceiveRequest
	if !readBody(rw, r, &req, false) {
		return
	}
	if err := ferry.CheckTarget(req.Code); err != nil {
		writeError(rw, http.StatusBadRequest, err.Error())
		return
	}
	h := w.jobs
	j, err := h.start("receive", true, func(ctx context.Context, e *jobEntry) (*ferry.Report, error) {
		res, err := w.api.Receive(ctx, req.Code, ferry.ReceiveOptions{
			Relay:  req.Relay,
			Events: func(ev ferry.Event) { h.applyThrottled(e, ev) },
			Confirm: func(ctx context.Context, _ ferry.Offer) (bool, error) {
				select {
				case ok := <-e.answers:
					return ok, nil
				case <-ctx.Done():
					return false, ctx.Err()
				}
			},
		})
		if err != nil {
			return nil, err
		}
		// The history changed: have the index ready for the next search.
		h.indexing()
		rep := res.Report()
		return &rep, nil
	})
	if err != nil {
		writeError(rw, http.StatusServiceUnavailable, err.Error())
		return
	}
	writeJSON(rw, j)
}

// applyThrottled applies ev, but progress events no more often than the
// page is told of them (the last one always gets through with the end).
func (h *jobHub) applyThrottled(e *jobEntry, ev ferry.Event) {
	if ev.Kind == ferry.EventProgress && ev.Done < ev.Total {
		h.mu.Lock()
		p := e.job.Progress
		skip := p != nil && p.Phase == ev.Phase && time.Since(p.Time) < webEventEvery/2
		h.mu.Unlock()
		if skip {
			return
		}
	}
	h.apply(e, ev)
}

func (w *WebServer) confirmJob(rw http.ResponseWriter, r *http.Request) {
	var req confirmRequest
	if !readBody(rw, r, &req, false) {
		return
	}
	if req.Accept == nil {
		writeError(rw, http.StatusBadRequest, `body must say {"accept": true} or {"accept": false}`)
		return
	}
	e := w.jobOf(rw, r)
	if e == nil {
		return
	}
	if !w.jobs.view(e).Confirm {
		writeError(rw, http.StatusConflict, "this session is not waiting for an answer")
		return
	}
	select {
	case e.answers <- *req.Accept:
	default:
		writeError(rw, http.StatusConflict, "this session was already answered")
		return
	}
	w.jobs.update(e, func(j *webJob) {
		j.Confirm = false
		if *req.Accept {
			j.log(time.Now(), "accepted", "accepted: receiving")
		} else {
			j.log(time.Now(), "declined", "declined")
		}
	})
	rw.WriteHeader(http.StatusNoContent)
}

func (w *WebServer) cancelJob(rw http.ResponseWriter, r *http.Request) {
	e := w.jobOf(rw, r)
	if e == nil {
		return
	}
	e.cancel()
	// A preview waiting for its import: its staged upload goes now.
	w.jobs.dropPending(e, "cancelled: nothing was imported")
	rw.WriteHeader(http.StatusNoContent)
}

func (w *WebServer) listJobs(rw http.ResponseWriter, r *http.Request) {
	writeJSON(rw, w.jobs.snapshot())
}

func (w *WebServer) jobQR(rw http.ResponseWriter, r *http.Request) {
	e := w.jobOf(rw, r)
	if e == nil {
		return
	}
	link := w.jobs.view(e).Link
	if link == "" {
		writeError(rw, http.StatusNotFound, "this session has no code to show")
		return
	}
	b, err := qrPNG(link)
	if err != nil {
		writeError(rw, http.StatusInternalServerError, err.Error())
		return
	}
	rw.Header().Set("Content-Type", "image/png")
	rw.Write(b)
}

// events streams every job's state as it changes (Server-Sent Events).
func (w *WebServer) events(rw http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	h := rw.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	rw.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	rc := http.NewResponseController(rw)
	notify, unsubscribe := w.jobs.subscribe()
	defer unsubscribe()
	fmt.Fprint(rw, "retry: 2000\n\n")
	var seen int64
	ping := time.NewTicker(webPing)
	defer ping.Stop()
	for {
		jobs, v := w.jobs.changedSince(seen)
		seen = v
		for _, j := range jobs {
			b, _ := json.Marshal(j)
			if _, err := fmt.Fprintf(rw, "event: job\ndata: %s\n\n", b); err != nil {
				return
			}
		}
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case <-notify:
		case <-ping.C:
			if _, err := fmt.Fprint(rw, ": ping\n\n"); err != nil {
				return
			}
			continue
		case <-ctx.Done():
			return
		}
		// Let a burst of changes gather into one write.
		t := time.NewTimer(webEventEvery)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}
