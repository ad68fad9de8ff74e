// Signing in, with auth mode jwt: a pasted access token, or (when the gateway names a public
// OAuth client in console.oauth_client_id) the authorization code flow with PKCE against its
// issuer. Either way the token is kept in this tab's sessionStorage only.

import { api, auth, fetchRetrying, issuerHint } from './api.js';
import { fill, h, nextId } from './dom.js';

const PENDING_KEY = 'mcp-gateway.pkce';

/** The gateway's /ui/settings.json, fetched once. */
let settings;
export async function consoleSettings() {
  if (!settings) {
    settings = fetchRetrying('/ui/settings.json', { credentials: 'omit' })
      .then((r) => (r.ok ? r.json() : {}))
      .catch(() => ({}));
  }
  return settings;
}

/** The sign-in page; `done()` goes on to `next`, where the user was going. */
export function signInPage(el, { done, error, next }) {
  const id = nextId();
  const area = h('textarea', { id, rows: 5, required: true, autocomplete: 'off', spellcheck: 'false',
    'aria-describedby': `${id}-hint` });
  const status = h('div#signin-status', { role: 'alert' }, error ? h('div.alert.error', error) : null);
  const issuer = h('p.hint');
  const oauthBox = h('div');
  issuerHint().then((value) => {
    if (value) fill(issuer, 'Tokens come from ', h('code', value), ' (the gateway\'s issuer).');
  });
  consoleSettings().then(({ oauth }) => {
    if (!oauth) return;
    const host = (() => { try { return new URL(oauth.issuer).host; } catch { return oauth.issuer; } })();
    fill(oauthBox, h('div.card.signin',
      h('button#oauth-signin', { type: 'button', on: { click: () => startOAuth(oauth, status, next) } },
        `Sign in with ${host}`),
      h('p.hint', 'Authorization code flow with PKCE at ', h('code', oauth.issuer), '.')),
    h('p.muted', 'Or paste a token:'));
  });
  const form = h('form.card.signin', {
    on: {
      submit: async (event) => {
        event.preventDefault();
        auth.token = area.value.trim();
        fill(status);
        try {
          await api('/adapters');
          done();
        } catch (err) {
          auth.token = '';
          fill(status, h('div.alert.error', err.status === 401
            ? 'The gateway refused this token (invalid token: expired, wrong audience or issuer, or not signed by its keys).'
            : err.detail));
        }
      },
    },
  },
  h('label', { for: id }, 'Access token'),
  area,
  h('p.hint', { id: `${id}-hint` },
    'Paste a bearer token (JWT) for this gateway. It is kept in this tab only (sessionStorage) and sent as an Authorization header; closing the tab forgets it.'),
  issuer,
  h('div.actions', h('button', { type: 'submit' }, 'Sign in')));
  fill(el,
    h('h1', 'Sign in'),
    h('p', 'This gateway asks for a token (auth mode jwt). The console sees and may do exactly what the API lets this token see and do.'),
    status, oauthBox, form);
}

function base64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

async function discover(issuer) {
  const response = await fetchRetrying(`${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`,
    { credentials: 'omit' });
  if (!response.ok) throw new Error(`the issuer's discovery document answered HTTP ${response.status}`);
  return response.json();
}

/** Leaves for the issuer's authorization endpoint, with a fresh PKCE verifier and state. */
async function startOAuth(oauth, status, next) {
  try {
    const doc = await discover(oauth.issuer);
    const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
    const state = base64url(crypto.getRandomValues(new Uint8Array(16)));
    const challenge = base64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
    const redirectUri = `${location.origin}/ui`;
    sessionStorage.setItem(PENDING_KEY, JSON.stringify({
      verifier, state, redirectUri, tokenEndpoint: doc.token_endpoint, clientId: oauth.clientId,
      hash: next && next !== '#/signin' ? next : '#/',
    }));
    const url = new URL(doc.authorization_endpoint);
    for (const [key, value] of Object.entries({
      response_type: 'code', client_id: oauth.clientId, redirect_uri: redirectUri,
      scope: oauth.scopes, state, code_challenge: challenge, code_challenge_method: 'S256',
    })) url.searchParams.set(key, value);
    location.assign(url.toString());
  } catch (err) {
    fill(status, h('div.alert.error', `Cannot start the sign-in: ${err.message}`));
  }
}

/**
 * Back from the issuer (`/ui?code=...&state=...`): trades the code for a token, and puts the
 * address back to the page the sign-in started from. Throws with what went wrong.
 */
export async function finishOAuth() {
  const params = new URLSearchParams(location.search);
  if (!params.has('code') && !params.has('error')) return;
  const pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) || 'null');
  sessionStorage.removeItem(PENDING_KEY);
  history.replaceState(null, '', `/ui${pending?.hash || '#/'}`);
  if (params.has('error')) {
    throw new Error(`the issuer said ${params.get('error')}: ${params.get('error_description') || ''}`);
  }
  if (!pending || pending.state !== params.get('state')) {
    throw new Error('the sign-in answer does not match a sign-in started in this tab; try again');
  }
  const response = await fetch(pending.tokenEndpoint, {
    method: 'POST',
    credentials: 'omit',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code', code: params.get('code'), redirect_uri: pending.redirectUri,
      client_id: pending.clientId, code_verifier: pending.verifier,
    }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok || !body.access_token) {
    throw new Error(`the token endpoint refused the code: ${body.error_description || body.error || `HTTP ${response.status}`}`);
  }
  auth.token = body.access_token;
}
