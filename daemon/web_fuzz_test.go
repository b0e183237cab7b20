package daemon

import (
	"bytes"
	"image/jpeg"
	"mime"
	"strings"
	"testing"
	"unicode"

	"github.com/ferryhq/ferry/chatstore"
)

// FuzzMakeThumb feeds mutated images to the thumbnailer: it never panics,
// refuses what would decode to more than its bound (1 MiB here, so that
// no input costs more), and what it makes is a JPEG of at most thumbSize.
func FuzzMakeThumb(f *testing.F) {
	f.Add(testJPEG(f, 40, 30))
	f.Add(testPNG(f, 30, 40))
	f.Add(testGIF(f, 20, 20))
	f.Add(pngBomb(f, 12000, 12000))
	f.Add([]byte("GIF89a\x01\x00\x01\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1<<16 {
			return
		}
		out, err := makeThumb(bytes.NewReader(b), 1<<20)
		if err != nil {
			return
		}
		img, err := jpeg.Decode(bytes.NewReader(out))
		if err != nil {
			t.Fatalf("the thumbnail is not a JPEG: %v", err)
		}
		if s := img.Bounds().Size(); s.X > thumbSize || s.Y > thumbSize || s.X < 1 || s.Y < 1 {
			t.Fatalf("a thumbnail of %v", s)
		}
	})
}

// FuzzContentDisposition: whatever name a sender gave a file, the header
// parses back, as the disposition asked for, with a name that holds no
// path separator and no control character.
func FuzzContentDisposition(f *testing.F) {
	for _, s := range []string{"photo.jpg", uiHostileText, "../../etc/passwd", "a\r\nSet-Cookie: x=1", "\"quoted\".txt", "名前.png", "", "...", "\u202egnp.exe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		for _, disp := range []string{"inline", "attachment"} {
			h := contentDisposition(disp, name)
			if strings.ContainsAny(h, "\r\n") {
				t.Fatalf("header %q holds a line break", h)
			}
			got, params, err := mime.ParseMediaType(h)
			if err != nil || got != disp {
				t.Fatalf("contentDisposition(%q) = %q: %v", name, h, err)
			}
			fn := params["filename"]
			if fn == "" || strings.ContainsAny(fn, `/\`) || strings.ContainsFunc(fn, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }) {
				t.Fatalf("contentDisposition(%q) names the file %q", name, fn)
			}
		}
	})
}

// FuzzParseCursor: a cursor from a page parses back to itself; anything
// else is a 400, never a panic.
func FuzzParseCursor(f *testing.F) {
	f.Add(formatCursor(chatstore.Cursor{ID: fixHostile}))
	f.Add("1700000000000.00000000000000000000000000000001")
	f.Add("-1.x")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseCursor(s)
		if err != nil {
			return
		}
		if again, err := parseCursor(formatCursor(c)); err != nil || again != c {
			t.Fatalf("cursor %q reads as %+v, which prints as %q", s, c, formatCursor(c))
		}
	})
}
