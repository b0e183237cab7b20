// Ferry's app: signs in with the key of the printed link, then routes
// between the views. Routes live in the fragment: #/history[/CONV[/MSG]],
// #/search?q=…, #/send, #/receive, #/devices, #/import, #/backup,
// #/restore[/BACKUP].

import { api, ApiError } from './api.js';
import { h, replace } from './dom.js';
import * as jobs from './jobs.js';
import { showHistory, historyChanged } from './history.js';
import { showSearch } from './search.js';
import { showMigrate } from './migrate.js';
import { showDevices } from './devices.js';
import { showImport } from './import.js';
import { showBackup, showRestore } from './backup.js';

// The views, in the order of the navigation. A view takes a row here, a
// module of its own, and its routes in the server's handler table
// (daemon/web.go).
const views = [
  { id: 'history', label: 'History', show: (main, args, status) => showHistory(main, args, status) },
  { id: 'search', label: 'Search', show: (main, args, status, params) => showSearch(main, args, status, params) },
  { id: 'send', label: 'Send', show: (main) => showMigrate(main, 'send') },
  { id: 'receive', label: 'Receive', show: (main) => showMigrate(main, 'receive') },
  { id: 'devices', label: 'Devices', show: (main) => showDevices(main) },
  { id: 'import', label: 'Import', show: (main) => showImport(main) },
  { id: 'backup', label: 'Backup', show: (main) => showBackup(main) },
  { id: 'restore', label: 'Restore', show: (main, args) => showRestore(main, args) },
];

// The jobs that change the history, and how the activity line names them.
const changesHistory = new Set(['receive', 'import', 'restore']);
const busyLabel = { send: 'Sending', receive: 'Receiving', import: 'Importing', backup: 'Backing up', restore: 'Restoring' };

const main = document.getElementById('main');
const notice = document.getElementById('notice');
let status = null;
let shown = '';

function say(text) {
  notice.hidden = !text;
  notice.textContent = text || '';
}

function parseRoute() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, q] = raw.split('?', 2);
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const view = views.find((v) => v.id === parts[0]) || views[0];
  return { view, args: parts.slice(1), params: new URLSearchParams(q || '') };
}

async function route() {
  const { view, args, params } = parseRoute();
  for (const a of document.querySelectorAll('#nav a')) a.setAttribute('aria-current', a.dataset.view === view.id ? 'page' : 'false');
  const changed = shown !== view.id;
  shown = view.id;
  try {
    say('');
    await view.show(main, args, status, params);
  } catch (e) {
    if (e.name === 'AbortError') return;
    if (e instanceof ApiError && e.status === 401) return signedOut();
    say(e.message);
  }
  if (changed && view.id !== 'history') {
    const heading = main.querySelector('h2');
    if (heading && !main.contains(document.activeElement)) heading.focus();
  }
}

function signedOut() {
  replace(main, h('section', { class: 'signin' },
    h('h2', null, 'Open the link that ferry ui printed'),
    h('p', null, 'This page needs the key that link holds (after #token=). Open that link again, or run ferry ui again for a new one.')));
}

function buildNav() {
  const nav = document.getElementById('nav');
  replace(nav, views.map((v) => h('li', null, h('a', { href: '#/' + v.id, dataset: { view: v.id } }, v.label))));
}

// activity shows a send or receive under way, from any view.
function activity(j) {
  const el = document.getElementById('activity');
  const busy = Object.keys(busyLabel).map((k) => jobs.latest(k)).filter((x) => x && !x.ended);
  if (!busy.length) {
    replace(el);
  } else {
    const b = busy[0];
    const pct = b.progress && b.progress.total ? ` ${Math.floor((100 * b.progress.done) / b.progress.total)} %` : '';
    replace(el, h('a', { href: '#/' + b.kind }, busyLabel[b.kind] + pct));
  }
  if (j && changesHistory.has(j.kind) && j.ended && j.state === 'done') {
    status.history = true;
    historyChanged();
    if (shown === 'history') route();
  }
}

async function start() {
  buildNav();
  const m = location.hash.match(/^#token=([A-Za-z0-9_-]+)/);
  if (m) {
    try {
      await api('/api/login', { method: 'POST', body: { token: m[1] } });
    } catch (e) {
      say(e.message);
    }
    history.replaceState(null, '', '/#/history');
  }
  try {
    status = await api('/api/status');
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return signedOut();
    say(e.message);
    return;
  }
  document.documentElement.dataset.ready = 'true';
  jobs.onJob(activity);
  jobs.connect();
  await jobs.load().catch(() => {});
  addEventListener('hashchange', route);
  await route();
  document.documentElement.dataset.routed = 'true';
}

start();
