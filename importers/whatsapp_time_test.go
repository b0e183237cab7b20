package importers

import (
	"testing"
	"time"
)

func TestParseHeader(t *testing.T) {
	const nb, nbsp, lrm = "\u202f", "\u00a0", "\u200e"
	tests := []struct {
		line  string
		order dateOrder
		want  string // UTC time, "" not a header, "invalid" a header with no such time
		rest  string
	}{
		{"3/18/25, 5:49" + nb + "PM - Bob: hi", orderMDY, "2025-03-18 17:49:00", "Bob: hi"},
		{"3/18/25, 17:49 - Bob: hi", orderMDY, "2025-03-18 17:49:00", "Bob: hi"},
		{"18/03/2025, 17:49 - Bob: hi", orderDMY, "2025-03-18 17:49:00", "Bob: hi"},
		{"18.03.25, 17:49 - Bob: hi", orderDMY, "2025-03-18 17:49:00", "Bob: hi"},
		{"2025-03-18, 17:49 - Bob: hi", orderYMD, "2025-03-18 17:49:00", "Bob: hi"},
		{"18/3/25, 5:49" + nbsp + "p." + nbsp + "m. - Bob: hi", orderDMY, "2025-03-18 17:49:00", "Bob: hi"},
		{"18/3/25, 12:05 a. m. - Bob: hi", orderDMY, "2025-03-18 00:05:00", "Bob: hi"},
		{"18/3/25, 12:05 p.m. - Bob: hi", orderDMY, "2025-03-18 12:05:00", "Bob: hi"},
		{"18.03.25, 5:49 nachm. - Bob: hi", orderDMY, "2025-03-18 17:49:00", "Bob: hi"},
		{"18/03/2025 à 17:49 - Bob: hi", orderDMY, "2025-03-18 17:49:00", "Bob: hi"},
		{"18.3.2025 klo 17.49 - Bob: hi", orderDMY, "2025-03-18 17:49:00", "Bob: hi"},
		{"2025. 03. 18. 17:49 - Bob: hi", orderYMD, "2025-03-18 17:49:00", "Bob: hi"},
		{"[29/11/2018, 10:50:41] Dan: hi", orderDMY, "2018-11-29 10:50:41", "Dan: hi"},
		{lrm + "[29/11/2018, 10:50:41] Dan: " + lrm + "<attached: x.jpg>", orderDMY, "2018-11-29 10:50:41", "Dan: " + lrm + "<attached: x.jpg>"},
		{"[3/18/25, 5:49:02" + nb + "PM] Bob: hi", orderMDY, "2025-03-18 17:49:02", "Bob: hi"},
		{"[18/03/2025 17:49:02] Bob: hi", orderDMY, "2025-03-18 17:49:02", "Bob: hi"},
		{"\ufeff3/18/25, 17:49 - Bob: hi", orderMDY, "2025-03-18 17:49:00", "Bob: hi"},
		{"3/18/25, 17:49 -", orderMDY, "2025-03-18 17:49:00", ""},
		// Continuation lines that start like a date.
		{"18.03.25 war ein Dienstag", orderDMY, "", ""},
		{"3/15/25, 10:00 we take the train", orderMDY, "", ""},
		{"[1/12/2018] is the day", orderDMY, "", ""},
		{"18/03/2025, 17:49 Bob: no dash", orderDMY, "", ""},
		{"18/03/2025, 17:49 - ", orderDMY, "2025-03-18 17:49:00", ""},
		{"18/03-2025, 17:49 - Bob: mixed separators", orderDMY, "", ""},
		{"123/03/2025, 17:49 - Bob: three digits", orderDMY, "", ""},
		{"18/03/20255, 17:49 - Bob: five digits", orderDMY, "", ""},
		{"18/03/2025, 17:4 - Bob: one digit minute", orderDMY, "", ""},
		{"2025年3月18日 17:49 - Bob: hi", orderYMD, "", ""},
		// Headers with no such time.
		{"31/02/2025, 17:49 - Bob: hi", orderDMY, "invalid", "Bob: hi"},
		{"18/03/2025, 24:00 - Bob: hi", orderDMY, "invalid", "Bob: hi"},
		{"18/03/2025, 13:00 PM - Bob: hi", orderDMY, "invalid", "Bob: hi"},
		{"18/03/2025, 0:30 AM - Bob: hi", orderDMY, "invalid", "Bob: hi"},
		{"18/03/2025, 17:49 - Bob: hi", orderMDY, "invalid", "Bob: hi"},
		{"18/03/2025, 17:49 - Bob: hi", orderYMD, "invalid", "Bob: hi"},
	}
	for _, tt := range tests {
		h, ok := parseHeader(tt.line)
		if ok != (tt.want != "") {
			t.Errorf("parseHeader(%q): header %v, want %v", tt.line, ok, tt.want != "")
			continue
		}
		if !ok {
			continue
		}
		if h.rest != tt.rest {
			t.Errorf("parseHeader(%q): rest %q, want %q", tt.line, h.rest, tt.rest)
		}
		ms, valid := h.at(tt.order, time.UTC)
		got := "invalid"
		if valid {
			got = time.UnixMilli(ms).UTC().Format("2006-01-02 15:04:05")
		}
		if got != tt.want {
			t.Errorf("%q read as %v: %s, want %s", tt.line, tt.order, got, tt.want)
		}
	}
}

func TestDateOrder(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  dateOrder
	}{
		{"a day past 12 first", []string{"1/2/25, 10:00 - a", "13/2/25, 10:00 - a"}, orderDMY},
		{"a day past 12 second", []string{"1/2/25, 10:00 - a", "2/13/25, 10:00 - a"}, orderMDY},
		{"year first", []string{"2025-01-02, 10:00 - a"}, orderYMD},
		// Days never pass 12: the order under which time runs forward.
		{"runs forward day first", []string{"1/2/25, 10:00 - a", "1/3/25, 10:00 - a", "2/3/25, 10:00 - a"}, orderDMY},
		{"runs forward month first", []string{"1/2/25, 10:00 - a", "2/1/25, 10:00 - a"}, orderMDY},
		// Still a tie: the habits that go with the clock and separator.
		{"tie, 24-hour", []string{"1/2/25, 10:00 - a"}, orderDMY},
		{"tie, 12-hour", []string{"1/2/25, 10:00 AM - a"}, orderMDY},
		{"tie, 12-hour with dots", []string{"1.2.25, 10:00 vorm. - a"}, orderDMY},
		// One impossible line does not outvote the rest.
		{"one impossible", []string{"13/1/25, 10:00 - a", "14/1/25, 10:00 - a", "1/13/25, 10:00 - a"}, orderDMY},
	}
	for _, tt := range tests {
		var v orderVote
		for _, l := range tt.lines {
			h, ok := parseHeader(l)
			if !ok {
				t.Fatalf("%s: %q is no header", tt.name, l)
			}
			v.add(&h)
		}
		if got := v.decide(); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestIDTimesBounded(t *testing.T) {
	var ts idTimes
	// Ids spread out as a hostile file would spread them.
	for i := int64(0); i < 1000; i++ {
		ts.set(i*i*1000, 1)
	}
	if n := len(ts.secs) + len(ts.sparse); n > 20000 {
		t.Fatalf("%d slots for 1000 ids", n)
	}
	for i := int64(0); i < 1000; i++ {
		if _, ok := ts.get(i * i * 1000); !ok {
			t.Fatalf("id %d lost", i*i*1000)
		}
	}
	if _, ok := ts.get(7); ok {
		t.Fatal("found an id never set")
	}
}
