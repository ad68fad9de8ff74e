// Playground: pick the tool router (/mcp) or an adapter, list its tools, fill a form generated
// from a tool's inputSchema, call it, and watch progress, the result, structuredContent, errors
// and the time taken, speaking MCP Streamable HTTP from the page.

import { api } from './api.js';
import { fill, h, nextId, problemBox } from './dom.js';
import { McpClient } from './mcp.js';
import { schemaForm } from './schemaform.js';

export function render(main, { target }) {
  const select = h('select', { id: nextId() }, h('option', { value: 'mcp' }, '/mcp (tool router: every registered tool)'));
  const serverEl = h('div.small.muted', { 'aria-live': 'polite' });
  const toolsEl = h('div.tool-list');
  const toolEl = h('div.tool-panel');
  let client = null;
  let stopped = false;

  fill(main,
    h('h1', 'Playground'),
    h('p.muted', 'Calls go through the gateway as any MCP client\'s would, with your token and permissions.'),
    h('form.inline.card', { on: { submit: (event) => { event.preventDefault(); connect(); } } },
      h('label', { for: select.id }, 'Server'), select,
      h('button', { type: 'submit' }, 'Connect')),
    serverEl,
    h('div.playground', h('section', { 'aria-labelledby': 'tools-h' }, h('h2#tools-h', 'Tools'), toolsEl), toolEl));

  api('/adapters').then((adapters) => {
    if (stopped) return;
    for (const adapter of adapters) {
      select.append(h('option', { value: `adapters/${adapter.name}` }, `/adapters/${adapter.name}/mcp`));
    }
    select.value = target && [...select.options].some((o) => o.value === target) ? target : 'mcp';
    connect();
  }).catch((err) => {
    if (!stopped) fill(serverEl, problemBox(err));
  });
  select.addEventListener('change', () => {
    history.replaceState(null, '', `#/playground/${select.value}`);
    connect();
  });

  async function connect() {
    await client?.close();
    const url = select.value === 'mcp' ? '/mcp' : `/${select.value.split('/').map(encodeURIComponent).join('/')}/mcp`;
    client = new McpClient(url);
    const mine = client;
    fill(serverEl, `Connecting to ${url}…`);
    fill(toolsEl);
    fill(toolEl);
    try {
      const info = await mine.connect();
      const tools = await mine.listTools();
      if (stopped || mine !== client) return;
      const server = info.serverInfo || {};
      fill(serverEl, `Connected to ${server.name || 'server'} ${server.version || ''} at `, h('code', url),
        `, protocol ${info.protocolVersion}, ${tools.length} tool${tools.length === 1 ? '' : 's'}.`);
      drawTools(tools);
    } catch (err) {
      if (!stopped && mine === client) fill(serverEl, problemBox(err));
    }
  }

  function drawTools(tools) {
    if (!tools.length) {
      fill(toolsEl, h('p.muted', 'No tools here that you may use.'));
      return;
    }
    const buttons = tools.map((tool) => h('li', h('button.tool', {
      type: 'button', dataset: { tool: tool.name }, 'aria-pressed': 'false',
      on: {
        click: (event) => {
          for (const b of toolsEl.querySelectorAll('button.tool')) b.setAttribute('aria-pressed', 'false');
          event.currentTarget.setAttribute('aria-pressed', 'true');
          drawTool(tool);
        },
      },
    }, h('strong', tool.name), tool.description ? h('span.sub', tool.description) : null)));
    fill(toolsEl, h('ul.plain', buttons));
  }

  function drawTool(tool) {
    const form = schemaForm(tool.inputSchema);
    const result = h('div.result', { 'aria-live': 'polite' });
    const callButton = h('button', { type: 'submit' }, `Call ${tool.name}`);
    fill(toolEl, h('section', { 'aria-labelledby': 'tool-h' },
      h('h2#tool-h', tool.name),
      tool.description ? h('p', tool.description) : null,
      h('form.card', { on: { submit: (event) => { event.preventDefault(); call(); } } },
        form.el, h('div.actions', callButton)),
      h('details', h('summary', 'inputSchema'), h('pre.code', JSON.stringify(tool.inputSchema, null, 2))),
      result));
    const first = toolEl.querySelector('input, select, textarea');
    if (first) first.focus();

    async function call() {
      let args;
      try {
        args = form.value();
      } catch (err) {
        fill(result, h('div.alert.error', { role: 'alert' }, err.message));
        return;
      }
      const progress = h('ol.progress');
      const bar = h('progress', { max: 1, value: 0, 'aria-label': 'Progress' });
      const timing = h('p.small.muted', 'Calling…');
      fill(result, timing);
      callButton.disabled = true;
      const started = performance.now();
      try {
        const answer = await client.callTool(tool.name, args, {
          onMessage: (message) => {
            if (message.method === 'notifications/progress') {
              const p = message.params || {};
              if (!progress.isConnected) result.append(h('h3', 'Progress'), bar, progress);
              if (p.total) { bar.max = p.total; bar.value = p.progress; }
              progress.append(h('li', `${p.progress}${p.total ? ` / ${p.total}` : ''}`,
                p.message ? ` · ${p.message}` : '', h('span.muted', ` (${Math.round(performance.now() - started)} ms)`)));
            } else if (message.method === 'notifications/message') {
              result.append(h('p.small', `[${message.params?.level}] `, JSON.stringify(message.params?.data)));
            }
          },
        });
        const ms = Math.round(performance.now() - started);
        timing.textContent = `Answered in ${ms} ms.`;
        timing.className = 'small timing';
        result.append(drawAnswer(answer));
      } catch (err) {
        timing.textContent = `Failed after ${Math.round(performance.now() - started)} ms.`;
        result.append(problemBox(err));
      } finally {
        callButton.disabled = false;
      }
    }
  }

  return () => { stopped = true; client?.close(); };
}

function drawAnswer(answer) {
  if (answer.error) {
    return h('div.alert.error.answer', { role: 'alert' },
      h('strong', `JSON-RPC error ${answer.error.code}: `), answer.error.message,
      answer.error.data !== undefined ? h('pre.code', JSON.stringify(answer.error.data, null, 2)) : null);
  }
  const result = answer.result || {};
  const blocks = (result.content || []).map((block) => {
    if (block.type === 'text') return h('pre.content', pretty(block.text));
    if (block.type === 'resource_link') return h('p', 'Resource link: ', h('code', block.uri));
    return h('p.muted', `[${block.type} content${block.mimeType ? `, ${block.mimeType}` : ''}]`);
  });
  return h(`div.answer${result.isError ? '.is-error' : ''}`,
    h('h3', result.isError ? h('span.badge.bad', 'Tool error') : 'Result'),
    blocks.length ? blocks : h('p.muted', 'No content.'),
    result.structuredContent !== undefined
      ? [h('h3', 'structuredContent'), h('pre.code.structured', JSON.stringify(result.structuredContent, null, 2))]
      : null,
    h('details', h('summary', 'Raw response'), h('pre.code', JSON.stringify(answer, null, 2))));
}

/** A text block that holds a JSON object or array, indented; any other text as it is. */
function pretty(text) {
  try {
    const value = JSON.parse(text);
    if (value && typeof value === 'object') return JSON.stringify(value, null, 2);
  } catch { /* plain text */ }
  return text;
}
