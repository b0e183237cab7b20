package importers

import (
	"path"
	"strings"
)

// mimeTypes maps file extensions to MIME types. It is fixed here, not read
// from the system (mime.TypeByExtension consults /etc/mime.types), because
// the type is part of the history's digest: two devices importing the same
// export must write the same one.
var mimeTypes = map[string]string{
	"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif",
	"webp": "image/webp", "heic": "image/heic", "heif": "image/heif", "bmp": "image/bmp",
	"tgs": "application/x-tgsticker",
	"mp4": "video/mp4", "3gp": "video/3gpp", "mov": "video/quicktime", "webm": "video/webm",
	"mkv": "video/x-matroska", "avi": "video/x-msvideo",
	"opus": "audio/ogg", "ogg": "audio/ogg", "oga": "audio/ogg", "m4a": "audio/mp4",
	"mp3": "audio/mpeg", "aac": "audio/aac", "amr": "audio/amr", "wav": "audio/wav", "flac": "audio/flac",
	"pdf": "application/pdf", "txt": "text/plain", "vcf": "text/vcard", "csv": "text/csv",
	"doc": "application/msword", "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	"xls": "application/vnd.ms-excel", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	"ppt": "application/vnd.ms-powerpoint", "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
	"zip": "application/zip", "apk": "application/vnd.android.package-archive",
}

// mimeOf is the MIME type of a file name by its extension.
func mimeOf(name string) string {
	ext := strings.ToLower(strings.TrimPrefix(path.Ext(name), "."))
	if t, ok := mimeTypes[ext]; ok {
		return t
	}
	return "application/octet-stream"
}
