// t22-limits-security -- abuse limits of the bridge (per address, per
// process, rooms per connection), slowloris at nginx, and the
// least-privilege database role of the services.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import WebSocket from 'ws';
import { io } from 'socket.io-client';
import { BASE, api, ok, join, createRoom, stack, waitFor } from './lib.mjs';

const PORT = Number(new URL(BASE).port);
const BRIDGE0 = `ws://127.0.0.1:${PORT + 1}`; // bridge 0, directly: one address, one process
const STATE = process.env.CHAT_STATE_DIR;

async function until(fn, ms, what) {
  assert.ok(await waitFor(fn, ms), `timed out waiting for ${what}`);
}

/**
 * Opens a raw Engine.IO WebSocket; resolves with {ws, opened, closed}.
 * opened is true on the open packet, false when the socket closes first
 * (refused): a refusal never leaves a test waiting on nothing.
 */
function rawWs(base = BRIDGE0) {
  const ws = new WebSocket(`${base}/socket.io/?EIO=4&transport=websocket`);
  const opened = new Promise((resolve) => {
    ws.on('message', (m) => { if (String(m)[0] === '0') resolve(true); });
    ws.on('close', () => resolve(false));
  });
  const closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
  ws.on('error', () => {});
  return { ws, opened, closed };
}

/**
 * A raw WebSocket that gets in, retried until the bridge has seen the
 * closes before it (a loaded machine may take a while): within ms.
 */
