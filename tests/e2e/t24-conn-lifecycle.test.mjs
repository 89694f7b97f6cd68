// t24-conn-lifecycle -- the life of an Engine.IO session at the edges:
// SIGTERM while polling sessions are open, half-closed, mid-upgrade or
// mid-request (the bridge must exit 0 and free every session: the harness
// fails on a LeakSanitizer report, and each case here checks its own
// bridge's report); kept-alive HTTP requests straight to the bridge that
// must start clean; the client address (X-Real-IP, IPv6 /64, a long
// X-Forwarded-For); the per-address bound on sessions not yet
// authenticated; client pings bounded before authentication.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import WebSocket from 'ws';
import { join, waitFor } from './lib.mjs';
import { Bridge, EXTRA_PORT_1, STATE_DIR, BRIDGE_PORT, sleep } from './sio.mjs';

const RS = '\x1e';
const Q = '/socket.io/?EIO=4&transport=polling';
let extra;

after(async () => {
  if (extra && !extra.exited) await extra.stop().catch(() => {});
});

/**
 * One kept-alive HTTP/1.1 connection, by hand: request() writes one request
 * and resolves with the response (status, headers, body by Content-Length).
 */
class KeepAlive {
  constructor(port) {
    this.sock = net.connect(port, '127.0.0.1');
    this.buf = Buffer.alloc(0);
    this.waiters = [];
    this.closed = false;
    this.sock.on('data', (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.pump();
    });
    this.sock.on('close', () => {
      this.closed = true;
      this.pump();
    });
    this.sock.on('error', () => {});
  }

  pump() {
    while (this.waiters.length) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) break;
      const head = this.buf.subarray(0, end).toString('latin1').split('\r\n');
      const headers = {};
      for (const line of head.slice(1)) {
        const i = line.indexOf(':');
        headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      const len = Number(headers['content-length'] ?? 0);
      if (this.buf.length < end + 4 + len) break;
      const body = this.buf.subarray(end + 4, end + 4 + len).toString('utf8');
      this.buf = this.buf.subarray(end + 4 + len);
      const status = Number(head[0].split(' ')[1]);
      this.waiters.shift().resolve({ status, headers, text: body });
    }
    if (this.closed) for (const w of this.waiters.splice(0)) w.reject(new Error('connection closed'));
  }

  request(method, target, { body, headers = {} } = {}) {
    const b = body === undefined ? null : Buffer.from(body);
    let req = `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n`;
    for (const [k, v] of Object.entries(headers)) req += `${k}: ${v}\r\n`;
    if (b) req += `Content-Type: text/plain\r\nContent-Length: ${b.length}\r\n`;
    req += '\r\n';
    const p = new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.sock.write(b ? Buffer.concat([Buffer.from(req), b]) : req);
    return p;
  }

  close() {
    this.sock.destroy();
  }
}

async function poll(port, query = '', init = {}) {
  const r = await fetch(`http://127.0.0.1:${port}${Q}${query}`, init);
  return { status: r.status, text: await r.text() };
}

/** A polling handshake; returns the open packet. */
async function open(port, headers = {}) {
  const r = await poll(port, '', { headers });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.text[0], '0', r.text);
  return JSON.parse(r.text.slice(1));
}

function post(port, sid, body, headers = {}) {
  return poll(port, `&sid=${sid}`, { method: 'POST', body, headers: { 'Content-Type': 'text/plain', ...headers } });
}

/** A WebSocket probing the upgrade of a polling session; resolves after "3probe". */
function probe(port, sid) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket&sid=${sid}`);
  ws.on('error', () => {});
  return new Promise((resolve, reject) => {
    ws.on('open', () => ws.send('2probe'));
    ws.on('message', (m) => { if (String(m) === '3probe') resolve(ws); });
    ws.on('close', () => reject(new Error('probe closed')));
  });
}

/** Starts an extra bridge and waits until both its database connections are up. */
async function startExtra(env) {
  extra = await Bridge.start({ port: EXTRA_PORT_1, env });
  const up = async () => {
    const r = await fetch(`http://127.0.0.1:${EXTRA_PORT_1}/metrics`).catch(() => null);
    const t = r ? await r.text() : '';
    return /chat_ws_db_up\{conn="listen"\} 1/.test(t) && /chat_ws_db_up\{conn="query"\} 1/.test(t);
  };
  assert.ok(await waitFor(up, 20_000, 100), `the extra bridge's database is up; log:\n${extra.logTail()}`);
  return extra;
}

