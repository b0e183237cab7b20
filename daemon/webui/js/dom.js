// Building the page from parts, never from HTML text: every string given
// here becomes a text node or an attribute value, so a message that reads
// <img src=x onerror=…> shows as those characters. (The server's
// Content-Security-Policy also requires Trusted Types, so that assigning
// HTML text to an element throws.)

// Attribute names that could run script or load from elsewhere are refused;
// links and sources must point into the app.
const refused = /^(on|style$|srcdoc$|formaction$)/i;

function checkURL(name, value) {
  if ((name === 'href' || name === 'src') && !(value.startsWith('/') && !value.startsWith('//')) && !value.startsWith('#')) {
    throw new Error(`dom: ${name} must point into the app, not ${value}`);
  }
}

// h(tag, props, ...children) makes an element. props: class, text, on<event>
// (a function), dataset, and attributes or properties by name; children:
// strings (text), nodes, arrays of them, null (skipped).
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (refused.test(k)) throw new Error(`dom: attribute ${k} is not allowed`);
    else {
      const s = v === true ? '' : String(v);
      checkURL(k, s);
      el.setAttribute(k, s);
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.append(c);
    else el.append(document.createTextNode(String(c)));
  }
  return el;
}

// replace empties el and puts children in.
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}
