// Import: bring a chat exported from WhatsApp or Telegram into the history.
// The person picks the file (uploaded to this computer's Ferry, staged
// whole before it is read) or types where it is on this computer, with the
// time zone its times were written in and their own name; then sees the
// upload and the reading go, is asked which of the people is them if it
// cannot tell, and sees what the import would add and the lines that could
// not be read (a preview: nothing is written yet). "Import" then imports
// that same export (not uploaded again, not asked again) and shows what
// was added; "Cancel" puts it away. Nothing is added unless the whole
// export could be read.

import { ApiError, query } from './api.js';
import { h, replace } from './dom.js';
import * as jobs from './jobs.js';
import { bytes, number } from './format.js';
import { progress, failure, log, cancelButton, redraw, follow } from './jobview.js';

const headline = {
  starting: 'Opening the export…',
  ask: 'Which of these people are you?',
  moving: 'Reading the export…',
  done: 'Imported',
  failed: 'Nothing was imported',
  cancelled: 'Cancelled',
};
const previewHeadline = { ...headline, moving: 'Reading the export (nothing is written yet)…', done: 'What the import would add' };

let unfollow = null;

export function showImport(main) {
  if (unfollow) unfollow();
  const card = h('div', { class: 'job', 'aria-live': 'polite' });
  const note = h('p', { class: 'status', role: 'status', id: 'import-note' });

  const upload = h('input', { type: 'radio', name: 'import-how', id: 'import-how-upload', value: 'upload', checked: true });
  const local = h('input', { type: 'radio', name: 'import-how', id: 'import-how-path', value: 'path' });
  const file = h('input', { type: 'file', id: 'import-file', accept: '.zip,.txt,.json,application/zip,text/plain,application/json' });
  const path = h('input', { type: 'text', id: 'import-path', autocomplete: 'off', spellcheck: 'false', placeholder: '/home/you/Downloads/WhatsApp Chat with Bob.zip' });
  const fileRow = h('div', { class: 'field', id: 'import-file-row' }, h('label', { for: 'import-file' }, 'The export: a .zip, a .txt, or Telegram\'s result.json'), file);
  const pathRow = h('div', { class: 'field', id: 'import-path-row', hidden: true },
    h('label', { for: 'import-path' }, 'Where it is on this computer: a .zip, a .txt, or the folder Telegram wrote'), path);
  const how = () => {
    fileRow.hidden = !upload.checked;
    pathRow.hidden = upload.checked;
  };
  upload.addEventListener('change', how);
  local.addEventListener('change', how);

  let zoneGuess = '';
  try {
    zoneGuess = Intl.DateTimeFormat().resolvedOptions().timeZone || '';
  } catch {
    zoneGuess = '';
  }
  const zone = h('input', { type: 'text', id: 'import-zone', autocomplete: 'off', spellcheck: 'false', placeholder: 'Europe/Berlin' });
  zone.value = zoneGuess;
  const owner = h('input', { type: 'text', id: 'import-owner', autocomplete: 'off', spellcheck: 'false', placeholder: 'as the chat names you' });
  const format = h('select', { id: 'import-format' },
    h('option', { value: '' }, 'Find out from the file'),
    h('option', { value: 'whatsapp' }, 'WhatsApp'),
    h('option', { value: 'telegram' }, 'Telegram'));
  const go = h('button', { type: 'submit', class: 'primary', id: 'start-import' }, 'Show what it would add');

  const form = h('form', { class: 'start', id: 'import-form' },
    h('fieldset', { class: 'choice' }, h('legend', null, 'The export'),
      h('label', { for: 'import-how-upload', class: 'inline' }, upload, ' Choose the file'),
      h('label', { for: 'import-how-path', class: 'inline' }, local, ' Type where it is on this computer')),
    fileRow, pathRow,
    h('div', { class: 'field' }, h('label', { for: 'import-zone' }, 'The time zone the chat\'s times were written in (WhatsApp writes times without one): use the same on every device'), zone),
    h('div', { class: 'field' }, h('label', { for: 'import-owner' }, 'Your name in the chat, so that your messages show as yours (leave it empty to be asked)'), owner),
    h('details', { class: 'advanced' }, h('summary', null, 'Which app wrote it'), h('label', { for: 'import-format' }, 'App'), format),
    h('p', { class: 'actions' }, go));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    note.textContent = '';
    const opts = { format: format.value || undefined, time_zone: zone.value.trim() || undefined, owner: owner.value.trim() || undefined };
    go.disabled = true;
    try {
      // A preview that still waits is put away first (its upload goes).
      const waiting = jobs.latest('import');
      if (waiting && waiting.ready) await jobs.cancel(waiting).catch(() => {});
      let j;
      if (upload.checked) {
        const f = file.files && file.files[0];
        if (!f) throw new Error('Choose the export file first.');
        j = await send(f, opts, card);
      } else {
        if (!path.value.trim()) throw new Error('Type where the export is on this computer.');
        j = await jobs.start('import', { path: path.value.trim(), ...opts, preview: true });
      }
      jobs.put(j);
      draw(card, j);
    } catch (err) {
      note.textContent = err.message;
      const bar = card.querySelector('.uploading');
      if (bar) bar.remove();
    } finally {
      go.disabled = false;
    }
  });

  replace(main, h('section', { class: 'migrate import' },
    h('h2', { tabindex: '-1' }, 'Import a chat from WhatsApp or Telegram'),
    h('p', { class: 'hint' }, 'In WhatsApp: open the chat, then More → Export chat (with media or without). In Telegram Desktop: Settings → Advanced → Export Telegram data, as JSON. Importing the same export again adds nothing twice.'),
    form, note, card));
  unfollow = follow('import', card, draw);
}