/** Stops the extra bridge: it exits 0 and leaves no sanitizer report. */
async function stopExtra() {
  const r = await extra.stop(30_000);
  assert.deepEqual(r, { code: 0, signal: null }, `exit; log:\n${extra.logTail()}`);
  assert.deepEqual(reportsOf(extra.pid), [], 'no sanitizer report from the stopped bridge');
}

/** The sanitizer reports a process left (harness_start sends them to log/asan.PID). */
function reportsOf(pid) {
  const dir = path.join(STATE_DIR, 'log');
  return fs.readdirSync(dir).filter((f) => f === `asan.${pid}` || f === `ubsan.${pid}`)
    .map((f) => `${f}:\n${fs.readFileSync(path.join(dir, f), 'utf8')}`);
}

/** Opens sessions in every state a bridge can be stopped in; returns what to close afterwards. */
async function sessionsInEveryState(port, token) {
  const held = [];
  // Open: the handshake only, nobody polls.
  await open(port);
  // A held GET.
  const g = await open(port);
  held.push(poll(port, `&sid=${g.sid}`).catch(() => null));
  // Half-closed by the client: it sent the close packet and went away.
  const h = await open(port);
  assert.equal((await post(port, h.sid, '1')).status, 200);
  // Closed for a malformed packet (the POST is answered 400), no GET after.
  const m = await open(port);
  assert.equal((await post(port, m.sid, '4zzz')).status, 400);
  // Mid-upgrade: the probe answered, "5" never sent; one with a held GET too.
  const u = await open(port);
  const pws = await probe(port, u.sid);
  const u2 = await open(port);
  held.push(poll(port, `&sid=${u2.sid}`).catch(() => null));
  const pws2 = await probe(port, u2.sid);
  // Upgraded.
  const v = await open(port);
  const vws = await probe(port, v.sid);
  vws.send('5');
  // Authenticated over polling, in a room, with a GET held.
  const a = await open(port);
  assert.equal((await post(port, a.sid, `40{"token":"${token}"}`)).text, 'ok');
  let r = await poll(port, `&sid=${a.sid}`);
  assert.match(r.text, /^40\{"sid"/, r.text);
  if (!r.text.includes('42["connected"')) r = await poll(port, `&sid=${a.sid}`);
  assert.equal((await post(port, a.sid, '421["join_room",{"room_id":"general"}]')).text, 'ok');
  r = await poll(port, `&sid=${a.sid}`);
  assert.match(r.text, /^431\[\{"ok":true/, r.text);
  held.push(poll(port, `&sid=${a.sid}`).catch(() => null));
  // A POST whose body has not all arrived.
  const b = await open(port);
  const partial = net.connect(port, '127.0.0.1', () => {
    partial.write(`POST ${Q}&sid=${b.sid} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n42["jo`);
  });
  partial.on('error', () => {});
  // A handshake request whose client shut its side (TCP half-close).
  const half = net.connect(port, '127.0.0.1', () => {
    half.end(`GET ${Q} HTTP/1.1\r\nHost: x\r\n\r\n`);
  });
  half.on('error', () => {});
  // A plain WebSocket session, not authenticated.
  const plain = new WebSocket(`ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`);
  plain.on('error', () => {});
  await new Promise((resolve) => plain.on('message', resolve));
  await sleep(200);
  return { held, closeables: [pws, pws2, vws, plain], sockets: [partial, half] };
}

for (const libev of ['1', '0']) {
  test(`SIGTERM with sessions in every state (CHAT_WS_LIBEV=${libev}): exits 0, frees every session`, async () => {
    const u = await join('lc_term');
    await startExtra({ CHAT_WS_LIBEV: libev });
    let s;
    try {
      s = await sessionsInEveryState(EXTRA_PORT_1, u.token);
    } finally {
      await stopExtra();
    }
    await Promise.all(s.held);
    s.closeables.forEach((w) => w.terminate());
    s.sockets.forEach((x) => x.destroy());
  });
}

test('kept-alive HTTP straight to the bridge: each request starts clean', async () => {
  const ka = new KeepAlive(BRIDGE_PORT);
  try {
    let r = await ka.request('GET', Q);
    assert.equal(r.status, 200, r.text);
    const { sid } = JSON.parse(r.text.slice(1));
    // Two POSTs on one connection: the second carries only its own packet.
    r = await ka.request('POST', `${Q}&sid=${sid}`, { body: '2' });
    assert.equal(r.text, 'ok');
    r = await ka.request('GET', `${Q}&sid=${sid}`);
    assert.equal(r.text, '3');
    r = await ka.request('POST', `${Q}&sid=${sid}`, { body: '2x' });
    assert.equal(r.text, 'ok');
    r = await ka.request('GET', `${Q}&sid=${sid}`);
    assert.equal(r.text, '3x', 'the previous POST body is not replayed');
    // A refused request after a POST: its own answer, not the last POST's
    // session and body.
    r = await ka.request('POST', '/nope', { body: '2y' });
    assert.equal(r.status, 404, r.text);
    r = await ka.request('POST', `/socket.io/?EIO=3&transport=polling&sid=${sid}`, { body: '2z' });
    assert.equal(r.status, 400, r.text);
    assert.equal(JSON.parse(r.text).code, 5);
    r = await ka.request('OPTIONS', `${Q}&sid=${sid}`);
    assert.equal(r.status, 204, r.text);
    // Nothing was delivered to the session by those.
    r = await ka.request('POST', `${Q}&sid=${sid}`, { body: '2w' });
    assert.equal(r.text, 'ok');
    r = await ka.request('GET', `${Q}&sid=${sid}`);
    assert.equal(r.text, '3w');
    // A payload too large, then a normal POST on the same connection.
    r = await ka.request('POST', `${Q}&sid=${sid}`, { body: `4${'x'.repeat(70000)}` });
    assert.equal(r.status, 413, r.text);
    const o = JSON.parse((await ka.request('GET', Q)).text.slice(1));
    r = await ka.request('POST', `${Q}&sid=${o.sid}`, { body: '2v' });
    assert.equal(r.text, 'ok');
    r = await ka.request('GET', `${Q}&sid=${o.sid}`);
    assert.equal(r.text, '3v');
    r = await ka.request('POST', `${Q}&sid=${o.sid}`, { body: '1' });
    assert.equal(r.text, 'ok');
  } finally {
    ka.close();
  }
});

/** Runs fn(port) against an extra bridge with env, then stops it: exit 0, no sanitizer report. */
async function withExtra(env, fn) {
  await startExtra(env);
  try {
    await fn(EXTRA_PORT_1);
  } finally {
    await stopExtra();
  }
}

/** A raw Engine.IO WebSocket with headers; resolves 'open' or the close code. */
function wsOutcome(port, headers = {}) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`, { headers });
  ws.on('error', () => {});
  return new Promise((resolve) => {
    ws.on('message', (m) => { if (String(m)[0] === '0') resolve({ ws, outcome: 'open' }); });
    ws.on('close', (code) => resolve({ ws, outcome: code }));
  });
}

const ip = (a) => ({ 'X-Real-IP': a });

test('client address: X-Real-IP from the proxy, IPv6 keyed by /64, a long X-Forwarded-For still gives its client', async () => {
  await withExtra({ CHAT_WS_MAX_CONN_PER_ADDR: '2', CHAT_WS_MAX_UNAUTH_PER_ADDR: '0' }, async (port) => {
    // Two addresses of one /64 share its limit; the next /64 has its own.
    await open(port, ip('2001:db8:1:2::1'));
    await open(port, ip('2001:db8:1:2:aaaa:bbbb:cccc:2'));
    let r = await poll(port, '', { headers: ip('2001:db8:1:2:ffff::3') });
    assert.equal(r.status, 503, `a third address of the same /64: ${r.text}`);
    assert.deepEqual(JSON.parse(r.text), { code: 0, message: 'Server full' });
    const ws = await wsOutcome(port, ip('2001:DB8:1:2::99'));
    assert.equal(ws.outcome, 1013, 'a WebSocket from the same /64 too');
    await open(port, ip('2001:db8:1:3::1'));
    // An IPv4-mapped address is its IPv4 host.
    await open(port, ip('198.51.100.7'));
    await open(port, ip('::ffff:198.51.100.7'));
    r = await poll(port, '', { headers: ip('198.51.100.7') });
    assert.equal(r.status, 503, r.text);
    // X-Real-IP wins over X-Forwarded-For (which a client may have started).
    await open(port, { 'X-Real-IP': '198.51.100.8', 'X-Forwarded-For': '198.51.100.7' });
    // Without X-Real-IP, a long X-Forwarded-For is read to its last hop:
    // not the proxy's address, which would share one limit with everyone.
    await open(port);
    await open(port);
    r = await poll(port, '');
    assert.equal(r.status, 503, `the peer 127.0.0.1 is full: ${r.text}`);
    const hops = Array.from({ length: 40 }, (_, i) => `10.0.${i}.1`).join(', ');
    assert.ok(hops.length > 256);
    await open(port, { 'X-Forwarded-For': `${hops}, 192.0.2.44` });
    await open(port, { 'X-Forwarded-For': `${hops}, 192.0.2.44` });
    r = await poll(port, '', { headers: { 'X-Forwarded-For': `${hops}, 192.0.2.44` } });
    assert.equal(r.status, 503, `192.0.2.44 has its own limit, now full: ${r.text}`);
    // A header that is not an address counts as the peer.
    r = await poll(port, '', { headers: ip('garbage') });
    assert.equal(r.status, 503, r.text);
    ws.ws.terminate();
  });
});

test('sessions not yet authenticated are bounded per address (CHAT_WS_MAX_UNAUTH_PER_ADDR); authenticating frees the slot', async () => {
  const u = await join('lc_unauth');
  await withExtra({ CHAT_WS_MAX_CONN_PER_ADDR: '0', CHAT_WS_MAX_UNAUTH_PER_ADDR: '2' }, async (port) => {
    const A = ip('198.51.100.20');
    const a1 = await open(port, A);
    await open(port, A);
    let r = await poll(port, '', { headers: A });
    assert.equal(r.status, 503, `a third unauthenticated session: ${r.text}`);
    assert.equal((await wsOutcome(port, A)).outcome, 1013);
    // Another address is not affected.
    const b = await wsOutcome(port, ip('198.51.100.21'));
    assert.equal(b.outcome, 'open');
    // Authenticating one session frees its slot.
    assert.equal((await post(port, a1.sid, `40{"token":"${u.token}"}`, A)).text, 'ok');
    r = await poll(port, `&sid=${a1.sid}`, { headers: A });
    assert.match(r.text, /^40\{"sid"/, r.text);
    const a3 = await open(port, A);
    r = await poll(port, '', { headers: A });
    assert.equal(r.status, 503, r.text);
    // A failed CONNECT does not: the session is still unauthenticated.
    assert.equal((await post(port, a3.sid, '40{"token":"nope"}', A)).text, 'ok');
    r = await poll(port, `&sid=${a3.sid}`, { headers: A });
    assert.match(r.text, /^44/, r.text);
    r = await poll(port, '', { headers: A });
    assert.equal(r.status, 503, r.text);
    // A session that ends frees its slot: close, then the GET that takes the close packet.
    assert.equal((await post(port, a3.sid, '1', A)).text, 'ok');
    r = await poll(port, `&sid=${a3.sid}`, { headers: A });
    assert.ok(r.text.split(RS).includes('1'), r.text);
    await open(port, A);
    b.ws.terminate();
  });
});

test('client pings are answered within the event rate, before authentication too', async () => {
  await withExtra({ CHAT_WS_EVENT_RATE: '5', CHAT_WS_EVENT_WINDOW: '60' }, async (port) => {
    const { ws, outcome } = await wsOutcome(port);
    assert.equal(outcome, 'open');
    const got = [];
    const marker = new Promise((resolve) => ws.on('message', (m) => {
      got.push(String(m));
      if (String(m).startsWith('44')) resolve();
    }));
    for (let i = 0; i < 40; i++) ws.send('2');
    ws.send('40'); // no token: a connect_error, after every pong
    await marker;
    const pongs = got.filter((m) => m === '3').length;
    assert.ok(pongs >= 1 && pongs <= 6, `pongs for 40 pings with 5 per 60 s: ${pongs}`);
    ws.terminate();
    // The polling transport too.
    const o = await open(port);
    assert.equal((await post(port, o.sid, Array(40).fill('2').join(RS))).text, 'ok');
    const r = await poll(port, `&sid=${o.sid}`);
    const n = r.text.split(RS).filter((p) => p === '3').length;
    assert.ok(n >= 1 && n <= 6, `pongs over polling: ${n} (${r.text})`);
  });
});
