// t02-join-auth -- POST /api/join, sessions (Bearer and cookie), logout, /api/me.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  api, ok, fails, join, uniqueName, assertUser, assertRoom, setCookies, show, TOKEN_RE, refusedSoon,
} from './lib.mjs';

test('join creates a user, a token, the cookie and the first page of rooms', async () => {
  const username = uniqueName('Alice');
  const r = await api('POST', '/api/join', { body: { username } });
  const data = ok(r, 201);
  assert.deepEqual(Object.keys(data).sort(), ['room', 'rooms', 'token', 'user']);
  assertUser(data.user, { online: false });
  assert.equal(data.user.username, username);
  assert.match(data.token, TOKEN_RE);
  assert.equal(data.room, null);
  assert.ok(Array.isArray(data.rooms));
  assert.ok(data.rooms.length >= 1 && data.rooms.length <= 50);
  data.rooms.forEach(assertRoom);
  const general = data.rooms.find((x) => x.id === 'general');
  assert.ok(general, 'general is on the first page of rooms');
  assert.equal(general.name, 'general');

  const cookies = setCookies(r);
  const c = cookies.find((x) => x.startsWith('chat_token='));
  assert.ok(c, `Set-Cookie chat_token missing: ${cookies}`);
  const parts = c.split(';').map((s) => s.trim());
  assert.equal(parts[0], `chat_token=${data.token}`);
  const attrs = parts.slice(1).map((s) => s.toLowerCase());
  assert.ok(attrs.includes('path=/'), c);
  assert.ok(attrs.includes('httponly'), c);
  assert.ok(attrs.includes('samesite=lax'), c);
  const maxAge = attrs.find((a) => a.startsWith('max-age='));
  assert.ok(maxAge && Number(maxAge.slice(8)) > 0, c);

  // The token works at once, and /api/me describes the same user.
  const me = ok(await api('GET', '/api/me', { token: data.token }));
  assert.deepEqual(Object.keys(me).sort(), ['rooms', 'user']);
  assertUser(me.user);
  assert.equal(me.user.id, data.user.id);
  assert.equal(me.user.username, username);
  assert.deepEqual(me.rooms, []);
});

test('two joins give two different tokens and users', async () => {
  const a = await join('tok');
  const b = await join('tok');
  assert.notEqual(a.token, b.token);
  assert.notEqual(a.user.id, b.user.id);
});

test('join with room_id makes the user a member and returns the room', async () => {
  const { user, token, data } = await join('member', { room_id: 'general' });
  assertRoom(data.room);
  assert.equal(data.room.id, 'general');
  assert.ok(data.room.member_count >= 1);
  const me = ok(await api('GET', '/api/me', { token }));
  assert.deepEqual(me.rooms.map((x) => x.id), ['general']);
  const users = ok(await api('GET', '/api/users/general', { token })).users;
  assert.ok(users.some((u) => u.id === user.id));
});

test('join with an unknown or malformed room_id is 404 on room_id and creates nothing', async () => {
  for (const room_id of ['no-such-room', 'x'.repeat(64), '../etc/passwd', 'a b', "'; DROP TABLE rooms; --", '', 'x'.repeat(65)]) {
    const username = uniqueName('noroom');
    fails(await api('POST', '/api/join', { body: { username, room_id } }), 404, 'not_found', 'room_id');
    // Nothing was held: the name can be joined now.
    await join('x', { name: username });
  }
});

test('join with a room_id of the wrong type is a validation error', async () => {
  for (const room_id of [5, true, [], {}]) {
    fails(await api('POST', '/api/join', { body: { username: uniqueName('rt'), room_id } }), 400, 'validation_error', 'room_id');
  }
  // null means absent.
  const d = ok(await api('POST', '/api/join', { body: { username: uniqueName('rn'), room_id: null } }), 201);
  assert.equal(d.room, null);
});

test('username: 1..32 characters of [A-Za-z0-9_.-]', async () => {
  const n32 = uniqueName('L').padEnd(32, 'x');
  assert.equal(n32.length, 32);
  ok(await api('POST', '/api/join', { body: { username: n32 } }), 201);
  fails(await api('POST', '/api/join', { body: { username: `${n32}y` } }), 400, 'validation_error', 'username');

  // One character; logged out right away so that a rerun can take it again.
  const one = await api('POST', '/api/join', { body: { username: 'Q' } });
  if (one.status === 201) ok(await api('DELETE', '/api/session', { token: one.json.data.token }));
  else fails(one, 409, 'username_taken', 'username');

  for (const username of ['', 'a b', ' ab', 'ab ', 'caf\u00e9', 'a@b', 'a/b', 'a\\b', 'a;b', "o'neil", 'a\nb', 'a\tb', '\u3000', 'a+b', 'a,b', '\ud83d\ude00']) {
    fails(await api('POST', '/api/join', { body: { username } }), 400, 'validation_error', 'username');
  }
  for (const name of ['a.b', 'A-Z_0.9', '...', '---', '___', '0']) {
    const username = `${name}${uniqueName('')}`.slice(0, 32);
    ok(await api('POST', '/api/join', { body: { username } }), 201);
  }
});

