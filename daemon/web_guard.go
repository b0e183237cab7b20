package daemon

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"net/netip"
	"path"
	"strconv"
	"strings"
)

// The web app's guard. The server holds a person's whole history and can
// start a migration, and any web page the person opens can make their
// browser send requests to it; so, before any handler runs:
//
//   - Host must name the server itself (127.0.0.1:PORT, localhost:PORT,
//     [::1]:PORT): a page of another site whose name was made to resolve to
//     127.0.0.1 (DNS rebinding) sends its own name, and is refused;
//   - every /api/ request but the login carries the cookie that the login
//     set, or Authorization: Bearer TOKEN; otherwise 401, and nothing of
//     the history. The token is in the printed URL's fragment (which no
//     browser sends to a server); the page posts it to /api/login, which
//     sets an HttpOnly, SameSite=Strict cookie holding another secret;
//   - an Origin header, when there is one, must be the server's own, and so
//     must Sec-Fetch-Site (same-origin, or none for what the person typed):
//     a page on another site, or on another port of this machine (which is
//     the same site to a browser, and gets the cookie), is refused, on the
//     event stream too; a request that changes something must carry the
//     server's Origin (as browsers send it) unless it uses the bearer token;
//   - no response carries CORS headers, so no other origin reads one;
//   - every response has a Content-Security-Policy that allows scripts,
//     styles, images and media from the server only (no inline script,
//     no style attributes), no framing, and with Trusted Types no HTML
//     from strings; and nosniff, no referrer, same-origin resource policy.

// webCSP is the Content-Security-Policy of every response.
const webCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; media-src 'self'; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; " +
	"frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types 'none'"

// webMediaCSP replaces it on media and thumbnails, which a person may open
// on their own in a tab: they run nothing at all.
const webMediaCSP = "default-src 'none'; img-src 'self'; media-src 'self'; sandbox"

type webGuard struct {
	// Constant after newWebGuard.
	hosts   map[string]bool // Host values that name this server
	origins map[string]bool // Origin values of its own pages
	home    string          // the URL to show in refusals
	token   string
	cookie  http.Cookie
}

func newWebGuard(ip netip.Addr, port int, token string) (*webGuard, error) {
	value, err := randomSecret()
	if err != nil {
		return nil, err
	}
	p := strconv.Itoa(port)
	own := hostPort(netip.AddrPortFrom(ip, uint16(port)))
	g := &webGuard{
		hosts:   make(map[string]bool),
		origins: make(map[string]bool),
		home:    "http://" + own,
		token:   token,
		cookie: http.Cookie{
			// Cookies are per host, not per port: the port in the name
			// keeps two apps on one machine (two homes) apart.
			Name: "ferry_ui_" + p, Value: value, Path: "/",
			HttpOnly: true, SameSite: http.SameSiteStrictMode,
		},
	}
	for _, h := range []string{own, "127.0.0.1:" + p, "localhost:" + p, "[::1]:" + p} {
		g.hosts[h] = true
		g.origins["http://"+h] = true
	}
	return g, nil
}

func (g *webGuard) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", webCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		if !g.hosts[strings.ToLower(r.Host)] {
			writeError(w, http.StatusMisdirectedRequest, "this is Ferry's app, which answers only at "+g.home)
			return
		}
		p := path.Clean("/" + r.URL.Path)
		if p != "/api" && !strings.HasPrefix(p, "/api/") {
			next.ServeHTTP(w, r)
			return
		}
		h.Set("Cache-Control", "no-store")
		bearer := g.bearer(r)
		if msg := g.crossSite(r, bearer); msg != "" {
			writeError(w, http.StatusForbidden, msg)
			return
		}
		if p != "/api/login" && !bearer && !g.hasCookie(r) {
			writeError(w, http.StatusUnauthorized, "this page is not signed in: open the link that ferry ui printed (it holds the key)")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// crossSite says why r may come from a page that is not the app's own, or
// returns "".
func (g *webGuard) crossSite(r *http.Request, bearer bool) string {
	origin := r.Header.Get("Origin")
	if origin != "" && !g.origins[origin] {
		return "a page of another site (" + origin + ") may not use Ferry's app"
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return "a request made by a page of another site (" + site + ") may not use Ferry's app"
	}
	if origin == "" && !bearer && r.Method != http.MethodGet && r.Method != http.MethodHead {
		return "a request that changes something must come from Ferry's page"
	}
	return ""
}

func (g *webGuard) bearer(r *http.Request) bool {
	v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && g.tokenOK(v)
}

func (g *webGuard) tokenOK(t string) bool {
	return subtle.ConstantTimeCompare([]byte(t), []byte(g.token)) == 1
}

func (g *webGuard) hasCookie(r *http.Request) bool {
	c, err := r.Cookie(g.cookie.Name)
	return err == nil && subtle.ConstantTimeCompare([]byte(c.Value), []byte(g.cookie.Value)) == 1
}

type loginRequest struct {
	Token string `json:"token"`
}

// login trades the token of the URL for the cookie.
func (w *WebServer) login(rw http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if !readBody(rw, r, &req, false) {
		return
	}
	if !w.guard.tokenOK(req.Token) {
		writeError(rw, http.StatusUnauthorized, "this link's key is wrong or old: open the link that ferry ui printed last")
		return
	}
	c := w.guard.cookie
	http.SetCookie(rw, &c)
	rw.WriteHeader(http.StatusNoContent)
}

// writeJSON writes v as a JSON answer.
func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
