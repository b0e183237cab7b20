// One message as the page shows it. Everything in a message came from other
// people (bodies, names, file names, MIME types): it is put in as text, and
// media are fetched by their attachment's ID only.

import { h } from './dom.js';
import { bytes, full, when } from './format.js';

export function senderName(name, id) {
  return name || `Unknown (${(id || '').slice(0, 8)})`;
}

// segments puts a search hit's body in: text, with the words found in <mark>.
function segments(parts) {
  return parts.map((s) => (s.match ? h('mark', null, s.text) : s.text));
}

function mediaURL(f, download) {
  return `/api/media/${encodeURIComponent(f.id)}` + (download ? '?download=1' : '');
}

function caption(f) {
  return h('figcaption', null,
    h('span', { class: 'file-name' }, f.name || 'unnamed file'), ' · ',
    h('span', { class: 'file-size' }, bytes(f.size)), ' · ',
    h('a', { href: mediaURL(f, true), download: f.name || 'attachment' }, 'Download'));
}

function attachment(f) {
  switch (f.kind) {
    case 'image': {
      if (!f.thumb) break;
      const box = h('a', { class: 'thumb-link', href: mediaURL(f, false), target: '_blank', rel: 'noopener' });
      const img = h('img', { class: 'thumb', src: `/api/thumbs/${encodeURIComponent(f.id)}`, alt: f.name ? `Photo: ${f.name}` : 'Photo', loading: 'lazy', decoding: 'async' });
      // A file the server cannot preview keeps the box, so that nothing
      // on the page moves.
      img.addEventListener('error', () => img.replaceWith(h('span', { class: 'thumb nopreview' }, 'No preview')), { once: true });
      box.append(img);
      return h('figure', { class: 'file image' }, box, caption(f));
    }
    case 'audio':
      return h('figure', { class: 'file audio' }, h('audio', { controls: true, preload: 'none', src: mediaURL(f, false) }), caption(f));
    case 'video':
      return h('figure', { class: 'file video' }, h('video', { controls: true, preload: 'none', src: mediaURL(f, false) }), caption(f));
  }
  return h('figure', { class: 'file doc' }, h('span', { class: 'file-icon', 'aria-hidden': 'true' }, '📎'), caption(f));
}

function reply(m, r, onJump) {
  let text;
  if (r.missing) text = 'a message that is not in this history';
  else if (r.deleted) text = 'a deleted message';
  else text = r.body;
  const parts = [h('span', { class: 'reply-sender' }, r.missing ? 'Reply to' : senderName(r.sender, '')), ' ', h('span', { class: 'reply-body' }, text)];
  if (r.missing || !onJump) return h('blockquote', { class: 'reply' }, parts);
  return h('button', { type: 'button', class: 'reply', title: 'Show the message this answers', onclick: () => onJump(m.conversation, r.id) }, parts);
}

// renderMessage makes the <li> of m. opts.onJump(conversation, id), when
// given, makes the quote of an answered message a button to go there;
// opts.context adds the conversation's title (search hits).
export function renderMessage(m, opts = {}) {
  if (m.system) {
    // An event ("Alice added Bob", the encryption notice): its text says
    // who did what; there is no sender to show.
    return h('li', { class: 'msg event', id: opts.context ? null : 'm-' + m.id, tabindex: '-1', dataset: { id: m.id, cursor: m.cursor } },
      opts.context ? [h('span', { class: 'conv-title' }, m.conversation_title || 'Untitled'), ' · '] : null,
      h('time', { datetime: m.sent, title: full(m.sent) }, when(m.sent)), ' ',
      h('span', { class: 'body' }, m.highlight && m.highlight.length ? segments(m.highlight) : m.body));
  }
  const deleted = !!m.deleted;
  const meta = h('p', { class: 'meta' },
    opts.context ? [h('span', { class: 'conv-title' }, m.conversation_title || 'Untitled'), ' · '] : null,
    h('span', { class: 'sender' }, senderName(m.sender, m.sender_id)), ' ',
    h('time', { datetime: m.sent, title: full(m.sent) }, when(m.sent)),
    m.edited && !deleted ? h('span', { class: 'mark edited', title: 'Edited ' + full(m.edited) }, 'edited') : null,
    deleted ? h('span', { class: 'mark deleted', title: 'Deleted ' + full(m.deleted) }, 'deleted') : null);
  let body = null;
  if (deleted) body = h('p', { class: 'body gone' }, 'This message was deleted.');
  else if (m.highlight && m.highlight.length) body = h('p', { class: 'body' }, segments(m.highlight));
  else if (m.body) body = h('p', { class: 'body' }, m.body, m.truncated ? h('span', { class: 'mark' }, ' … (too long to show whole)') : null);
  return h('li', { class: 'msg' + (deleted ? ' is-deleted' : ''), id: opts.context ? null : 'm-' + m.id, tabindex: '-1', dataset: { id: m.id, cursor: m.cursor } },
    meta,
    m.reply_to ? reply(m, m.reply_to, opts.onJump) : null,
    body,
    m.attachments && m.attachments.length ? h('div', { class: 'files' }, m.attachments.map(attachment)) : null,
    m.omitted ? h('p', { class: 'omitted' }, m.omitted === 1 ? 'An attachment the export did not include.' : `${m.omitted} attachments the export did not include.`) : null,
    m.reactions && m.reactions.length
      ? h('ul', { class: 'reactions', 'aria-label': 'Reactions' }, m.reactions.map((r) => h('li', { title: senderName(r.sender, '') }, r.emoji)))
      : null);
}