test('username missing, null or not a string is a validation error on username', async () => {
  for (const body of [{}, { username: null }, { username: 123 }, { username: [] }, { username: ['a'] }, { username: {} }, { username: true }, { username: false }, { name: 'x' }]) {
    fails(await api('POST', '/api/join', { body }), 400, 'validation_error', 'username');
  }
});

test('a name held by a live session is taken, case-insensitively', async () => {
  const base = uniqueName('Case');
  const a = await join('x', { name: base });
  fails(await api('POST', '/api/join', { body: { username: base } }), 409, 'username_taken', 'username');
  fails(await api('POST', '/api/join', { body: { username: base.toLowerCase() } }), 409, 'username_taken', 'username');
  fails(await api('POST', '/api/join', { body: { username: base.toUpperCase() } }), 409, 'username_taken', 'username');
  // Another user's token does not unlock it.
  const other = await join('other');
  fails(await api('POST', '/api/join', { token: other.token, body: { username: base } }), 409, 'username_taken', 'username');
  fails(await api('POST', '/api/join', { body: { username: base }, headers: { cookie: `chat_token=${other.token}` } }), 409, 'username_taken', 'username');
  // The holder itself may join again, with the same user id.
  const again = ok(await api('POST', '/api/join', { token: a.token, body: { username: base } }), 201);
  assert.equal(again.user.id, a.user.id);
  assert.match(again.token, TOKEN_RE);
  assert.notEqual(again.token, a.token);
  const viaCookie = ok(await api('POST', '/api/join', { body: { username: base }, headers: { cookie: `chat_token=${again.token}` } }), 201);
  assert.equal(viaCookie.user.id, a.user.id);
});