// send uploads the file with its progress shown, and answers the job the
// server started.
function send(f, opts, card) {
  const bar = h('progress', { max: f.size || 1, value: 0, 'aria-label': 'upload progress' });
  const text = h('p', { class: 'progress-text', id: 'upload-progress' }, `Uploading ${f.name}…`);
  replace(card, h('div', { class: 'uploading' }, h('h3', { class: 'job-state' }, 'Uploading the export…'), bar, text));
  return new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    x.open('POST', '/api/import/upload' + query({ name: f.name, ...opts, preview: 1 }));
    x.setRequestHeader('Content-Type', 'application/octet-stream');
    x.responseType = 'json';
    x.upload.addEventListener('progress', (e) => {
      if (!e.lengthComputable) return;
      bar.value = e.loaded;
      bar.max = e.total || 1;
      text.textContent = `${Math.floor((100 * e.loaded) / (e.total || 1))} % · ${bytes(e.loaded)} of ${bytes(e.total)}`;
    });
    x.addEventListener('load', () => {
      if (x.status >= 200 && x.status < 300 && x.response) return resolve(x.response);
      reject(new ApiError(x.status, (x.response && x.response.error) || `Ferry answered ${x.status}`));
    });
    x.addEventListener('error', () => reject(new ApiError(0, 'The upload was cut off: nothing was imported. Is ferry ui still running? Choose the file again.')));
    x.send(f);
  });
}

function draw(card, j) {
  card.dataset.job = j.id;
  card.dataset.state = j.state;
  card.dataset.preview = j.preview ? 'yes' : 'no';
  const parts = [h('h3', { class: 'job-state' }, (j.preview ? previewHeadline : headline)[j.state] || j.state)];
  if (j.source) parts.push(h('p', { class: 'import-source' }, j.source));
  if (j.state === 'ask' && j.owners) parts.push(ask(j));
  if (j.progress && !j.ended) parts.push(progress(j, 'import-progress'));
  if (j.ended) parts.push(j.state !== 'done' ? failure(j, 'import-result') : j.preview ? preview(j, card) : result(j));
  parts.push(log(j), cancelButton(j));
  redraw(card, parts);
}

