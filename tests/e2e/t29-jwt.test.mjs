// t29-jwt.test.mjs -- sign-in from an existing site (DESIGN.md section 7):
// HS256 JWTs signed with CHAT_JWT_SECRET, on REST (Authorization: Bearer)
// and on the socket (CONNECT auth.token). The tests mint their own tokens
// with node's crypto, so that they can also craft hostile ones.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { api, ok, fails, join, uniqueName, show } from './lib.mjs';
import { connect, connectError, closeAll, ack, ackOk, STATE_DIR, RawClient } from './sio.mjs';

const SECRET = process.env.CHAT_JWT_SECRET;
assert.ok(SECRET && SECRET.length >= 32, 'the harness sets CHAT_JWT_SECRET');

after(closeAll);

const b64 = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

/** header.payload.signature; header and payload are objects, strings (raw JSON) or Buffers. */
function mint(payload, { header = { alg: 'HS256', typ: 'JWT' }, key = SECRET, hash = 'sha256' } = {}) {
  const enc = (v) => (Buffer.isBuffer(v) ? v.toString('base64url') : b64(v));
  const signing = `${enc(header)}.${enc(payload)}`;
  return `${signing}.${createHmac(hash, key).update(signing).digest('base64url')}`;
}

function claims(extra = {}) {
  return { sub: `site-${uniqueName('s')}`, name: uniqueName('jwt'), exp: now() + 600, ...extra };
}

const me = (token) => api('GET', '/api/me', { token });

async function refusedEverywhere(token, what) {
  const r = await me(token);
  const e = fails(r, 401, 'unauthorized');
  assert.doesNotMatch(e.message, new RegExp(SECRET), what);
  const err = await connectError(token);
  assert.equal(err.message, 'unauthorized', `${what}: ${JSON.stringify(err.data)}`);
  assert.equal(err.data.code, 'unauthorized', what);
}

test('REST: a site token signs in; first use creates the user, the same sub is the same user', async () => {
  const c = claims();
  const first = ok(await me(mint(c)));
  assert.equal(first.user.username, c.name);
  assert.equal(typeof first.user.id, 'string');
  if ('registered' in first.user) assert.equal(first.user.registered, true);
  const again = ok(await me(mint({ ...c, exp: now() + 900 })));
  assert.equal(again.user.id, first.user.id, 'same sub, same user');
  // No cookie: the site presents its token on every request.
  assert.equal((await me(mint(c))).headers.get('set-cookie'), null);
});

test('REST: POST /api/messages with a site token stores the message as that user', async () => {
  const c = claims();
  const tok = mint(c);
  const u = ok(await me(tok)).user;
  const rooms = ok(await api('GET', '/api/rooms', { token: tok }));
  const general = rooms.rooms.find((r) => r.id === 'general') || rooms.rooms[0];
  // Sending needs membership: join the room with the socket, then send by REST.
  const { socket } = await connect(tok);
  ackOk(await ack(socket, 'join_room', { room_id: general.id }), 'join_room');
  const m = ok(await api('POST', `/api/messages/${general.id}`, { token: tok, body: { message: 'from a site user' } }), 201).message;
  assert.equal(m.user_id, u.id);
  assert.equal(m.username, c.name);
  socket.close();
});

test('REST and socket: a new name renames the user (same id); the socket answers connected', async () => {
  const c = claims();
  const a = ok(await me(mint(c))).user;
  const renamed = uniqueName('ren');
  const b = ok(await me(mint({ ...c, name: renamed }))).user;
  assert.equal(b.id, a.id);
  assert.equal(b.username, renamed);
  const third = uniqueName('ws');
  const { socket, connected } = await connect(mint({ ...c, name: third }));
  assert.equal(connected.user.id, a.id);
  assert.equal(connected.user.username, third);
  assert.ok(Array.isArray(connected.rooms));
  socket.close();
  // A case-only change of one's own name is a rename, not a conflict.
  const upper = ok(await me(mint({ ...c, name: third.toUpperCase() }))).user;
  assert.equal(upper.id, a.id);
  assert.equal(upper.username, third.toUpperCase());
});

test('socket: first use through CONNECT creates the user; a message sent there is that user', async () => {
  const c = claims();
  const { socket, connected } = await connect(mint(c));
  assert.equal(connected.user.username, c.name);
  ackOk(await ack(socket, 'join_room', { room_id: 'general' }), 'join_room');
  const sent = ackOk(await ack(socket, 'send_message', { room_id: 'general', message: 'hello from jwt' }), 'send');
  assert.equal(sent.message.user_id, connected.user.id);
  socket.close();
  assert.equal(ok(await me(mint(c))).user.id, connected.user.id);
});