async function rawWsIn(ms = 10_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const s = rawWs();
    if (await s.opened) return s;
    assert.ok(Date.now() < deadline, 'a slot did not free up in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function withBridges(env, fn) {
  stack('ws-restart', env);
  try {
    await fn();
  } finally {
    stack('ws-restart');
  }
}

test('connections per client address: the one past the limit is closed with 1013', async () => {
  await withBridges({ CHAT_WS_MAX_CONN_PER_ADDR: '3' }, async () => {
    const socks = [rawWs(), rawWs(), rawWs()];
    assert.deepEqual(await Promise.all(socks.map((s) => s.opened)), [true, true, true]);
    const extra = rawWs();
    const c = await extra.closed;
    assert.equal(c.code, 1013);
    assert.match(c.reason, /full/);
    // A slot frees when one closes.
    socks[0].ws.close();
    await socks[0].closed;
    const again = await rawWsIn();
    const rest = [...socks.slice(1), again];
    for (const s of rest) s.ws.close();
    await Promise.all(rest.map((s) => s.closed));
    // Polling handshakes count too: 503 with an Engine.IO error.
    const held = [await rawWsIn(), await rawWsIn(), await rawWsIn()];
    const r = await fetch(`http://127.0.0.1:${PORT + 1}/socket.io/?EIO=4&transport=polling`);
    assert.equal(r.status, 503);
    assert.deepEqual(await r.json(), { code: 0, message: 'Server full' });
    held.forEach((s) => s.ws.close());
  });
});

test('connections per process: a full bridge refuses cleanly and keeps serving the others', async () => {
  await withBridges({ CHAT_WS_MAX_CONN: '2', CHAT_WS_MAX_CONN_PER_ADDR: '0' }, async () => {
    const u = await join('full', { room_id: 'general' });
    const a = io(`http://127.0.0.1:${PORT + 1}`, { transports: ['websocket'], auth: { token: u.token }, reconnection: false, forceNew: true });
    await new Promise((resolve, reject) => { a.once('connected', resolve); a.once('connect_error', reject); });
    const b = rawWs();
    assert.equal(await b.opened, true);
    const c = rawWs();
    assert.equal((await c.closed).code, 1013);
    const j = await a.emitWithAck('join_room', { room_id: 'general' });
    assert.equal(j.ok, true, 'the connections already in are served');
    a.close();
    b.ws.close();
  });
});

test('rooms per connection: joining one more than the limit is forbidden', async () => {
  await withBridges({ CHAT_WS_MAX_ROOMS: '3' }, async () => {
    const u = await join('rooms');
    // Another user's rooms: u leaves one, and an owner cannot leave.
    const owner = await join('rooms_o');
    const rooms = [];
    for (let i = 0; i < 4; i++) rooms.push(await createRoom(owner.token, `lim${i}`));
    const s = io(BASE, { transports: ['websocket'], auth: { token: u.token }, reconnection: false, forceNew: true });
    await new Promise((resolve, reject) => { s.once('connected', resolve); s.once('connect_error', reject); });
    for (let i = 0; i < 3; i++) assert.equal((await s.emitWithAck('join_room', { room_id: rooms[i].id })).ok, true);
    const again = await s.emitWithAck('join_room', { room_id: rooms[0].id });
    assert.equal(again.ok, true, 'a room already joined does not count twice');
    const over = await s.emitWithAck('join_room', { room_id: rooms[3].id });
    assert.equal(over.ok, false);
    assert.equal(over.error.code, 'forbidden');
    assert.equal((await s.emitWithAck('leave_room', { room_id: rooms[1].id })).ok, true);
    assert.equal((await s.emitWithAck('join_room', { room_id: rooms[3].id })).ok, true, 'leaving frees a slot');
    s.close();
  });
});

test('slowloris: a client that never finishes its request headers is dropped; others are served', async () => {
  const sock = net.connect(PORT, '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  sock.write('GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n');
  const drip = setInterval(() => sock.write(`X-Slow-${Date.now()}: 1\r\n`), 500);
  const start = Date.now();
  const closed = new Promise((resolve) => sock.on('close', resolve));
  sock.on('error', () => {});
  sock.resume();
  // Meanwhile the server answers others.
  ok(await api('GET', '/api/health'));
  const limitMs = 60_000;
  const done = await Promise.race([closed.then(() => true), new Promise((r) => setTimeout(() => r(false), limitMs))]);
  clearInterval(drip);
  sock.destroy();
  assert.ok(done, 'nginx kept the slow client');
  // CHAT_NGINX_CLIENT_TIMEOUT is set low for the tests (run.sh).
  assert.ok(Date.now() - start < limitMs);
  ok(await api('GET', '/api/health'));
});

function psqlAs(user, sql) {
  const conn = `host=${path.join(STATE, 'run')} port=5432 dbname=chat user=${user}`;
  const r = spawnSync('psql', ['-X', '-qAt', '-v', 'ON_ERROR_STOP=1', conn, '-c', sql], { encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

test('the services connect as chat_svc, which may not change the schema, delete history or rewrite admin_log', async () => {
  // Both programs are connected (a request and a socket make sure).
  ok(await api('GET', '/api/health'));
  const users = psqlAs('chat', "SELECT DISTINCT usename FROM pg_stat_activity WHERE application_name IN ('chat-fcgi', 'chat-ws')");
  assert.equal(users.status, 0, users.out);
  assert.deepEqual(users.out.trim().split('\n').filter(Boolean), ['chat_svc']);
  for (const sql of ['DROP TABLE messages', 'DELETE FROM messages', 'TRUNCATE sessions',
    'CREATE TABLE intruder (a int)', "UPDATE schema_migrations SET name = 'x'", 'ALTER TABLE users ADD COLUMN x int',
    'DELETE FROM users', 'DELETE FROM rooms', 'UPDATE messages SET content = NULL, deleted_at = now()',
    // chatctl's audit trail: insert and read only.
    'DELETE FROM admin_log', "UPDATE admin_log SET os_user = 'nobody'", 'TRUNCATE admin_log']) {
    const r = psqlAs('chat_svc', sql);
    assert.notEqual(r.status, 0, `${sql} was allowed: ${r.out}`);
    assert.match(r.out, /permission denied|must be owner/, sql);
  }
  // What the functions need still works for it.
  const r = psqlAs('chat_svc', 'SELECT count(*) >= 0 FROM messages');
  assert.equal(r.out.trim(), 't', r.out);
});

test('logout closes the sockets opened with that session, and only those', async () => {
  const u = await join('revoke');
  const again = ok(await api('POST', '/api/join', { token: u.token, body: { username: u.user.username } }), 201);
  const mk = (token) => io(BASE, { transports: ['websocket'], auth: { token }, reconnection: false, forceNew: true });
  const s1 = mk(u.token);
  const s2 = mk(again.token); // the same user, another session
  await Promise.all([s1, s2].map((s) => new Promise((resolve, reject) => {
    s.once('connected', resolve);
    s.once('connect_error', reject);
  })));
  const gone = new Promise((resolve) => s1.once('disconnect', resolve));
  ok(await api('DELETE', '/api/session', { token: u.token }));
  assert.equal(await gone, 'io server disconnect');
  const j = await s2.emitWithAck('join_room', { room_id: 'general' });
  assert.equal(j.ok, true, 'the other session keeps its socket');
  s2.close();
});

test('a cookie session is renewed with use: every answer refreshes the cookie', async () => {
  const u = await join('cookie');
  const r = await api('GET', '/api/me', { headers: { Cookie: `chat_token=${u.token}` } });
  ok(r);
  const sc = r.headers.get('set-cookie') ?? '';
  assert.match(sc, new RegExp(`^chat_token=${u.token}; Path=/; Max-Age=\\d+; HttpOnly; SameSite=Lax`));
  // A bearer token is not a cookie: nothing to refresh.
  const b = await api('GET', '/api/me', { token: u.token });
  ok(b);
  assert.equal(b.headers.get('set-cookie'), null);
});

test('SIGTERM: a bridge closes its clients with 1001, cleans its presence rows and comes back', async () => {
  const watcher = await join('term_w');
  const room = await createRoom(watcher.token, 'term');
  const leaver = await join('term_l', { room_id: room.id });
  const w = io(`http://127.0.0.1:${PORT + 1}`, { transports: ['websocket'], auth: { token: watcher.token }, reconnection: false, forceNew: true });
  await new Promise((resolve, reject) => { w.once('connected', resolve); w.once('connect_error', reject); });
  assert.equal((await w.emitWithAck('join_room', { room_id: room.id })).ok, true);
  const statuses = [];
  w.on('user_status', (s) => statuses.push(s));
  // The leaver's only connection is on bridge 1, by hand (raw Engine.IO).
  const raw = rawWs(`ws://127.0.0.1:${PORT + 2}`);
  assert.equal(await raw.opened, true);
  raw.ws.send(`40{"token":"${leaver.token}"}`);
  await until(() => statuses.some((s) => s.user_id === leaver.user.id && s.status === 'online'), 10000, 'online');
  stack('ws-stop', {}, ['1']);
  try {
    const c = await raw.closed;
    assert.equal(c.code, 1001, `close code ${c.code} ${c.reason}`);
    assert.match(c.reason, /shutting down/);
    // Offline at once (its rows were removed), not after the 30 s presence TTL.
    await until(() => statuses.some((s) => s.user_id === leaver.user.id && s.status === 'offline'), 10000, 'offline after SIGTERM');
  } finally {
    stack('ws-start', {}, ['1']);
  }
  const users = ok(await api('GET', `/api/users/${room.id}`, { token: watcher.token })).users;
  assert.equal(users.find((u) => u.id === leaver.user.id).online, false);
  w.close();
});
