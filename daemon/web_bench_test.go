package daemon

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ferryhq/ferry/chatstore"
)

// TestBrowserBenchmark is the benchmark mode of the browser tests, run on
// demand only (it is not a timed test): FERRY_UI_BENCH=1 go test -run
// TestBrowserBenchmark -timeout 2h ./daemon. It makes a home with two
// conversations, of FERRY_UI_BENCH_FIRST messages (default 100,000) and of
// FERRY_UI_BENCH_SCROLL (default 1,000,000), and measures in Chromium:
//
//   - the first page of the first conversation, from the click to the
//     messages laid out (target: under 300 ms);
//   - every page back while the page is scrolled from the end of the second
//     conversation to its start (target: each under 100 ms);
//   - the resident memory of the process that serves the app (the test's:
//     the server runs in it) while scrolling (target: under 200 MiB).
//
// It reports the figures with t.Log and fails when one misses its target.
func TestBrowserBenchmark(t *testing.T) {
	if os.Getenv("FERRY_UI_BENCH") == "" {
		t.Skip("the benchmark mode of the browser tests runs with FERRY_UI_BENCH=1")
	}
	browserBenchmark(t, benchEnv(t, "FERRY_UI_BENCH_FIRST", 100_000), benchEnv(t, "FERRY_UI_BENCH_SCROLL", 1_000_000), true)
}

// TestBrowserBenchmarkRuns runs the benchmark mode at a small size, so that
// it keeps working; its figures mean nothing at this size and are not
// checked.
func TestBrowserBenchmarkRuns(t *testing.T) {
	browserBenchmark(t, 600, 1500, false)
}

func browserBenchmark(t *testing.T, first, scroll int, targets bool) {
	browser := startBrowser(t)
	home := uiHome(t, 2000, 0, false)
	start := time.Now()
	firstConv := bulkConversation(t, home, "Benchmark: first page", 0xb1, first)
	scrollConv := bulkConversation(t, home, "Benchmark: scroll back", 0xb2, scroll)
	t.Logf("made %d + %d messages in %v", first, scroll, time.Since(start).Round(time.Millisecond))
	// What making them took is not what serving them takes.
	debug.FreeOSMemory()

	dev := startUIDevice(t, "bench", home)
	p := newPage(t, browser, "bench")
	p.open(dev.web.URL())
	p.wait("the conversations", `document.querySelectorAll('a.conv').length >= 2`, 60*time.Second)

	// The first page, twice: cold (the database's pages not yet read) and warm.
	var firstMS []float64
	for _, conv := range []chatstore.ID{firstConv, scrollConv, firstConv} {
		n := p.num(`globalThis.ferryPerf.length`)
		p.click(fmt.Sprintf(`a.conv[data-id="%s"]`, conv))
		p.wait("the first page", fmt.Sprintf(`globalThis.ferryPerf.length > %v && globalThis.ferryPerf.at(-1).what === 'first'`, n), 60*time.Second)
		firstMS = append(firstMS, p.num(`globalThis.ferryPerf.at(-1).ms`))
	}
	t.Logf("first page: %.1f ms cold, %.1f ms in the %d-message conversation, %.1f ms warm", firstMS[0], firstMS[1], scroll, firstMS[2])
	if targets && firstMS[2] >= 300 {
		t.Errorf("the first page of a conversation of %d messages took %.1f ms, target < 300 ms", first, firstMS[2])
	}

	// Scroll back through the whole second conversation.
	p.click(fmt.Sprintf(`a.conv[data-id="%s"]`, scrollConv))
	p.wait("its newest messages", `document.querySelectorAll('.messages li.msg').length >= 50`, 60*time.Second)
	base := rssBytes(t)
	var (
		mu      sync.Mutex
		maxRSS  = base
		stopRSS = make(chan struct{})
		rssDone = make(chan struct{})
	)
	go func() {
		defer close(rssDone)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopRSS:
				return
			case <-tick.C:
				if n := rssBytes(t); n > 0 {
					mu.Lock()
					maxRSS = max(maxRSS, n)
					mu.Unlock()
				}
			}
		}
	}()
	ctx, cancel := context.WithTimeout(p.ctx, 3*time.Hour)
	defer cancel()
	var res struct {
		Pages    int       `json:"pages"`
		Messages int       `json:"messages"`
		Times    []float64 `json:"times"`
		Fetches  []float64 `json:"fetches"`
		Kept     int       `json:"kept"`
	}
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](`(async () => {
		const s = document.querySelector('.scroller');
		const edge = () => document.querySelector('.scroller .edge').textContent;
		const last = () => (globalThis.ferryPerf.at(-1) || { n: 0 }).n;
		const times = [];
		const fetches = [];
		let messages = 0;
		let seen = last();
		for (;;) {
			s.scrollTop = 0;
			while (last() === seen && !edge().includes('starts here')) await new Promise((r) => setTimeout(r, 2));
			for (const m of globalThis.ferryPerf) if (m.n > seen && m.what === 'older') { times.push(m.ms); fetches.push(m.fetch); messages += m.messages; }
			seen = last();
			if (edge().includes('starts here')) break;
		}
		return { pages: times.length, messages, times, fetches, kept: document.querySelectorAll('.messages li.msg').length };
	})()`, chromedp.EvalAwaitPromise))
	close(stopRSS)
	<-rssDone
	if err != nil {
		t.Fatalf("scrolling back: %v", err)
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatal(err)
	}
	sort.Float64s(res.Times)
	sort.Float64s(res.Fetches)
	at := func(xs []float64, q float64) float64 {
		if len(xs) == 0 {
			return 0
		}
		return xs[min(len(xs)-1, int(q*float64(len(xs))))]
	}
	pct := func(q float64) float64 { return at(res.Times, q) }
	t.Logf("scroll back: %d pages, %d messages; per page %.1f ms median, %.1f ms p99, %.1f ms slowest (of which the answer: %.1f ms median, %.1f ms slowest); %d messages kept in the page at the end",
		res.Pages, res.Messages, pct(0.5), pct(0.99), pct(1), at(res.Fetches, 0.5), at(res.Fetches, 1), res.Kept)
	t.Logf("server RSS: %.1f MiB before scrolling, %.1f MiB at most while scrolling", float64(base)/(1<<20), float64(maxRSS)/(1<<20))
	if res.Messages+50 < scroll {
		t.Errorf("scrolled back through %d of %d messages", res.Messages, scroll)
	}
	if slowest := pct(1); targets && slowest >= 100 {
		t.Errorf("the slowest page back took %.1f ms, target < 100 ms", slowest)
	}
	if targets && maxRSS >= 200<<20 {
		t.Errorf("the server's RSS reached %.1f MiB, target < 200 MiB", float64(maxRSS)/(1<<20))
	}
}

