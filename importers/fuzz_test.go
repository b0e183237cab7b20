package importers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// countSink keeps what a parser reports, and checks each record.
type countSink struct {
	t        *testing.T
	chats    int
	records  int
	problems int
	badDates int
}

func (s *countSink) beginChat(c chatInfo) error {
	s.chats++
	if c.identity == "" || c.platform == "" {
		s.t.Fatalf("chat without identity: %+v", c)
	}
	return nil
}

func (s *countSink) add(r *record) error {
	s.records++
	if r.sent < 0 || r.sent >= 1<<47 {
		s.t.Fatalf("%s: time %d out of range", r.where, r.sent)
	}
	if r.event && r.senderKey == "" && r.senderName != "" {
		s.t.Fatalf("%s: event names a sender without a key", r.where)
	}
	for _, m := range r.media {
		if _, ok := cleanName(m.file, true); !ok {
			s.t.Fatalf("%s: unclean media path %q", r.where, m.file)
		}
	}
	if r.replyTo != "" && r.replyAt <= 0 {
		s.t.Fatalf("%s: reply without a time", r.where)
	}
	return nil
}

func (s *countSink) problem(p Problem) {
	s.problems++
	if strings.HasPrefix(p.Reason, "no such date") {
		s.badDates++
	}
}

func (s *countSink) owner(string, string) {}

// checkErr fails unless err is nil or one of the importer's sentences.
func checkErr(t *testing.T, err error) {
	if err == nil {
		return
	}
	var ie *Error
	if !errors.As(err, &ie) {
		t.Fatalf("error without a sentence: %v", err)
	}
	for _, k := range []error{ErrNotExport, ErrDamaged, ErrDateFormat, ErrMissingMedia, ErrUnsafeName} {
		if errors.Is(err, k) {
			return
		}
	}
	t.Fatalf("error of no known kind: %v", err)
}

// addSeeds adds every testdata file whose name ends in ext.
func addSeeds(f *testing.F, ext string) {
	filepath.Walk("testdata", func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() && strings.HasSuffix(p, ext) {
			b, err := os.ReadFile(p)
			if err == nil {
				f.Add(b)
			}
		}
		return nil
	})
}

// FuzzWhatsApp: any bytes as a chat file parse without panicking, to a
// record or a reported problem for every header line, or to one of the
// importer's errors.
func FuzzWhatsApp(f *testing.F) {
	addSeeds(f, ".txt")
	f.Add([]byte("3/18/25, 17:49 - A: x\n\n\r\n3/18/25, 17:50 - B\n"))
	f.Add([]byte("\ufeff[1/2/24, 8:30:00\u202fAM] F: \u200eimage omitted\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := &countSink{t: t}
		in := whatsAppChat{file: "chat.txt", title: "T", loc: time.UTC,
			open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
			has:  func(string) bool { return false }}
		err := parseWhatsApp(context.Background(), in, s)
		if errors.Is(err, ErrUnsafeName) {
			return // a marker naming a path outside: refused before the end
		}
		checkErr(t, err)
		if err != nil {
			return
		}
		// Every header of the file's kind became a record or a problem.
		lay, _ := sniffWhatsApp(context.Background(), in)
		headers := 0
		lr := newLineReader(bytes.NewReader(data))
		for {
			line, err := lr.next()
			if err != nil {
				break
			}
			if h, ok := parseHeader(line); ok && h.ios == lay.ios {
				headers++
			}
		}
		if s.records+s.badDates != headers {
			t.Fatalf("%d headers, %d records and %d bad dates", headers, s.records, s.badDates)
		}
	})
}

// FuzzTelegram: any bytes as result.json decode without panicking to
// messages or reported problems, or to one of the importer's errors.
func FuzzTelegram(f *testing.F) {
	addSeeds(f, ".json")
	f.Add([]byte(`{"id": 1, "messages": [{"id": 1, "date_unixtime": "1", "text": ["a", {"type": "bold", "text": "b"}]}]}`))
	f.Add([]byte(`{"chats": {"list": [{"id": 2, "messages": [{"id": 5, "type": "service", "actor_id": 7, "action": "pin_message", "message_id": 5, "date": "2023-01-01T00:00:00"}]}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := &countSink{t: t}
		in := telegramExport{file: "result.json", loc: time.UTC,
			open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}
		err := parseTelegram(context.Background(), in, s)
		if errors.Is(err, ErrUnsafeName) {
			return
		}
		checkErr(t, err)
	})
}

// FuzzParseHeader: a header's rest is the end of its line, and reading
// its date in any order gives a time in range or none.
func FuzzParseHeader(f *testing.F) {
	for _, l := range []string{"3/18/25, 5:49\u202fPM - Bob: hi", "[29/11/2018, 10:50:41] Dan: hi", "2025. 03. 18. 17:49 - x", "18/3/25, 5:49\u00a0p.\u00a0m. - a"} {
		f.Add(l)
	}
	f.Fuzz(func(t *testing.T, line string) {
		h, ok := parseHeader(line)
		if !ok {
			return
		}
		if !strings.HasSuffix(line, h.rest) {
			t.Fatalf("rest %q is not the end of %q", h.rest, line)
		}
		for _, o := range []dateOrder{orderDMY, orderMDY, orderYMD} {
			if ms, ok := h.at(o, time.UTC); ok && (ms < 0 || ms >= 1<<47) {
				t.Fatalf("%q as %v: %d", line, o, ms)
			}
		}
	})
}

// FuzzJSONString: the hand-written reader of a message decodes every JSON
// string as encoding/json does.
func FuzzJSONString(f *testing.F) {
	for _, s := range []string{`"plain"`, `"esc \" \\ \/ \b \f \n \r \t"`, `"\u00e9\u202f\ud83d\ude00"`, `"\ud83d"`, `"\udc00\ud83d\ude00x"`, `"ünï"`, `"\u0000"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var want string
		if err := json.Unmarshal(data, &want); err != nil {
			return
		}
		r := jsonValue{b: data}
		got := r.str()
		if r.err != nil || got != want {
			t.Fatalf("%q: got %q (%v), want %q", data, got, r.err, want)
		}
	})
}

// FuzzJSONMessage: any valid JSON reads as a message or fails cleanly, and
// a message's text reads as encoding/json reads it.
func FuzzJSONMessage(f *testing.F) {
	f.Add([]byte(`{"id": 1, "text": ["a", {"type": "bold", "text": "b\u00e9"}], "from_id": 12, "reactions": [{"emoji": "👍", "recent": [{"from": null}]}]}`))
	f.Add([]byte(`{"id": "7", "poll": {"question": "q", "answers": [{"text": "x"}]}, "location_information": {"latitude": 1.5e1, "longitude": -2}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return
		}
		var m tgMessage
		r := jsonValue{b: data}
		r.message(&m)
		// Keys match exactly (encoding/json's struct fields would also
		// take "TEXT"; Telegram writes lower case).
		var ref map[string]any
		if r.err != nil || json.Unmarshal(data, &ref) != nil {
			return
		}
		want := ""
		switch v := ref["text"].(type) {
		case string:
			want = v
		case []any:
			for _, p := range v {
				switch p := p.(type) {
				case string:
					want += p
				case map[string]any:
					if s, ok := p["text"].(string); ok {
						want += s
					}
				}
			}
		}
		if string(m.Text) != want {
			t.Fatalf("%q: text %q, want %q", data, m.Text, want)
		}
	})
}
