// Talking to the app's server: JSON over fetch, same origin, with the cookie
// the login set. Errors carry the server's sentence.

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function api(path, { method = 'GET', body, signal } = {}) {
  const init = { method, credentials: 'same-origin', headers: {}, signal };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let r;
  try {
    r = await fetch(path, init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'Ferry is not answering: is ferry ui still running on this computer?');
  }
  if (r.status === 204) return null;
  let data = null;
  try {
    data = await r.json();
  } catch {
    data = null;
  }
  if (!r.ok) throw new ApiError(r.status, (data && data.error) || `Ferry answered ${r.status}`);
  return data;
}

// query builds "?a=1&b=2" from the parts that are set.
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? '?' + s : '';
}

export const path = (...parts) => '/' + parts.map(encodeURIComponent).join('/');