test('logout revokes the token, clears the cookie and frees the name for the same user id', async () => {
  const name = uniqueName('Bye');
  const a = await join('x', { name });
  const r = await api('DELETE', '/api/session', { token: a.token });
  const data = ok(r, 200);
  assert.deepEqual(data, { logged_out: true });
  const c = setCookies(r).find((x) => x.startsWith('chat_token='));
  assert.ok(c, 'logout sets the cookie');
  assert.match(c, /^chat_token=;/);
  assert.match(c, /max-age=0/i);
  assert.match(c, /path=\//i);

  fails(await api('GET', '/api/me', { token: a.token }), 401, 'unauthorized');
  fails(await api('DELETE', '/api/session', { token: a.token }), 401, 'unauthorized');

  const b = await join('x', { name: name.toUpperCase() });
  assert.equal(b.user.id, a.user.id, 'the same user comes back');
  assert.equal(b.user.username.toLowerCase(), name.toLowerCase());
  ok(await api('GET', '/api/me', { token: b.token }));
  fails(await api('GET', '/api/me', { token: a.token }), 401, 'unauthorized');
});

test('logout with the cookie', async () => {
  const a = await join('ck');
  ok(await api('DELETE', '/api/session', { headers: { cookie: `theme=x; chat_token=${a.token}` } }));
  fails(await api('GET', '/api/me', { headers: { cookie: `chat_token=${a.token}` } }), 401, 'unauthorized');
});

test('authentication: Bearer (any case), cookie among others', async () => {
  const a = await join('auth');
  for (const headers of [
    { authorization: `Bearer ${a.token}` },
    { authorization: `bearer ${a.token}` },
    { authorization: `BEARER ${a.token}` },
    { authorization: `Bearer   ${a.token}  ` },
    { cookie: `chat_token=${a.token}` },
    { cookie: `a=1; chat_token=${a.token}; b=2` },
    { cookie: `xchat_token=${'0'.repeat(64)}; chat_token=${a.token}` },
  ]) {
    const me = ok(await api('GET', '/api/me', { headers }), 200);
    assert.equal(me.user.id, a.user.id, JSON.stringify(headers));
  }
});

test('missing, malformed, unknown and revoked tokens are 401', async () => {
  const a = await join('bad');
  const unknown = 'f'.repeat(64);
  const cases = [
    {},
    { authorization: '' },
    { authorization: 'Bearer' },
    { authorization: 'Bearer ' },
    { authorization: `Basic ${Buffer.from('user:pass').toString('base64')}` },
    { authorization: `Basic ${a.token}` },
    { authorization: `Token ${a.token}` },
    { authorization: `Bearer${a.token}` },
    { authorization: `Bearer ${a.token}x` },
    { authorization: `Bearer ${a.token.slice(1)}` },
    { authorization: `Bearer ${a.token.toUpperCase()}` },
    { authorization: `Bearer ${a.token} ${a.token}` },
    { authorization: 'Bearer garbage' },
    { authorization: "Bearer ' OR '1'='1" },
    { authorization: `Bearer ${unknown}` },
    { cookie: `chat_token=${unknown}` },
    { cookie: 'chat_token=' },
    { cookie: 'chat_token=garbage' },
    { cookie: `xchat_token=${a.token}` },
    { cookie: `chat_tokenx=${a.token}` },
    // A malformed Authorization header is not rescued by a good cookie.
    { authorization: `Basic ${a.token}`, cookie: `chat_token=${a.token}` },
  ];
  for (const headers of cases) {
    for (const p of ['/api/me', '/api/rooms', '/api/rooms/general', '/api/messages/general', '/api/users/general']) {
      const r = await api('GET', p, { headers });
      assert.equal(r.status, 401, `${p} with ${JSON.stringify(headers)}: ${show(r)}`);
      fails(r, 401, 'unauthorized');
    }
  }
  fails(await api('POST', '/api/rooms', { body: { room_name: uniqueName('r') } }), 401, 'unauthorized');
  fails(await api('POST', '/api/messages/general', { body: { message: 'hi' } }), 401, 'unauthorized');
  fails(await api('DELETE', '/api/session'), 401, 'unauthorized');
});

test('a user_id in the join body is ignored, and so are unknown fields', async () => {
  const victim = await join('victim');
  const data = ok(await api('POST', '/api/join', { body: { username: uniqueName('imp'), user_id: victim.user.id, id: victim.user.id, admin: true } }), 201);
  assert.notEqual(data.user.id, victim.user.id);
  const me = ok(await api('GET', '/api/me', { token: data.token }));
  assert.equal(me.user.id, data.user.id);
});

test('POST /api/join requires a JSON object body', async () => {
  const username = uniqueName('ct');
  fails(await api('POST', '/api/join', { rawBody: JSON.stringify({ username }), headers: { 'content-type': 'text/plain' } }), 415, 'unsupported_media_type');
  fails(await api('POST', '/api/join', { rawBody: JSON.stringify({ username }), headers: { 'content-type': null } }), 415, 'unsupported_media_type');
  fails(await api('POST', '/api/join', { rawBody: `username=${username}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415, 'unsupported_media_type');
  ok(await api('POST', '/api/join', { rawBody: JSON.stringify({ username }), headers: { 'content-type': 'application/json; charset=utf-8' } }), 201);
  ok(await api('POST', '/api/join', { rawBody: JSON.stringify({ username: uniqueName('ct') }), headers: { 'content-type': 'Application/JSON' } }), 201);
  for (const rawBody of ['', ' ', 'null', '[]', '"x"', '42', 'true', '{', '{"username":}', `{"username":"${uniqueName('x')}"} trailing`, "{'username':'x'}"]) {
    fails(await api('POST', '/api/join', { rawBody }), 400, 'invalid_json');
  }
});

test('/api/me lists the rooms the user is a member of', async () => {
  const a = await join('me', { room_id: 'general' });
  const created = ok(await api('POST', '/api/rooms', { token: a.token, body: { room_name: uniqueName('mine') } }), 201).room;
  const me = ok(await api('GET', '/api/me', { token: a.token }));
  assert.deepEqual(me.rooms.map((x) => x.id).sort(), ['general', created.id].sort());
  me.rooms.forEach(assertRoom);
});

test('a name stays held while any live session of its user remains', async () => {
  const name = uniqueName('Two');
  const a1 = await join('x', { name });
  const a2 = ok(await api('POST', '/api/join', { token: a1.token, body: { username: name } }), 201);
  assert.equal(a2.user.id, a1.user.id);
  // Both sessions work.
  assert.equal(ok(await api('GET', '/api/me', { token: a1.token })).user.id, a1.user.id);
  assert.equal(ok(await api('GET', '/api/me', { token: a2.token })).user.id, a1.user.id);
  // Logging out one leaves the other live: the name is still taken.
  ok(await api('DELETE', '/api/session', { token: a1.token }));
  await refusedSoon(a1.token);
  assert.equal(ok(await api('GET', '/api/me', { token: a2.token })).user.id, a1.user.id);
  fails(await api('POST', '/api/join', { body: { username: name } }), 409, 'username_taken', 'username');
  // A revoked token of the user does not count as the holder.
  fails(await api('POST', '/api/join', { token: a1.token, body: { username: name } }), 409, 'username_taken', 'username');
  // After the last logout the name is free, and comes back with the same id.
  ok(await api('DELETE', '/api/session', { token: a2.token }));
  const again = await join('x', { name });
  assert.equal(again.user.id, a1.user.id);
});
