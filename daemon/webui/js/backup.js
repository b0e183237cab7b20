// Backup and restore: keep the history, encrypted on this device, in a
// relay's vault (its operator can read none of it), list this device's
// backups there, delete one (after a second click), and bring one back. A
// new backup's recovery key is shown once, until the person says they
// wrote it down; a password goes in a password field and nowhere else
// (never in the address, never kept by the page).

import { api, query } from './api.js';
import { h, replace } from './dom.js';
import * as jobs from './jobs.js';
import { bytes, full, number } from './format.js';
import { progress, failure, log, cancelButton, redraw, follow } from './jobview.js';

const headline = {
  backup: { starting: 'Connecting to the relay…', moving: 'Backing up…', done: 'Backed up', failed: 'The backup stopped', cancelled: 'Cancelled' },
  restore: { starting: 'Connecting to the relay…', moving: 'Restoring…', committing: 'Saving the history…', done: 'Restored', failed: 'Nothing was restored', cancelled: 'Cancelled' },
};

// The relay's address is no secret: the page remembers the last one.
const relayKey = 'ferry.relay';
function relayField(id) {
  const input = h('input', { type: 'text', id, autocomplete: 'off', spellcheck: 'false', placeholder: '/ip4/…/tcp/…/p2p/…' });
  try {
    input.value = localStorage.getItem(relayKey) || '';
  } catch {
    input.value = '';
  }
  return input;
}
function remember(relay) {
  try {
    if (relay) localStorage.setItem(relayKey, relay);
  } catch {
    // A browser that keeps nothing: the person types it again.
  }
}

function passwordField(id, autocomplete) {
  return h('input', { type: 'password', id, autocomplete, spellcheck: 'false' });
}

let unfollow = null;

export function showBackup(main) {
  if (unfollow) unfollow();
  const card = h('div', { class: 'job', 'aria-live': 'polite' });
  const note = h('p', { class: 'status', role: 'status', id: 'backup-note' });
  const relay = relayField('backup-relay');
  const withKey = h('input', { type: 'radio', name: 'backup-lock', id: 'backup-lock-key', checked: true });
  const withPassword = h('input', { type: 'radio', name: 'backup-lock', id: 'backup-lock-password' });
  const pw = passwordField('backup-password', 'new-password');
  const pw2 = passwordField('backup-password2', 'new-password');
  const pwRows = h('div', { class: 'field', hidden: true },
    h('label', { for: 'backup-password' }, 'Password (long: the relay\'s operator could try guesses)'), pw,
    h('label', { for: 'backup-password2' }, 'The same password again'), pw2);
  const how = () => { pwRows.hidden = !withPassword.checked; };
  withKey.addEventListener('change', how);
  withPassword.addEventListener('change', how);
  const go = h('button', { type: 'submit', class: 'primary', id: 'start-backup' }, 'Back up now');
  const form = h('form', { class: 'start', id: 'backup-form' },
    h('div', { class: 'field' }, h('label', { for: 'backup-relay' }, 'Relay address, as ferry relay prints it'), relay),
    h('fieldset', { class: 'choice' }, h('legend', null, 'How to open it later'),
      h('label', { for: 'backup-lock-key', class: 'inline' }, withKey, ' With a recovery key, shown once'),
      h('label', { for: 'backup-lock-password', class: 'inline' }, withPassword, ' With a password')),
    pwRows,
    h('p', { class: 'actions' }, go));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    note.textContent = '';
    const body = { relay: relay.value.trim() || undefined };
    if (withPassword.checked) {
      if (!pw.value) return say(note, 'Type the password, twice.', pw);
      if (pw.value !== pw2.value) return say(note, 'The two passwords differ: type them again.', pw2);
      body.password = b64(pw.value);
    }
    go.disabled = true;
    try {
      const j = await jobs.start('backup', body);
      remember(body.relay);
      pw.value = pw2.value = '';
      draw(card, j);
    } catch (err) {
      note.textContent = err.message;
    } finally {
      go.disabled = false;
    }
  });

  const list = h('div', { class: 'backups', id: 'backup-list' });
  const listButton = h('button', { type: 'button', id: 'list-backups' }, 'List this device\'s backups');
  listButton.addEventListener('click', () => listBackups(list, relay.value.trim()));

  replace(main, h('section', { class: 'migrate backup' },
    h('h2', { tabindex: '-1' }, 'Back up this history to a relay'),
    h('p', { class: 'hint' }, 'The backup is encrypted on this computer: the relay keeps it but cannot read it. Later backups send only what is new.'),
    form, note, card,
    h('h3', null, 'Backups on the relay'), h('p', { class: 'actions' }, listButton), list));
  unfollow = follow('backup', card, draw);
}

