// The console's shell: hash routes to pages, the sign-in page, who is signed in. Each page is a
// module whose render(main, params) draws into <main> and returns a function that stops what it
// started (polls, log follows, MCP sessions) when the page is left.

import { auth, claims } from './api.js';
import { fill, h } from './dom.js';
import { finishOAuth, signInPage } from './signin.js';
import * as overview from './overview.js';
import * as edit from './edit.js';
import * as detail from './detail.js';
import * as playground from './playground.js';
import * as connect from './connect.js';

const main = document.getElementById('main');
let leave = () => {};
let wanted = '#/';
let firstPage = true;
/** Why the last sign-in failed, shown once on the sign-in page. */
let signInError = null;

const routes = [
  [/^#?\/?$/, 'overview', () => overview.render],
  [/^#\/new\/(adapter|tool)$/, 'new', (m) => (el) => edit.render(el, { kind: m[1] })],
  [/^#\/(adapters|tools)\/([^/]+)\/edit$/, 'overview',
    (m) => (el) => edit.render(el, { kind: kindOf(m[1]), name: decodeURIComponent(m[2]) })],
  [/^#\/(adapters|tools)\/([^/]+)$/, 'overview',
    (m) => (el) => detail.render(el, { kind: kindOf(m[1]), name: decodeURIComponent(m[2]) })],
  [/^#\/playground(?:\/(.*))?$/, 'playground',
    (m) => (el) => playground.render(el, { target: m[1] ? decodeURIComponent(m[1]) : '' })],
  [/^#\/connect$/, 'connect', () => connect.render],
  [/^#\/signin$/, 'signin', () => signIn],
];

function kindOf(collectionName) {
  return collectionName === 'tools' ? 'tool' : 'adapter';
}

function route() {
  leave();
  leave = () => {};
  const hash = location.hash || '#/';
  const found = routes.find(([pattern]) => pattern.test(hash));
  if (!found) {
    fill(main, h('h1', 'Not found'), h('p', 'No page at ', h('code', hash), '. ',
      h('a', { href: '#/' }, 'Go to the overview.')));
    return;
  }
  const [pattern, nav, page] = found;
  for (const link of document.querySelectorAll('[data-nav]')) {
    if (link.dataset.nav === nav) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  if (nav !== 'signin') wanted = hash;
  main.replaceChildren();
  const cleanup = page(hash.match(pattern))(main);
  leave = typeof cleanup === 'function' ? cleanup : () => {};
  // After navigating, focus moves to the new page's heading (as a screen reader user
  // expects); on the first page it stays at the top, so the first Tab reaches the skip link.
  const heading = main.querySelector('h1');
  if (heading) {
    heading.tabIndex = -1;
    if (!firstPage) heading.focus({ preventScroll: true });
    document.title = `${heading.textContent} · mcp-gateway`;
  }
  firstPage = false;
  showWho();
}

function showWho() {
  const who = document.getElementById('who');
  if (!auth.token) {
    fill(who);
    return;
  }
  const c = claims(auth.token) || {};
  const user = c.oid || c.sub || 'signed in';
  const roles = Array.isArray(c.roles) ? c.roles.join(', ') : (c.roles || '');
  fill(who,
    h('span', { title: roles ? `roles: ${roles}` : 'no roles' }, user),
    h('button.link', {
      type: 'button',
      on: { click: () => { auth.token = ''; location.hash = '#/signin'; showWho(); } },
    }, 'Sign out'));
}

/** The sign-in page, then on to where the user was going. */
function signIn(el) {
  const next = wanted && wanted !== '#/signin' ? wanted : '#/';
  signInPage(el, { error: signInError, next, done: () => { location.hash = next; } });
  signInError = null;
}

auth.onUnauthenticated = () => {
  if (location.hash !== '#/signin') {
    auth.token = '';
    location.hash = '#/signin';
  }
};

window.addEventListener('hashchange', route);
// Back from the issuer's sign-in page: trade the code for a token first.
finishOAuth().catch((err) => {
  signInError = err.message;
  history.replaceState(null, '', '/ui#/signin');
}).finally(route);
