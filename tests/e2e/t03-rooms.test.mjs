// t03-rooms -- GET/POST /api/rooms, GET /api/rooms/{id}, GET /api/users/{room_id}.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { api, ok, fails, join, uniqueName, assertRoom, assertUser, show } from './lib.mjs';

let alice;
before(async () => {
  alice = await join('rooms');
});

test('GET /api/rooms lists general, with total and Room objects', async () => {
  const data = ok(await api('GET', '/api/rooms', { token: alice.token }));
  assert.deepEqual(Object.keys(data).sort(), ['rooms', 'total']);
  assert.ok(Number.isInteger(data.total) && data.total >= 1);
  assert.equal(data.rooms.length, Math.min(50, data.total));
  data.rooms.forEach(assertRoom);
  const general = data.rooms.find((r) => r.id === 'general');
  assert.ok(general);
  assert.equal(general.name, 'general');
  // general comes from the first migration: it is the oldest room.
  assert.equal(data.rooms[0].id, 'general');
});

test('POST /api/rooms creates a room whose creator is its only member', async () => {
  const room_name = `Room ${uniqueName('n')} \u00e9\u65e5`;
  const description = 'line one\nline two\twith a tab';
  const r = await api('POST', '/api/rooms', { token: alice.token, body: { room_name, description } });
  const data = ok(r, 201);
  assert.deepEqual(Object.keys(data), ['room']);
  const room = data.room;
  assertRoom(room);
  assert.equal(room.name, room_name);
  assert.equal(room.description, description);
  assert.equal(room.created_by, alice.user.id);
  assert.equal(room.member_count, 1);
  assert.equal(room.online_count, 0);
  assert.equal(room.last_seq, 0);
  assert.match(room.id, /^[A-Za-z0-9_-]{1,64}$/);

  const got = ok(await api('GET', `/api/rooms/${room.id}`, { token: alice.token }));
  assert.deepEqual(got, { room });

  const me = ok(await api('GET', '/api/me', { token: alice.token }));
  assert.ok(me.rooms.some((x) => x.id === room.id));

  const users = ok(await api('GET', `/api/users/${room.id}`, { token: alice.token }));
  assert.deepEqual(Object.keys(users), ['users', 'total', 'has_more']);
  assert.equal(users.users.length, 1);
  assert.equal(users.total, 1);
  assert.equal(users.has_more, false);
  const [u] = users.users;
  assertUser(u, { online: false });
  assert.equal(u.id, alice.user.id);
  assert.equal(u.username, alice.user.username);
  assert.match(u.room_joined_at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
});

test('"name" is an alias of room_name; description is optional and may be null', async () => {
  const name = uniqueName('alias');
  const room = ok(await api('POST', '/api/rooms', { token: alice.token, body: { name } }), 201).room;
  assert.equal(room.name, name);
  assert.equal(room.description, null);
  const room2 = ok(await api('POST', '/api/rooms', { token: alice.token, body: { room_name: uniqueName('nd'), description: null } }), 201).room;
  assert.equal(room2.description, null);
  const room3 = ok(await api('POST', '/api/rooms', { token: alice.token, body: { room_name: uniqueName('ed'), description: '' } }), 201).room;
  assert.ok(room3.description === '' || room3.description === null);
});

test('a user_id or created_by in the body is ignored', async () => {
  const bob = await join('bob');
  const room = ok(await api('POST', '/api/rooms', { token: alice.token, body: { room_name: uniqueName('spoof'), user_id: bob.user.id, created_by: bob.user.id } }), 201).room;
  assert.equal(room.created_by, alice.user.id);
  const users = ok(await api('GET', `/api/users/${room.id}`, { token: alice.token })).users;
  assert.deepEqual(users.map((u) => u.id), [alice.user.id]);
});

test('room names are unique case-insensitively: 409 room_exists on room_name', async () => {
  const name = uniqueName('Dup');
  ok(await api('POST', '/api/rooms', { token: alice.token, body: { room_name: name } }), 201);
  const bob = await join('bob');
  for (const variant of [name, name.toUpperCase(), name.toLowerCase()]) {
    fails(await api('POST', '/api/rooms', { token: bob.token, body: { room_name: variant } }), 409, 'room_exists', 'room_name');
  }
  fails(await api('POST', '/api/rooms', { token: bob.token, body: { name: name.toLowerCase() } }), 409, 'room_exists', 'room_name');
  fails(await api('POST', '/api/rooms', { token: bob.token, body: { room_name: 'GENERAL' } }), 409, 'room_exists', 'room_name');
});

test('room name: 1..64 characters (code points), single line, not blank', async () => {
  const cjk64 = '\u65e5'.repeat(60) + uniqueName('').slice(-4);
  assert.equal([...cjk64].length, 64);
  ok(await api('POST', '/api/rooms', { token: alice.token, body: { room_name: cjk64 } }), 201);
  const emoji64 = '\u{1F600}'.repeat(60) + uniqueName('').slice(-4);
  assert.equal([...emoji64].length, 64);
  ok(await api('POST', '/api/rooms', { token: alice.token, body: { room_name: emoji64 } }), 201);
  const ascii64 = uniqueName('L').padEnd(64, 'x');
  ok(await api('POST', '/api/rooms', { token: alice.token, body: { room_name: ascii64 } }), 201);

  for (const room_name of [
    '', ' ', '   ', '\u3000', '\u00a0 \u2003', 'x'.repeat(65), '\u65e5'.repeat(65), '\u{1F600}'.repeat(65),
    'a\nb', 'a\tb', 'a\rb', 'a\u0001b', 'a\u001bb', 'a\u007fb', 'a\u0085b', 'a\u009fb',
  ]) {
    const r = await api('POST', '/api/rooms', { token: alice.token, body: { room_name } });
    assert.equal(r.status, 400, `${JSON.stringify(room_name)}: ${show(r)}`);
    fails(r, 400, 'validation_error', 'room_name');
  }
});

test('room name missing or not a string is a validation error on room_name', async () => {
  for (const body of [{}, { room_name: null }, { room_name: 5 }, { room_name: [] }, { room_name: ['x'] }, { room_name: {} }, { room_name: true }, { description: 'x' }]) {
    const r = await api('POST', '/api/rooms', { token: alice.token, body });
    assert.equal(r.status, 400, `${JSON.stringify(body)}: ${show(r)}`);
    fails(r, 400, 'validation_error', 'room_name');
  }
});

test('description: at most 500 characters (code points), newlines allowed', async () => {
  const d500 = '\u00e9'.repeat(499) + '\n';
  const room = ok(await api('POST', '/api/rooms', { token: alice.token, body: { room_name: uniqueName('d'), description: d500 } }), 201).room;
  assert.equal(room.description, d500);
  for (const description of ['x'.repeat(501), '\u00e9'.repeat(501), 'a\u0001b', 'a\u007f']) {
    fails(await api('POST', '/api/rooms', { token: alice.token, body: { room_name: uniqueName('d'), description } }), 400, 'validation_error', 'description');
  }
  for (const description of [5, [], {}, true]) {
    fails(await api('POST', '/api/rooms', { token: alice.token, body: { room_name: uniqueName('d'), description } }), 400, 'validation_error', 'description');
  }
});

test('a refused room is not created', async () => {
  const name = uniqueName('refused');
  fails(await api('POST', '/api/rooms', { token: alice.token, body: { room_name: name, description: 'x'.repeat(501) } }), 400, 'validation_error', 'description');
  ok(await api('POST', '/api/rooms', { token: alice.token, body: { room_name: name } }), 201);
});

test('rooms are listed in creation order; limit and offset page through them', async () => {
  const before = ok(await api('GET', '/api/rooms?limit=1', { token: alice.token }));
  assert.equal(before.rooms.length, 1);
  const made = [];
  for (let i = 0; i < 3; i++) {
    made.push(ok(await api('POST', '/api/rooms', { token: alice.token, body: { room_name: uniqueName(`ord${i}`) } }), 201).room);
  }
  const all = [];
  let total;
  for (let offset = 0; ; offset += 7) {
    const page = ok(await api('GET', `/api/rooms?limit=7&offset=${offset}`, { token: alice.token }));
    total ??= page.total;
    assert.ok(page.rooms.length <= 7);
    all.push(...page.rooms);
    if (page.rooms.length < 7) break;
  }
  assert.ok(total >= before.total + 3);
  assert.equal(new Set(all.map((r) => r.id)).size, all.length, 'no room twice');
  const idx = made.map((m) => all.findIndex((r) => r.id === m.id));
  assert.ok(idx.every((i) => i >= 0), 'every new room is listed');
  assert.ok(idx[0] < idx[1] && idx[1] < idx[2], `creation order: ${idx}`);
  for (let i = 1; i < all.length; i++) assert.ok(all[i - 1].created_at <= all[i].created_at, 'ascending created_at');

  const big = ok(await api('GET', '/api/rooms?limit=200', { token: alice.token }));
  assert.equal(big.rooms.length, Math.min(200, big.total));
  const past = ok(await api('GET', `/api/rooms?offset=${big.total + 10}`, { token: alice.token }));
  assert.deepEqual(past.rooms, []);
  assert.equal(past.total, big.total);
  const one = ok(await api('GET', '/api/rooms?limit=1&offset=1', { token: alice.token }));
  assert.equal(one.rooms.length, 1);
  assert.equal(one.rooms[0].id, big.rooms[1].id);
});

test('limit and offset outside their range or not integers are 400 naming the field', async () => {
  for (const q of ['limit=0', 'limit=201', 'limit=-1', 'limit=abc', 'limit=1.5', 'limit=', 'limit=1e2', 'limit=99999999999999999999', 'limit=%2B1', 'limit=+1']) {
    fails(await api('GET', `/api/rooms?${q}`, { token: alice.token }), 400, 'validation_error', 'limit');
  }
  for (const q of ['offset=-1', 'offset=abc', 'offset=1.5', 'offset=', 'offset=99999999999999999999']) {
    fails(await api('GET', `/api/rooms?${q}`, { token: alice.token }), 400, 'validation_error', 'offset');
  }
});

test('GET /api/rooms/{id} and /api/users/{id} of an unknown room are 404', async () => {
  for (const id of ['no-such-room', 'x'.repeat(64), 'x'.repeat(65), '%27%3B', 'a%20b', 'caf%C3%A9', '..%2f..%2fetc']) {
    for (const p of [`/api/rooms/${id}`, `/api/users/${id}`]) {
      const r = await api('GET', p, { token: alice.token });
      assert.equal(r.status, 404, `${p}: ${show(r)}`);
      fails(r, 404, 'not_found');
    }
  }
});

test('joining a room through /api/join adds a member', async () => {
  const room = ok(await api('POST', '/api/rooms', { token: alice.token, body: { room_name: uniqueName('grow') } }), 201).room;
  const bob = await join('bob', { room_id: room.id });
  assert.equal(bob.data.room.id, room.id);
  assert.equal(bob.data.room.member_count, 2);
  const got = ok(await api('GET', `/api/rooms/${room.id}`, { token: bob.token })).room;
  assert.equal(got.member_count, 2);
  const users = ok(await api('GET', `/api/users/${room.id}`, { token: bob.token })).users;
  assert.deepEqual(users.map((u) => u.id).sort(), [alice.user.id, bob.user.id].sort());
  users.forEach((u) => assertUser(u, { online: false }));
  // Joining again does not add a second membership.
  const again = ok(await api('POST', '/api/join', { token: bob.token, body: { username: bob.user.username, room_id: room.id } }), 201);
  assert.equal(again.room.member_count, 2);
});

test('POST /api/rooms needs a JSON object body', async () => {
  const room_name = uniqueName('ct');
  fails(await api('POST', '/api/rooms', { token: alice.token, rawBody: JSON.stringify({ room_name }), headers: { 'content-type': 'text/plain' } }), 415, 'unsupported_media_type');
  fails(await api('POST', '/api/rooms', { token: alice.token, rawBody: '[]' }), 400, 'invalid_json');
  fails(await api('POST', '/api/rooms', { token: alice.token, rawBody: '' }), 400, 'invalid_json');
  fails(await api('POST', '/api/rooms', { token: alice.token, rawBody: '{"room_name":' }), 400, 'invalid_json');
});

test('room names compare case-insensitively beyond ASCII too', async () => {
  const tail = uniqueName('');
  for (const [a, b] of [['\u00c4rger', '\u00e4rger'], ['\u03a3\u039f\u03a6\u0399\u0391', '\u03c3\u03bf\u03c6\u03b9\u03b1'], ['\u00c9T\u00c9', '\u00e9t\u00e9']]) {
    ok(await api('POST', '/api/rooms', { token: alice.token, body: { room_name: `${a}${tail}` } }), 201);
    fails(await api('POST', '/api/rooms', { token: alice.token, body: { room_name: `${b}${tail}` } }), 409, 'room_exists', 'room_name');
  }
});

test('GET /api/rooms/general', async () => {
  const { room } = ok(await api('GET', '/api/rooms/general', { token: alice.token }));
  assertRoom(room);
  assert.equal(room.id, 'general');
  assert.equal(room.name, 'general');
  assert.equal(room.created_by, null);
});

test('join returns the same first page of 50 rooms as GET /api/rooms', async () => {
  // Make sure there are more than 50 rooms.
  let { total } = ok(await api('GET', '/api/rooms?limit=1', { token: alice.token }));
  while (total <= 55) {
    ok(await api('POST', '/api/rooms', { token: alice.token, body: { room_name: uniqueName('fill') } }), 201);
    total += 1;
  }
  const page = ok(await api('GET', '/api/rooms', { token: alice.token }));
  assert.equal(page.rooms.length, 50);
  assert.equal(page.total, total);
  const joined = await join('first50');
  assert.equal(joined.data.rooms.length, 50);
  assert.deepEqual(joined.data.rooms.map((r) => r.id), page.rooms.map((r) => r.id));
  joined.data.rooms.forEach(assertRoom);
});

// GET /api/rooms answers are reused by a worker for CHAT_ROOMS_CACHE_MS
// (default 1 s), keyed by the newest room: a new room shows at once.
test('a new room is in GET /api/rooms on every worker as soon as its NOTIFY arrives, however warm the cached lists are', async () => {
  const total = ok(await api('GET', '/api/rooms?limit=1', { token: alice.token })).total;
  const last = `/api/rooms?limit=200&offset=${Math.max(0, total - 100)}`;
  for (let round = 0; round < 3; round++) {
    // Warm every worker with the page the new room lands on.
    await Promise.all(Array.from({ length: 12 }, () => api('GET', last, { token: alice.token })));
    const room = ok(await api('POST', '/api/rooms', { token: alice.token, body: { room_name: uniqueName('fresh') } }), 201).room;
    // Every worker drops the page when NOTIFY chat_fcgi of the new room
    // reaches it (milliseconds): poll for at most 3 s, well under waiting
    // for CHAT_ROOMS_CACHE_MS would take across rounds.
    let pages;
    for (const end = Date.now() + 3_000; ;) {
      pages = await Promise.all(Array.from({ length: 12 }, () => api('GET', last, { token: alice.token })));
      if (pages.every((p) => ok(p).rooms.some((r) => r.id === room.id)) || Date.now() > end) break;
      await new Promise((res) => setTimeout(res, 20));
    }
    for (const p of pages) {
      const data = ok(p);
      assert.ok(data.rooms.some((r) => r.id === room.id), `room ${room.id} listed (round ${round})`);
    }
  }
});

test('member counts in GET /api/rooms catch up within the cache time', async () => {
  const room = ok(await api('POST', '/api/rooms', { token: alice.token, body: { room_name: uniqueName('count') } }), 201).room;
  const total = ok(await api('GET', '/api/rooms?limit=1', { token: alice.token })).total;
  const page = `/api/rooms?limit=200&offset=${Math.max(0, total - 100)}`;
  const listed = async () => ok(await api('GET', page, { token: alice.token })).rooms.find((r) => r.id === room.id);
  assert.equal((await listed()).member_count, 1);
  await join('counted', { room_id: room.id });
  // GET /api/rooms/{id} is never cached.
  assert.equal(ok(await api('GET', `/api/rooms/${room.id}`, { token: alice.token })).room.member_count, 2);
  const deadline = Date.now() + 10_000;
  let seen;
  while (Date.now() < deadline) {
    seen = (await listed()).member_count;
    if (seen === 2) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.equal(seen, 2, 'the listed member_count caught up');
});
