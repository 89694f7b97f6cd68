// t26-input-limits -- valid JSON with "\u0000" in a string field (REST and
// Socket.IO), the per-user room-creation limit, joins from one address (new
// names are limited, returning users are not), the room_created NOTIFY
// budget and the __Host- session cookie.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import {
  api, ok, fails, join, createRoom, history, uniqueName, stack, show, setCookies, REPO,
} from './lib.mjs';
import {
  connect, closeAll, ack, ackFails, joinRoom, RawClient, rawConnect, collect, psql,
} from './sio.mjs';

afterEach(closeAll);

/** A JSON text of obj whose string values have every "@" replaced by \u0000. */
const withNul = (obj) => JSON.stringify(obj).replaceAll('@', '\\u0000');

/** Asserts a 400 validation_error naming field, for a NUL in that field. */
function assertNulRefused(r, field, what) {
  assert.equal(r.status, 400, `${what}: ${show(r)}`);
  fails(r, 400, 'validation_error', field);
  assert.match(r.json.error.message, /control character/, `${what}: ${show(r)}`);
}

test('REST: "\\u0000" in any string field is 400 validation_error naming the field', async () => {
  const u = await join('nul');
  const room = await createRoom(u.token, 'nul');
  const msgs = `/api/messages/${room.id}`;
  const cases = [
    [msgs, u.token, { message: 'nul@byte' }, 'message'],
    [msgs, u.token, { message: '@' }, 'message'],
    [msgs, u.token, { message: 'trailing@' }, 'message'],
    [msgs, u.token, { message: 'fine', client_id: 'c@1' }, 'client_id'],
    ['/api/join', undefined, { username: 'ab@cd' }, 'username'],
    ['/api/join', undefined, { username: uniqueName('nul'), room_id: 'general@' }, 'room_id'],
    ['/api/rooms', u.token, { room_name: 'r@oom' }, 'room_name'],
    ['/api/rooms', u.token, { name: 'r@oom' }, 'name'],
    ['/api/rooms', u.token, { room_name: uniqueName('nul'), description: 'd@' }, 'description'],
  ];
  for (const [p, token, body, field] of cases) {
    const rawBody = withNul(body);
    assertNulRefused(await api('POST', p, { token, rawBody }), field, `${p} ${rawBody}`);
  }
  // Nothing of it was stored.
  assert.equal((await history(u.token, room.id)).messages.length, 0);
  // A NUL in a key is not a field of ours: 400, never a server error.
  const r = await api('POST', msgs, { token: u.token, rawBody: '{"mess\\u0000age":"x"}' });
  assert.equal(r.status, 400, show(r));
  // The same texts without the NUL are fine.
  const m = ok(await api('POST', msgs, { token: u.token, body: { message: 'nulbyte', client_id: 'c1' } }), 201);
  assert.equal(m.message.content, 'nulbyte');
});

test('Socket.IO: "\\u0000" in an event payload is validation_error, never a truncated value', async () => {
  const u = await join('nul_ws');
  const room = await createRoom(u.token, 'nul_ws');
  const { socket } = await connect(u.token);
  await joinRoom(socket, room.id);
  const cases = [
    ['send_message', { room_id: room.id, message: 'nul\u0000byte' }, 'message'],
    ['send_message', { room_id: room.id, message: 'ok', client_id: 'c\u00001' }, 'client_id'],
    ['join_room', { room_id: `${room.id}\u0000` }, 'room_id'],
    ['leave_room', { room_id: `\u0000${room.id}` }, 'room_id'],
    ['typing', { room_id: `${room.id}\u0000x`, is_typing: true }, 'room_id'],
  ];
  for (const [event, payload, field] of cases) {
    const e = ackFails(await ack(socket, event, payload), 'validation_error', `${event} ${JSON.stringify(payload)}`);
    assert.match(e.message, new RegExp(`^${field} .*control character`), `${event}: ${e.message}`);
  }
  // An event name with a NUL is not the name before it.
  ackFails(await ack(socket, 'send_message\u0000', { room_id: room.id, message: 'sneaky' }), 'validation_error', 'name with NUL');
  assert.equal((await history(u.token, room.id)).messages.length, 0, 'nothing stored');
});

test('Socket.IO CONNECT: a token followed by "\\u0000" is unauthorized, not the token', async () => {
  const u = await join('nul_connect');
  const c = await RawClient.open();
  const r = await c.sioConnect(`${u.token}\u0000garbage`);
  assert.equal(r.type, '44', JSON.stringify(r));
  assert.equal(r.data.data.code, 'unauthorized', JSON.stringify(r));
  // The same connection then CONNECTs with the real token.
  const r2 = await c.sioConnect(u.token);
  assert.equal(r2.type, '40', JSON.stringify(r2));
  const raw = await rawConnect(u.token);
  assert.equal(raw.closeInfo, null);
});

// ------------------------------------------------------ room creation limit

