// Send and receive: one button to start, then the session as it goes (the
// code and its QR code, who tries to pair, the offer to accept, progress
// with rate, time left and path, and the result with the digest check),
// followed live from the server's events.

import { api } from './api.js';
import { h, replace } from './dom.js';
import * as jobs from './jobs.js';
import { bytes, duration, number } from './format.js';

const headline = {
  send: {
    starting: 'Getting ready…',
    waiting: 'Waiting for the new device',
    connected: 'The new device is connected',
    moving: 'Sending…',
    committing: 'The new device is saving the history…',
    done: 'Sent',
    failed: 'The send stopped',
    cancelled: 'Cancelled',
  },
  receive: {
    starting: 'Getting ready…',
    waiting: 'Looking for the other device…',
    offer: 'The other device offers its history',
    moving: 'Receiving…',
    committing: 'Saving the history…',
    done: 'Received',
    failed: 'The receive stopped',
    cancelled: 'Cancelled',
  },
};

let unsubscribe = null;

// showMigrate draws the send or receive view and follows its latest job.
export function showMigrate(main, kind) {
  if (unsubscribe) unsubscribe();
  const card = h('div', { class: 'job', 'aria-live': 'polite' });
  const relay = h('input', { id: kind + '-relay', type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: '/ip4/…/tcp/…/p2p/…' });
  const advanced = h('details', { class: 'advanced' },
    h('summary', null, 'Through a relay (devices on two networks)'),
    h('label', { for: kind + '-relay' }, 'Relay address, as ferry relay prints it'), relay);
  let form;
  if (kind === 'send') {
    const go = h('button', { type: 'button', class: 'primary big', id: 'start-send' }, 'Start sending');
    const to = h('select', { id: 'send-to' }, h('option', { value: '' }, 'A new device: show a code'));
    const toRow = h('div', { class: 'field', hidden: true }, h('label', { for: 'send-to' }, 'Send to'), to);
    const help = h('p', { id: 'send-help' }, 'On the new device, open Ferry and choose Receive; then type the code this page shows, or scan its QR code.');
    to.addEventListener('change', () => {
      help.textContent = to.value
        ? `On ${to.selectedOptions[0].textContent}, open Ferry and choose Receive, with no code: it is paired with this device already.`
        : 'On the new device, open Ferry and choose Receive; then type the code this page shows, or scan its QR code.';
    });
    pairedDevices(to, toRow);
    go.addEventListener('click', () => begin(() => jobs.start('send', { relay: relay.value.trim() || undefined, to: to.value || undefined })));
    form = h('div', { class: 'start' }, toRow, help, go, advanced);
  } else {
    const code = h('input', { id: 'code', type: 'text', autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false', placeholder: '7-zebra-acorn' });
    form = h('form', { class: 'start' },
      h('label', { for: 'code' }, 'The code the other device shows, or the ferry: link of its QR code (none, if it sends to this device by name)'),
      h('div', { class: 'row' }, code, h('button', { type: 'submit', class: 'primary', id: 'start-receive' }, 'Receive')),
      advanced);
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      begin(() => jobs.start('receive', { code: code.value.trim(), relay: relay.value.trim() || undefined }));
    });
  }
  const note = h('p', { class: 'status', role: 'status' });
  const begin = async (run) => {
    note.textContent = '';
    try {
      const j = await run();
      draw(card, j);
    } catch (e) {
      note.textContent = e.message;
    }
  };
  replace(main, h('section', { class: 'migrate ' + kind },
    h('h2', { tabindex: '-1' }, kind === 'send' ? 'Send this history to a new device' : 'Receive a history from another device'),
    form, note, card));
  const j = jobs.latest(kind);
  if (j) draw(card, j);
  unsubscribe = jobs.onJob((j) => {
    const cur = jobs.latest(kind);
    if (j.kind === kind && card.isConnected && cur && cur.id === j.id) draw(card, j);
  });
}

function draw(card, j) {
  card.dataset.job = j.id;
  card.dataset.started = j.started;
  card.dataset.state = j.state;
  const parts = [h('h3', { class: 'job-state' }, headline[j.kind][j.state] || j.state)];
  if (j.kind === 'send' && j.code && (j.state === 'waiting' || j.state === 'starting')) parts.push(codeBlock(j));
  if (j.receiver) parts.push(h('p', { class: 'receiver' }, `Sending to ${j.receiver.name || 'the paired device'}.`));
  if (j.path) {
    parts.push(h('p', { class: 'connected', id: j.kind + '-connected', dataset: { path: j.path } },
      `Connected: ${pathLabel[j.path] || j.path}.`));
  }
  if (j.offer) parts.push(offer(j));
  if (j.progress) parts.push(progress(j));
  if (j.ended) parts.push(result(j));
  if (j.log.length) {
    parts.push(h('ol', { class: 'log', 'aria-label': 'What happened' }, j.log.slice(-8).map((l) => h('li', { class: 'log-' + l.kind }, l.message))));
  }
  if (!j.ended) {
    parts.push(h('p', { class: 'actions' }, h('button', { type: 'button', dataset: { focus: 'cancel' }, onclick: () => jobs.cancel(j).catch(() => {}) }, 'Cancel')));
  }
  // Keep the focus on a button that is drawn again.
  const focused = document.activeElement && card.contains(document.activeElement) ? document.activeElement.dataset.focus : null;
  replace(card, parts);
  if (focused) {
    const again = card.querySelector(`[data-focus="${focused}"]`);
    if (again) again.focus();
  }
}