export function showRestore(main, args) {
  if (unfollow) unfollow();
  const card = h('div', { class: 'job', 'aria-live': 'polite' });
  const note = h('p', { class: 'status', role: 'status', id: 'restore-note' });
  const relay = relayField('restore-relay');
  const withKey = h('input', { type: 'radio', name: 'restore-lock', id: 'restore-lock-key', checked: true });
  const withPassword = h('input', { type: 'radio', name: 'restore-lock', id: 'restore-lock-password' });
  const key = h('input', { type: 'password', id: 'restore-key', autocomplete: 'off', spellcheck: 'false', placeholder: '64 letters and digits, in groups of four' });
  const pw = passwordField('restore-password', 'current-password');
  const id = h('input', { type: 'text', id: 'restore-id', autocomplete: 'off', spellcheck: 'false', placeholder: '32 letters and digits' });
  if (args && args[0]) id.value = args[0];
  const keyRow = h('div', { class: 'field' }, h('label', { for: 'restore-key' }, 'The recovery key the backup showed'), key);
  const pwRow = h('div', { class: 'field', hidden: true }, h('label', { for: 'restore-password' }, 'The backup\'s password'), pw);
  const how = () => {
    keyRow.hidden = !withKey.checked;
    pwRow.hidden = withKey.checked;
  };
  withKey.addEventListener('change', how);
  withPassword.addEventListener('change', how);
  const go = h('button', { type: 'submit', class: 'primary', id: 'start-restore' }, 'Restore');
  const form = h('form', { class: 'start', id: 'restore-form' },
    h('div', { class: 'field' }, h('label', { for: 'restore-relay' }, 'Relay address, as ferry relay prints it'), relay),
    h('fieldset', { class: 'choice' }, h('legend', null, 'Open it with'),
      h('label', { for: 'restore-lock-key', class: 'inline' }, withKey, ' The recovery key'),
      h('label', { for: 'restore-lock-password', class: 'inline' }, withPassword, ' The password')),
    keyRow, pwRow,
    h('div', { class: 'field' }, h('label', { for: 'restore-id' }, 'The backup\'s ID (needed with a password; with a key, empty means the latest)'), id),
    h('p', { class: 'actions' }, go));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    note.textContent = '';
    const body = { relay: relay.value.trim() || undefined, backup: id.value.trim() || undefined };
    if (withKey.checked) {
      if (!key.value.trim()) return say(note, 'Type the recovery key.', key);
      body.key = key.value.trim();
    } else {
      if (!pw.value) return say(note, 'Type the password.', pw);
      body.password = b64(pw.value);
    }
    go.disabled = true;
    try {
      const j = await jobs.start('restore', body);
      remember(body.relay);
      key.value = pw.value = '';
      draw(card, j);
    } catch (err) {
      note.textContent = err.message;
    } finally {
      go.disabled = false;
    }
  });
  replace(main, h('section', { class: 'migrate restore' },
    h('h2', { tabindex: '-1' }, 'Restore a backup from a relay'),
    h('p', { class: 'hint' }, 'The backup is checked piece by piece, then merged into this device\'s history: nothing changes unless all of it is intact.'),
    form, note, card));
  unfollow = follow('restore', card, draw);
}

function say(note, text, field) {
  note.textContent = text;
  field.focus();
}

