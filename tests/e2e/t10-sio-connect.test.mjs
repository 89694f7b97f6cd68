// t10-sio-connect -- the Socket.IO CONNECT through nginx: where the token
// comes from, what `connected` says, and who is refused.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { api, ok, join, createRoom, assertUser, assertRoom, BASE } from './lib.mjs';
import {
  connect, connectError, closeAll, handshake, wsUrl, RawClient, nginxGuard, direct, BRIDGE_PORT,
} from './sio.mjs';

afterEach(closeAll);

/** Asserts the refusal socket.io-client reports for a CONNECT without a valid session. */
function assertUnauthorized(err, what) {
  assert.equal(err.message, 'unauthorized', `${what}: ${err.message} ${JSON.stringify(err.data)}`);
  assert.equal(typeof err.data, 'object', what);
  assert.equal(err.data.code, 'unauthorized', `${what}: ${JSON.stringify(err.data)}`);
  assert.equal(typeof err.data.message, 'string', what);
  assert.ok(err.data.message.length > 0, what);
}

test('CONNECT with auth.token: connected {user, rooms} with rooms = memberships', async () => {
  const u = await join('c_auth', { room_id: 'general' });
  const mine = await createRoom(u.token, 'c_auth');
  // A room the user is not a member of must not be listed.
  const other = await join('c_other');
  const foreign = await createRoom(other.token, 'c_foreign');

  const { socket, connected } = await connect(u.token);
  assert.ok(socket.connected);
  assert.deepEqual(Object.keys(connected).sort(), ['rooms', 'user']);
  assertUser(connected.user, { online: true });
  assert.equal(connected.user.id, u.user.id);
  assert.equal(connected.user.username, u.user.username);
  assert.ok(Array.isArray(connected.rooms));
  connected.rooms.forEach(assertRoom);
  const ids = connected.rooms.map((r) => r.id).sort();
  assert.deepEqual(ids, ['general', mine.id].sort());
  assert.ok(!ids.includes(foreign.id));
  // The same list as GET /api/me.
  const me = ok(await api('GET', '/api/me', { token: u.token }));
  assert.deepEqual(ids, me.rooms.map((r) => r.id).sort());
  const r = connected.rooms.find((x) => x.id === mine.id);
  assert.equal(r.name, mine.name);
  assert.equal(r.created_by, u.user.id);
  assert.equal(r.member_count, 1);
});

test('CONNECT with the chat_token cookie only', async () => {
  const u = await join('c_cookie');
  const { connected } = await connect(undefined, { extraHeaders: { Cookie: `theme=dark; chat_token=${u.token}` } });
  assert.equal(connected.user.id, u.user.id);
  assert.deepEqual(connected.rooms, []);
});

// Every ?token= case in one test: while the bridge refuses such URLs, each
// refusal also costs the time nginx keeps the bridges out of rotation.
test('CONNECT with ?token= in the URL: valid, revoked, malformed, and its precedence', async (t) => {
  const u = await join('c_query');
  // socket.io-client puts its query before EIO=4&transport=websocket. Asked
  // of a bridge directly first, so that a refusal names its cause.
  const first = await handshake(wsUrl({ url: direct(BRIDGE_PORT), query: `token=${u.token}&EIO=4&transport=websocket` }));
  if (!first.opened) {
    const last = await handshake(wsUrl({ url: direct(BRIDGE_PORT), query: `EIO=4&transport=websocket&token=${u.token}` }));
    assert.fail(`the bridge refuses /socket.io/?token=<64 hex>&EIO=4&transport=websocket (${first.status ?? first.error}); with token= last it ${last.opened ? 'accepts it' : 'refuses it too'}`);
  }
  // Through nginx. A refused upgrade must not leave nginx without bridges for the next tests (see t15).
  const guard = nginxGuard(t);
  const { connected } = await connect(undefined, { query: { token: u.token } });
  assert.equal(connected.user.id, u.user.id);
  // The CONNECT payload token wins over ?token=, and ?token= over the cookie.
  const b = await join('c_query_b');
  const c = await join('c_query_c');
  const r1 = await connect(u.token, { query: { token: b.token }, extraHeaders: { Cookie: `chat_token=${c.token}` } });
  assert.equal(r1.connected.user.id, u.user.id);
  const r2 = await connect(undefined, { query: { token: b.token }, extraHeaders: { Cookie: `chat_token=${c.token}` } });
  assert.equal(r2.connected.user.id, b.user.id);
  // Malformed or revoked: unauthorized.
  assertUnauthorized(await connectError(undefined, { query: { token: 'short' } }), 'malformed query token');
  ok(await api('DELETE', '/api/session', { token: c.token }));
  assertUnauthorized(await connectError(undefined, { query: { token: c.token } }), 'revoked via query');
  guard.done();
});

