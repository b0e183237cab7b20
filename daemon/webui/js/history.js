// The history: the conversations, and one conversation's messages with
// infinite scroll both ways. Messages come a page at a time by cursor (the
// server's keyset pages), and the page keeps at most KEEP of them: scrolling
// on drops those far behind, so a conversation of a million messages costs
// the browser no more than one of a thousand.

import { api, query } from './api.js';
import { h, replace } from './dom.js';
import { number, when } from './format.js';
import { renderMessage } from './message.js';
import { afterLayout, record } from './perf.js';

const PAGE = 50;
const KEEP = 400;
const MARGIN = 800; // px beyond the visible part at which the next page is fetched

let conversations = null; // the list, once loaded

export async function loadConversations(force) {
  if (!conversations || force) conversations = await api('/api/conversations');
  return conversations;
}

function convItem(c, current) {
  let last = '';
  if (c.last_message) {
    const lm = c.last_message;
    last = lm.deleted ? 'deleted message' : lm.body || (lm.files ? `${lm.files} attachment${lm.files > 1 ? 's' : ''}` : '');
    if (lm.sender) last = `${lm.sender}: ${last}`;
  }
  return h('li', null,
    h('a', { class: 'conv', href: '#/history/' + c.id, 'aria-current': c.id === current ? 'page' : null, dataset: { id: c.id } },
      h('span', { class: 'conv-title' }, c.title || 'Untitled'),
      h('span', { class: 'conv-when' }, when(c.last)),
      h('span', { class: 'conv-last' }, last),
      h('span', { class: 'conv-count' }, `${number(c.messages)} message${c.messages === 1 ? '' : 's'}`)));
}

// The view keeps its parts between routes, so that going from one
// conversation to another does not rebuild the list.
let view = null;

export async function showHistory(main, args, status) {
  const [convID, msgID] = args;
  if (!view || !main.contains(view.root)) view = buildView(main);
  view.root.classList.toggle('has-open', !!convID);
  if (!status.history) {
    replace(view.list, h('li', { class: 'empty' }, 'There is no history on this device yet. To bring one here, choose Receive.'));
    replace(view.pane, h('p', { class: 'empty' }, 'Nothing to show yet.'));
    return;
  }
  const convs = await loadConversations(false);
  if (!view.listed) {
    replace(view.list, convs.length ? convs.map((c) => convItem(c, convID)) : h('li', { class: 'empty' }, 'No conversations.'));
    view.listed = true;
  }
  for (const a of view.list.querySelectorAll('a.conv')) a.setAttribute('aria-current', a.dataset.id === convID ? 'page' : 'false');
  if (!convID) {
    if (view.thread) view.thread.close();
    view.thread = null;
    replace(view.pane, h('p', { class: 'empty' }, convs.length ? 'Choose a conversation.' : ''));
    return;
  }
  const conv = convs.find((c) => c.id === convID);
  if (!conv) {
    replace(view.pane, h('p', { class: 'empty' }, 'This conversation is not in the history.'));
    return;
  }
  if (view.thread && view.thread.conv.id === convID && !msgID) return;
  if (view.thread) view.thread.close();
  view.thread = new Thread(view.pane, conv);
  await (msgID ? view.thread.openAround(msgID) : view.thread.openNewest());
}

// historyChanged is called when a migration brought new history.
export function historyChanged() {
  conversations = null;
  if (view) view.listed = false;
}

function buildView(main) {
  const list = h('ul', { class: 'conv-list' });
  const pane = h('section', { class: 'thread', 'aria-label': 'Messages' });
  const root = h('div', { class: 'history' },
    h('section', { class: 'conversations', 'aria-labelledby': 'conv-heading' }, h('h2', { id: 'conv-heading', tabindex: '-1' }, 'Conversations'), list),
    pane);
  replace(main, root);
  return { root, list, pane, listed: false, thread: null };
}

class Thread {
  constructor(pane, conv) {
    this.conv = conv;
    this.abort = new AbortController();
    this.more = { before: false, after: false };
    this.busy = { before: false, after: false };
    this.top = h('p', { class: 'edge', 'aria-hidden': 'true' });
    this.bottom = h('p', { class: 'edge', 'aria-hidden': 'true' });
    this.list = h('ol', { class: 'messages' });
    this.scroller = h('div', { class: 'scroller', tabindex: '0', 'aria-label': `Messages of ${conv.title || 'this conversation'}` }, this.top, this.list, this.bottom);
    const title = h('h2', { class: 'thread-title', tabindex: '-1' }, conv.title || 'Untitled');
    replace(pane,
      h('header', { class: 'thread-head' },
        h('a', { class: 'back', href: '#/history' }, '‹ Conversations'),
        title,
        h('p', { class: 'thread-count' }, `${number(conv.messages)} messages · ${conv.kind === 'group' ? 'group' : 'direct'}`)),
      this.scroller);
    this.observer = new IntersectionObserver((entries) => {
      for (const e of entries) {
        if (!e.isIntersecting) continue;
        if (e.target === this.top) this.older();
        else this.newer();
      }
    }, { root: this.scroller, rootMargin: `${MARGIN}px 0px` });
  }