// b64 is a password as the server's JSON takes bytes.
function b64(s) {
  const bytes = new TextEncoder().encode(s);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

// listBackups shows this device's backups on the relay; said, if set, is
// a line to show above them (what was just done).
async function listBackups(list, relay, said) {
  replace(list, h('p', { class: 'status' }, 'Asking the relay…'));
  const done = said ? h('p', { class: 'status', role: 'status', id: 'backup-list-note' }, said) : null;
  try {
    const bs = await api('/api/backups' + query({ relay }));
    remember(relay);
    if (!bs.length) {
      replace(list, done, h('p', { class: 'empty' }, 'This device has no backups on this relay.'));
      return;
    }
    replace(list, done, h('ul', { class: 'devices' }, bs.map((b) => backupItem(b, list, relay))));
  } catch (e) {
    replace(list, done, h('p', { class: 'failed', role: 'alert', id: 'backup-list-error' }, e.message));
  }
}

// backupItem is one backup in the list, with its restore link and its
// delete button, which asks first.
function backupItem(b, list, relay) {
  const actions = h('p', { class: 'actions' });
  const note = h('p', { class: 'status' });
  const restore = h('a', { href: '#/restore/' + encodeURIComponent(b.backup) }, 'Restore this one…');
  const del = h('button', { type: 'button', class: 'delete-backup' }, 'Delete…');
  const normal = () => replace(actions, restore, ' ', del);
  del.addEventListener('click', () => {
    const yes = h('button', { type: 'button', class: 'danger', id: 'confirm-delete-backup' }, 'Delete it from the relay');
    const no = h('button', { type: 'button', id: 'keep-backup' }, 'Keep it');
    yes.addEventListener('click', async () => {
      yes.disabled = no.disabled = true;
      try {
        await api('/api/backups/' + encodeURIComponent(b.backup) + query({ relay }), { method: 'DELETE' });
        await listBackups(list, relay, `Deleted the backup of ${full(b.updated)} from the relay.`);
      } catch (e) {
        note.textContent = e.message;
        yes.disabled = no.disabled = false;
      }
    });
    no.addEventListener('click', () => { normal(); del.focus(); });
    replace(actions, h('span', { class: 'confirm-text' }, 'It cannot be restored afterwards, and it cannot be undone.'), ' ', yes, ' ', no);
    yes.focus();
  });
  normal();
  return h('li', { class: 'device backup-item', dataset: { id: b.backup } },
    h('p', { class: 'device-name' }, 'Backup of ' + full(b.updated)),
    h('p', { class: 'device-id' }, h('code', null, b.backup)),
    h('p', { class: 'device-when' }, bytes(b.size) + (b.stats ? ` · ${number(b.stats.messages)} messages, ${number(b.stats.attachments)} files` : '')),
    actions, note);
}

function draw(card, j) {
  card.dataset.job = j.id;
  card.dataset.state = j.state;
  const parts = [h('h3', { class: 'job-state' }, headline[j.kind][j.state] || j.state)];
  if (j.progress && !j.ended) parts.push(progress(j, j.kind + '-progress'));
  if (j.ended) parts.push(j.state === 'done' ? (j.kind === 'backup' ? backedUp(card, j) : restored(j)) : failure(j, j.kind + '-result'));
  parts.push(log(j), cancelButton(j));
  if (card.keyBlock && card.keyBlock.dataset.job === j.id) parts.splice(1, 0, card.keyBlock);
  redraw(card, parts);
}

function backedUp(card, j) {
  const b = j.backup;
  if (!b) return h('p', { class: 'result' }, 'Done.');
  if (b.key_ready) showKey(card, j);
  const parts = [
    h('p', { class: 'verified', id: 'backup-done' }, `✓ Backed up ${number(b.stats.messages)} messages and ${number(b.stats.attachments)} files (backup ${b.seq}).`),
    h('p', null, 'Backup ID: ', h('code', { id: 'backup-id' }, b.backup)),
    h('p', { class: 'hint' }, `${number(b.chunks_sent)} pieces sent (${bytes(b.bytes_sent)}), ${number(b.chunks_skipped)} already on the relay.`),
  ];
  if (b.password) parts.push(h('p', null, 'Restore it with its password and this backup ID.'));
  else if (!b.new_key) parts.push(h('p', null, 'It opens with the recovery key this device showed at its first backup.'));
  return h('div', { class: 'result' }, parts);
}

// showKey takes the new recovery key from the server (which gives it once)
// and shows it until the person says they wrote it down.
async function showKey(card, j) {
  if (card.keyBlock && card.keyBlock.dataset.job === j.id) return;
  const block = h('div', { class: 'key-block', dataset: { job: j.id }, role: 'alert' }, h('p', null, 'Getting the recovery key…'));
  card.keyBlock = block;
  let key;
  try {
    key = (await jobs.takeKey(j)).key;
  } catch (e) {
    replace(block, h('p', { class: 'failed' }, e.message));
    return;
  }
  const wrote = h('input', { type: 'checkbox', id: 'key-written' });
  const done = h('button', { type: 'button', class: 'primary', id: 'key-done', disabled: true }, 'Done: hide the key');
  wrote.addEventListener('change', () => { done.disabled = !wrote.checked; });
  done.addEventListener('click', () => {
    card.keyBlock = null;
    replace(block, h('p', { class: 'hint', id: 'key-hidden' }, 'The recovery key is hidden. Keep what you wrote safe: it is the only way to open this backup.'));
  });
  replace(block,
    h('p', { class: 'key-label' }, 'Your recovery key — write it down now. It is shown only this once, and without it the backup cannot be opened:'),
    h('p', { class: 'recovery-key', id: 'recovery-key' }, key),
    h('p', null, h('label', { for: 'key-written', class: 'inline' }, wrote, ' I wrote it down (or printed it) and keep it safe')),
    h('p', { class: 'actions' }, done));
  key = '';
  wrote.focus();
}

function restored(j) {
  const r = j.restored;
  if (!r) return h('p', { class: 'result' }, 'Done.');
  const a = r.added || {};
  const what = r.adopted
    ? `This device now holds the backup's ${number(r.target.messages)} messages and ${number(r.target.attachments)} files.`
    : `Added ${number(a.messages || 0)} messages and ${number(a.attachments || 0)} files to this device's history (it holds ${number(r.target.messages)} messages now).`;
  return h('div', { class: 'result' },
    h('p', { class: 'verified', id: 'restore-done' }, '✓ Restored and checked: ' + what),
    h('p', null, h('a', { href: '#/history' }, 'Read the history')));
}
