package daemon

import (
	"context"
	"github.com/ferryhq/ferry"
	"net/http"
	"strings"
	"time"
)

// Backup and restore from the page, over API.Backup, Backups and Restore:
//
//	POST /api/backup             body {"relay", "password"}                       → webJob
//	POST /api/jobs/{id}/key                                                      → {"key": K}, once
//	GET  /api/backups            ?relay=ADDR                                     → [ferry.BackupInfo]
//	DELETE /api/backups/{id}     ?relay=ADDR                                     → 204 (the page asks first)
//	POST /api/restore            body {"relay", "key" | "password", "backup": ID} → webJob
//
// Secrets travel in request bodies only, never in a URL, and are never
// logged. A backup's new recovery key is not part of its job (which every
// event stream and GET /api/jobs show): the job says that a key waits
// (webBackupDone.KeyReady), and POST /api/jobs/{id}/key hands it out once
// and forgets it; a key not taken within 10 minutes is forgotten then
// (web_expire.go). A password stays in the handler that got it and is
// wiped when the job ends.

type webBackupRequest struct {
	Relay    string `json:"relay,omitempty"`
	Password []byte `json:"password,omitempty"`
}

type webRestoreRequest struct {
	Relay    string `json:"relay,omitempty"`
	Key      string `json:"key,omitempty"`
	Password []byte `json:"password,omitempty"`
	Backup   string `json:"backup,omitempty"`
}

// webBackupDone is a backup's result as the page sees it.
type webBackupDone struct {
	ID            string      `json:"backup"`
	Seq           uint64      `json:"seq"`
	NewKey        bool        `json:"new_key"`
	Password      bool        `json:"password"`  // a password locks the key
	KeyReady      bool        `json:"key_ready"` // POST /api/jobs/{id}/key gives the key, once
	Stats         ferry.Stats `json:"stats"`
	Chunks        int         `json:"chunks"`
	ChunksSent    int         `json:"chunks_sent"`
	ChunksSkipped int         `json:"chunks_skipped"`
	BytesSent     int64       `json:"bytes_sent"`
	Seconds       float64     `json:"seconds"`
}

type webKey struct {
	Key string `json:"key"`
}

func wipe(b []byte) {
	for i := range b {
		b[i] = 0
	}
}

func (w *WebServer) backup(rw http.ResponseWriter, r *http.Request) {
	var req webBackupRequest
	if !readBody(rw, r, &req, true) {
		return
	}
	h := w.jobs
	j, err := h.start("backup", false, func(ctx context.Context, e *jobEntry) (*ferry.Report, error) {
		defer wipe(req.Password)
		h.update(e, func(j *webJob) { j.log(time.Now(), "waiting", "connecting to the relay") })
		res, err := w.api.Backup(ctx, ferry.BackupOptions{
			Relay: strings.TrimSpace(req.Relay), Password: req.Password,
			Events: func(ev ferry.Event) { h.applyThrottled(e, ev) },
		})
		if err != nil {
			return nil, err
		}
		done := &webBackupDone{ID: res.ID, Seq: res.Seq, NewKey: res.NewKey, Password: len(req.Password) > 0,
			Stats: res.Stats, Chunks: res.Chunks, ChunksSent: res.ChunksSent, ChunksSkipped: res.ChunksSkipped,
			BytesSent: res.BytesSent, Seconds: res.Took.Seconds()}
		h.update(e, func(j *webJob) {
			if res.NewKey && len(req.Password) == 0 && !res.Key.IsZero() {
				e.key, e.keyUntil, done.KeyReady = res.Key, w.now().Add(webKeyTTL), true
			}
			j.Backup = done
		})
		res.Key.Wipe()
		return nil, nil
	})
	if err != nil {
		writeError(rw, http.StatusServiceUnavailable, err.Error())
		return
	}
	writeJSON(rw, j)
}

