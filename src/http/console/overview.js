// Overview: every adapter and tool the caller may read, with desired and ready replicas and
// the status in words, polled every few seconds while the page is open.

import { api, collection } from './api.js';
import { fill, h, problemBox } from './dom.js';

const POLL_MS = 3000;

export function render(main) {
  const updated = h('p.muted.small', { 'aria-live': 'off' });
  const sections = {
    adapter: h('section', { 'aria-labelledby': 'adapters-h' }),
    tool: h('section', { 'aria-labelledby': 'tools-h' }),
  };
  fill(main,
    h('div.page-head',
      h('h1', 'Overview'),
      h('div.actions',
        h('a.button', { href: '#/new/adapter' }, 'New adapter'),
        h('a.button.secondary', { href: '#/new/tool' }, 'New tool'))),
    updated, sections.adapter, sections.tool);
  let stopped = false;
  let timer;
  async function poll() {
    try {
      const [adapters, tools] = await Promise.all([api('/adapters'), api('/tools')]);
      const statuses = await Promise.all([
        ...adapters.map((r) => statusOf('adapter', r)),
        ...tools.map((r) => statusOf('tool', r)),
      ]);
      if (stopped) return;
      draw(sections.adapter, 'adapter', adapters, statuses.slice(0, adapters.length));
      draw(sections.tool, 'tool', tools, statuses.slice(adapters.length));
      fill(updated, `Updated ${new Date().toLocaleTimeString()}; refreshes every ${POLL_MS / 1000} s.`);
    } catch (err) {
      if (stopped) return;
      fill(updated, problemBox(err));
    }
    if (!stopped) timer = setTimeout(poll, POLL_MS);
  }
  poll();
  return () => { stopped = true; clearTimeout(timer); };
}

async function statusOf(kind, resource) {
  try {
    return await api(`/${collection(kind)}/${encodeURIComponent(resource.name)}/status`);
  } catch (err) {
    return { error: err };
  }
}

function draw(section, kind, resources, statuses) {
  const plural = kind === 'tool' ? 'Tools' : 'Adapters';
  const headingId = kind === 'tool' ? 'tools-h' : 'adapters-h';
  if (!resources.length) {
    fill(section, h('h2', { id: headingId }, plural),
      h('p.empty', `No ${plural.toLowerCase()} you may read. `,
        h('a', { href: `#/new/${kind}` }, `Create one.`)));
    return;
  }
  const rows = resources.map((resource, i) => {
    const status = statuses[i] || {};
    const desired = resource.url ? 1 : resource.replicaCount;
    const href = `#/${collection(kind)}/${encodeURIComponent(resource.name)}`;
    return h('tr', { dataset: { name: resource.name } },
      h('th', { scope: 'row' }, h('a', { href }, resource.name),
        resource.description ? h('span.sub', resource.description) : null),
      h('td', { 'data-label': 'Image or URL' }, h('code', source(resource))),
      h('td.num', { 'data-label': 'Ready / desired' },
        status.error ? '?' : `${status.readyReplicas ?? 0} / ${desired}`),
      h('td', { 'data-label': 'Status' }, statusWords(status)),
      h('td', { 'data-label': 'Created by' }, resource.createdBy,
        resource.source === 'config' ? h('span.tag', 'config.toml') : null));
  });
  fill(section,
    h('h2', { id: headingId }, plural, h('span.count', ` (${resources.length})`)),
    h('div.table-wrap', h('table.resources',
      h('caption.sr-only', `${plural}: ready and desired replicas, status`),
      h('thead', h('tr', ['Name', 'Image or URL', 'Ready / desired', 'Status', 'Created by']
        .map((title) => h('th', { scope: 'col' }, title)))),
      h('tbody', rows))));
}

export function source(resource) {
  if (resource.url) return resource.url;
  return `${resource.imageName}:${resource.imageVersion || 'latest'}`;
}

/** The status in words, with a badge whose colour repeats (never replaces) the words. */
export function statusWords(status) {
  if (status.error) return h('span.badge.bad', status.error.detail || 'unknown');
  const healthy = status.replicaStatus === 'Healthy' && !status.message;
  const failed = /fail|error|not found|unreachable|does not answer/i.test(status.message || '');
  const kind = healthy ? 'ok' : failed ? 'bad' : 'warn';
  return h('span.status',
    h(`span.badge.${kind}`, status.replicaStatus || 'Unknown'),
    status.message ? h('span.message', status.message) : null);
}