func benchEnv(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a number of messages", name, s)
	}
	return n
}

// bulkConversation adds a direct conversation of n messages to home's
// history, straight into its database (fast: one transaction, many rows a
// statement), one a second, between two people.
func bulkConversation(t *testing.T, home, title string, tag byte, n int) chatstore.ID {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(home, chatstore.DBName)+"?_pragma=synchronous(OFF)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	at := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	id := func(kind byte, i int) []byte {
		var b [16]byte
		binary.BigEndian.PutUint64(b[:8], uint64(at+int64(i)*1000)<<16)
		b[8], b[9], b[10] = 0xbe, tag, kind
		binary.BigEndian.PutUint32(b[12:], uint32(i))
		return b[:]
	}
	conv, alice, bob := id(1, 0), id(2, 0), id(3, 0)
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	exec := func(q string, args ...any) {
		if _, err := tx.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`INSERT INTO contacts (id, name, phone, updated) VALUES (?, 'Alice Bench', '', 1), (?, 'Bob Bench', '', 1)`, alice, bob)
	exec(`INSERT INTO conversations (id, kind, title, created, updated) VALUES (?, 1, ?, ?, ?)`, conv, title, at, at)
	bodies := []string{"on my way", "see you at the gate", "did you see the match last night?", "photos from the weekend",
		"can you pick up milk on the way home", "I'll call you when I land", "ok", "thanks so much"}
	const rows = 100
	stmt, err := tx.Prepare(`INSERT INTO messages (id, conversation, sender, sent, received, body) VALUES ` +
		strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?),", rows), ","))
	if err != nil {
		t.Fatal(err)
	}
	defer stmt.Close()
	args := make([]any, 0, 6*rows)
	flush := func(one *sql.Stmt) {
		if _, err := one.Exec(args...); err != nil {
			t.Fatal(err)
		}
		args = args[:0]
	}
	for i := 1; i <= n; i++ {
		who := alice
		if i%3 == 0 {
			who = bob
		}
		sent := at + int64(i)*1000
		args = append(args, id(4, i), conv, who, sent, sent, bodies[i%len(bodies)])
		if len(args) == cap(args) {
			flush(stmt)
		}
	}
	if len(args) > 0 {
		last, err := tx.Prepare(`INSERT INTO messages (id, conversation, sender, sent, received, body) VALUES ` +
			strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?),", len(args)/6), ","))
		if err != nil {
			t.Fatal(err)
		}
		flush(last)
		last.Close()
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(home, chatstore.IndexName))
	var c chatstore.ID
	copy(c[:], conv)
	return c
}

// rssBytes is the resident memory of this process (Linux), or 0.
func rssBytes(t *testing.T) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}