// takeKey hands out a backup's new recovery key, once.
func (w *WebServer) takeKey(rw http.ResponseWriter, r *http.Request) {
	e := w.jobOf(rw, r)
	if e == nil {
		return
	}
	key := w.jobs.takeKey(e)
	if key == "" {
		writeError(rw, http.StatusGone, "this backup's recovery key was shown once already, or was not taken within 10 minutes, or it has none (a password locks it)")
		return
	}
	writeJSON(rw, webKey{Key: key})
}

func (w *WebServer) backups(rw http.ResponseWriter, r *http.Request) {
	bs, err := w.api.Backups(r.Context(), strings.TrimSpace(r.URL.Query().Get("relay")))
	if err != nil {
		writeFerryError(rw, http.StatusBadGateway, err)
		return
	}
	if bs == nil {
		bs = []ferry.BackupInfo{}
	}
	writeJSON(rw, bs)
}

// deleteBackup deletes one of this device's backups from the relay.
func (w *WebServer) deleteBackup(rw http.ResponseWriter, r *http.Request) {
	id := strings.TrimSpace(r.PathValue("id"))
	if err := ferry.CheckBackupID(id); err != nil {
		writeFerryError(rw, http.StatusBadRequest, err)
		return
	}
	err := w.api.DeleteBackup(r.Context(), strings.TrimSpace(r.URL.Query().Get("relay")), id)
	if err == nil {
		w.log.Info("web app: backup deleted", "backup", id)
		rw.WriteHeader(http.StatusNoContent)
		return
	}
	status := http.StatusBadGateway
	switch ferry.CodeOf(err) {
	case ferry.CodeBackupNotFound:
		status = http.StatusNotFound
	case ferry.CodeNoRelay, ferry.CodeRelayAddr:
		status = http.StatusBadRequest
	}
	writeFerryError(rw, status, err)
}

func (w *WebServer) restore(rw http.ResponseWriter, r *http.Request) {
	var req webRestoreRequest
	if !readBody(rw, r, &req, false) {
		return
	}
	key, err := wireKey(strings.TrimSpace(req.Key))
	if err != nil {
		wipe(req.Password)
		writeFerryError(rw, http.StatusBadRequest, err)
		return
	}
	id := strings.TrimSpace(req.Backup)
	switch {
	case key.IsZero() && len(req.Password) == 0:
		writeError(rw, http.StatusBadRequest, "give the recovery key that the backup showed, or its password and the backup's ID")
		return
	case !key.IsZero() && len(req.Password) > 0:
		key.Wipe()
		wipe(req.Password)
		writeError(rw, http.StatusBadRequest, "give the recovery key or the password, not both")
		return
	case len(req.Password) > 0 && id == "":
		wipe(req.Password)
		writeError(rw, http.StatusBadRequest, "a password opens a backup named by its ID: give the backup's ID too (the list of backups shows them)")
		return
	}
	if id != "" {
		if err := ferry.CheckBackupID(id); err != nil {
			key.Wipe()
			wipe(req.Password)
			writeFerryError(rw, http.StatusBadRequest, err)
			return
		}
	}
	h := w.jobs
	j, err := h.start("restore", false, func(ctx context.Context, e *jobEntry) (*ferry.Report, error) {
		defer key.Wipe()
		defer wipe(req.Password)
		h.update(e, func(j *webJob) { j.log(time.Now(), "waiting", "connecting to the relay") })
		res, err := w.api.Restore(ctx, ferry.RestoreOptions{
			Relay: strings.TrimSpace(req.Relay), Key: key, Password: req.Password, BackupID: id,
			Events: func(ev ferry.Event) { h.applyThrottled(e, ev) },
		})
		if err != nil {
			return nil, err
		}
		h.update(e, func(j *webJob) { j.Restored = &res })
		h.indexing()
		return nil, nil
	})
	if err != nil {
		key.Wipe()
		wipe(req.Password)
		writeError(rw, http.StatusServiceUnavailable, err.Error())
		return
	}
	writeJSON(rw, j)
}

// writeFerryError writes err's sentence and hint.
func writeFerryError(rw http.ResponseWriter, status int, err error) {
	b := wireError(err, false)
	writeBody(rw, status, b)
}
