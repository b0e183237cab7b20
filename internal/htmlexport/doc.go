// Package htmlexport writes a static, self-contained HTML copy of a chat
// history that a person can open in any browser, without Ferry.
//
// # Layout
//
//	DIR/index.html          the conversations, most recently active first
//	DIR/c/<id>.html         a conversation's first page of messages, oldest
//	DIR/c/<id>-<k>.html     first; page k of a long one (PageSize a page)
//	DIR/media/<hash>.<ext>  each media file once, named by its BLAKE3 hash
//
// Pages link to each other and to the media by relative URLs, so DIR can be
// moved, zipped or copied to another machine as a whole (with LinkMedia the
// media stay in the home and are linked there instead). Nothing is fetched
// from the network.
//
// # Hostile content
//
// Every text of the history (titles, names, bodies, file names, MIME types)
// came from other people and is written through html/template, so it stays
// text: a body of <img src=x onerror=alert(1)> shows as those characters.
// No file name from the history becomes a path: a media file is named by its
// hash, and its extension comes from a short list of MIME types a browser
// shows safely (images, audio, video, PDF, plain text); anything else,
// HTML and SVG included, is written as .bin and offered as a download. Each
// page carries a Content-Security-Policy that allows no script at all and
// loads nothing from elsewhere, in case escaping were ever wrong.
//
// # Writing
//
// The copy is written into a new directory beside DIR and renamed to DIR
// when complete: a failed or interrupted export leaves no half-written DIR.
// It reads the history through chatstore's queries, one page at a time, so
// its memory does not grow with the history.
package htmlexport
