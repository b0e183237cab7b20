package importers

import (
	"path"
	"strings"
)

// cleanName checks a file name taken from an export (an attachment named in
// a chat, a path in result.json, an entry of a zip) and returns it in clean
// slash form. It refuses, whatever the platform, anything that could reach
// outside the export: an empty name, a NUL or other control character, a
// backslash (a separator on Windows), an absolute path or a drive letter,
// and any "." or ".." element. dirs allows slashes (Telegram's
// "photos/photo_1.jpg"); WhatsApp names are bare file names.
func cleanName(name string, dirs bool) (string, bool) {
	if name == "" || len(name) > 4096 {
		return "", false
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || r == '\\' || r == 0xfffd {
			return "", false
		}
	}
	if name[0] == '/' || (len(name) >= 2 && name[1] == ':') {
		return "", false
	}
	if !dirs && strings.Contains(name, "/") {
		return "", false
	}
	for _, el := range strings.Split(name, "/") {
		if el == "" || el == "." || el == ".." {
			return "", false
		}
	}
	return path.Clean(name), true
}
