// A small MCP client over Streamable HTTP (the 2025 revision with sessions), as any MCP client
// speaks it: initialize, notifications/initialized, then requests whose answers come as JSON or
// as an SSE stream carrying notifications (progress) before the response.

import { authHeaders, Problem } from './api.js';

const PROTOCOL_VERSION = '2025-06-18';

export class McpClient {
  constructor(url) {
    this.url = url;
    this.session = null;
    this.protocol = null;
    this.lastId = 0;
    this.server = null;
  }

  /** initialize + notifications/initialized; resolves to the server's initialize result. */
  async connect() {
    const { result, error } = await this.request('initialize', {
      protocolVersion: PROTOCOL_VERSION,
      capabilities: {},
      clientInfo: { name: 'mcp-gateway-console', version: '1.0.0' },
    });
    if (error) throw new Error(`initialize failed: ${error.message} (code ${error.code})`);
    this.protocol = result.protocolVersion;
    this.server = result;
    await this.notify('notifications/initialized');
    return result;
  }

  /** Every tool, following nextCursor. */
  async listTools() {
    const tools = [];
    let cursor;
    do {
      const { result, error } = await this.request('tools/list', cursor ? { cursor } : {});
      if (error) throw new Error(`tools/list failed: ${error.message} (code ${error.code})`);
      tools.push(...(result.tools || []));
      cursor = result.nextCursor;
    } while (cursor);
    return tools;
  }

  /** tools/call with a progress token; `onMessage` sees each notification as it arrives. */
  callTool(name, args, { onMessage, signal } = {}) {
    const progressToken = `console-${Date.now()}`;
    return this.request('tools/call', { name, arguments: args, _meta: { progressToken } },
      { onMessage, signal });
  }

  async notify(method, params) {
    const response = await this.post({ jsonrpc: '2.0', method, ...(params ? { params } : {}) });
    await response.body?.cancel();
  }

  /** One request; resolves to the JSON-RPC response ({result} or {error}). */
  async request(method, params, { onMessage, signal } = {}) {
    this.lastId += 1;
    const id = this.lastId;
    const response = await this.post({ jsonrpc: '2.0', id, method, params }, signal);
    const session = response.headers.get('Mcp-Session-Id');
    if (session) this.session = session;
    const type = response.headers.get('Content-Type') || '';
    if (type.startsWith('text/event-stream')) return readStream(response, id, onMessage);
    const message = await response.json();
    if (Array.isArray(message)) return message.find((m) => m.id === id) || {};
    return message;
  }

  async post(message, signal) {
    const headers = {
      ...authHeaders(),
      'Content-Type': 'application/json',
      Accept: 'application/json, text/event-stream',
    };
    if (this.session) headers['Mcp-Session-Id'] = this.session;
    if (this.protocol) headers['MCP-Protocol-Version'] = this.protocol;
    const response = await fetch(this.url, {
      method: 'POST', headers, body: JSON.stringify(message), signal, credentials: 'omit',
    });
    if (!response.ok) throw await httpError(response, this.session);
    return response;
  }

  /** Ends the session (DELETE); errors are ignored, the session is over for us either way. */
  async close() {
    if (!this.session) return;
    const headers = { ...authHeaders(), 'Mcp-Session-Id': this.session };
    this.session = null;
    try {
      await fetch(this.url, { method: 'DELETE', headers, credentials: 'omit' });
    } catch { /* gone already */ }
  }
}

async function httpError(response, session) {
  const text = await response.text();
  let body = {};
  try { body = JSON.parse(text); } catch { body = {}; }
  const detail = body.detail || body.error?.message || text.slice(0, 300) || response.statusText;
  const hint = response.status === 404 && session ? ' (the session ended: connect again)' : '';
  return new Problem(response.status, { title: response.statusText, detail: detail + hint });
}

/** Reads an SSE answer until the response to `id`, handing notifications to `onMessage`. */
async function readStream(response, id, onMessage) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error('the stream ended before the response');
      buffer += value;
      let end;
      while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, '');
        const data = block.split(/\r?\n/)
          .filter((line) => line.startsWith('data:'))
          .map((line) => line.slice(5).replace(/^ /, ''))
          .join('\n');
        if (!data) continue;
        const message = JSON.parse(data);
        if (message.id === id && ('result' in message || 'error' in message)) return message;
        if (onMessage) onMessage(message);
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}
