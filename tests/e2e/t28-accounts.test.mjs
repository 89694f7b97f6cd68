// t28-accounts -- registered accounts (DESIGN.md section 7): register, log in,
// change the password; guests cannot take registered names; the failed-login
// limits; the bound on password hashes computed at once.
//
// Some tests restart the chat-fcgi pool with other limits (stack.sh
// fcgi-restart) and restore the suite's in a finally block.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  api, ok, fails, join, createRoom, send, history, uniqueName, stack, show, TOKEN_RE,
} from './lib.mjs';
import { connect, disconnected, psql } from './sio.mjs';

const PW = 'correct horse battery';

async function register(prefix = 'acct', { password = PW, token, room_id, name } = {}) {
  const username = name ?? uniqueName(prefix);
  const body = { username, password };
  if (room_id !== undefined) body.room_id = room_id;
  const res = await api('POST', '/api/register', { body, token });
  const data = ok(res, 201);
  return { user: data.user, token: data.token, data, res, username, password };
}

const login = (username, password, extra = {}) =>
  api('POST', '/api/login', { body: { username, password }, ...extra });

/** Asserts 401 invalid_credentials and returns the body text. */
function badCredentials(r) {
  fails(r, 401, 'invalid_credentials', null);
  assert.equal(r.json.error.message, 'invalid username or password');
  return r.text;
}

/** Asserts a 429 rate_limited answer with an integer Retry-After in [1, max]. */
function assertLimited(r, max) {
  fails(r, 429, 'rate_limited');
  const ra = r.headers.get('retry-after');
  assert.match(ra ?? '', /^\d+$/, `Retry-After: ${show(r)}`);
  assert.ok(Number(ra) >= 1 && Number(ra) <= max, `Retry-After ${ra} not in [1, ${max}]`);
}

/** Restarts the pool with env, runs fn, then restores the suite's settings. */
async function withPool(env, fn) {
  const restore = {};
  for (const k of Object.keys(env)) restore[k] = process.env[k] ?? '';
  try {
    stack('fcgi-restart', env);
    return await fn();
  } finally {
    stack('fcgi-restart', restore);
  }
}

test('register: 201 like join, with the cookie; registered users and guests say so', async () => {
  const room = await createRoom((await join('acct_owner')).token, 'acct');
  const a = await register('reg', { room_id: room.id });
  assert.match(a.token, TOKEN_RE);
  assert.equal(a.user.username, a.username);
  assert.equal(a.user.registered, true);
  assert.ok(Array.isArray(a.data.rooms));
  assert.equal(a.data.room.id, room.id);
  assert.match(a.res.headers.get('set-cookie') ?? '', new RegExp(`^chat_token=${a.token}; Path=/; .*HttpOnly; SameSite=Lax`));
  const me = ok(await api('GET', '/api/me', { token: a.token }));
  assert.equal(me.user.registered, true);
  assert.deepEqual(me.rooms.map((r) => r.id).filter((id) => id === room.id), [room.id]);
  const g = await join('guest');
  assert.equal(g.user.registered, false);
  // Every User object carries it: the member list too.
  const users = ok(await api('GET', `/api/users/${room.id}`, { token: a.token })).users;
  assert.equal(users.find((u) => u.id === a.user.id).registered, true);
  assert.equal(users.find((u) => u.id !== a.user.id).registered, false);
  // Stored as an Argon2id hash, never as the password; no answer shows it.
  const h = psql(`SELECT password_hash FROM users WHERE id = '${a.user.id}'`).trim();
  assert.match(h, /^\$argon2id\$v=19\$m=\d+,t=\d+,p=1\$/);
  assert.ok(!me.user.password_hash && !JSON.stringify(me).includes(PW));
});

test('login: 200 {user, token, rooms} with the cookie; the new token works', async () => {
  const a = await register('login');
  const r = await login(a.username.toUpperCase(), PW);
  const data = ok(r, 200);
  assert.deepEqual(Object.keys(data).sort(), ['rooms', 'token', 'user']);
  assert.match(data.token, TOKEN_RE);
  assert.notEqual(data.token, a.token);
  assert.equal(data.user.id, a.user.id);
  assert.equal(data.user.registered, true);
  assert.ok(Array.isArray(data.rooms));
  assert.match(r.headers.get('set-cookie') ?? '', new RegExp(`^chat_token=${data.token};`));
  assert.equal(ok(await api('GET', '/api/me', { token: data.token })).user.id, a.user.id);
  // The password is compared byte for byte (not case-folded).
  badCredentials(await login(a.username, PW.toUpperCase()));
});