test('a name held by another user is refused (409 username_taken / CONNECT_ERROR), nothing changes', async () => {
  const guest = await join('held');
  const c = claims({ name: guest.user.username });
  fails(await me(mint(c)), 409, 'username_taken', 'name');
  const err = await connectError(mint(c));
  assert.equal(err.data.code, 'username_taken', JSON.stringify(err.data));
  // Case-insensitively too, and for a rename of an existing site user.
  const site = claims();
  const su = ok(await me(mint(site))).user;
  fails(await me(mint({ ...site, name: guest.user.username.toUpperCase() })), 409, 'username_taken', 'name');
  assert.equal(ok(await me(mint(site))).user.username, su.username, 'the refused rename changed nothing');
  // Another site user's name, too.
  fails(await me(mint({ ...claims(), name: su.username })), 409, 'username_taken', 'name');
  const g = ok(await me(guest.token)).user;
  assert.equal(g.username, guest.user.username);
});

test('a site user\'s name is closed to guests once accounts mark it registered', async (t) => {
  const c = claims();
  const u = ok(await me(mint(c))).user;
  if (!('registered' in u)) {
    t.skip('User has no "registered" field yet (accounts, migration 0017)');
    return;
  }
  fails(await api('POST', '/api/join', { body: { username: c.name } }), 409, 'username_taken', 'username');
});

test('hostile headers: alg none, other algorithms, missing or odd alg', async () => {
  const c = claims();
  const none = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(c)}.`;
  await refusedEverywhere(none, 'alg none, unsigned');
  await refusedEverywhere(none.slice(0, -1), 'alg none, two segments');
  // alg none with a valid HS256 signature over it.
  await refusedEverywhere(mint(c, { header: { alg: 'none' } }), 'alg none, signed');
  // HS512 signed correctly with the same secret: a library that follows the header accepts it.
  await refusedEverywhere(mint(c, { header: { alg: 'HS512', typ: 'JWT' }, hash: 'sha512' }), 'HS512');
  await refusedEverywhere(mint(c, { header: { alg: 'HS384' }, hash: 'sha384' }), 'HS384');
  await refusedEverywhere(mint(c, { header: { alg: 'RS256', typ: 'JWT' } }), 'RS256');
  await refusedEverywhere(mint(c, { header: { alg: 'ES256' } }), 'ES256');
  await refusedEverywhere(mint(c, { header: { typ: 'JWT' } }), 'no alg');
  await refusedEverywhere(mint(c, { header: { alg: 'hs256' } }), 'alg in lower case');
  await refusedEverywhere(mint(c, { header: { alg: ['HS256'] } }), 'alg as array');
  await refusedEverywhere(mint(c, { header: '{"alg":"HS256","alg":"none"}' }), 'duplicate alg');
  await refusedEverywhere(mint(c, { header: { alg: 'HS256', crit: ['exp'] } }), 'crit');
  await refusedEverywhere(mint(c, { header: 'not json' }), 'header not JSON');
});

test('hostile signatures: altered payload under the old signature, another key, no signature', async () => {
  const c = claims();
  const good = mint(c);
  const [h, , s] = good.split('.');
  await refusedEverywhere(`${h}.${b64({ ...c, sub: 'admin' })}.${s}`, 'payload swapped');
  await refusedEverywhere(`${h}.${b64({ ...c, exp: now() + 10 ** 9 })}.${s}`, 'exp extended');
  await refusedEverywhere(mint(c, { key: 'another-secret-of-at-least-32-bytes!!' }), 'another key');
  await refusedEverywhere(mint(c, { key: '' }), 'empty key');
  await refusedEverywhere(`${h}.${good.split('.')[1]}.`, 'signature dropped');
  await refusedEverywhere(`${good}.AAAA`, 'a fourth segment');
  await refusedEverywhere(`${good}=`, 'padding');
  // Not refused: the untouched token.
  ok(await me(good));
});

test('hostile claims: expiry, types, sizes, encodings, SQL metacharacters', async () => {
  const base = claims();
  await refusedEverywhere(mint({ ...base, exp: now() - 1 }), 'expired');
  await refusedEverywhere(mint({ sub: base.sub, name: base.name }), 'no exp');
  await refusedEverywhere(mint({ ...base, exp: String(now() + 600) }), 'exp as string');
  await refusedEverywhere(mint({ ...base, exp: null }), 'exp null');
  await refusedEverywhere(mint({ ...base, nbf: now() + 3600 }), 'nbf ahead');
  await refusedEverywhere(mint({ name: base.name, exp: base.exp }), 'no sub');
  await refusedEverywhere(mint({ ...base, sub: 12345 }), 'sub as number');
  await refusedEverywhere(mint({ ...base, sub: '' }), 'empty sub');
  await refusedEverywhere(mint({ ...base, sub: 'x'.repeat(256) }), 'sub too long');
  await refusedEverywhere(mint({ sub: base.sub, exp: base.exp }), 'no name');
  await refusedEverywhere(mint({ ...base, name: ['a'] }), 'name as array');
  await refusedEverywhere(mint({ ...base, name: null }), 'name null');
  await refusedEverywhere(mint({ ...base, name: 'bad name' }), 'name with a space');
  await refusedEverywhere(mint({ ...base, name: "x'); DROP TABLE users;--" }), 'SQL in name');
  await refusedEverywhere(mint({ ...base, name: 'a'.repeat(33) }), 'name too long');
  await refusedEverywhere(mint({ ...base, name: 'a\u0000b' }), 'NUL in name');
  // Raw bytes that are not UTF-8 inside the payload.
  const raw = Buffer.concat([Buffer.from(`{"sub":"${base.sub}","exp":${base.exp},"name":"a`), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]);
  await refusedEverywhere(mint(raw), 'non-UTF-8 name');
  await refusedEverywhere(mint(`{"sub":"${base.sub}","sub":"other","name":"${base.name}","exp":${base.exp}}`), 'duplicate sub');
  await refusedEverywhere(mint('[1,2,3]'), 'payload not an object');
  // 5 KB: past the token bound, under nginx's header limit.
  await refusedEverywhere(mint({ ...base, name: 'a'.repeat(5000) }), '5 KB name');
  // SQL metacharacters in sub are only data.
  const sqlSub = { ...claims(), sub: "1' OR '1'='1; DROP TABLE users; --\\\"" };
  const u = ok(await me(mint(sqlSub))).user;
  assert.equal(ok(await me(mint(sqlSub))).user.id, u.id);
  assert.notEqual(ok(await me(mint(claims({ sub: "1' OR '1'='2" })))).user.id, u.id);
});

