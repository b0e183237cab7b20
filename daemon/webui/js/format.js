// How numbers and times look to a person.

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const dateOnly = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });
const timeOnly = new Intl.DateTimeFormat(undefined, { timeStyle: 'short' });
const count = new Intl.NumberFormat();

export const number = (n) => count.format(n);

export function when(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  const today = new Date();
  return d.toDateString() === today.toDateString() ? timeOnly.format(d) : dateTime.format(d);
}

export const day = (iso) => (iso ? dateOnly.format(new Date(iso)) : '');
export const full = (iso) => (iso ? dateTime.format(new Date(iso)) : '');

// bytes uses binary prefixes, as the command line does.
export function bytes(n) {
  if (n < 1024) return `${n} B`;
  const units = 'KMGTPE';
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}iB`;
}

export function duration(seconds) {
  if (!isFinite(seconds) || seconds < 0) return '';
  seconds = Math.round(seconds);
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = String(seconds % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}
