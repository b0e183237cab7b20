// The sessions the page started (send, receive) and the building of the
// search index, as the server tells of them over Server-Sent Events: each
// "job" event is a job's whole state. Views subscribe with onJob.

import { api } from './api.js';

const jobs = new Map(); // id → job
const samples = new Map(); // id → [{t, done}] of the last seconds, for the rate
const listeners = new Set();
let source = null;

export function connect() {
  if (source) return;
  source = new EventSource('/api/events');
  source.addEventListener('job', (e) => put(JSON.parse(e.data)));
}

export function put(j) {
  const old = jobs.get(j.id);
  if (old && old.version >= j.version) return;
  jobs.set(j.id, j);
  if (j.progress) {
    const s = samples.get(j.id) || [];
    const t = Date.parse(j.progress.time);
    const last = s[s.length - 1];
    if (last && last.phase !== j.progress.phase) s.length = 0;
    if (!last || t > last.t) s.push({ t, done: j.progress.done, phase: j.progress.phase });
    while (s.length > 2 && t - s[0].t > 5000) s.shift();
    samples.set(j.id, s);
  }
  for (const fn of listeners) fn(j);
}

export function onJob(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

// latest is the most recent job of a kind, or null.
export function latest(kind) {
  let best = null;
  for (const j of jobs.values()) if (j.kind === kind && (!best || j.started > best.started)) best = j;
  return best;
}

export async function start(kind, body) {
  const j = await api('/api/' + kind, { method: 'POST', body });
  put(j);
  return j;
}

export async function load() {
  for (const j of await api('/api/jobs')) put(j);
}

export const confirm = (j, accept) => api(`/api/jobs/${encodeURIComponent(j.id)}/confirm`, { method: 'POST', body: { accept } });
export const cancel = (j) => api(`/api/jobs/${encodeURIComponent(j.id)}/cancel`, { method: 'POST' });

// speed is the rate over the last seconds (bytes or items a second) and the
// seconds left at that rate, or null when not known yet.
export function speed(j) {
  const s = samples.get(j.id);
  if (!j.progress || !s || s.length < 2 || j.ended) return null;
  const a = s[0];
  const b = s[s.length - 1];
  const dt = (b.t - a.t) / 1000;
  if (dt <= 0 || b.done <= a.done) return null;
  const rate = (b.done - a.done) / dt;
  return { rate, left: (j.progress.total - j.progress.done) / rate };
}

export const importPreviewed = (j) => api(`/api/jobs/${encodeURIComponent(j.id)}/import`, { method: 'POST' });
export const answerOwner = (j, owner) => api(`/api/jobs/${encodeURIComponent(j.id)}/owner`, { method: 'POST', body: { owner } });
export const takeKey = (j) => api(`/api/jobs/${encodeURIComponent(j.id)}/key`, { method: 'POST' });