/** Asserts a 429 rate_limited answer with an integer Retry-After in [1, max]. */
function assertLimited(r, max) {
  fails(r, 429, 'rate_limited');
  const ra = r.headers.get('retry-after');
  assert.match(ra ?? '', /^\d+$/, `Retry-After: ${show(r)}`);
  assert.ok(Number(ra) >= 1 && Number(ra) <= max, `Retry-After ${ra} not in [1, ${max}]`);
}

/** Restarts the chat-fcgi pool with env, runs fn, then restores the suite's values. */
async function withFcgiEnv(env, fn) {
  const restore = {};
  for (const k of Object.keys(env)) restore[k] = process.env[k] ?? '';
  stack('fcgi-restart', env);
  try {
    return await fn();
  } finally {
    stack('fcgi-restart', restore);
  }
}

const roomCount = (name) => Number(psql(`SELECT count(*) FROM rooms WHERE name = '${name}'`));

test('room creation is limited per user (default 5 per 60 s): 429 + Retry-After, no room_created', async () => {
  const watcher = await join('rc_watch');
  const { socket } = await connect(watcher.token);
  const created = collect(socket, 'room_created');
  const a = await join('rc_a');
  const c = await join('rc_c');
  const refused = uniqueName('rc_refused');
  // The suite raises CHAT_ROOM_CREATE_RATE; empty means the default.
  await withFcgiEnv({ CHAT_ROOM_CREATE_RATE: '', CHAT_ROOM_CREATE_WINDOW: '' }, async () => {
    const mine = [];
    for (let i = 0; i < 5; i++) mine.push(await createRoom(a.token, 'rc'));
    // A name that exists is refused before the limit and costs nothing.
    fails(await api('POST', '/api/rooms', { token: a.token, body: { room_name: mine[0].name } }), 409, 'room_exists');
    assertLimited(await api('POST', '/api/rooms', { token: a.token, body: { room_name: refused } }), 60);
    assertLimited(await api('POST', '/api/rooms', { token: a.token, body: { room_name: uniqueName('rc') } }), 60);
    // The limit is per user: someone else (from the same address) still creates.
    const other = await createRoom(c.token, 'rc_other');
    // Every created room was announced, in commit order; the refused one never was.
    await created.waitFor((e) => e.room.id === other.id, 10_000, 'the other user\'s room');
    const names = created.items.map((e) => e.room.name);
    for (const r of mine) assert.ok(names.includes(r.name), `room_created for ${r.name}`);
    assert.ok(!names.includes(refused), 'no room_created for the refused room');
  });
  assert.equal(roomCount(refused), 0, 'the refused room was not stored');
});

test('CHAT_ROOM_CREATE_RATE=2 per hour; 0 turns the limit off', async () => {
  const a = await join('rc2');
  await withFcgiEnv({ CHAT_ROOM_CREATE_RATE: '2', CHAT_ROOM_CREATE_WINDOW: '3600' }, async () => {
    await createRoom(a.token, 'rc2');
    await createRoom(a.token, 'rc2');
    assertLimited(await api('POST', '/api/rooms', { token: a.token, body: { room_name: uniqueName('rc2') } }), 3600);
  });
  await withFcgiEnv({ CHAT_ROOM_CREATE_RATE: '0' }, async () => {
    for (let i = 0; i < 8; i++) await createRoom(a.token, 'rc2_off');
  });
});

// ------------------------------------------------------- joins from one address

test('CHAT_JOIN_RATE limits new names per address; 35 returning users from that address all get in', async () => {
  // Prepared under the suite's high limits: 35 users from this address.
  const users = [];
  for (let i = 0; i < 35; i++) users.push(await join('nat'));
  // 20 signed out (or their session expired); 15 come back with their own token.
  for (const u of users.slice(0, 20)) ok(await api('DELETE', '/api/session', { token: u.token }));
  const holder = await join('nat_holder');
  const refused = uniqueName('nat_new');
  await withFcgiEnv({ CHAT_JOIN_RATE: '3', CHAT_JOIN_RATE_WINDOW: '3600' }, async () => {
    // Every returning user gets in, however many: not one counts as a new name.
    for (const [i, u] of users.entries()) {
      const back = await join('x', { name: u.user.username, token: i < 20 ? undefined : u.token });
      assert.equal(back.user.id, u.user.id, 'the same user');
      u.token = back.token;
    }
    // A name someone else holds is 409, not a new name either.
    fails(await api('POST', '/api/join', { body: { username: holder.user.username } }), 409, 'username_taken', 'username');
    // New names: three, then 429 with Retry-After.
    for (let i = 0; i < 3; i++) await join('nat_new');
    assertLimited(await api('POST', '/api/join', { body: { username: refused } }), 3600);
    // Still: returning users are not limited by the exhausted new-name budget.
    for (const u of users.slice(0, 5)) {
      ok(await api('DELETE', '/api/session', { token: u.token }));
      assert.equal((await join('x', { name: u.user.username })).user.id, u.user.id);
    }
  });
  assert.equal(Number(psql(`SELECT count(*) FROM users WHERE username = '${refused}'`)), 0, 'the refused name was not created');
});

// ------------------------------------------------ room_created and NOTIFY

