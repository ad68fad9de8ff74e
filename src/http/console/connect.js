// Connect: the configuration other MCP clients need for the tool router and each adapter,
// with one-click copy. URLs are this page's own origin, as clients reach the gateway.

import { api } from './api.js';
import { copy, fill, h, problemBox } from './dom.js';

export function render(main) {
  const list = h('div', h('p.muted', 'Loading…'));
  fill(main,
    h('h1', 'Connect a client'),
    h('p', 'Point any MCP client at these URLs. With auth on, clients that follow the MCP authorization spec (VS Code among them) find the issuer from the gateway\'s 401 and sign you in.'),
    list);
  let stopped = false;
  api('/adapters').then((adapters) => {
    if (stopped) return;
    const servers = [
      { name: 'gateway-tools', url: `${location.origin}/mcp`, what: 'The tool router: every registered tool you may use' },
      ...adapters.map((a) => ({
        name: a.name,
        url: `${location.origin}/adapters/${encodeURIComponent(a.name)}/mcp`,
        what: a.description || `Adapter ${a.name}`,
      })),
    ];
    fill(list,
      snippet('VS Code', '.vscode/mcp.json (or the user mcp.json)', JSON.stringify({
        servers: Object.fromEntries(servers.map((s) => [s.name, { type: 'http', url: s.url }])),
      }, null, 2)),
      snippet('Claude Code', 'one command per server', servers
        .map((s) => `claude mcp add --transport http ${s.name} ${s.url}`).join('\n')),
      snippet('Cursor, Windsurf and other mcpServers clients', 'mcp.json', JSON.stringify({
        mcpServers: Object.fromEntries(servers.map((s) => [s.name, { type: 'http', url: s.url }])),
      }, null, 2)),
      snippet('Claude Desktop', 'claude_desktop_config.json, through the mcp-remote bridge', JSON.stringify({
        mcpServers: Object.fromEntries(servers.map((s) => [s.name, { command: 'npx', args: ['mcp-remote', s.url] }])),
      }, null, 2)),
      h('section', { 'aria-labelledby': 'urls-h' }, h('h2#urls-h', 'Each server'),
        h('div.table-wrap', h('table',
          h('thead', h('tr', ['Name', 'URL', ''].map((t) => h('th', { scope: 'col' }, t)))),
          h('tbody', servers.map((s) => h('tr',
            h('th', { scope: 'row' }, s.name, h('span.sub', s.what)),
            h('td', h('code', s.url)),
            h('td', h('button.secondary.small', { type: 'button', 'aria-label': `Copy the URL of ${s.name}`,
              on: { click: () => copy(s.url) } }, 'Copy URL')))))))));
  }).catch((err) => {
    if (!stopped) fill(list, problemBox(err));
  });
  return () => { stopped = true; };
}

function snippet(title, where, text) {
  const id = `snippet-${title.toLowerCase().replace(/[^a-z]+/g, '-')}`;
  return h('section.snippet', { 'aria-labelledby': id },
    h('div.page-head',
      h('h2', { id }, title, h('span.sub', where)),
      h('button.secondary.small', { type: 'button', 'aria-label': `Copy the ${title} configuration`,
        on: { click: () => copy(text) } }, 'Copy')),
    h('pre.code', text));
}
