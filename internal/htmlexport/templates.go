package htmlexport

import "html/template"

// The pages' markup. The classes and data- attributes are the export's
// structure (tests read the messages back by them): a message is an
// article.msg with data-id, its .sender, its time[datetime], its .body (or
// .deleted), its .reply, and each attachment a .file with data-size and
// data-mime around an a.name.

const csp = "default-src 'none'; img-src 'self' file:; media-src 'self' file:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

const style = `
body{font:15px/1.4 system-ui,sans-serif;margin:0 auto;max-width:50em;padding:1em;color:#111;background:#fafafa}
a{color:#0a58ca}nav{margin:.5em 0 1em}h1{font-size:1.4em;margin:.2em 0}
.meta,.kind,.count,time,.size,.edited{color:#666;font-size:.85em}
ul.convs{list-style:none;padding:0}ul.convs li{padding:.4em 0;border-bottom:1px solid #e4e4e4}
article.msg{background:#fff;border:1px solid #e4e4e4;border-radius:8px;padding:.5em .8em;margin:.5em 0}
.sender{font-weight:600}.body{white-space:pre-wrap;overflow-wrap:anywhere;margin:.3em 0}
.deleted{font-style:italic;color:#777;margin:.3em 0}
.reply{border-left:3px solid #bbb;margin:.3em 0;padding:.1em .6em;color:#444;white-space:pre-wrap}
.file{margin:.3em 0}.file img,.file video{max-width:100%;max-height:24em;display:block}
.reactions span{margin-right:.3em}
.event{text-align:center;color:#666;font-size:.9em;margin:.6em 0}
.omitted{margin:.3em 0;color:#777;font-style:italic}
`

var pages = template.Must(template.New("").Parse(`
{{define "head"}}<!DOCTYPE html>
<html lang="und">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{{.CSP}}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>{{.Style}}</style>
</head>
<body>
{{end}}

{{define "index"}}{{template "head" .}}<h1>{{.Title}}</h1>
<p class="meta">{{.Summary}}</p>
<ul class="convs">
{{range .Conversations}}<li class="conv" data-id="{{.ID}}"><a href="{{.Href}}">{{.Title}}</a>
<span class="kind">{{.Kind}}</span> <span class="count">{{.Count}}</span>{{if .Last}} <time datetime="{{.LastISO}}">{{.Last}}</time>{{end}}{{if .LastHref}} <a class="latest" href="{{.LastHref}}">latest page</a>{{end}}</li>
{{end}}</ul>
</body>
</html>
{{end}}

{{define "page"}}{{template "head" .}}<nav><a href="../index.html">all conversations</a>{{if .Prev}} · <a rel="prev" href="{{.Prev}}">older</a>{{end}}{{if .Next}} · <a rel="next" href="{{.Next}}">newer</a>{{end}}</nav>
<h1>{{.Conversation}}</h1>
<p class="meta">{{.Kind}} · page {{.Number}}</p>
{{range .Messages}}{{if .System}}<article class="event" id="m-{{.ID}}" data-id="{{.ID}}"><time datetime="{{.SentISO}}">{{.Sent}}</time> <span class="body">{{.Body}}</span></article>
{{else}}<article class="msg" id="m-{{.ID}}" data-id="{{.ID}}">
<div><span class="sender">{{.Sender}}</span> <time datetime="{{.SentISO}}">{{.Sent}}</time>{{if .Edited}} <span class="edited" title="{{.EditedISO}}">edited {{.Edited}}</span>{{end}}</div>
{{with .Reply}}<blockquote class="reply" data-id="{{.ID}}">{{if .Href}}<a href="{{.Href}}">↪</a>{{else}}↪{{end}} {{if .Missing}}a message not in this history{{else}}<span class="reply-sender">{{.Sender}}</span>: {{if .Deleted}}<i>deleted</i>{{else}}{{.Text}}{{end}}{{end}}</blockquote>
{{end}}{{if .Deleted}}<p class="deleted" title="{{.DeletedISO}}">This message was deleted.</p>
{{else if .Body}}<p class="body">{{.Body}}</p>
{{end}}{{range .Files}}<div class="file" data-size="{{.Size}}" data-mime="{{.MIME}}">{{if .Href}}{{if eq .Show "image"}}<a href="{{.Href}}"><img src="{{.Href}}" alt="{{.Name}}" loading="lazy"></a>{{else if eq .Show "audio"}}<audio controls preload="none" src="{{.Href}}"></audio>{{else if eq .Show "video"}}<video controls preload="none" src="{{.Href}}"></video>{{end}}
<a class="name" href="{{.Href}}" download="{{.Name}}">{{.Name}}</a>{{else}}<span class="name">{{.Name}}</span> <span class="missing">(the file is not in this history)</span>{{end}} <span class="size">{{.Human}}</span></div>
{{end}}{{if .Omitted}}<div class="omitted" data-count="{{.Omitted}}">{{if eq .Omitted 1}}An attachment{{else}}{{.Omitted}} attachments{{end}} the export did not include.</div>
{{end}}{{if .Reactions}}<div class="reactions">{{range .Reactions}}<span title="{{.Who}}">{{.Emoji}}</span>{{end}}</div>
{{end}}</article>
{{end}}{{end}}<nav><a href="../index.html">all conversations</a>{{if .Prev}} · <a rel="prev" href="{{.Prev}}">older</a>{{end}}{{if .Next}} · <a rel="next" href="{{.Next}}">newer</a>{{end}}</nav>
</body>
</html>
{{end}}
`))

// head is what every page's head needs.
type head struct {
	Title string
	CSP   string
	Style template.CSS
}

type indexPage struct {
	head
	Summary       string
	Conversations []indexEntry
}

type indexEntry struct {
	ID, Title, Kind, Count string
	Href, LastHref         template.URL
	Last, LastISO          string
}

type convPage struct {
	head
	Conversation string
	Kind         string
	Number       int
	Prev, Next   template.URL
	Messages     []pageMessage
}

type pageMessage struct {
	ID                string
	Sender            string
	Sent, SentISO     string
	Edited, EditedISO string
	Deleted           bool
	DeletedISO        string
	Body              string
	Reply             *pageReply
	Files             []pageFile
	Reactions         []pageReaction
	System            bool // an event (body only, no sender)
	Omitted           int  // attachments the export did not include
}

type pageReply struct {
	ID, Sender, Text string
	Href             template.URL
	Missing, Deleted bool
}

type pageFile struct {
	Name, MIME, Human string
	Size              int64
	Href              template.URL // empty when the file is missing
	Show              string       // "image", "audio", "video" or ""
}

type pageReaction struct{ Emoji, Who string }