test('unknown user, wrong password and a guest account: the same 401 body', async () => {
  const a = await register('same');
  const g = await join('pwless');
  ok(await api('DELETE', '/api/session', { token: g.token }));
  const bodies = [
    badCredentials(await login(a.username, 'wrong password!')),
    badCredentials(await login(uniqueName('nobody'), 'wrong password!')),
    badCredentials(await login(g.user.username, 'wrong password!')),
  ];
  assert.equal(new Set(bodies).size, 1, bodies.join('\n'));
});

test('unknown user and wrong password take about the same time (ratio within 0.2..5)', async () => {
  const a = await register('timing');
  const time = async (name) => {
    const t0 = process.hrtime.bigint();
    badCredentials(await login(name, 'not the password'));
    return Number(process.hrtime.bigint() - t0) / 1e6;
  };
  // Warm every worker's dummy hash first (computed on first use).
  for (let i = 0; i < 6; i++) await time(uniqueName('warm'));
  const unknown = [];
  const wrong = [];
  for (let i = 0; i < 5; i++) {
    unknown.push(await time(uniqueName('ghost')));
    wrong.push(await time(a.username));
  }
  const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
  const ratio = median(unknown) / median(wrong);
  assert.ok(ratio > 0.2 && ratio < 5, `unknown ${unknown} ms vs wrong ${wrong} ms: ratio ${ratio}`);
});

test('hostile input: missing and mistyped fields, lengths, UTF-8, NUL, huge bodies', async () => {
  const name = uniqueName('hostile');
  const cases = [
    [{}, 'username'],
    [{ username: name }, 'password'],
    [{ password: PW }, 'username'],
    [{ username: name, password: null }, 'password'],
    [{ username: name, password: 12345678 }, 'password'],
    [{ username: name, password: [PW] }, 'password'],
    [{ username: name, password: { pw: PW } }, 'password'],
    [{ username: 42, password: PW }, 'username'],
    [{ username: name, password: 'x'.repeat(7) }, 'password'],
    [{ username: name, password: 'x'.repeat(257) }, 'password'],
    // 65 four-byte characters: 65 characters but 260 bytes.
    [{ username: name, password: '\u{1F600}'.repeat(65) }, 'password'],
    [{ username: name, password: `abc\u0000defgh` }, 'password'],
    [{ username: "x'; DROP TABLE users; --", password: PW }, 'username'],
    [{ username: name, password: PW, room_id: 7 }, 'room_id'],
  ];
  for (const [body, field] of cases) {
    for (const path of ['/api/register', '/api/login']) {
      if (path === '/api/login' && field === 'room_id') continue;
      const r = await api('POST', path, { body });
      fails(r, 400, 'validation_error', field);
    }
  }
  // Neither a refused registration nor a refused login left the name behind.
  assert.equal(psql(`SELECT count(*) FROM users WHERE lower(username) = lower('${name}')`).trim(), '0');
  // Invalid UTF-8 (a lone continuation byte, a lone surrogate escape): not JSON.
  const raw = Buffer.concat([Buffer.from(`{"username":"${name}","password":"abcdefg`), Buffer.from([0x80]), Buffer.from('h"}')]);
  fails(await api('POST', '/api/register', { rawBody: raw }), 400, 'invalid_json');
  fails(await api('POST', '/api/login', { rawBody: raw }), 400, 'invalid_json');
  fails(await api('POST', '/api/register', { rawBody: `{"username":"${name}","password":"abcdefgh\\ud800"}` }), 400, 'invalid_json');
  // A huge body, and a body that is not an object.
  fails(await api('POST', '/api/login', { body: { username: name, password: 'x'.repeat(200_000) } }), 413, 'payload_too_large');
  fails(await api('POST', '/api/register', { body: [name, PW] }), 400, 'invalid_json');
  fails(await api('POST', '/api/login', { rawBody: 'x', headers: { 'content-type': 'text/plain' } }), 415, 'unsupported_media_type');
  fails(await api('GET', '/api/login'), 405, 'method_not_allowed');
  // Exactly 8 and 256 bytes (64 four-byte characters), with SQL and JSON
  // metacharacters: accepted, hashed, and they sign in.
  for (const password of ["12345'\"8", '\u{1F600}'.repeat(64), "'); DELETE FROM users; --\\\"{}"]) {
    const a = await register('edge', { password });
    ok(await login(a.username, password));
  }
  // An unknown room on register: 404 like join, and the name stays free.
  const n2 = uniqueName('noroom');
  fails(await api('POST', '/api/register', { body: { username: n2, password: PW, room_id: 'nope' } }), 404, 'not_found', 'room_id');
  await register('noroom', { name: n2 });
});