// The code block is made once per code and reused, so that redrawing the
// card does not fetch its QR code again.
let codeCache = { key: '', node: null };

function codeBlock(j) {
  const key = j.id + ' ' + j.code + ' ' + j.link;
  if (codeCache.key === key) return codeCache.node;
  codeCache = { key, node: makeCodeBlock(j) };
  return codeCache.node;
}

function makeCodeBlock(j) {
  const link = h('code', { class: 'link' }, j.link || '');
  const copy = h('button', { type: 'button', dataset: { focus: 'copy' } }, 'Copy link');
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(j.link);
      copy.textContent = 'Copied';
    } catch {
      const r = document.createRange();
      r.selectNodeContents(link);
      getSelection().removeAllRanges();
      getSelection().addRange(r);
    }
  });
  return h('div', { class: 'code-block' },
    h('p', { class: 'code-label' }, 'Code'),
    h('p', { class: 'code', id: 'send-code' }, j.code),
    j.link ? h('img', { class: 'qr', src: `/api/jobs/${encodeURIComponent(j.id)}/qr.png?v=${encodeURIComponent(j.code)}`, alt: 'QR code of the link below: scan it on the new device', width: 240, height: 240 }) : null,
    j.link ? h('details', { class: 'link-box' }, h('summary', null, 'The link, to paste on the other device'), link, copy) : null);
}

function offer(j) {
  const o = j.offer;
  const what = `${number(o.messages)} messages and ${bytes(o.media_bytes)} of media (${bytes(o.bytes)} to move)`;
  const text = j.kind === 'send' ? `Offering ${what}.` : `${o.device || 'The other device'} offers ${what}.`;
  const parts = [h('p', { class: 'offer-text' }, text)];
  if (j.confirm) {
    parts.push(h('p', { class: 'actions' },
      h('button', { type: 'button', class: 'primary', id: 'accept', dataset: { focus: 'accept' }, onclick: () => answer(j, true) }, 'Accept and receive'),
      h('button', { type: 'button', dataset: { focus: 'decline' }, onclick: () => answer(j, false) }, 'Decline')));
  }
  return h('div', { class: 'offer' }, parts);
}

async function answer(j, accept) {
  try {
    await jobs.confirm(j, accept);
  } catch (e) {
    const n = document.querySelector('.migrate .status');
    if (n) n.textContent = e.message;
  }
}

function progress(j) {
  const p = j.progress;
  const pct = p.total > 0 ? Math.min(100, Math.floor((100 * p.done) / p.total)) : 0;
  const bits = [`${pct} %`, `${bytes(p.done)} of ${bytes(p.total)}`];
  const s = jobs.speed(j);
  if (s) bits.push(`${bytes(Math.round(s.rate))}/s`, `${duration(s.left)} left`);
  if (p.items_total) bits.push(`pieces ${number(p.items)} of ${number(p.items_total)}`);
  if (j.path) bits.push(`path: ${j.path}`);
  return h('div', { class: 'progress' },
    h('progress', { max: p.total || 1, value: p.done, 'aria-label': `${p.phase} progress` }),
    h('p', { class: 'progress-text', id: j.kind + '-progress' }, bits.join(' · ')));
}

// How the bytes go, in words.
const pathLabel = {
  'direct LAN': 'straight across the local network (direct LAN)',
  'direct (loopback)': 'on this computer (direct)',
  relayed: 'through the relay (relayed)',
};

// pairedDevices offers the paired devices as receivers of a send by name.
async function pairedDevices(select, row) {
  let ds = [];
  try {
    ds = await api('/api/devices');
  } catch {
    return;
  }
  for (const d of ds) select.append(h('option', { value: d.peer_id }, d.name || d.peer_id));
  row.hidden = ds.length === 0;
}

function result(j) {
  if (j.state !== 'done') {
    return h('div', { class: 'result failed' }, h('p', null, j.error || 'Stopped.'), j.hint ? h('p', { class: 'error-hint' }, 'What to do: ' + j.hint + '.') : null);
  }
  const r = j.report;
  if (!r) return h('p', { class: 'result' }, 'Done.');
  const summary = `${number(r.messages)} messages, ${number(r.attachments)} attachments; ${bytes(r.bytes)} moved.`;
  const check = j.verified
    ? h('p', { class: 'verified', id: j.kind + '-verified' }, '✓ Verified: both devices hold the same history (digest ', h('code', null, r.target_digest.slice(0, 16)), '…)',
      j.kind === 'send' && r.receiver ? ` — checked on ${r.receiver}.` : '.')
    : h('p', { class: 'result failed', id: j.kind + '-verified' }, `The digests differ: ${r.source_digest} here, ${r.target_digest} there.`);
  return h('div', { class: 'result' }, h('p', null, summary), check);
}
