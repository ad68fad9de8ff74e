// Building DOM from data without markup strings: every text goes in as a text node, so nothing
// a server or a user wrote can become markup or script.

/** h('tag.class#id', {attr: value, on: {click: fn}}, ...children) */
export function h(spec, attrs, ...children) {
  const [, tag = 'div', rest = ''] = spec.match(/^([a-z0-9-]*)(.*)$/i) || [];
  const el = document.createElement(tag || 'div');
  for (const part of rest.match(/[.#][^.#]+/g) || []) {
    if (part[0] === '.') el.classList.add(part.slice(1));
    else el.id = part.slice(1);
  }
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'on') {
      for (const [event, fn] of Object.entries(value)) el.addEventListener(event, fn);
    } else if (key === 'value') {
      el.value = value;
    } else if (key === 'checked') {
      el.checked = Boolean(value);
    } else if (key === 'dataset') {
      Object.assign(el.dataset, value);
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces the children of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let uid = 0;
/** A unique id for label/for and aria-describedby pairs. */
export function nextId(prefix = 'f') {
  uid += 1;
  return `${prefix}-${uid}`;
}

/** A labelled field: label, control, hint and a slot for the API's error about it. */
export function field(label, control, { hint, field: name, wide } = {}) {
  const id = control.id || nextId();
  control.id = id;
  const hintId = hint ? `${id}-hint` : null;
  const errorId = `${id}-error`;
  control.setAttribute('aria-describedby', [hintId, errorId].filter(Boolean).join(' '));
  const wrap = h(`div.field${wide ? '.wide' : ''}${name === 'name' ? '.name' : ''}`, { dataset: name ? { field: name } : {} },
    h('label', { for: id }, label),
    control,
    hint ? h('p.hint', { id: hintId }, hint) : null,
    h('p.field-error', { id: errorId, hidden: true }));
  return wrap;
}

/** Shows a short message in the page's live region. */
export function notice(text, kind = 'info') {
  const el = document.getElementById('notice');
  el.className = `notice ${kind}`;
  el.textContent = text;
  clearTimeout(notice.timer);
  notice.timer = setTimeout(() => { el.textContent = ''; el.className = 'notice'; }, 6000);
}

/** Asks with the page's <dialog>; resolves true when confirmed. */
export function confirmDialog(title, text, okLabel = 'Delete') {
  const dialog = document.getElementById('confirm');
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-text').textContent = text;
  document.getElementById('confirm-ok').textContent = okLabel;
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    dialog.returnValue = 'cancel';
    dialog.showModal();
    document.getElementById('confirm-cancel').focus();
  });
}

/** An alert box for a problem the API reported (or any Error). */
export function problemBox(err) {
  const title = err.status ? `${err.status} ${err.title || ''}`.trim() : 'Error';
  return h('div.alert.error', { role: 'alert' },
    h('strong', title), ' ', err.detail || err.message || String(err));
}

export function time(value) {
  if (!value) return '';
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? value : date.toLocaleString();
}

/** Copies text to the clipboard, with a fallback where the Clipboard API is unavailable. */
export async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const area = h('textarea.offscreen', { readonly: true, 'aria-hidden': 'true' });
    area.value = text;
    document.body.append(area);
    area.select();
    document.execCommand('copy');
    area.remove();
  }
  notice('Copied to the clipboard');
}
