package importers

import (
	"path"
	"strings"
)

// The words WhatsApp writes into a chat export in the exporting phone's
// language: markers of attachments, of media left out, of deleted and
// edited messages. Each list holds the forms seen in the wild (lower case);
// the generic rules next to them catch other languages of the same shape.

// fileAttached are Android's suffixes after an attachment's file name:
// "IMG-20250318-WA0001.jpg (file attached)".
var fileAttached = []string{
	"(file attached)", "(datei angehängt)", "(archivo adjunto)", "(fichier joint)",
	"(arquivo anexado)", "(ficheiro anexado)", "(file allegato)", "(bestand bijgevoegd)",
	"(dosya ekli)", "(plik załączony)", "(fil bifogad)", "(файл прикреплен)",
}

// attachedLabels are iOS's labels in "<attached: 00000004-PHOTO-….jpg>".
var attachedLabels = []string{
	"attached", "anhang", "adjunto", "pièce jointe", "anexado", "anexo", "allegato",
	"bijlage", "ek", "załącznik", "bifogad", "вложение",
}

// mediaOmittedStems mark Android's "<Media omitted>" line in a chat
// exported without media ("<Medien ausgeschlossen>", "<Multimedia
// omitido>", "<Médias omis>", "<Mídia oculta>", "<Media omessi>").
var mediaOmittedStems = []string{"omit", "ausgeschlossen", "weggelassen", "omis", "ocult", "omess", "weggelaten", "absent", "pominięt"}

// omittedWords end iOS's "‎image omitted", "‎Bild weggelassen", "‎imagen
// omitida", "‎image absente", "‎imagem ocultada", "‎immagine omessa".
var omittedWords = []string{
	"omitted", "weggelassen", "omitida", "omitido", "absente", "absent", "omis", "omise",
	"ocultada", "ocultado", "oculta", "oculto", "omessa", "omesso", "weggelaten", "pominięto",
}

// deletedTexts replace the body of a deleted message.
var deletedTexts = []string{
	"this message was deleted", "you deleted this message",
	"diese nachricht wurde gelöscht", "du hast diese nachricht gelöscht",
	"se eliminó este mensaje", "eliminaste este mensaje", "este mensaje fue eliminado",
	"ce message a été supprimé", "vous avez supprimé ce message",
	"esta mensagem foi apagada", "você apagou esta mensagem", "apagaste esta mensagem", "esta mensagem foi eliminada",
	"questo messaggio è stato eliminato", "hai eliminato questo messaggio",
	"dit bericht is verwijderd", "je hebt dit bericht verwijderd",
}

// editedStems mark the " <This message was edited>" suffix ("<Diese
// Nachricht wurde bearbeitet>", "<Se editó este mensaje.>", "<Ce message a
// été modifié>", "<Mensagem editada>").
var editedStems = []string{"edit", "bearbeitet", "modifi", "bewerkt", "editad", "редакт"}

// cutEdited removes an edited marker at the end of body.
func cutEdited(body string) (string, bool) {
	t := strings.TrimRightFunc(body, func(r rune) bool { return r == ' ' || isBidi(r) })
	if !strings.HasSuffix(t, ">") {
		return body, false
	}
	i := strings.LastIndexByte(t, '<')
	if i < 0 || len(t)-i > 60 {
		return body, false
	}
	marker := strings.ToLower(t[i:])
	if !containsAny(marker, editedStems) || strings.ContainsAny(marker[1:len(marker)-1], "<>") {
		return body, false
	}
	return strings.TrimRightFunc(t[:i], func(r rune) bool { return r == ' ' || isBidi(r) }), true
}

// isDeleted reports whether body is the text of a deleted message.
func isDeleted(body string) bool {
	if len(body) > 64 {
		return false // longer than any of deletedTexts
	}
	t := strings.TrimRight(trimBidi(body), ".")
	for _, d := range deletedTexts {
		if strings.EqualFold(t, d) {
			return true
		}
	}
	return false
}

