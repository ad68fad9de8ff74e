// A replica's logs on the detail page: the last lines, then (Follow) its output as it is
// written, streamed by GET .../logs?follow=true for as long as the page is open.

import { api, apiResponse, collection } from './api.js';
import { fill, h, nextId, problemBox } from './dom.js';

/** Lines kept in the view while following (older ones are dropped). */
const MAX_LINES = 5000;
/** How long to wait before following again. */
const RETRY_MS = 3000;

export function logsPanel(kind, resource) {
  const base = `/${collection(kind)}/${encodeURIComponent(resource.name)}/logs`;
  if (resource.url) {
    return {
      el: h('section', { 'aria-labelledby': 'logs-h' }, h('h2#logs-h', 'Logs'),
        h('p.muted', 'A remote server (', h('code', resource.url), '): the gateway runs no replica of it, so it has no logs here.')),
      stop: () => {},
    };
  }
  const instance = h('select', { id: nextId() },
    Array.from({ length: Math.max(resource.replicaCount, 1) }, (_, i) => h('option', { value: i }, `Replica ${i}`)));
  const tail = h('input', { type: 'number', id: nextId(), min: 1, max: 10000, value: 200 });
  const follow = h('input', { type: 'checkbox', id: nextId(), checked: true });
  const state = h('span.small.muted', { 'aria-live': 'polite' });
  const problem = h('div');
  const output = h('pre.logs', { role: 'log', 'aria-label': 'Log output', tabindex: '0' });
  let controller = null;
  let retry;

  /** While following, a replica that is not there yet, or whose stream ended, is tried again. */
  function later(why) {
    state.textContent = `${why} Trying again in ${RETRY_MS / 1000} s…`;
    retry = setTimeout(load, RETRY_MS);
  }

  async function load() {
    clearTimeout(retry);
    controller?.abort();
    controller = new AbortController();
    const { signal } = controller;
    fill(problem);
    output.textContent = '';
    const query = `?instance=${instance.value}&tail=${encodeURIComponent(tail.value || 200)}`;
    try {
      if (!follow.checked) {
        state.textContent = 'Loading…';
        output.textContent = await api(base + query, { signal, accept: 'text/plain' });
        state.textContent = `Last ${tail.value} lines of replica ${instance.value}.`;
        output.scrollTop = output.scrollHeight;
        return;
      }
      state.textContent = `Following replica ${instance.value}…`;
      const response = await apiResponse(`${base}${query}&follow=true`, { signal, accept: 'text/plain' });
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      state.textContent = `Following replica ${instance.value}: new lines appear as they are written.`;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        append(value);
      }
      later('The log stream ended (the replica stopped or was replaced).');
    } catch (err) {
      if (err.name === 'AbortError') return;
      state.textContent = '';
      fill(problem, problemBox(err));
      if (follow.checked && [404, 503].includes(err.status)) later('No logs yet.');
    }
  }

  function append(text) {
    const atBottom = output.scrollHeight - output.scrollTop - output.clientHeight < 40;
    output.append(text);
    if (output.childNodes.length > 200) output.textContent = output.textContent;
    const lines = output.textContent.split('\n');
    if (lines.length > MAX_LINES) output.textContent = lines.slice(-MAX_LINES).join('\n');
    if (atBottom) output.scrollTop = output.scrollHeight;
  }

  for (const control of [instance, follow]) control.addEventListener('change', load);
  const el = h('section', { 'aria-labelledby': 'logs-h' },
    h('h2#logs-h', 'Logs'),
    h('form.inline', { on: { submit: (event) => { event.preventDefault(); load(); } } },
      h('label', { for: instance.id }, 'Replica'), instance,
      h('label', { for: tail.id }, 'Tail'), tail,
      h('label.check', { for: follow.id }, follow, ' Follow'),
      h('button.secondary.small', { type: 'submit' }, 'Reload')),
    state, problem, output);
  load();
  return { el, stop: () => { clearTimeout(retry); controller?.abort(); } };
}
