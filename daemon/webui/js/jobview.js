// Parts of a job's card that the import, backup and restore views share:
// the progress bar, what happened, and how it failed (the sentence, what
// to do, and whether the same again continues).

import { h } from './dom.js';
import * as jobs from './jobs.js';
import { bytes, duration, number } from './format.js';

// progress is the bar and its line; items counts things (messages) rather
// than bytes.
export function progress(j, id) {
  const p = j.progress;
  if (!p) return null;
  const known = p.total > 0;
  const pct = known ? Math.min(100, Math.floor((100 * p.done) / p.total)) : 0;
  const amount = (n) => (p.phase === 'importing' && j.kind === 'import' ? `${number(n)} messages` : bytes(n));
  const bits = [known ? `${pct} %` : `${p.phase}…`, known ? `${amount(p.done)} of ${amount(p.total)}` : `${amount(p.done)} read`];
  const s = jobs.speed(j);
  if (s && known) bits.push(`${duration(s.left)} left`);
  return h('div', { class: 'progress' },
    h('progress', known ? { max: p.total, value: p.done, 'aria-label': `${p.phase} progress` } : { 'aria-label': `${p.phase} progress` }),
    h('p', { class: 'progress-text', id }, bits.join(' · ')));
}

// failure says why a job stopped and what to do.
export function failure(j, id) {
  if (j.state === 'cancelled') return h('p', { class: 'result failed', id }, 'Cancelled: nothing was changed.');
  return h('div', { class: 'result failed', id, role: 'alert' },
    h('p', { class: 'error-text' }, sentence(j.error || 'It stopped.')),
    j.hint ? h('p', { class: 'error-hint' }, 'What to do: ' + j.hint + '.') : null,
    j.resumable ? h('p', { class: 'error-resume' }, 'What was done so far is kept: doing the same again continues from there.') : null);
}

// log is the last lines of what happened.
export function log(j) {
  if (!j.log.length) return null;
  return h('ol', { class: 'log', 'aria-label': 'What happened' }, j.log.slice(-8).map((l) => h('li', { class: 'log-' + l.kind }, l.message)));
}

export function cancelButton(j) {
  if (j.ended) return null;
  return h('p', { class: 'actions' }, h('button', { type: 'button', dataset: { focus: 'cancel' }, onclick: () => jobs.cancel(j).catch(() => {}) }, 'Cancel'));
}

// redraw replaces the card's parts, keeping the focus on a button drawn again.
export function redraw(card, parts) {
  const focused = document.activeElement && card.contains(document.activeElement) ? document.activeElement.dataset.focus : null;
  card.replaceChildren();
  for (const p of parts.flat()) if (p) card.append(p);
  if (focused) {
    const again = card.querySelector(`[data-focus="${focused}"]`);
    if (again) again.focus();
  }
}

// follow draws the latest job of a kind into card now and as it changes;
// it returns the function that stops following.
export function follow(kind, card, draw) {
  const j = jobs.latest(kind);
  if (j) draw(card, j);
  return jobs.onJob((j) => {
    const cur = jobs.latest(kind);
    if (j.kind === kind && card.isConnected && cur && cur.id === j.id) draw(card, j);
  });
}

const sentence = (s) => s.charAt(0).toUpperCase() + s.slice(1) + (/[.!?]$/.test(s) ? '' : '.');
