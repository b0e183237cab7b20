// The devices this one has paired with, and forgetting one (it then needs a
// code again).

import { api } from './api.js';
import { h, replace } from './dom.js';
import { full } from './format.js';

export async function showDevices(main) {
  const list = h('ul', { class: 'devices' });
  const note = h('p', { class: 'status', 'aria-live': 'polite' });
  replace(main, h('section', { class: 'devices-view' },
    h('h2', { tabindex: '-1' }, 'Paired devices'),
    h('p', { class: 'hint' }, 'A paired device can send to this one again, or receive from it, without a code. Forget one to make it need a code again.'),
    note, list));
  await fill(list, note);
}

async function fill(list, note) {
  const ds = await api('/api/devices');
  if (!ds.length) {
    replace(list, h('li', { class: 'empty' }, 'No paired devices yet.'));
    return;
  }
  replace(list, ds.map((d) => device(d, list, note)));
}

function device(d, list, note) {
  const actions = h('div', { class: 'actions' });
  const ask = () => {
    const yes = h('button', { type: 'button', class: 'danger', onclick: () => forget() }, `Forget ${d.name || 'this device'}`);
    const no = h('button', { type: 'button', onclick: () => { replace(actions, forgetButton); forgetButton.focus(); } }, 'Keep it');
    replace(actions, h('span', { class: 'confirm-text' }, 'It will need a code to migrate again.'), yes, no);
    yes.focus();
  };
  const forget = async () => {
    try {
      await api(`/api/devices/${encodeURIComponent(d.peer_id)}`, { method: 'DELETE' });
      note.textContent = `Forgot ${d.name || d.peer_id}.`;
      await fill(list, note);
    } catch (e) {
      note.textContent = e.message;
    }
  };
  const forgetButton = h('button', { type: 'button', onclick: ask }, 'Forget…');
  actions.append(forgetButton);
  return h('li', { class: 'device' },
    h('p', { class: 'device-name' }, d.name || 'Unnamed device'),
    h('p', { class: 'device-id' }, h('code', null, d.peer_id)),
    h('p', { class: 'device-when' }, 'Paired ' + full(d.paired_at)),
    actions);
}
