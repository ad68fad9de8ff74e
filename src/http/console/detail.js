// One adapter or tool: status per replica and the reconciler's last error (the status
// message), its logs (followed while the page is open), its metrics when /metrics is readable,
// and its definition.

import { api, collection } from './api.js';
import { confirmDialog, fill, h, notice, problemBox, time } from './dom.js';
import { logsPanel } from './logs.js';
import { source, statusWords } from './overview.js';

const POLL_MS = 3000;

export function render(main, { kind, name }) {
  const path = `/${collection(kind)}/${encodeURIComponent(name)}`;
  fill(main, h('h1', name), h('p.muted', 'Loading…'));
  let stopped = false;
  let timer;
  let logs = { stop: () => {} };
  api(path).then((resource) => {
    if (stopped) return;
    const statusEl = h('div', h('p.muted', 'Loading status…'));
    const metricsEl = h('div');
    const problem = h('div', { tabindex: '-1' });
    logs = logsPanel(kind, resource);
    const playground = kind === 'adapter' ? `#/playground/adapters/${encodeURIComponent(name)}` : '#/playground/mcp';
    fill(main,
      h('div.page-head',
        h('div', h('h1', name), h('p.muted', kind === 'tool' ? 'Tool' : 'Adapter', ' · ', h('code', source(resource)))),
        h('div.actions',
          h('a.button', { href: playground }, 'Try it'),
          h('a.button.secondary', { href: `${path.replace(/^\//, '#/')}/edit` }, 'Edit'),
          h('button.danger', { type: 'button', on: { click: remove } }, 'Delete'))),
      problem,
      resource.description ? h('p', resource.description) : null,
      h('section', { 'aria-labelledby': 'status-h' }, h('h2#status-h', 'Status'), statusEl),
      logs.el,
      h('section', { 'aria-labelledby': 'metrics-h' }, h('h2#metrics-h', 'Metrics'), metricsEl),
      h('section', { 'aria-labelledby': 'def-h' }, h('h2#def-h', 'Definition'),
        h('dl.facts',
          h('dt', 'Created by'), h('dd', resource.createdBy),
          h('dt', 'Created'), h('dd', time(resource.createdAt)),
          h('dt', 'Last updated'), h('dd', time(resource.lastUpdatedAt)),
          h('dt', 'Source'), h('dd', resource.source === 'config' ? 'config.toml' : 'the API'),
          h('dt', 'Required roles'), h('dd', (resource.requiredRoles || []).join(', ') || 'none')),
        h('details', h('summary', 'JSON'), h('pre.code', JSON.stringify(resource, null, 2)))));

    async function poll() {
      try {
        const [status, metrics] = await Promise.all([api(`${path}/status`), readMetrics()]);
        if (stopped) return;
        drawStatus(statusEl, resource, status);
        drawMetrics(metricsEl, kind, name, metrics);
      } catch (err) {
        if (!stopped) fill(statusEl, problemBox(err));
      }
      if (!stopped) timer = setTimeout(poll, POLL_MS);
    }
    poll();

    async function remove() {
      const ok = await confirmDialog(`Delete ${name}?`,
        `The ${kind} ${name} and its running replicas will be removed. This cannot be undone.`);
      if (!ok) return;
      try {
        await api(path, { method: 'DELETE' });
        notice(`${name} deleted`);
        location.hash = '#/';
      } catch (err) {
        fill(problem, problemBox(err));
        problem.focus();
      }
    }
  }).catch((err) => {
    if (!stopped) fill(main, h('h1', name), problemBox(err));
  });
  return () => { stopped = true; clearTimeout(timer); logs.stop(); };
}

function drawStatus(el, resource, status) {
  const desired = resource.url ? 1 : resource.replicaCount;
  fill(el,
    h('p.status-line', statusWords(status)),
    status.message ? h('div.alert.warn', h('strong', 'Reconciler: '), status.message) : null,
    h('dl.facts',
      h('dt', 'Ready'), h('dd', `${status.readyReplicas} of ${desired}`),
      h('dt', 'Updated'), h('dd', String(status.updatedReplicas)),
      h('dt', 'Available'), h('dd', String(status.availableReplicas)),
      h('dt', resource.url ? 'URL' : 'Image'), h('dd', h('code', status.image))),
    status.replicas && status.replicas.length
      ? h('div.table-wrap', h('table.replicas',
        h('caption.sr-only', 'Replicas'),
        h('thead', h('tr', ['Replica', 'State', 'Ready'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', status.replicas.map((r) => h('tr',
          h('td', String(r.instance)), h('td', r.state),
          h('td', h(`span.badge.${r.ready ? 'ok' : 'warn'}`, r.ready ? 'ready' : 'not ready')))))))
      : h('p.muted', 'No replica runs yet.'));
}

/** /metrics as text, or the reason it cannot be read (it needs the admin role by default). */
async function readMetrics() {
  try {
    return { text: await api('/metrics', { accept: 'text/plain' }) };
  } catch (err) {
    return { error: err };
  }
}

function drawMetrics(el, kind, name, metrics) {
  if (metrics.error) {
    fill(el, h('p.muted', 'Not readable with this token: ', metrics.error.detail));
    return;
  }
  const rows = seriesOf(metrics.text, kind, name);
  if (!rows.length) {
    fill(el, h('p.muted', 'No series for it yet (they appear with its first traffic).'));
    return;
  }
  fill(el, h('div.table-wrap', h('table.metrics',
    h('caption.sr-only', 'Metrics series'),
    h('thead', h('tr', ['Series', 'Labels', 'Value'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', rows.map(([series, labels, value]) =>
      h('tr', h('td', h('code', series)), h('td', labels), h('td.num', value)))))));
}

/** The samples of /metrics that belong to this resource (histogram buckets left out). */
export function seriesOf(text, kind, name) {
  const rows = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const [, series, labelText = '', value] = match;
    if (series.endsWith('_bucket')) continue;
    const labels = {};
    for (const [, key, raw] of labelText.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[key] = raw.replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
    }
    const byOwnLabel = labels[kind] === name;
    const byKindAndName = labels.kind === kind && labels.name === name;
    if (!byOwnLabel && !byKindAndName) continue;
    const naming = byOwnLabel ? [kind] : ['kind', 'name'];
    const rest = Object.entries(labels)
      .filter(([key]) => !naming.includes(key))
      .map(([key, v]) => `${key}=${v}`).join(', ');
    rows.push([series, rest, Number.isInteger(Number(value)) ? value : Number(value).toFixed(4)]);
  }
  return rows;
}
