// t01-health -- /api/health, unknown paths and wrong methods.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, ok, fails, join, show } from './lib.mjs';

test('GET /api/health answers ok without a session', async () => {
  const r = await api('GET', '/api/health');
  const data = ok(r, 200);
  assert.deepEqual(data, { status: 'ok', db: 'ok' });
  assert.deepEqual(Object.keys(r.json).sort(), ['data', 'success']);
});

test('GET /api/health ignores a query string and a bad token', async () => {
  const r = await api('GET', '/api/health?x=1', { headers: { authorization: 'Bearer nonsense' } });
  assert.deepEqual(ok(r, 200), { status: 'ok', db: 'ok' });
});

test('unknown /api/ paths are 404 not_found in the JSON envelope', async () => {
  const { token } = await join('t01');
  for (const p of [
    '/api/nope',
    '/api/',
    '/api/healthz',
    '/api/health/',
    '/api/health/x',
    '/api/rooms/general/extra',
    '/api/messages/',
    '/api/messages',
    '/api/users/',
    '/api/me/x',
    '/api/JOIN',
  ]) {
    for (const method of ['GET', 'POST']) {
      const r = await api(method, p, { token, body: method === 'POST' ? {} : undefined });
      assert.ok(r.status === 404, `${method} ${p}: ${show(r)}`);
      fails(r, 404, 'not_found');
    }
  }
});

test('a wrong method on a known path is 405 with Allow', async () => {
  const { token } = await join('t01');
  const cases = [
    ['POST', '/api/health', ['GET']],
    ['DELETE', '/api/health', ['GET']],
    ['GET', '/api/join', ['POST']],
    ['PUT', '/api/join', ['POST']],
    ['GET', '/api/session', ['DELETE']],
    ['POST', '/api/session', ['DELETE']],
    ['POST', '/api/me', ['GET']],
    ['DELETE', '/api/rooms', ['GET', 'POST']],
    ['PATCH', '/api/rooms', ['GET', 'POST']],
    ['POST', '/api/rooms/general', ['GET']],
    ['DELETE', '/api/rooms/general', ['GET']],
    ['PUT', '/api/messages/general', ['GET', 'POST']],
    ['DELETE', '/api/messages/general', ['GET', 'POST']],
    ['POST', '/api/users/general', ['GET']],
  ];
  for (const [method, p, allowed] of cases) {
    const r = await api(method, p, { token, body: ['POST', 'PUT', 'PATCH'].includes(method) ? {} : undefined });
    fails(r, 405, 'method_not_allowed');
    const allow = r.headers.get('allow');
    assert.ok(allow, `Allow header missing for ${method} ${p}`);
    const got = allow.split(',').map((s) => s.trim().toUpperCase()).filter(Boolean).sort();
    assert.deepEqual(got.filter((m) => m !== 'HEAD' && m !== 'OPTIONS'), [...allowed].sort(), `${method} ${p}: Allow ${allow}`);
  }
});

test('success and error answers both carry Content-Type application/json', async () => {
  const r = await api('GET', '/api/health');
  assert.match(r.headers.get('content-type') || '', /^application\/json/);
  const r2 = await api('GET', '/api/does-not-exist');
  assert.match(r2.headers.get('content-type') || '', /^application\/json/);
  const r3 = await api('GET', '/api/me');
  assert.match(r3.headers.get('content-type') || '', /^application\/json/);
});
