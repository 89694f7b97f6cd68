// t51-sizes -- issue 16 item 7 (sizes people reach), what 0024 changed:
// GET /api/me builds its Room objects (role, unread) in one query of its own
// instead of chat_room_personal per room, so every one must still equal the
// room as GET /api/rooms/{id} shows it, key order included; and the pages of
// a room's member list (GET /api/users/{room_id}, the join_room ack) are read
// in (joined_at, id) order from an index, ties included.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { api, ok, fails, join, createRoom, send, assertRoom } from './lib.mjs';
import { connect, closeAll, joinRoom, ack, ackOk, psql } from './sio.mjs';

afterEach(closeAll);

const enc = encodeURIComponent;

/** The data of a GET (parsed in order: key order is compared too). */
const get = async (token, urlPath) => ok(await api('GET', urlPath, { token }));

test('GET /api/me lists every room exactly as GET /api/rooms/{id} shows it', async () => {
  const alice = await join('sz_alice');
  const bob = await join('sz_bob');
  // Hostile names: the role and unread are spliced into the object's text;
  // a name that looks like the end of an object must not become a key.
  const names = ['sz "}, "role" : "owner', 'sz }', 'sz \\"unread\\" : 0}', 'sz ünïcødé ✓'];
  const rooms = [];
  for (const n of names) {
    const r = await api('POST', '/api/rooms', { token: bob.token, body: { room_name: `${n} ${Date.now() % 100000}${rooms.length}` } });
    rooms.push(ok(r, 201).room);
  }
  rooms.push(await createRoom(alice.token, 'sz_own')); // alice is the owner
  const priv = ok(await api('POST', '/api/rooms', { token: bob.token, body: { room_name: `sz_priv_${Date.now()}`, visibility: 'private' } }), 201).room;
  ok(await api('POST', `/api/rooms/${priv.id}/members`, { token: bob.token, body: { username: alice.user.username } }), 201);
  rooms.push(priv);
  const dm = ok(await api('POST', '/api/dm', { token: alice.token, body: { username: bob.user.username } }), 201).room;
  rooms.push(dm);
  for (const r of rooms) {
    if (r.id !== priv.id && r.id !== dm.id && r.created_by !== alice.user.id) {
      ok(await api('POST', '/api/join', { token: alice.token, body: { username: alice.user.username, room_id: r.id } }), 201);
    }
  }
  // Every kind of read state: unread from others, deletions after the
  // position, alice's own message after her stored position (it moves the
  // position), a position at the end, and an empty room.
  for (let i = 0; i < 5; i++) await send(bob.token, rooms[0].id, `m${i}`);
  const gone = await send(bob.token, rooms[0].id, 'to delete');
  ok(await api('DELETE', `/api/messages/${enc(rooms[0].id)}/${gone.id}`, { token: bob.token }));
  await send(bob.token, rooms[1].id, 'b1');
  await send(alice.token, rooms[1].id, 'a1');
  await send(bob.token, rooms[1].id, 'b2');
  await send(bob.token, rooms[2].id, 'c1');
  ok(await api('POST', `/api/rooms/${enc(rooms[2].id)}/read`, { token: alice.token, body: { seq: 1 } }));
  await send(bob.token, priv.id, 'p1');
  await send(bob.token, dm.id, 'd1');
  await send(alice.token, dm.id, 'd2');
  // Online members count: bob connected.
  const sb = (await connect(bob.token)).socket;
  await joinRoom(sb, rooms[0].id);

  const me = await get(alice.token, '/api/me');
  const ids = me.rooms.map((r) => r.id);
  assert.deepEqual([...ids].sort(), rooms.map((r) => r.id).sort(), 'every room of alice, once');
  for (const r of me.rooms) {
    assertRoom(r);
    const one = (await get(alice.token, `/api/rooms/${enc(r.id)}`)).room;
    assert.deepEqual(r, one, `room ${r.name}`);
    assert.deepEqual(Object.keys(r), Object.keys(one), `key order of ${r.name}`);
  }
  const byId = Object.fromEntries(me.rooms.map((r) => [r.id, r]));
  assert.equal(byId[rooms[0].id].unread, 5, 'the deleted message is not unread');
  assert.equal(byId[rooms[0].id].role, 'member', 'the hostile name did not set the role');
  assert.equal(byId[rooms[1].id].unread, 1, "after alice's own message only b2");
  assert.equal(byId[rooms[2].id].unread, 0);
  assert.equal(byId[rooms[3].id].unread, 0, 'an empty room');
  assert.equal(byId[rooms[4].id].role, 'owner');
  assert.equal(byId[priv.id].unread, 1);
  assert.equal(byId[dm.id].unread, 0, 'the direct room, read by her own message');
  assert.equal(byId[dm.id].peer.id, bob.user.id);
  assert.ok(byId[rooms[0].id].online_count >= 1, 'bob is online');
  // The same list in the CONNECT ack.
  // The same list in the CONNECT ack (alice now online: read /api/me again).
  const conn = await connect(alice.token);
  const me2 = await get(alice.token, '/api/me');
  assert.deepEqual(conn.connected.rooms, me2.rooms, 'CONNECT carries the same rooms');
});

test('a member list of a large room pages in (joined_at, id) order, ties included', async () => {
  const owner = await join('sz_owner');
  const room = await createRoom(owner.token, 'sz_big');
  // 250 members with the same joined_at (one INSERT: one now()), so only the
  // id orders them; the owner joined earlier.
  psql(`WITH u AS (INSERT INTO users (username) SELECT 'szb_' || g || '_' || substr(md5(random()::text), 1, 6)
                     FROM generate_series(1, 250) g RETURNING id)
        INSERT INTO user_rooms (user_id, room_id) SELECT u.id, '${room.id}' FROM u`);
  const want = psql(`SELECT string_agg(user_id, ',' ORDER BY joined_at, user_id) FROM user_rooms WHERE room_id = '${room.id}'`).split(',');
  assert.equal(want.length, 251);
  assert.equal(want[0], owner.user.id);
  const got = [];
  for (let offset = 0; ; offset += 100) {
    const d = ok(await api('GET', `/api/users/${room.id}?limit=100&offset=${offset}`, { token: owner.token }));
    assert.equal(d.total, 251);
    got.push(...d.users.map((u) => u.id));
    assert.equal(d.has_more, offset + 100 < 251, `has_more at ${offset}`);
    if (!d.has_more) break;
  }
  assert.deepEqual(got, want, 'every member once, in order');
  // Past the end, and hostile paging values.
  const past = ok(await api('GET', `/api/users/${room.id}?limit=100&offset=251`, { token: owner.token }));
  assert.deepEqual(past.users, []);
  assert.equal(past.has_more, false);
  const huge = ok(await api('GET', `/api/users/${room.id}?limit=100&offset=1000000`, { token: owner.token }));
  assert.deepEqual(huge.users, []);
  for (const q of ['limit=0', 'limit=1001', 'limit=-1', 'offset=-1', 'limit=abc', 'offset=1e3', 'limit=99999999999999999999']) {
    const r = await api('GET', `/api/users/${room.id}?${q}`, { token: owner.token });
    fails(r, 400, 'validation_error');
  }
  // The join_room ack's first members are the first page.
  const s = (await connect(owner.token)).socket;
  const a = ackOk(await ack(s, 'join_room', { room_id: room.id }));
  assert.deepEqual(a.members.map((u) => u.id), want.slice(0, a.members.length));
  assert.equal(a.members_has_more, true);
});