test('the CONNECT payload token wins over the cookie', async () => {
  const a = await join('c_prio_a');
  const c = await join('c_prio_c');
  const r1 = await connect(a.token, { extraHeaders: { Cookie: `chat_token=${c.token}` } });
  assert.equal(r1.connected.user.id, a.user.id);
});

test('CONNECT without a token: connect_error "unauthorized"', async () => {
  const err = await connectError(undefined);
  assertUnauthorized(err, 'no token');
});

test('CONNECT with a revoked token (after DELETE /api/session): unauthorized', async () => {
  const u = await join('c_revoked');
  // Works before the logout.
  const first = await connect(u.token);
  assert.equal(first.connected.user.id, u.user.id);
  first.socket.close();
  ok(await api('DELETE', '/api/session', { token: u.token }));
  assertUnauthorized(await connectError(u.token), 'revoked via auth');
  assertUnauthorized(await connectError(undefined, { extraHeaders: { Cookie: `chat_token=${u.token}` } }), 'revoked via cookie');
});

test('CONNECT with malformed or unknown tokens: unauthorized', async () => {
  const u = await join('c_malformed');
  const cases = [
    'abc',
    '',
    u.token.toUpperCase() === u.token ? `${u.token}0` : u.token.toUpperCase(),
    `${u.token}00`,
    u.token.slice(0, 63),
    `${u.token.slice(0, 63)}g`,
    randomBytes(32).toString('hex'), // well formed, never issued
  ];
  for (const t of cases) assertUnauthorized(await connectError(t), `token ${JSON.stringify(t)}`);
  assertUnauthorized(await connectError(undefined, { auth: { token: 12345 } }), 'numeric token');
  assertUnauthorized(await connectError(undefined, { extraHeaders: { Cookie: 'chat_token=nothex' } }), 'malformed cookie');
});

test('a refused CONNECT leaves the connection usable for a valid one (raw)', async () => {
  const u = await join('c_retry');
  const c = await RawClient.open();
  const bad = await c.sioConnect('0'.repeat(64));
  assert.equal(bad.type, '44');
  assert.deepEqual(bad.data.message, 'unauthorized');
  assert.equal(bad.data.data.code, 'unauthorized');
  const good = await c.sioConnect(u.token);
  assert.equal(good.type, '40', JSON.stringify(good));
  assert.equal(typeof good.data.sid, 'string');
  assert.ok(good.data.sid.length > 0);
  const connected = await c.waitEvent('connected');
  assert.equal(connected.user.id, u.user.id);
});

test('the Engine.IO open packet through nginx', async () => {
  const c = await RawClient.open();
  const o = c.openPacket;
  assert.deepEqual(Object.keys(o).sort(), ['maxPayload', 'pingInterval', 'pingTimeout', 'sid', 'upgrades']);
  assert.equal(typeof o.sid, 'string');
  assert.ok(o.sid.length >= 16);
  assert.deepEqual(o.upgrades, []);
  assert.equal(o.pingInterval, 25000);
  assert.equal(o.pingTimeout, 20000);
  assert.equal(o.maxPayload, 65536);
  // Two connections never share a sid.
  const d = await RawClient.open();
  assert.notEqual(d.openPacket.sid, o.sid);
});

test('namespace /admin: connect_error not_found', async () => {
  const u = await join('c_nsp');
  const err = await connectError(u.token, { url: `${BASE}/admin` });
  assert.equal(err.message, 'not_found', JSON.stringify(err.data));
  assert.equal(err.data.code, 'not_found');
  // The main namespace still works for the same user.
  const { connected } = await connect(u.token);
  assert.equal(connected.user.id, u.user.id);
});

// Asked of a bridge directly: it decides, and a refusal through nginx also
// tests nginx's upstream handling (t15 has that test).
test('Origin not allowed: the upgrade fails', async () => {
  const u = await join('c_evil');
  const bridge = direct(BRIDGE_PORT);
  const err = await connectError(u.token, { url: bridge, extraHeaders: { Origin: 'http://evil.example' } });
  assert.equal(err.message, 'websocket error', `the upgrade must fail: ${err.message}`);
  const h = await handshake(wsUrl({ url: bridge }), { Origin: 'http://evil.example' });
  assert.equal(h.opened, false);
  // Same host name, another port: another origin.
  const h2 = await handshake(wsUrl({ url: bridge }), { Origin: `http://127.0.0.1:${BRIDGE_PORT + 100}` });
  assert.equal(h2.opened, false, 'another port is another origin');
  const h3 = await handshake(wsUrl({ url: bridge }), { Origin: `http://127.0.0.1:${BRIDGE_PORT}` });
  assert.equal(h3.opened, true, 'its own origin is accepted');
});

test('same-origin Origin (the page nginx serves) is accepted', async () => {
  const u = await join('c_same');
  const origin = new URL(BASE).origin; // http://127.0.0.1:18080
  const { connected } = await connect(u.token, { extraHeaders: { Origin: origin } });
  assert.equal(connected.user.id, u.user.id);
});
