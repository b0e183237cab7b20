package importers

import "testing"

func TestCleanName(t *testing.T) {
	tests := []struct {
		name string
		dirs bool
		want string // "" refused
	}{
		{"IMG-20250318-WA0001.jpg", false, "IMG-20250318-WA0001.jpg"},
		{"photos/photo_1@12-03-2023_10-05-00.jpg", true, "photos/photo_1@12-03-2023_10-05-00.jpg"},
		{"photos/photo_1.jpg", false, ""},
		{"../evil.jpg", false, ""},
		{"../evil.jpg", true, ""},
		{"photos/../../evil.jpg", true, ""},
		{"photos/./a.jpg", true, ""},
		{"a/../b.jpg", true, ""},
		{"..", true, ""},
		{".", true, ""},
		{"/etc/passwd", true, ""},
		{"/etc/passwd", false, ""},
		{"//server/share/a.jpg", true, ""},
		{"C:\\Windows\\a.jpg", true, ""},
		{"C:/Windows/a.jpg", true, ""},
		{"c:a.jpg", false, ""},
		{"photos\\..\\..\\a.jpg", true, ""},
		{"..\\a.jpg", false, ""},
		{"a\x00.jpg", false, ""},
		{"a\n.jpg", false, ""},
		{"a\x7f.jpg", false, ""},
		{"\xff\xfe.jpg", false, ""},
		{"photos//a.jpg", true, ""},
		{"photos/", true, ""},
		{"", false, ""},
		{"IMG 2025 (1).jpg", false, "IMG 2025 (1).jpg"},
		{"..hidden.jpg", false, "..hidden.jpg"},
		{"фото.jpg", false, "фото.jpg"},
	}
	for _, tt := range tests {
		got, ok := cleanName(tt.name, tt.dirs)
		if ok != (tt.want != "") || got != tt.want {
			t.Errorf("cleanName(%q, %v) = %q, %v; want %q", tt.name, tt.dirs, got, ok, tt.want)
		}
	}
}
