// Package exportgen writes large, realistic, made-up chat exports (a
// WhatsApp Android chat, a Telegram Desktop JSON) for the import benchmarks,
// streaming them, so any size costs the same little memory; and zips an
// export folder for tests.
package exportgen

import (
	"archive/zip"
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Options says what to write.
type Options struct {
	Messages int    // messages (and a few system events) in all
	Seed     uint64 // the same seed writes the same bytes
}

var (
	people  = []string{"Alice", "Bob Smith", "Carol", "Dan", "Eve", "Frank", "Gabi", "Hugo", "Ivan Petrov", "Jana", "+49 170 1234567", "Kofi", "Lena", "Mama", "Priya", "Tom"}
	phrases = []string{
		"hey, are you around later?", "on my way", "running 10 min late, sorry!", "did you see the match last night?",
		"can you send me the address?", "happy birthday!!", "let's grab lunch tomorrow", "the meeting moved to 3pm",
		"¿Vienes a la cena el sábado?", "nos vemos mañana", "Bist du heute Abend zu Hause?", "ça marche, à demain",
		"你好，今天有空吗？", "明天见！", "おはようございます", "내일 만나요", "नमस्ते, कैसे हो?", "ok", "lol", "sounds good 👍",
		"Привет! Как дела?", "see you at the gate ✈️", "it's raining like crazy here ☔", "who's bringing the snacks?",
	}
	start = time.Date(2023, 1, 1, 8, 0, 0, 0, time.UTC)
)

type gen struct {
	r *rand.Rand
	t time.Time
}

func newGen(seed uint64) *gen {
	var key [32]byte
	binary.BigEndian.PutUint64(key[:], seed)
	copy(key[8:], "ferry exportgen")
	return &gen{r: rand.New(rand.NewChaCha8(key)), t: start}
}

// next advances the clock by a few seconds to a few hours.
func (g *gen) next() time.Time {
	g.t = g.t.Add(time.Duration(g.r.ExpFloat64()*90) * time.Second)
	return g.t
}

func (g *gen) body() string {
	n := 1
	if g.r.IntN(10) == 0 {
		n = 2 + g.r.IntN(3)
	}
	parts := make([]string, n)
	for i := range parts {
		parts[i] = phrases[g.r.IntN(len(phrases))]
	}
	return strings.Join(parts, " ")
}

// WriteWhatsApp writes an Android WhatsApp group chat ("M/D/YY, H:MM PM -
// Name: text", U+202F before the marker), exported without media: multi-line
// messages, edits, deletions, media left out and system lines included.
func WriteWhatsApp(w io.Writer, o Options) error {
	g := newGen(o.Seed)
	bw := bufio.NewWriterSize(w, 256<<10)
	stamp := func(t time.Time) string {
		return t.Format("1/2/06, 3:04") + "\u202f" + t.Format("PM")
	}
	fmt.Fprintf(bw, "%s - Messages and calls are end-to-end encrypted. No one outside of this chat, not even WhatsApp, can read or listen to them. Tap to learn more.\n", stamp(g.t))
	fmt.Fprintf(bw, "%s - Alice created group \"Bench Group\"\n", stamp(g.t))
	for i := 2; i < o.Messages; i++ {
		t := g.next()
		who := people[g.r.IntN(len(people))]
		switch x := g.r.IntN(1000); {
		case x < 5:
			fmt.Fprintf(bw, "%s - %s added %s\n", stamp(t), who, people[g.r.IntN(len(people))])
		case x < 35:
			fmt.Fprintf(bw, "%s - %s: <Media omitted>\n", stamp(t), who)
		case x < 45:
			fmt.Fprintf(bw, "%s - %s: This message was deleted\n", stamp(t), who)
		case x < 75:
			fmt.Fprintf(bw, "%s - %s: %s <This message was edited>\n", stamp(t), who, g.body())
		case x < 125:
			fmt.Fprintf(bw, "%s - %s: %s\n%s\n%s\n", stamp(t), who, g.body(), g.body(), t.Format("1/2/06")+" was the day")
		default:
			fmt.Fprintf(bw, "%s - %s: %s\n", stamp(t), who, g.body())
		}
	}
	return bw.Flush()
}

// WriteWhatsAppZip writes the same chat as WriteWhatsApp inside a zip, as
// "WhatsApp Chat with Bench Group.txt".
func WriteWhatsAppZip(w io.Writer, o Options) error {
	zw := zip.NewWriter(w)
	f, err := zw.Create("WhatsApp Chat with Bench Group.txt")
	if err != nil {
		return err
	}
	if err := WriteWhatsApp(f, o); err != nil {
		return err
	}
	return zw.Close()
}

// WriteTelegram writes a Telegram Desktop single-chat export (result.json)
// of a group: text as strings and as entity arrays, replies, edits,
// reactions and service messages.
func WriteTelegram(w io.Writer, o Options) error {
	g := newGen(o.Seed)
	bw := bufio.NewWriterSize(w, 256<<10)
	bw.WriteString("{\n \"name\": \"Bench Group\",\n \"type\": \"private_supergroup\",\n \"id\": 1234567890,\n \"messages\": [")
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	type entity struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	for i := 1; i <= o.Messages; i++ {
		t := g.next()
		who := g.r.IntN(len(people))
		m := map[string]any{
			"id": i, "date": t.Format("2006-01-02T15:04:05"), "date_unixtime": fmt.Sprint(t.Unix()),
		}
		if g.r.IntN(100) == 0 {
			m["type"], m["actor"], m["actor_id"], m["action"] = "service", people[who], fmt.Sprintf("user%d", 1000+who), "invite_members"
			m["members"] = []string{people[g.r.IntN(len(people))]}
			m["text"] = ""
		} else {
			m["type"], m["from"], m["from_id"] = "message", people[who], fmt.Sprintf("user%d", 1000+who)
			if g.r.IntN(10) == 0 {
				m["text"] = []any{g.body() + " ", entity{"bold", g.body()}, " " + g.body()}
			} else {
				m["text"] = g.body()
			}
			if i > 1 && g.r.IntN(10) == 0 {
				m["reply_to_message_id"] = 1 + g.r.IntN(i-1)
			}
			if g.r.IntN(30) == 0 {
				e := t.Add(time.Minute)
				m["edited"], m["edited_unixtime"] = e.Format("2006-01-02T15:04:05"), fmt.Sprint(e.Unix())
			}
			if g.r.IntN(20) == 0 {
				r := g.r.IntN(len(people))
				m["reactions"] = []any{map[string]any{"type": "emoji", "count": 1, "emoji": "👍",
					"recent": []any{map[string]any{"from": people[r], "from_id": fmt.Sprintf("user%d", 1000+r), "date": t.Format("2006-01-02T15:04:05")}}}}
			}
		}
		if i > 1 {
			bw.WriteByte(',')
		}
		bw.WriteString("\n  ")
		if err := enc.Encode(m); err != nil {
			return err
		}
	}
	bw.WriteString(" ]\n}\n")
	return bw.Flush()
}

// ZipFolder writes the regular files under dir into a new zip file out,
// with paths relative to dir, in name order (for tests that need an export
// as the zip an app writes).
func ZipFolder(out, dir string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if err := writeZip(f, dir); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func writeZip(w io.Writer, dir string) error {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		return err
	}
	sort.Strings(files)
	zw := zip.NewWriter(w)
	for _, p := range files {
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		f, err := zw.CreateHeader(&zip.FileHeader{Name: filepath.ToSlash(rel), Method: zip.Deflate, Modified: start})
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if _, err := f.Write(b); err != nil {
			return err
		}
	}
	return zw.Close()
}
