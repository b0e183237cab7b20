package importers

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Format names an export format.
type Format string

// The formats Import reads.
const (
	FormatAuto     Format = "auto" // decided from the input (also the zero value)
	FormatWhatsApp Format = "whatsapp"
	FormatTelegram Format = "telegram"
)

// ParseFormat reads a format name.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(s)); f {
	case "", FormatAuto:
		return FormatAuto, nil
	case FormatWhatsApp, FormatTelegram:
		return f, nil
	}
	return "", fmt.Errorf("unknown export format %q: the formats are auto, whatsapp and telegram", s)
}

// input is an opened export: its container and the chat file in it.
type input struct {
	format Format
	c      container
	file   string // the chat file (WhatsApp .txt, Telegram result.json), a path in c
	title  string // WhatsApp: the chat's title from the names around it
}

func (in *input) openFile() (io.ReadCloser, error) { return in.c.open(in.file) }

// dir is the directory of the chat file in the container: attachments and
// media paths start there.
func (in *input) dir() string {
	d := path.Dir(in.file)
	if d == "." {
		return ""
	}
	return d
}

// openInput finds the export at p: a folder, a zip, or a chat file.
func openInput(p string, f Format) (*input, error) {
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, badInput(ErrNotExport, err, "%s does not exist: give the path of the exported chat (a .txt or .zip from WhatsApp, result.json or its folder from Telegram)", p)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", p, err)
	}
	var in *input
	switch {
	case !fi.IsDir() && !fi.Mode().IsRegular():
		return nil, badInput(ErrNotExport, nil, "%s is not a file or a folder", p)
	case fi.IsDir() || isZip(p):
		var c container
		if fi.IsDir() {
			c, err = openDir(p)
		} else {
			c, err = openZip(p)
		}
		if err != nil {
			return nil, err
		}
		if in, err = findChat(c, f, filepath.Base(p)); err != nil {
			c.close()
			return nil, err
		}
	default:
		c, err := openDir(filepath.Dir(p))
		if err != nil {
			return nil, err
		}
		name := filepath.Base(p)
		if ext := strings.ToLower(filepath.Ext(name)); ext == ".html" || ext == ".htm" {
			c.close()
			return nil, telegramHTML(name)
		}
		if f == FormatAuto {
			f = sniffFormat(p)
		}
		in = &input{format: f, c: c, file: name}
		if f == FormatWhatsApp {
			in.title = chatTitle(name)
			if in.title == "" {
				in.title = chatTitle(filepath.Base(filepath.Dir(p)))
			}
		}
	}
	return in, nil
}

// telegramHTML says that what names is Telegram's HTML export.
func telegramHTML(what string) error {
	return badInput(ErrNotExport, nil, "%s is a web page (Telegram Desktop's HTML export?): Ferry reads Telegram's JSON export; export again choosing \"Machine-readable JSON\" as the format", what)
}

// isZip reports whether the file at p starts like a zip.
func isZip(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [4]byte
	n, _ := io.ReadFull(f, b[:])
	return n == 4 && string(b[:]) == "PK\x03\x04" || strings.EqualFold(filepath.Ext(p), ".zip")
}

// sniffFormat guesses a single file's format: a .json or a file whose
// first byte is '{' is Telegram's; anything else is read as WhatsApp text
// (which explains itself if it is not one).
func sniffFormat(p string) Format {
	if strings.EqualFold(filepath.Ext(p), ".json") {
		return FormatTelegram
	}
	f, err := os.Open(p)
	if err != nil {
		return FormatWhatsApp
	}
	defer f.Close()
	b := make([]byte, 512)
	n, _ := io.ReadFull(f, b)
	b = bytes.TrimLeft(bytes.TrimPrefix(b[:n], []byte("\ufeff")), " \t\r\n")
	if len(b) > 0 && b[0] == '{' {
		return FormatTelegram
	}
	return FormatWhatsApp
}

// findChat finds the chat file in a folder or zip named name: Telegram's
// result.json (at the top or in one folder below), or a WhatsApp .txt.
func findChat(c container, f Format, name string) (*input, error) {
	if f == FormatAuto || f == FormatTelegram {
		for _, p := range candidates(c, func(n string) bool { return path.Base(n) == "result.json" }) {
			return &input{format: FormatTelegram, c: c, file: p}, nil
		}
		if html := candidates(c, func(n string) bool { return path.Base(n) == "messages.html" }); len(html) > 0 {
			return nil, telegramHTML(c.what())
		}
		if f == FormatTelegram {
			return nil, badInput(ErrNotExport, nil, "%s holds no result.json: it is not a Telegram Desktop export (choose the JSON format when exporting)", c.what())
		}
	}
	txts := candidates(c, func(n string) bool { return strings.EqualFold(path.Ext(n), ".txt") })
	var chats []string
	for _, t := range txts {
		if path.Base(t) == "_chat.txt" || chatTitle(t) != baseNoExt(t) {
			chats = append(chats, t)
		}
	}
	if len(chats) == 0 && len(txts) == 1 {
		chats = txts
	}
	for _, t := range chats {
		if path.Base(t) == "_chat.txt" {
			chats = []string{t}
			break
		}
	}
	switch {
	case len(chats) == 0:
		return nil, badInput(ErrNotExport, nil, "%s holds no chat export: a WhatsApp export is a .txt (or a .zip holding one), a Telegram export a folder with result.json", c.what())
	case len(chats) > 1:
		return nil, badInput(ErrNotExport, nil, "%s holds several chats (%s): import each .txt on its own", c.what(), strings.Join(chats, ", "))
	}
	file := chats[0]
	title := chatTitle(file)
	if title == "" {
		title = chatTitle(name)
	}
	return &input{format: FormatWhatsApp, c: c, file: file, title: title}, nil
}

// candidates lists the files of c, at its top or in a folder one level
// down (an export zipped with its folder), that match.
func candidates(c container, match func(string) bool) []string {
	var out []string
	for _, n := range c.list("") {
		if match(n) {
			out = append(out, n)
		}
	}
	if len(out) > 0 {
		return out
	}
	for _, d := range c.dirs() {
		for _, n := range c.list(d) {
			if match(n) {
				out = append(out, n)
			}
		}
	}
	return out
}
