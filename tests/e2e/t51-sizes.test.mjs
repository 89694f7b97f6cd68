// t51-sizes -- issue 16 item 7 (sizes people reach), what 0024 changed:
// GET /api/me builds its Room objects (role, unread) in one query of its own
// instead of chat_room_personal per room, so every one must still equal the
// room as GET /api/rooms/{id} shows it, key order included; and the pages of
// a room's member list (GET /api/users/{room_id}, the join_room ack) are read
// in (joined_at, id) order from an index, ties included.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { api, ok, fails, join, createRoom, send, assertRoom, waitFor } from './lib.mjs';
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

// 0030: chat_member_rooms_json counts the online members of a user's rooms
// either by a presence probe per member row or, for rooms with many member
// rows, from presence read once into a hashed set. Both must give what the
// view (GET /api/rooms/{id}) gives, after every kind of change.
test('GET /api/me and the CONNECT rooms: counts, unread and role of many rooms exact after joins, leaves, bans, deletes and presence changes, both ways of counting online', async () => {
  const owner = await join('sz_many_o');
  const rooms = [];
  for (let i = 0; i < 24; i++) rooms.push(await createRoom(owner.token, `sz_many${i}`));
  const alice = await join('sz_many_a');
  const [b, c, d] = [await join('sz_many_b'), await join('sz_many_c'), await join('sz_many_d')];
  const small = await join('sz_many_s', { room_id: rooms[0].id }); // few member rows: probes
  await api('POST', '/api/join', { token: small.token, body: { username: small.user.username, room_id: rooms[1].id } });
  for (const u of [alice, b, c, d]) {
    for (const r of rooms) ok(await api('POST', '/api/join', { token: u.token, body: { username: u.user.username, room_id: r.id } }), 201);
  }
  // 150 more members of one room (offline), so that alice's rooms have
  // enough member rows for the hashed set whatever else presence holds.
  psql(`WITH u AS (INSERT INTO users (username) SELECT 'szm_' || g || '_' || substr(md5(random()::text), 1, 6)
                     FROM generate_series(1, 150) g RETURNING id)
        INSERT INTO user_rooms (user_id, room_id) SELECT u.id, '${rooms[10].id}' FROM u`);
  // Read state: others' messages, a deletion, alice's own message, a read mark.
  for (let i = 0; i < 3; i++) await send(b.token, rooms[2].id, `b${i}`);
  const gone = await send(b.token, rooms[2].id, 'gone');
  ok(await api('DELETE', `/api/messages/${enc(rooms[2].id)}/${gone.id}`, { token: b.token }));
  await send(b.token, rooms[3].id, 'x');
  await send(alice.token, rooms[3].id, 'mine');
  await send(b.token, rooms[7].id, 'y1');
  await send(b.token, rooms[7].id, 'y2');
  ok(await api('POST', `/api/rooms/${enc(rooms[7].id)}/read`, { token: alice.token, body: { seq: 1 } }));
  // Presence: alice and b live, c connected then gone, d only on a stale bridge.
  const sa = (await connect(alice.token)).socket;
  await connect(b.token);
  const sc = (await connect(c.token)).socket;
  const bridge = `t51-stale-${process.pid}`;
  psql(`INSERT INTO bridges (id, heartbeat_at) VALUES ('${bridge}', now() - interval '1 hour')
          ON CONFLICT (id) DO UPDATE SET heartbeat_at = EXCLUDED.heartbeat_at;
        INSERT INTO presence (bridge_id, conn_id, user_id) VALUES ('${bridge}', 'c-${d.user.id}', '${d.user.id}')
          ON CONFLICT DO NOTHING`);
  // Membership changes: c leaves one room, d is banned from another, a room
  // is deleted, alice becomes moderator of one, then c goes offline.
  ackOk(await ack(sc, 'leave_room', { room_id: rooms[4].id }));
  ok(await api('DELETE', `/api/rooms/${enc(rooms[5].id)}/members/${enc(d.user.id)}?ban=true`, { token: owner.token }));
  psql(`SELECT chat_room_delete(NULL, '${rooms[6].id}')`);
  ok(await api('PATCH', `/api/rooms/${enc(rooms[8].id)}/members/${enc(alice.user.id)}`, { token: owner.token, body: { role: 'moderator' } }));
  sc.disconnect();
  await waitFor(async () => (await get(alice.token, `/api/rooms/${enc(rooms[0].id)}`)).room.online_count === 2);

  // Which way each user's rooms are counted (the decision of 0030).
  const hashed = (u) => psql(`SELECT s.n >= 64 AND (SELECT count(*) FROM presence) < 3 * s.n
                                FROM (SELECT sum((SELECT count(*) FROM user_rooms m WHERE m.room_id = ur.room_id)) AS n
                                        FROM user_rooms ur WHERE ur.user_id = '${u.user.id}') s`);
  assert.equal(hashed(alice), 't', 'alice: presence read once');
  assert.equal(hashed(small), 'f', 'the small user: probes');

  for (const u of [alice, small]) {
    const me = await get(u.token, '/api/me');
    for (const r of me.rooms) {
      const one = (await get(u.token, `/api/rooms/${enc(r.id)}`)).room;
      assert.deepEqual(r, one, `room ${r.name} of ${u.user.username}`);
      assert.deepEqual(Object.keys(r), Object.keys(one), `key order of ${r.name}`);
    }
    // A second connection of an online user: the CONNECT rooms equal GET /api/me.
    const conn = await connect(u.token);
    const again = await get(u.token, '/api/me');
    assert.deepEqual(conn.connected.rooms, again.rooms, `CONNECT rooms of ${u.user.username}`);
  }
  const me = await get(alice.token, '/api/me');
  const byId = Object.fromEntries(me.rooms.map((r) => [r.id, r]));
  assert.equal(me.rooms.length, 23, 'the deleted room is gone');
  assert.equal(byId[rooms[6].id], undefined);
  // owner, alice, b, c, d (+ small in rooms 0 and 1).
  assert.equal(byId[rooms[0].id].member_count, 6);
  assert.equal(byId[rooms[0].id].online_count, 3, 'alice, b and small (connected above)');
  assert.equal(byId[rooms[9].id].member_count, 5);
  assert.equal(byId[rooms[9].id].online_count, 2, 'alice and b: c gone, d stale');
  assert.equal(byId[rooms[10].id].member_count, 155);
  assert.equal(byId[rooms[10].id].online_count, 2);
  assert.equal(byId[rooms[4].id].member_count, 4, 'c left');
  assert.equal(byId[rooms[5].id].member_count, 4, 'd banned');
  assert.equal(byId[rooms[2].id].unread, 3, 'the deleted message is not unread');
  assert.equal(byId[rooms[3].id].unread, 0, "alice's own message reads the room");
  assert.equal(byId[rooms[7].id].unread, 1);
  assert.equal(byId[rooms[8].id].role, 'moderator');
  assert.equal(byId[rooms[9].id].role, 'member');
  sa.disconnect();
});
