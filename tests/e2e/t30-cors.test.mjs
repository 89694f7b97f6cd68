// t30-cors.test.mjs -- CORS for the REST API (DESIGN.md section 7): the
// origins of CHAT_ALLOWED_ORIGINS (the harness allows http://allowed.example)
// get preflights answered and their answers marked; every other origin
// gets no CORS header at all, never "*". The browser's side of it is
// tests/browser/t05-cors.test.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { api, ok, fails, join, BASE } from './lib.mjs';

const ALLOWED = (process.env.CHAT_ALLOWED_ORIGINS || '').split(',')[0].trim();
assert.ok(ALLOWED, 'the harness sets CHAT_ALLOWED_ORIGINS');

const CORS_HEADERS = [
  'access-control-allow-origin',
  'access-control-allow-credentials',
  'access-control-allow-methods',
  'access-control-allow-headers',
  'access-control-max-age',
  'access-control-expose-headers',
];

function noCors(r, what) {
  for (const h of CORS_HEADERS) assert.equal(r.headers.get(h), null, `${what}: ${h} = ${r.headers.get(h)}`);
}

function preflight(path, origin, method = 'POST', headers = 'authorization, content-type') {
  const h = { 'access-control-request-method': method, 'access-control-request-headers': headers };
  if (origin !== undefined) h.origin = origin;
  return api('OPTIONS', path, { headers: h });
}

test('preflight from an allowed origin: 204 with the resource\'s methods, headers, credentials, max-age', async () => {
  for (const [path, methods] of [
    ['/api/messages/general', ['GET', 'POST']],
    ['/api/rooms', ['GET', 'POST']],
    ['/api/me', ['GET']],
    ['/api/session', ['DELETE']],
    ['/api/join', ['POST']],
  ]) {
    const r = await preflight(path, ALLOWED);
    assert.equal(r.status, 204, `${path}: ${r.status} ${r.text}`);
    assert.equal(r.headers.get('access-control-allow-origin'), ALLOWED, path);
    assert.equal(r.headers.get('access-control-allow-credentials'), 'true', path);
    const got = r.headers.get('access-control-allow-methods').split(/,\s*/).sort();
    assert.deepEqual(got, [...methods].sort(), path);
    const allowHeaders = r.headers.get('access-control-allow-headers').toLowerCase();
    assert.match(allowHeaders, /\bauthorization\b/);
    assert.match(allowHeaders, /\bcontent-type\b/);
    assert.ok(Number(r.headers.get('access-control-max-age')) > 0, path);
    assert.match(r.headers.get('vary') || '', /\borigin\b/i, path);
    assert.equal(r.text, '', `${path}: a preflight has no body`);
  }
});

test('answers to an allowed origin carry Allow-Origin and Allow-Credentials, errors included', async () => {
  const u = await join('cors');
  const me = await api('GET', '/api/me', { token: u.token, headers: { origin: ALLOWED } });
  ok(me);
  assert.equal(me.headers.get('access-control-allow-origin'), ALLOWED);
  assert.equal(me.headers.get('access-control-allow-credentials'), 'true');
  assert.match(me.headers.get('vary') || '', /\borigin\b/i);
  assert.match(me.headers.get('access-control-expose-headers') || '', /retry-after/i);
  const post = await api('POST', '/api/join', { headers: { origin: ALLOWED }, body: { username: `c${Date.now().toString(36)}` } });
  ok(post, 201);
  assert.equal(post.headers.get('access-control-allow-origin'), ALLOWED);
  const unauth = await api('GET', '/api/me', { headers: { origin: ALLOWED } });
  fails(unauth, 401, 'unauthorized');
  assert.equal(unauth.headers.get('access-control-allow-origin'), ALLOWED, 'a browser must be able to read the 401');
  const missing = await api('GET', '/api/nothing-here', { headers: { origin: ALLOWED } });
  fails(missing, 404, 'not_found');
  assert.equal(missing.headers.get('access-control-allow-origin'), ALLOWED);
  // The list is case-insensitive, as for WebSockets.
  const upper = await api('GET', '/api/health', { headers: { origin: ALLOWED.toUpperCase() } });
  assert.equal(upper.headers.get('access-control-allow-origin'), ALLOWED.toUpperCase());
});

test('any other origin: no CORS headers at all, never *; its preflight is no 204', async () => {
  const u = await join('nocors');
  const others = [
    'http://evil.example',
    `${ALLOWED}.evil.example`,
    `${ALLOWED}:8080`,
    ALLOWED.replace('http://', 'https://'),
    'null',
    '*',
    `${ALLOWED}, http://evil.example`,
    `${ALLOWED}/`,
    'http://allowed.example\u00e9',
    'x'.repeat(300),
  ];
  for (const origin of others) {
    let r;
    try {
      r = await api('GET', '/api/me', { token: u.token, headers: { origin } });
    } catch {
      continue; // fetch itself refuses a header value it cannot send
    }
    ok(r);
    noCors(r, `GET from ${origin}`);
    const p = await preflight('/api/messages/general', origin);
    assert.notEqual(p.status, 204, `preflight from ${origin}`);
    noCors(p, `preflight from ${origin}`);
  }
  // And without any Origin (curl, a server): no CORS headers either.
  const plain = await api('GET', '/api/me', { token: u.token });
  ok(plain);
  noCors(plain, 'no Origin');
  const p = await preflight('/api/rooms', undefined);
  assert.equal(p.status, 405, 'OPTIONS without Origin is a method the API does not take');
  noCors(p, 'OPTIONS without Origin');
});

test('same-origin requests are unaffected', async () => {
  const u = await join('same');
  const origin = new URL(BASE).origin;
  const r = await api('GET', '/api/me', { token: u.token, headers: { origin } });
  ok(r);
  noCors(r, 'same origin');
});

test('preflight of a path outside the API: nginx answers, no CORS headers', async () => {
  for (const path of ['/', '/index.html', '/favicon.svg']) {
    const r = await preflight(path, ALLOWED);
    assert.notEqual(r.status, 204, `${path}: ${r.status}`);
    noCors(r, path);
  }
  // An unknown /api/ path: 404 in the envelope, marked for the allowed origin.
  const r = await preflight('/api/nope', ALLOWED);
  fails(r, 404, 'not_found');
});
