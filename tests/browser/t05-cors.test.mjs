// A site's frontend on another origin calls the REST API from a real
// browser (DESIGN.md section 7, CORS): a page served by a second web server
// (node, on CORS_PORT) at http://localhost:CORS_PORT, an origin that
// tests/browser/run.sh puts in CHAT_ALLOWED_ORIGINS, signs in with a
// site-minted JWT and with a session token; the same page at
// http://127.0.0.1:CORS_PORT, an origin not listed, is refused: fetch rejects.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import http from 'node:http';
import { after, before, test } from 'node:test';
import * as L from './lib.mjs';

const CORS_PORT = Number(process.env.CHAT_CORS_TEST_PORT || 18182);
const ALLOWED = `http://localhost:${CORS_PORT}`;
const REFUSED = `http://127.0.0.1:${CORS_PORT}`;
const SECRET = process.env.CHAT_JWT_SECRET;

let browser;
const servers = [];

function mint(claims) {
  const enc = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const signing = `${enc({ alg: 'HS256', typ: 'JWT' })}.${enc(claims)}`;
  return `${signing}.${createHmac('sha256', SECRET).update(signing).digest('base64url')}`;
}

/** The second origin's page: nothing but a title; the test drives fetch in it. */
function listen(host) {
  return new Promise((resolve, reject) => {
    const s = http.createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><title>a site on another origin</title><p>site</p>');
    });
    s.once('error', reject);
    s.listen(CORS_PORT, host, () => resolve(s));
  });
}

before(async () => {
  assert.ok(SECRET, 'run.sh (harness) sets CHAT_JWT_SECRET');
  assert.ok((process.env.CHAT_ALLOWED_ORIGINS || '').split(',').includes(ALLOWED), 'run.sh allows the test page');
  servers.push(await listen('127.0.0.1'));
  // Chromium may try ::1 for localhost first: answer there too when it exists.
  try {
    servers.push(await listen('::1'));
  } catch {
    // no IPv6 loopback: 127.0.0.1 serves localhost
  }
  browser = await L.launch();
});

after(async () => {
  await browser?.close();
  for (const s of servers) s.close();
});

/** Runs fetch in the page; resolves {ok:true,status,body} or {ok:false,error} when fetch rejects. */
function pageFetch(page, url, init) {
  return page.evaluate(
    async ({ url: u, init: i }) => {
      try {
        const r = await fetch(u, i);
        return { ok: true, status: r.status, body: await r.json(), retryAfter: r.headers.get('retry-after') };
      } catch (e) {
        return { ok: false, error: String(e) };
      }
    },
    { url, init },
  );
}

test('an allowed origin calls the API with a site JWT: GET /api/me, then a POST with a preflight', async () => {
  const s = await L.newPage(browser);
  try {
    await s.page.goto(`${ALLOWED}/`);
    const name = L.uniqueName('site');
    const tok = mint({ sub: `b-${name}`, name, exp: Math.floor(Date.now() / 1000) + 600 });
    const me = await pageFetch(s.page, `${L.BASE}/api/me`, {
      headers: { Authorization: `Bearer ${tok}` },
      credentials: 'include',
    });
    assert.equal(me.ok, true, me.error);
    assert.equal(me.status, 200);
    assert.equal(me.body.data.user.username, name);
    // A room of its own, then a message: JSON bodies, so each POST is preflighted.
    const room = await pageFetch(s.page, `${L.BASE}/api/rooms`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${tok}`, 'Content-Type': 'application/json' },
      credentials: 'include',
      body: JSON.stringify({ room_name: L.uniqueName('corsroom') }),
    });
    assert.equal(room.ok, true, room.error);
    assert.equal(room.status, 201, JSON.stringify(room.body));
    const sent = await pageFetch(s.page, `${L.BASE}/api/messages/${room.body.data.room.id}`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${tok}`, 'Content-Type': 'application/json' },
      credentials: 'include',
      body: JSON.stringify({ message: 'from another origin' }),
    });
    assert.equal(sent.ok, true, sent.error);
    assert.equal(sent.status, 201, JSON.stringify(sent.body));
    assert.equal(sent.body.data.message.user_id, me.body.data.user.id);
    // An error answer is readable too (the browser sees the 401 envelope, not a CORS failure).
    const bad = await pageFetch(s.page, `${L.BASE}/api/me`, { headers: { Authorization: 'Bearer a.b.c' } });
    assert.equal(bad.ok, true, bad.error);
    assert.equal(bad.status, 401);
    assert.equal(bad.body.error.code, 'unauthorized');
    await L.screenshot(s.page, 't05-cors-allowed');
  } finally {
    await s.context.close();
  }
});

test('an allowed origin signs in as a guest and uses the session token', async () => {
  const s = await L.newPage(browser);
  try {
    await s.page.goto(`${ALLOWED}/`);
    const joined = await pageFetch(s.page, `${L.BASE}/api/join`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      credentials: 'include',
      body: JSON.stringify({ username: L.uniqueName('guest') }),
    });
    assert.equal(joined.ok, true, joined.error);
    assert.equal(joined.status, 201);
    const me = await pageFetch(s.page, `${L.BASE}/api/me`, {
      headers: { Authorization: `Bearer ${joined.body.data.token}` },
    });
    assert.equal(me.ok, true, me.error);
    assert.equal(me.body.data.user.id, joined.body.data.user.id);
  } finally {
    await s.context.close();
  }
});

test('an origin not in CHAT_ALLOWED_ORIGINS is refused: fetch rejects, with and without a preflight', async () => {
  const s = await L.newPage(browser);
  try {
    await s.page.goto(`${REFUSED}/`);
    const joined = await L.joinRest('refused');
    // A preflighted request (Authorization header).
    const me = await pageFetch(s.page, `${L.BASE}/api/me`, {
      headers: { Authorization: `Bearer ${joined.token}` },
      credentials: 'include',
    });
    assert.equal(me.ok, false, `fetch must reject: ${JSON.stringify(me)}`);
    assert.match(me.error, /TypeError|Failed to fetch/);
    // A simple request (no preflight): the answer lacks Allow-Origin, so the page cannot read it.
    const health = await pageFetch(s.page, `${L.BASE}/api/health`, {});
    assert.equal(health.ok, false, `fetch must reject: ${JSON.stringify(health)}`);
    // The allowed origin, in the same browser, still works (the refusal is per origin).
    await s.page.goto(`${ALLOWED}/`);
    const again = await pageFetch(s.page, `${L.BASE}/api/health`, {});
    assert.equal(again.ok, true, again.error);
    assert.equal(again.status, 200);
  } finally {
    await s.context.close();
  }
});
