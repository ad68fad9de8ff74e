// The console's one way to the REST API: fetch with the tab's bearer token (if any), answers
// as JSON, errors as the API's problem documents. The token lives in sessionStorage only: it
// goes with the tab, never into a cookie (so no request can carry it without this code).

const TOKEN_KEY = 'mcp-gateway.token';

export const auth = {
  get token() { return sessionStorage.getItem(TOKEN_KEY) || ''; },
  set token(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
  /** What the gateway said in its last 401 (WWW-Authenticate), for the sign-in page. */
  challenge: null,
  /** Called when the API answers 401: the app shows the sign-in page. */
  onUnauthenticated: () => {},
};

/** The Authorization header for the API and the MCP endpoints (none without a token). */
export function authHeaders() {
  return auth.token ? { Authorization: `Bearer ${auth.token}` } : {};
}

/** An error answer of the API: status, detail and the field errors of a 400. */
export class Problem extends Error {
  constructor(status, body) {
    super(body.detail || body.title || `HTTP ${status}`);
    this.status = status;
    this.title = body.title || '';
    this.detail = body.detail || this.message;
    this.errors = Array.isArray(body.errors) ? body.errors : [];
  }
}

/**
 * fetch, tried again (twice, briefly apart) when a GET fails at the network level: Chromium
 * aborts the requests in flight whenever the machine's network changes (Docker adding or
 * removing a container's interface does it, ERR_NETWORK_CHANGED), and a GET is safe to repeat.
 */
export async function fetchRetrying(path, init = {}) {
  const method = (init.method || 'GET').toUpperCase();
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await fetch(path, init);
    } catch (err) {
      if (err.name === 'AbortError' || method !== 'GET' || attempt >= 2) throw err;
      await new Promise((resolve) => setTimeout(resolve, 250 * (attempt + 1)));
    }
  }
}

/** Calls the API. Resolves to the parsed JSON (or text, or null for 204); rejects with Problem. */
export async function api(path, { method = 'GET', body, signal, accept } = {}) {
  const response = await apiResponse(path, { method, body, signal, accept });
  if (response.status === 204) return null;
  const type = response.headers.get('Content-Type') || '';
  return type.includes('json') ? response.json() : response.text();
}

/** Calls the API and resolves to the successful Response itself (for streamed bodies). */
export async function apiResponse(path, { method = 'GET', body, signal, accept } = {}) {
  const headers = { ...authHeaders(), Accept: accept || 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetchRetrying(path, {
      method, headers, signal, credentials: 'omit', cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new Problem(0, { title: 'Network error', detail: `the gateway did not answer (${err.message})` });
  }
  if (response.status === 401) {
    auth.challenge = response.headers.get('WWW-Authenticate');
    auth.onUnauthenticated();
  }
  if (!response.ok) throw new Problem(response.status, await problemBody(response));
  return response;
}

async function problemBody(response) {
  const text = await response.text();
  try {
    const body = JSON.parse(text);
    if (body && typeof body === 'object') return body;
  } catch { /* not JSON */ }
  return { title: response.statusText, detail: text.slice(0, 500) || `HTTP ${response.status}` };
}

/** `adapters` or `tools` for a kind. */
export const collection = (kind) => (kind === 'tool' ? 'tools' : 'adapters');

/** The claims of a JWT, for showing who is signed in (the gateway checks the token, not this). */
export function claims(token) {
  try {
    const payload = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = decodeURIComponent(Array.from(atob(payload),
      (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join(''));
    return JSON.parse(json);
  } catch {
    return null;
  }
}

/** The issuer named in the protected-resource metadata the 401 pointed at, if any. */
export async function issuerHint() {
  const match = /resource_metadata="([^"]+)"/.exec(auth.challenge || '');
  if (!match) return null;
  try {
    const url = new URL(match[1]);
    if (url.origin !== location.origin) return null;
    const response = await fetchRetrying(url.pathname, { credentials: 'omit' });
    const doc = await response.json();
    return (doc.authorization_servers || [])[0] || null;
  } catch {
    return null;
  }
}