  close() {
    this.abort.abort();
    this.observer.disconnect();
  }

  url(params) {
    return `/api/conversations/${encodeURIComponent(this.conv.id)}/messages` + query({ limit: PAGE, ...params });
  }

  jump = (conv, id) => {
    location.hash = `#/history/${conv}/${id}`;
  };

  render(msgs) {
    const frag = document.createDocumentFragment();
    for (const m of msgs) frag.append(renderMessage(m, { onJump: this.jump }));
    return frag;
  }

  async openNewest() {
    const t0 = performance.now();
    const page = await api(this.url({}), { signal: this.abort.signal });
    const t1 = performance.now();
    this.list.append(this.render(page.messages));
    this.more = { before: page.more_before, after: page.more_after };
    this.scroller.scrollTop = this.scroller.scrollHeight;
    await afterLayout();
    record('first', performance.now() - t0, page.messages.length, t1 - t0);
    if (!page.messages.length) this.list.append(h('li', { class: 'empty' }, 'No messages.'));
    this.watch();
  }

  async openAround(id) {
    const t0 = performance.now();
    const page = await api(this.url({ around: id }), { signal: this.abort.signal });
    const t1 = performance.now();
    this.list.append(this.render(page.messages));
    this.more = { before: page.more_before, after: page.more_after };
    const target = this.list.querySelector(`[data-id="${CSS.escape(id)}"]`);
    if (target) {
      target.classList.add('target');
      target.scrollIntoView({ block: 'center' });
      target.focus({ preventScroll: true });
    }
    await afterLayout();
    record('around', performance.now() - t0, page.messages.length, t1 - t0);
    this.watch();
  }

  watch() {
    this.observer.observe(this.top);
    this.observer.observe(this.bottom);
  }

  // near says whether an edge is within MARGIN of the visible part.
  near(edge) {
    const s = this.scroller.getBoundingClientRect();
    const e = edge.getBoundingClientRect();
    return e.bottom >= s.top - MARGIN && e.top <= s.bottom + MARGIN;
  }

  async older() {
    if (!this.more.before || this.busy.before) return;
    const first = this.list.querySelector('li.msg');
    if (!first) return;
    this.busy.before = true;
    this.top.textContent = 'Loading older messages…';
    try {
      const t0 = performance.now();
      const page = await api(this.url({ before: first.dataset.cursor }), { signal: this.abort.signal });
      const t1 = performance.now();
      const height = this.scroller.scrollHeight;
      const top = this.scroller.scrollTop;
      this.list.prepend(this.render(page.messages));
      // Keep what the person is reading where it was.
      this.scroller.scrollTop = top + (this.scroller.scrollHeight - height);
      this.more.before = page.more_before;
      this.trim('after');
      await afterLayout();
      record('older', performance.now() - t0, page.messages.length, t1 - t0);
    } catch (e) {
      if (e.name !== 'AbortError') this.top.textContent = e.message;
      return;
    } finally {
      this.busy.before = false;
    }
    this.top.textContent = this.more.before ? '' : 'The conversation starts here.';
    if (this.more.before && this.near(this.top)) this.older();
  }

  async newer() {
    if (!this.more.after || this.busy.after) return;
    const msgs = this.list.querySelectorAll('li.msg');
    const last = msgs[msgs.length - 1];
    if (!last) return;
    this.busy.after = true;
    this.bottom.textContent = 'Loading newer messages…';
    try {
      const t0 = performance.now();
      const page = await api(this.url({ after: last.dataset.cursor }), { signal: this.abort.signal });
      const t1 = performance.now();
      this.list.append(this.render(page.messages));
      this.more.after = page.more_after;
      this.trim('before');
      await afterLayout();
      record('newer', performance.now() - t0, page.messages.length, t1 - t0);
    } catch (e) {
      if (e.name !== 'AbortError') this.bottom.textContent = e.message;
      return;
    } finally {
      this.busy.after = false;
    }
    this.bottom.textContent = '';
    if (this.more.after && this.near(this.bottom)) this.newer();
  }

  // trim drops messages beyond KEEP at one end: 'after' drops the newest
  // (the person scrolls back), 'before' the oldest.
  trim(end) {
    const msgs = this.list.querySelectorAll('li.msg');
    const extra = msgs.length - KEEP;
    if (extra <= 0) return;
    if (end === 'after') {
      for (let i = msgs.length - extra; i < msgs.length; i++) msgs[i].remove();
      this.more.after = true;
      this.bottom.textContent = '';
    } else {
      const height = this.scroller.scrollHeight;
      const top = this.scroller.scrollTop;
      for (let i = 0; i < extra; i++) msgs[i].remove();
      this.scroller.scrollTop = top - (height - this.scroller.scrollHeight);
      this.more.before = true;
      this.top.textContent = '';
    }
  }
}