test('a registered name is never handed to a guest, live session or not', async () => {
  const a = await register('taken');
  fails(await api('POST', '/api/join', { body: { username: a.username } }), 409, 'username_taken', 'username');
  ok(await api('DELETE', '/api/session', { token: a.token }));
  for (const username of [a.username, a.username.toUpperCase(), a.username.toLowerCase()]) {
    fails(await api('POST', '/api/join', { body: { username } }), 409, 'username_taken', 'username');
  }
  // Another guest's token does not help either, nor registering it again.
  const g = await join('other');
  fails(await api('POST', '/api/join', { token: g.token, body: { username: a.username } }), 409, 'username_taken', 'username');
  fails(await api('POST', '/api/register', { body: { username: a.username, password: 'another password' } }), 409, 'username_taken', 'username');
  fails(await api('POST', '/api/register', { token: g.token, body: { username: a.username, password: 'another password' } }), 409, 'username_taken', 'username');
  // The owner still logs in with the original password.
  ok(await login(a.username, PW));
});

test('a guest registers its own name with its own token: same id, rooms and messages', async () => {
  const owner = await join('upg_owner');
  const room = await createRoom(owner.token, 'upg');
  const g = await join('upgrade', { room_id: room.id });
  const m = await send(g.token, room.id, 'written as a guest');
  // Without the token (its session is live) or with someone else's: refused.
  fails(await api('POST', '/api/register', { body: { username: g.user.username, password: PW } }), 409, 'username_taken', 'username');
  fails(await api('POST', '/api/register', { token: owner.token, body: { username: g.user.username, password: PW } }), 409, 'username_taken', 'username');
  const a = await register('upgrade', { name: g.user.username, token: g.token });
  assert.equal(a.user.id, g.user.id);
  assert.equal(a.user.registered, true);
  const me = ok(await api('GET', '/api/me', { token: a.token }));
  assert.ok(me.rooms.some((r) => r.id === room.id), 'memberships kept');
  const page = await history(a.token, room.id);
  assert.equal(page.messages.find((x) => x.id === m.id).user_id, g.user.id);
  // Now it is an account: the old guest token still works (its own session),
  // a guest join of the name does not, and a login does.
  ok(await api('GET', '/api/me', { token: g.token }));
  ok(await api('DELETE', '/api/session', { token: g.token }));
  ok(await api('DELETE', '/api/session', { token: a.token }));
  fails(await api('POST', '/api/join', { body: { username: g.user.username } }), 409, 'username_taken');
  assert.equal(ok(await login(g.user.username, PW)).user.id, g.user.id);
  // A guest name that nobody holds any more can be registered, like join takes it.
  const lapsed = await join('lapsed');
  ok(await api('DELETE', '/api/session', { token: lapsed.token }));
  const b = await register('lapsed', { name: lapsed.user.username });
  assert.equal(b.user.id, lapsed.user.id);
});