/** Runs a program of the build with only env (plus PATH); returns {status, stderr}. */
function runWith(bin, env) {
  const r = spawnSync(path.join(process.env.CHAT_BUILD || path.join(REPO, 'build'), bin), [], {
    env: { PATH: process.env.PATH, ...env },
    encoding: 'utf8',
    timeout: 10_000,
    input: '',
  });
  return { status: r.status, stderr: r.stderr || '' };
}

test('a name + description limit that could pass the 8000-byte NOTIFY limit is refused at start-up', () => {
  for (const bin of ['chat-fcgi', 'chat-ws']) {
    for (const env of [
      { CHAT_DESCRIPTION_MAX: '10000' },
      { CHAT_DESCRIPTION_MAX: '1808' },
      { CHAT_ROOM_NAME_MAX: '256', CHAT_DESCRIPTION_MAX: '1616' },
    ]) {
      const r = runWith(bin, env);
      assert.equal(r.status, 2, `${bin} ${JSON.stringify(env)}: exit ${r.status}, ${r.stderr}`);
      assert.match(r.stderr, /CHAT_DESCRIPTION_MAX.*8000-byte NOTIFY/, `${bin}: ${r.stderr}`);
    }
  }
});

test('at the largest allowed limits, room_created with 4-byte characters still reaches the clients', async () => {
  const watcher = await join('big_watch');
  const { socket } = await connect(watcher.token);
  const created = collect(socket, 'room_created');
  const a = await join('big');
  const name = `${uniqueName('big')}${'\u{1F600}'.repeat(200)}`;
  const description = '\u{1F600}'.repeat(1615);
  await withFcgiEnv({ CHAT_ROOM_NAME_MAX: '256', CHAT_DESCRIPTION_MAX: '1615' }, async () => {
    const room = ok(await api('POST', '/api/rooms', { token: a.token, body: { room_name: name, description } }), 201).room;
    const e = await created.waitFor((x) => x.room.id === room.id, 10_000, 'the big room');
    assert.equal(e.room.description, description);
    assert.equal(e.room.name, name);
  });
});

// ----------------------------------------------------- the __Host- cookie

/** The Set-Cookie lines of r for cookie name. */
const cookieLines = (r, name) => setCookies(r).filter((l) => l.startsWith(`${name}=`));

test('CHAT_COOKIE_SECURE=1: the session cookie is __Host-chat_token (Secure, Path=/, no Domain), read by REST and Socket.IO', async () => {
  const plain = await join('plain_cookie');
  await withFcgiEnv({ CHAT_COOKIE_SECURE: '1' }, async () => {
    const username = uniqueName('host');
    const r = await api('POST', '/api/join', { body: { username } });
    const data = ok(r, 201);
    const [line] = cookieLines(r, '__Host-chat_token');
    assert.ok(line, `__Host-chat_token set: ${setCookies(r)}`);
    assert.ok(line.startsWith(`__Host-chat_token=${data.token};`), line);
    assert.match(line, /; Secure(;|$)/);
    assert.match(line, /; Path=\/(;|$)/);
    assert.match(line, /; HttpOnly(;|$)/);
    assert.doesNotMatch(line, /Domain=/i);
    // An old unprefixed cookie is expired, never set.
    for (const l of cookieLines(r, 'chat_token')) assert.match(l, /Max-Age=0/, l);
    // REST reads it, and renews it under the same name.
    const me = await api('GET', '/api/me', { headers: { cookie: `__Host-chat_token=${data.token}` } });
    assert.equal(ok(me).user.id, data.user.id);
    assert.ok(cookieLines(me, '__Host-chat_token')[0]?.includes('; Secure'), setCookies(me).join(' | '));
    // With both names present the prefixed one wins, in either order.
    for (const cookie of [`chat_token=${plain.token}; __Host-chat_token=${data.token}`,
      `__Host-chat_token=${data.token}; chat_token=${plain.token}`]) {
      assert.equal(ok(await api('GET', '/api/me', { headers: { cookie } })).user.id, data.user.id, cookie);
    }
    // The bridges read it too.
    const { connected } = await connect(undefined, { extraHeaders: { Cookie: `theme=dark; __Host-chat_token=${data.token}` } });
    assert.equal(connected.user.id, data.user.id);
    const both = await connect(undefined, { extraHeaders: { Cookie: `chat_token=${plain.token}; __Host-chat_token=${data.token}` } });
    assert.equal(both.connected.user.id, data.user.id);
    // Logout expires it.
    const out = await api('DELETE', '/api/session', { headers: { cookie: `__Host-chat_token=${data.token}` } });
    ok(out);
    assert.match(cookieLines(out, '__Host-chat_token')[0] ?? '', /^__Host-chat_token=;.*Max-Age=0.*; Secure/);
  });
  // Without Secure, the name stays chat_token (a __Host- cookie needs Secure).
  const r = await api('POST', '/api/join', { body: { username: uniqueName('plain') } });
  ok(r, 201);
  assert.equal(cookieLines(r, '__Host-chat_token').length, 0, setCookies(r).join(' | '));
  assert.equal(cookieLines(r, 'chat_token').length, 1, setCookies(r).join(' | '));
});