// isMediaOmitted reports whether body (one line) says that an attachment
// was left out of the export.
func isMediaOmitted(body string) bool {
	t := trimBidi(body)
	if len(t) < 2 || len(t) > 80 {
		return false
	}
	if t[0] == '<' && t[len(t)-1] == '>' {
		if strings.Contains(t, ":") {
			return false
		}
		low := strings.ToLower(t)
		return containsAny(low, mediaOmittedStems)
	}
	// iOS: "‎image omitted", or "report.pdf • 3 pages ‎document omitted".
	sp := strings.LastIndexByte(t, ' ')
	if sp < 0 {
		return false
	}
	last := t[sp+1:]
	for _, w := range omittedWords {
		if strings.EqualFold(last, w) {
			return strings.Count(t, " ") <= 2 || strings.ContainsFunc(body, isBidi)
		}
	}
	return false
}

// attachment is an attachment marker found at the start of a body.
type attachment struct {
	name    string // the file name as written
	known   bool   // the marker is one WhatsApp writes (not a look-alike)
	caption string // what follows the marker
}

// cutAttachment reads an attachment marker on the first line of body:
// iOS's "‎<attached: NAME>" or Android's "NAME (file attached)". has
// reports whether the export holds a file of that name, which makes a
// marker in a language not listed above count.
func cutAttachment(body string, has func(string) bool) (attachment, bool) {
	first, rest, _ := strings.Cut(body, "\n")
	t := trimBidi(first)
	// iOS: <label: NAME>
	if strings.HasPrefix(t, "<") && strings.HasSuffix(t, ">") {
		label, name, ok := strings.Cut(t[1:len(t)-1], ":")
		name = trimBidi(name)
		label = strings.ToLower(strings.TrimSpace(label))
		if ok && len(label) <= 30 && !strings.ContainsAny(label, "<>") && name != "" {
			known := false
			for _, l := range attachedLabels {
				if label == l {
					known = true
				}
			}
			if known || (path.Ext(name) != "" && has(name)) {
				return attachment{name: name, known: known, caption: rest}, true
			}
		}
	}
	// Android: NAME (label)
	if strings.HasSuffix(t, ")") {
		if i := strings.LastIndex(t, " ("); i > 0 {
			name, label := trimBidi(t[:i]), strings.ToLower(t[i+1:])
			known := false
			for _, l := range fileAttached {
				if label == l {
					known = true
				}
			}
			if known || (len(label) <= 40 && path.Ext(name) != "" && has(name)) {
				return attachment{name: name, known: known, caption: rest}, true
			}
		}
	}
	return attachment{}, false
}

func containsAny(s string, subs []string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}

// isIOSCounter reports whether name starts with the 8-digit counter iOS puts
// before each exported file ("00000004-PHOTO-2018-11-29-10-52-13.jpg"); the
// counter depends on the export, so it is not part of the stored name.
func isIOSCounter(name string) bool {
	if len(name) < 10 || name[8] != '-' {
		return false
	}
	for i := range 8 {
		if name[i] < '0' || name[i] > '9' {
			return false
		}
	}
	return true
}

// chatTitlePrefixes start the name of an exported chat file before the
// chat's title: "WhatsApp Chat with Bob.txt", "WhatsApp Chat - Family.zip".
var chatTitlePrefixes = []string{
	"WhatsApp Chat with ", "WhatsApp Chat - ", "WhatsApp-Chat mit ", "WhatsApp Chat mit ",
	"Chat de WhatsApp con ", "Chat de WhatsApp com ", "Conversa do WhatsApp com ",
	"Conversa de WhatsApp com ", "Discussion WhatsApp avec ", "Chat WhatsApp con ",
	"Chat WhatsApp avec ", "WhatsApp-chat met ", "WhatsApp Chat met ", "WhatsApp-chatt med ",
}

// chatTitle is a chat's title from the name of its file, zip or folder;
// "" if the name says nothing ("_chat.txt").
func chatTitle(name string) string {
	s := baseNoExt(name)
	// A browser's " (1)" after a second download of the same file.
	if i := strings.LastIndex(s, " ("); i > 0 && strings.HasSuffix(s, ")") {
		n := s[i+2 : len(s)-1]
		if n != "" && strings.Trim(n, "0123456789") == "" {
			s = s[:i]
		}
	}
	for _, p := range chatTitlePrefixes {
		if len(s) > len(p) && strings.EqualFold(s[:len(p)], p) {
			return strings.TrimSpace(s[len(p):])
		}
	}
	if s == "_chat" || s == "" {
		return ""
	}
	return strings.TrimSpace(s)
}