test('huge tokens: a 100 KB name is refused on REST and on the socket, the services stay up', async () => {
  const big = mint({ ...claims(), name: 'a'.repeat(100 * 1024) });
  const r = await me(big);
  // nginx refuses a header this large itself (400, JSON envelope); else chat-fcgi's bound (401).
  assert.ok(r.status === 400 || r.status === 401, show(r));
  assert.equal(r.json.success, false);
  // On the socket a 40 KB token fits the CONNECT payload limit: the bridge's bound refuses it.
  const err = await connectError(mint({ ...claims(), name: 'a'.repeat(40 * 1024) }));
  assert.equal(err.data.code, 'unauthorized', JSON.stringify(err.data));
  ok(await me(mint(claims())));
});

test('garbage in the Bearer header: JWT-shaped junk is 401, a session token still works', async () => {
  for (const junk of ['.', '..', 'a.b.c', 'e30.e30.e30', '!!!.@@@.###', `${'x'.repeat(10)}.${'y'.repeat(10)}`]) {
    fails(await me(junk), 401, 'unauthorized');
  }
  const g = await join('sess');
  assert.equal(ok(await me(g.token)).user.id, g.user.id);
});

test('a site token only counts where DESIGN says: Bearer and auth.token, not the cookie or ?token=', async () => {
  const tok = mint(claims());
  fails(await api('GET', '/api/me', { headers: { cookie: `chat_token=${tok}` } }), 401, 'unauthorized');
  const err = await connectError(null, { query: { token: tok } });
  assert.equal(err.data.code, 'unauthorized');
  ok(await me(tok));
});

test('a site token is a socket session: events work, DELETE /api/session does not break it', async () => {
  const tok = mint(claims());
  const { socket } = await connect(tok);
  ackOk(await ack(socket, 'join_room', { room_id: 'general' }), 'join_room');
  const out = ok(await api('DELETE', '/api/session', { token: tok }));
  assert.equal(out.logged_out, false);
  ackOk(await ack(socket, 'typing', { room_id: 'general', is_typing: true }), 'typing');
  socket.close();
});

test('CONNECT with a site token over a raw socket: the same answer shape as a session token', async () => {
  const c = await RawClient.open();
  const refused = await c.sioConnect(mint({ ...claims(), exp: now() - 5 }));
  assert.equal(refused.type, '44');
  assert.equal(refused.data.message, 'unauthorized');
  assert.equal(refused.data.data.code, 'unauthorized');
  const d = await RawClient.open();
  const accepted = await d.sioConnect(mint(claims()));
  assert.equal(accepted.type, '40', JSON.stringify(accepted.data));
  assert.equal(typeof accepted.data.sid, 'string');
  c.terminate();
  d.terminate();
});

test('neither the secret nor a token reaches the service logs', async () => {
  const tok = mint(claims());
  ok(await me(tok));
  await refusedEverywhere(mint({ ...claims(), exp: 1 }), 'expired, for the logs');
  const dir = path.join(STATE_DIR, 'log');
  for (const f of fs.readdirSync(dir)) {
    const text = fs.readFileSync(path.join(dir, f), 'latin1');
    assert.equal(text.includes(SECRET), false, `${f} holds the secret`);
    assert.equal(text.includes(tok.split('.')[2]), false, `${f} holds a token's signature`);
  }
});