// preview is what the import would add, and the buttons to import it or
// put it away while it waits.
function preview(j, card) {
  const r = j.import;
  if (!r) return h('p', { class: 'result' }, 'Read.');
  const a = r.added || {};
  const parts = [
    h('p', { class: 'would-add', id: 'import-would-add' }, a.messages || a.conversations || a.attachments
      ? `The import would add ${count(a.conversations, 'conversation')}, ${count(a.messages, 'message')} and ${count(a.attachments, 'file')}` +
        (a.media_bytes ? ` (${bytes(a.media_bytes)} of media).` : '.')
      : 'Nothing new: the history holds all of it already.'),
    read(r),
    unreadable(r, 'would be'),
  ];
  if (!j.ready) {
    parts.push(h('p', { class: 'status', id: 'import-put-away' }, 'Nothing was imported from this preview here. Choose the export again to import it.'));
    return h('div', { class: 'result' }, parts);
  }
  const note = h('p', { class: 'status' });
  const go = h('button', { type: 'button', class: 'primary', id: 'confirm-import', dataset: { focus: 'confirm-import' } }, 'Import');
  const stop = h('button', { type: 'button', id: 'cancel-preview', dataset: { focus: 'cancel-preview' } }, 'Cancel');
  go.addEventListener('click', async () => {
    go.disabled = stop.disabled = true;
    try {
      const next = await jobs.importPreviewed(j);
      jobs.put(next);
      draw(card, next);
    } catch (e) {
      note.textContent = e.message;
      go.disabled = stop.disabled = false;
    }
  });
  stop.addEventListener('click', () => jobs.cancel(j).catch((e) => { note.textContent = e.message; }));
  parts.push(h('p', { class: 'actions' }, go, stop), note);
  return h('div', { class: 'result' }, parts);
}

function ask(j) {
  const note = h('p', { class: 'status' });
  const pick = async (name) => {
    try {
      await jobs.answerOwner(j, name);
    } catch (e) {
      note.textContent = e.message;
    }
  };
  return h('div', { class: 'owners' },
    h('p', null, 'More than one person wrote in this chat. Your messages will show as yours.'),
    h('p', { class: 'actions', id: 'owners' },
      j.owners.map((name, i) => h('button', { type: 'button', class: i === 0 ? 'primary' : null, dataset: { focus: 'owner-' + i, owner: name }, onclick: () => pick(name) }, name)),
      h('button', { type: 'button', dataset: { focus: 'owner-none' }, onclick: () => pick('') }, 'None of them')),
    note);
}

function result(j) {
  const r = j.import;
  if (!r) return h('p', { class: 'result' }, 'Done.');
  const a = r.added || {};
  const added = a.messages || a.conversations || a.attachments
    ? `Added ${count(a.conversations, 'conversation')}, ${count(a.messages, 'message')} and ${count(a.attachments, 'file')}.`
    : 'Nothing new: the history held all of it already.';
  const parts = [h('p', { class: 'verified', id: 'import-added' }, added), read(r), unreadable(r, r.unreadable === 1 ? 'was' : 'were')];
  parts.push(h('p', null, h('a', { href: '#/history' }, 'Read the history')));
  return h('div', { class: 'result' }, parts);
}

function read(r) {
  return h('p', null, `Read ${number(r.read)} messages in ${number(r.chats)} ${r.chats === 1 ? 'chat' : 'chats'} (${r.format}).` +
    (r.owner && r.owner.length ? ` Yours: ${r.owner.join(', ')}.` : ''));
}

// unreadable lists the lines that could not be read; verb says whether
// they were or would be left out.
function unreadable(r, verb) {
  if (!(r.unreadable > 0)) return null;
  return h('div', { class: 'problems' },
    h('p', { class: 'failed', id: 'import-unreadable' }, `${number(r.unreadable)} ${r.unreadable === 1 ? 'line' : 'lines'} could not be read and ${verb} left out:`),
    h('ul', { class: 'problem-list' }, (r.problems || []).map((p) => h('li', null,
      h('span', { class: 'problem-where' }, `${p.file ? p.file + ', ' : ''}${p.where}: `),
      h('code', { class: 'problem-text' }, p.text), ' — ', p.reason))));
}

const count = (n, what) => `${number(n || 0)} ${what}${n === 1 ? '' : 's'}`;
