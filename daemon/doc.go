// Package daemon runs Ferry's long-lived service over a device of package
// ferry: the local control API and the web app.
//
// The control API (control.go, on a Unix socket) and the web app (web.go, on
// loopback HTTP, with the page embedded from webui/) are two handler tables
// over the same API; the web app reads the history through chatstore's
// queries, as ferry history does. Its guard, the rules every request passes
// before a handler (token, Host, Origin, CSP), is web_guard.go. A ferry: URI
// (package ferry) carries a code and the sender's addresses, for the QR
// code of a send.
package daemon
