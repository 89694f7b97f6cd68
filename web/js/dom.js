// dom.js -- building DOM nodes safely, toasts, small formatting helpers.
//
// Every piece of data (a message, a user name, a room name, an error from
// the server) goes into the page as a text node or through textContent:
// nothing here parses HTML.

/**
 * h('li', {className: 'msg', dataset: {seq: 3}, on: {click: fn}}, 'text', node, ...)
 * Strings and numbers among the children become text nodes; null,
 * undefined and false are skipped; arrays are flattened.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'className') el.className = value;
    else if (key === 'text') el.textContent = String(value);
    else if (key === 'dataset') {
      for (const [k, v] of Object.entries(value)) if (v !== undefined && v !== null) el.dataset[k] = String(v);
    } else if (key === 'on') {
      for (const [ev, fn] of Object.entries(value)) el.addEventListener(ev, fn);
    } else if (key === 'style') {
      for (const [k, v] of Object.entries(value)) el.style.setProperty(k, String(v));
    } else if (key in el && typeof value !== 'string') {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

export const $ = (id) => document.getElementById(id);

/** Removes every child of el. */
export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
}

/** A stable hue (0..359) for a name, for avatars and author colours. */
export function hue(name) {
  let x = 2166136261;
  for (const ch of String(name)) {
    x ^= ch.codePointAt(0);
    x = Math.imul(x, 16777619) >>> 0;
  }
  return x % 360;
}

/** A round avatar with the first letter of the name. */
export function avatar(name, extraClass = '') {
  const first = Array.from(String(name || '?'))[0] || '?';
  return h('span', { className: `avatar ${extraClass}`.trim(), 'aria-hidden': 'true', style: { '--hue': hue(name) } }, first);
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dayTimeFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });

/** A <time> element: hours and minutes today, the date too otherwise. */
export function timeEl(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return h('time', {}, '');
  const today = new Date().toDateString() === d.toDateString();
  return h('time', { dateTime: iso, title: d.toLocaleString() }, (today ? timeFmt : dayTimeFmt).format(d));
}

/** "3 seconds ago" style text for a last-seen time. */
export function ago(iso) {
  if (!iso) return '';
  const s = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (!Number.isFinite(s)) return '';
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

/** A random id for client_id (crypto.randomUUID needs a secure context). */
export function newId() {
  if (globalThis.crypto && typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

// ---------------------------------------------------------------- toasts

const MAX_TOASTS = 4;

/**
 * Shows a message to the person: kind 'error' (stays 10 s) or 'info' (5 s).
 * The same text shown again while visible only restarts its timer.
 */
export function toast(text, kind = 'error') {
  const box = $('toasts');
  if (!box) return;
  for (const t of box.children) {
    if (t.dataset.text === text) {
      restart(t, kind);
      return;
    }
  }
  const el = h(
    'div',
    { className: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status', dataset: { text, kind } },
    h('span', { className: 'toast-text' }, text),
    h('button', { type: 'button', className: 'toast-close', 'aria-label': 'Dismiss', on: { click: () => el.remove() } }, '×'),
  );
  box.appendChild(el);
  while (box.children.length > MAX_TOASTS) box.firstElementChild.remove();
  restart(el, kind);
}

function restart(el, kind) {
  clearTimeout(el._timer);
  el._timer = setTimeout(() => el.remove(), kind === 'error' ? 10000 : 5000);
}
