// Search across every conversation (the server's full-text index), with the
// words found marked, and a jump from each hit to its place in its
// conversation.

import { api, query } from './api.js';
import { h, replace } from './dom.js';
import * as jobs from './jobs.js';
import { number } from './format.js';
import { renderMessage } from './message.js';

let lastQuery = '';

export async function showSearch(main, args, status, params) {
  const q = params.get('q') || '';
  const input = h('input', { id: 'q', type: 'search', name: 'q', autocomplete: 'off', value: q, placeholder: 'Words to look for' });
  const note = h('p', { class: 'status', 'aria-live': 'polite' });
  const hits = h('ol', { class: 'hits' });
  const form = h('form', { class: 'search-form', role: 'search' },
    h('label', { for: 'q' }, 'Search all messages'),
    h('div', { class: 'row' }, input, h('button', { type: 'submit', class: 'primary' }, 'Search')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    location.hash = '#/search' + query({ q: input.value.trim() });
  });
  replace(main, h('section', { class: 'search' }, h('h2', { tabindex: '-1' }, 'Search'), form, note, hits,
    h('p', { class: 'hint' }, 'Every word must appear, in any case and with or without accents; "quoted words" must appear together; a word ending in * also finds longer words.')));
  if (!q) {
    input.focus();
    return;
  }
  if (!status.history) {
    note.textContent = 'There is no history on this device yet.';
    return;
  }
  note.textContent = 'Searching…';
  // The first search after a migration builds the index: show how far.
  const off = jobs.onJob((j) => {
    if (j.kind === 'index' && !j.ended && j.progress) {
      note.textContent = `Building the search index: ${Math.floor((100 * j.progress.done) / Math.max(j.progress.total, 1))} %`;
    }
  });
  let res;
  try {
    res = await api('/api/search' + query({ q }));
  } catch (e) {
    note.textContent = e.message;
    return;
  } finally {
    off();
  }
  lastQuery = q;
  note.textContent = res.hits.length ? `${number(res.hits.length)} message${res.hits.length === 1 ? '' : 's'} found` : `No message matches “${q}”.`;
  replace(hits, res.hits.map((m) => {
    const li = renderMessage(m, { context: true });
    li.classList.add('hit');
    li.removeAttribute('tabindex');
    li.append(h('a', { class: 'jump', href: `#/history/${m.conversation}/${m.id}` }, 'Show in conversation'));
    return li;
  }));
}

export const currentQuery = () => lastQuery;