test('password change: wrong current 403, then every other session revoked and its socket closed', async () => {
  const a = await register('chpw');
  const other = ok(await login(a.username, PW));
  const third = ok(await login(a.username, PW));
  const { socket } = await connect(other.token);
  const { socket: mine } = await connect(a.token);
  const url = '/api/me/password';
  fails(await api('POST', url, { token: a.token, body: { current_password: 'not the password', new_password: 'a new password' } }), 403, 'forbidden', 'current_password');
  fails(await api('POST', url, { token: a.token, body: { current_password: PW } }), 400, 'validation_error', 'new_password');
  fails(await api('POST', url, { token: a.token, body: { current_password: PW, new_password: 'short' } }), 400, 'validation_error', 'new_password');
  fails(await api('POST', url, { token: a.token, body: { current_password: 5, new_password: 'a new password' } }), 400, 'validation_error', 'current_password');
  fails(await api('POST', url, { body: { current_password: PW, new_password: 'a new password' } }), 401, 'unauthorized');
  ok(await api('GET', '/api/me', { token: other.token }), 200);

  const gone = disconnected(socket);
  const data = ok(await api('POST', url, { token: a.token, body: { current_password: PW, new_password: 'a new password' } }));
  assert.equal(data.user.id, a.user.id);
  assert.equal(data.revoked_sessions, 2);
  assert.equal(await gone, 'io server disconnect');
  fails(await api('GET', '/api/me', { token: other.token }), 401, 'unauthorized');
  fails(await api('GET', '/api/me', { token: third.token }), 401, 'unauthorized');
  // The caller's own session and socket stay.
  ok(await api('GET', '/api/me', { token: a.token }));
  assert.equal(mine.connected, true);
  mine.close();
  badCredentials(await login(a.username, PW));
  ok(await login(a.username, 'a new password'));
  // A guest has no password to change.
  const g = await join('nopw');
  fails(await api('POST', url, { token: g.token, body: { current_password: PW, new_password: 'a new password' } }), 403, 'forbidden', 'current_password');
});

test('failed logins are limited per username and per address (429 + Retry-After)', async () => {
  const a = await register('limit');
  const b = await register('limit2');
  await withPool({ CHAT_LOGIN_USER_RATE: '3', CHAT_LOGIN_USER_WINDOW: '3600' }, async () => {
    for (let i = 0; i < 3; i++) badCredentials(await login(a.username, `wrong ${i} password`));
    assertLimited(await login(a.username, 'wrong again pw'), 3600);
    // Limited before the check: the right password waits too.
    assertLimited(await login(a.username, PW), 3600);
    // An unknown name is limited the same way (a 429 does not tell it exists).
    const ghost = uniqueName('ghost');
    for (let i = 0; i < 3; i++) badCredentials(await login(ghost, `wrong ${i} password`));
    assertLimited(await login(ghost, 'wrong again pw'), 3600);
    // Another name is not affected; successes give their tokens back.
    for (let i = 0; i < 5; i++) ok(await login(b.username, PW));
    badCredentials(await login(b.username, 'wrong password'));
    ok(await login(b.username, PW));
  });
  await withPool({ CHAT_LOGIN_ADDR_RATE: '4', CHAT_LOGIN_ADDR_WINDOW: '3600' }, async () => {
    // The suite's earlier tests left this address's bucket full (its
    // capacity was 100000): four failures on four names, then 429.
    for (let i = 0; i < 4; i++) badCredentials(await login(uniqueName('addr'), 'wrong password'));
    assertLimited(await login(b.username, PW), 3600);
    assertLimited(await login(uniqueName('addr'), 'wrong password'), 3600);
  });
  // Restored: the address may sign in again.
  ok(await login(b.username, PW));
});

test('a login flood is bounded by the hashing slots (503 server_busy) while GET /api/rooms answers', async () => {
  const reader = await join('flood_reader');
  await withPool({ CHAT_PWHASH_MAX_CONCURRENT: '1', CHAT_PWHASH_WAIT_MS: '0' }, async () => {
    const a = await register('flood');
    const logins = Array.from({ length: 24 }, () => login(a.username, PW));
    const reads = [];
    for (let i = 0; i < 8; i++) reads.push(api('GET', '/api/rooms', { token: reader.token }));
    const [lr, rr] = await Promise.all([Promise.all(logins), Promise.all(reads)]);
    for (const r of rr) ok(r);
    const busy = lr.filter((r) => r.status === 503);
    for (const r of lr) assert.ok(r.status === 200 || r.status === 503, show(r));
    assert.ok(busy.length > 0, 'one slot, no wait: concurrent logins are refused');
    assert.ok(lr.some((r) => r.status === 200), 'some logins pass');
    for (const r of busy) {
      fails(r, 503, 'server_busy');
      assert.equal(r.headers.get('retry-after'), '1');
    }
    // A refused attempt was not counted as a failure: the user still signs in.
    ok(await login(a.username, PW));
  });
});
