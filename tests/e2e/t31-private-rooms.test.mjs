// t31-private-rooms -- private and direct rooms (DESIGN §7): visibility, the
// same 404 as a missing room for non-members on every path, room lists and
// their cache, POST /api/dm, room_added.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { api, ok, fails, join, uniqueName, assertRoom, show } from './lib.mjs';
import { connect, collect, ack, ackOk, ackFails, joinRoom, closeAll, psql } from './sio.mjs';

after(closeAll);

async function privateRoom(token, prefix = 'priv', extra = {}) {
  const r = await api('POST', '/api/rooms', { token, body: { room_name: uniqueName(prefix), visibility: 'private', ...extra } });
  return ok(r, 201).room;
}

async function addMember(token, roomId, username) {
  return ok(await api('POST', `/api/rooms/${roomId}/members`, { token, body: { username } }), 201);
}

/** Every room GET /api/rooms shows to token, all pages, and the total it says. */
async function allRooms(token) {
  const rooms = [];
  for (let offset = 0; ; offset += 200) {
    const d = ok(await api('GET', `/api/rooms?limit=200&offset=${offset}`, { token }));
    rooms.push(...d.rooms);
    if (d.rooms.length < 200) return { rooms, total: d.total };
  }
}

async function roomsOf(token) {
  return (await allRooms(token)).rooms;
}

async function allRoomIds(token) {
  const { rooms, total } = await allRooms(token);
  return { ids: rooms.map((r) => r.id), total };
}

test('POST /api/rooms visibility private: the creator is owner, others do not see it in GET /api/rooms nor get room_created', async () => {
  const owner = await join('p_owner');
  const other = await join('p_other');
  const os = (await connect(owner.token)).socket;
  const xs = (await connect(other.token)).socket;
  const ownerAdded = collect(os, 'room_added');
  const ownerCreated = collect(os, 'room_created');
  const otherCreated = collect(xs, 'room_created');
  const otherAdded = collect(xs, 'room_added');

  const room = await privateRoom(owner.token, 'p_vis', { description: 'secret plans' });
  assertRoom(room);
  assert.equal(room.visibility, 'private');
  assert.equal(room.role, 'owner');
  assert.equal(room.member_count, 1);
  const ev = await ownerAdded.waitFor((e) => e.room.id === room.id);
  assert.deepEqual(Object.keys(ev), ['room']);
  assert.deepEqual(ev.room, room);

  // A public room after it: its room_created is the barrier.
  const pub = ok(await api('POST', '/api/rooms', { token: owner.token, body: { room_name: uniqueName('p_pub'), visibility: 'public' } }), 201).room;
  assert.equal(pub.visibility, 'public');
  assert.equal(pub.role, 'owner');
  await otherCreated.waitFor((e) => e.room.id === pub.id);
  await ownerCreated.waitFor((e) => e.room.id === pub.id);
  for (const c of [otherCreated, ownerCreated]) assert.ok(!c.items.some((e) => e.room.id === room.id), 'no room_created for a private room');
  assert.equal(otherAdded.items.length, 0);

  const mine = await allRoomIds(owner.token);
  const theirs = await allRoomIds(other.token);
  assert.ok(mine.ids.includes(room.id));
  assert.ok(!theirs.ids.includes(room.id), 'a private room is not listed to a non-member');
  assert.equal(mine.total, theirs.total + 1, 'total counts only the rooms the caller sees');
  assert.equal(mine.total, mine.ids.length);
  const { total } = ok(await api('GET', '/api/rooms?limit=1', { token: owner.token }));
  const last = ok(await api('GET', `/api/rooms?limit=200&offset=${Math.max(0, total - 100)}`, { token: owner.token })).rooms;
  assert.equal(last.find((r) => r.id === room.id)?.role, 'owner');
  // Roles in the list: null where the caller is no member.
  const general = (await roomsOf(other.token)).find((r) => r.id === 'general');
  assert.equal(general.role, null);
  assert.equal(general.visibility, 'public');

  // GET /api/me and the socket's connected list it for the owner only.
  assert.ok(ok(await api('GET', '/api/me', { token: owner.token })).rooms.some((r) => r.id === room.id && r.role === 'owner'));
  assert.ok(!ok(await api('GET', '/api/me', { token: other.token })).rooms.some((r) => r.id === room.id));
  const again = await connect(owner.token);
  assert.ok(again.connected.rooms.some((r) => r.id === room.id && r.role === 'owner' && r.visibility === 'private'));
});

test('a private room answers a non-member exactly as a missing room does, on every path', async () => {
  const owner = await join('p_probe_o');
  const probe = await join('p_probe');
  const room = await privateRoom(owner.token, 'p_probe');
  const missing = randomUUID();
  assert.equal(missing.length, room.id.length);
  const victim = owner.user.id;

  const rest = (id) => [
    ['GET', `/api/rooms/${id}`],
    ['GET', `/api/messages/${id}`],
    ['GET', `/api/messages/${id}?limit=5&before=10`],
    ['GET', `/api/users/${id}`],
    ['POST', `/api/messages/${id}`, { message: 'hello?' }],
    ['POST', `/api/rooms/${id}/members`, { username: probe.user.username }],
    ['DELETE', `/api/rooms/${id}/members/${victim}`],
    ['DELETE', `/api/rooms/${id}/members/${probe.user.id}`],
    ['DELETE', `/api/rooms/${id}/members/${victim}?ban=true`],
    ['PATCH', `/api/rooms/${id}/members/${victim}`, { role: 'moderator' }],
  ];
  const a = rest(room.id);
  const b = rest(missing);
  for (let i = 0; i < a.length; i++) {
    const [m, p, body] = a[i];
    const ra = await api(m, p, { token: probe.token, body });
    const rb = await api(b[i][0], b[i][1], { token: probe.token, body: b[i][2] });
    fails(ra, 404, 'not_found');
    assert.equal(ra.status, rb.status, `${m} ${p}`);
    assert.equal(ra.text, rb.text.replaceAll(missing, room.id), `${m} ${p}: the same bytes as for a missing room`);
    assert.equal(ra.headers.get('content-type'), rb.headers.get('content-type'));
  }
  // POST /api/join {room_id}: a fresh name each time (the join would succeed otherwise).
  const ja = await api('POST', '/api/join', { body: { username: uniqueName('p_pj'), room_id: room.id } });
  const jb = await api('POST', '/api/join', { body: { username: uniqueName('p_pj'), room_id: missing } });
  fails(ja, 404, 'not_found', 'room_id');
  assert.equal(ja.text, jb.text);
  // The prober's own name with the room, too.
  const jc = await api('POST', '/api/join', { token: probe.token, body: { username: probe.user.username, room_id: room.id } });
  fails(jc, 404, 'not_found', 'room_id');
  assert.equal(jc.text, jb.text);

  // The socket: join_room, send_message, typing, leave_room.
  const { socket } = await connect(probe.token);
  const events = [
    ['join_room', (id) => ({ room_id: id })],
    ['join_room', (id) => ({ room_id: id, since_seq: 0 })],
    ['send_message', (id) => ({ room_id: id, message: 'psst' })],
    ['typing', (id) => ({ room_id: id, is_typing: true })],
    ['typing', (id) => ({ room_id: id, is_typing: false })],
    ['leave_room', (id) => ({ room_id: id })],
  ];
  for (const [name, payload] of events) {
    const xa = await ack(socket, name, payload(room.id));
    const xb = await ack(socket, name, payload(missing));
    assert.equal(xa.ok, false, `${name}: ${JSON.stringify(xa)}`);
    assert.deepEqual(xa, xb, `${name}: the same answer as for a missing room`);
  }
  // Nothing of the room reached the prober, nor did the room learn of it.
  assert.equal(ok(await api('GET', `/api/users/${room.id}`, { token: owner.token })).total, 1);
  assert.equal(ok(await api('GET', `/api/rooms/${room.id}`, { token: owner.token })).room.member_count, 1);
});

test('an added member sees the room everywhere; the added user\'s sockets get room_added', async () => {
  const owner = await join('p_add_o');
  const bob = await join('p_add_b');
  const room = await privateRoom(owner.token, 'p_add');
  const bs = (await connect(bob.token)).socket;
  const added = collect(bs, 'room_added');
  const os = (await connect(owner.token)).socket;
  await joinRoom(os, room.id);
  const joined = collect(os, 'user_joined');

  const data = await addMember(owner.token, room.id, bob.user.username.toUpperCase());
  assert.deepEqual(Object.keys(data), ['user']);
  assert.equal(data.user.id, bob.user.id);
  const ev = await added.waitFor((e) => e.room.id === room.id);
  assert.deepEqual(Object.keys(ev), ['room']);
  assertRoom(ev.room);
  assert.equal(ev.room.role, 'member');
  assert.equal(ev.room.visibility, 'private');
  const uj = await joined.waitFor((e) => e.user.id === bob.user.id);
  assert.equal(uj.member_count, 2);

  // Bob: the room, its history, its members, sending, the socket.
  const got = ok(await api('GET', `/api/rooms/${room.id}`, { token: bob.token })).room;
  assert.equal(got.role, 'member');
  assert.ok((await roomsOf(bob.token)).some((r) => r.id === room.id));
  const a = await joinRoom(bs, room.id);
  assert.equal(a.room.role, 'member');
  const msgs = collect(bs, 'new_message');
  const m = ok(await api('POST', `/api/messages/${room.id}`, { token: owner.token, body: { message: 'welcome' } }), 201).message;
  await msgs.waitFor((x) => x.id === m.id);
  ackOk(await ack(bs, 'send_message', { room_id: room.id, message: 'thanks' }));
  assert.equal(ok(await api('GET', `/api/messages/${room.id}`, { token: bob.token })).messages.length, 2);
  const users = ok(await api('GET', `/api/users/${room.id}`, { token: bob.token })).users;
  assert.deepEqual(users.map((u) => [u.id, u.role]), [[owner.user.id, 'owner'], [bob.user.id, 'member']]);
  // A member re-joining by id (POST /api/join with the room) is fine.
  ok(await api('POST', '/api/join', { token: bob.token, body: { username: bob.user.username, room_id: room.id } }), 201);
});

test('no private room reaches a non-member through the cached room lists, and an added one shows at once', async () => {
  const owner = await join('p_cache_o');
  const carol = await join('p_cache_c');
  const room = await privateRoom(owner.token, 'p_cache');
  const page = async (token) => {
    const { total } = ok(await api('GET', '/api/rooms?limit=1', { token }));
    return `/api/rooms?limit=200&offset=${Math.max(0, total - 100)}`;
  };
  for (let round = 0; round < 2; round++) {
    // The owner warms every worker with the page that holds the room.
    const p = await page(owner.token);
    const warm = await Promise.all(Array.from({ length: 12 }, () => api('GET', p, { token: owner.token })));
    for (const r of warm) assert.ok(ok(r).rooms.some((x) => x.id === room.id));
    // Carol asks for the same page on every worker: never the owner's answer.
    const carols = await Promise.all(Array.from({ length: 12 }, () => api('GET', p, { token: carol.token })));
    for (const r of carols) assert.ok(!ok(r).rooms.some((x) => x.id === room.id), `not listed to carol: ${show(r)}`);
    // Added: listed to her on every worker, with her role.
    await addMember(owner.token, room.id, carol.user.username);
    const p2 = await page(carol.token);
    // (Other workers hear of a membership through NOTIFY chat_fcgi,
    // milliseconds later: polled for at most 3 s.)
    const settle = async (good) => {
      let rs;
      for (const end = Date.now() + 3_000; ;) {
        rs = await Promise.all(Array.from({ length: 12 }, () => api('GET', p2, { token: carol.token })));
        if (rs.every((r) => r.status === 200 && good(ok(r))) || Date.now() > end) return rs;
        await new Promise((res) => setTimeout(res, 20));
      }
    };
    const after = await settle((d) => d.rooms.find((x) => x.id === room.id)?.role === 'member');
    for (const r of after) assert.equal(ok(r).rooms.find((x) => x.id === room.id)?.role, 'member', show(r));
    // Removed: gone on every worker.
    ok(await api('DELETE', `/api/rooms/${room.id}/members/${carol.user.id}`, { token: owner.token }));
    const gone = await settle((d) => !d.rooms.some((x) => x.id === room.id));
    for (const r of gone) assert.ok(!ok(r).rooms.some((x) => x.id === room.id), `not listed after removal: ${show(r)}`);
    fails(await api('GET', `/api/rooms/${room.id}`, { token: carol.token }), 404, 'not_found');
  }
});

test('private room names: unique among public rooms only, so no name can be probed', async () => {
  const a = await join('p_names_a');
  const b = await join('p_names_b');
  const name = uniqueName('p_same');
  const p1 = await privateRoom(a.token, 'x', { room_name: name });
  const p2 = await privateRoom(b.token, 'x', { room_name: name.toUpperCase() });
  assert.notEqual(p1.id, p2.id);
  // A public room of that name is still possible, once.
  const pub = ok(await api('POST', '/api/rooms', { token: b.token, body: { room_name: name } }), 201).room;
  assert.equal(pub.visibility, 'public');
  fails(await api('POST', '/api/rooms', { token: a.token, body: { room_name: name } }), 409, 'room_exists', 'room_name');
  // A private room of a public room's name is fine too.
  ok(await api('POST', '/api/rooms', { token: a.token, body: { room_name: name, visibility: 'private' } }), 201);
});

test('POST /api/rooms visibility: only "public" or "private"; hostile values are 400', async () => {
  const u = await join('p_visbad');
  for (const visibility of ['direct', 'PRIVATE', 'secret', '', "private' OR '1'='1", 'private\u0000', 1, true, [], {}, 'x'.repeat(100000)]) {
    const r = await api('POST', '/api/rooms', { token: u.token, body: { room_name: uniqueName('vb'), visibility } });
    assert.ok(r.status === 400 || r.status === 413, show(r));
    if (r.status === 400) assert.equal(r.json.error.code, 'validation_error', show(r));
  }
  // null is no visibility: public.
  const room = ok(await api('POST', '/api/rooms', { token: u.token, body: { room_name: uniqueName('vn'), visibility: null } }), 201).room;
  assert.equal(room.visibility, 'public');
  fails(await api('POST', '/api/rooms', { body: { room_name: uniqueName('vu'), visibility: 'private' } }), 401, 'unauthorized');
});

test('POST /api/dm: one direct room per pair, in either order, named after the other user', async () => {
  const ann = await join('dm_ann');
  const ben = await join('dm_ben');
  const bs = (await connect(ben.token)).socket;
  const benAdded = collect(bs, 'room_added');

  const r1 = await api('POST', '/api/dm', { token: ann.token, body: { username: ben.user.username } });
  const room = ok(r1, 201).room;
  assertRoom(room);
  assert.equal(room.visibility, 'direct');
  assert.equal(room.role, 'member');
  assert.equal(room.name, ben.user.username);
  assert.deepEqual(room.peer, { id: ben.user.id, username: ben.user.username });
  assert.equal(room.member_count, 2);
  assert.equal(r1.json.data.created, true);
  const ev = await benAdded.waitFor((e) => e.room.id === room.id);
  assert.equal(ev.room.name, ann.user.username, 'the peer sees it named after the caller');
  assert.deepEqual(ev.room.peer, { id: ann.user.id, username: ann.user.username });

  const again = ok(await api('POST', '/api/dm', { token: ann.token, body: { username: ben.user.username.toUpperCase() } }), 200);
  assert.equal(again.room.id, room.id);
  assert.equal(again.created, false);
  const back = ok(await api('POST', '/api/dm', { token: ben.token, body: { username: ann.user.username } }), 200);
  assert.equal(back.room.id, room.id);
  assert.equal(back.room.name, ann.user.username);

  // They talk; both list it.
  const m = ok(await api('POST', `/api/messages/${room.id}`, { token: ann.token, body: { message: 'hi ben' } }), 201).message;
  const a = await joinRoom(bs, room.id);
  assert.deepEqual(a.messages.map((x) => x.id), [m.id]);
  assert.ok((await roomsOf(ann.token)).some((r) => r.id === room.id && r.name === ben.user.username));
  assert.ok((await roomsOf(ben.token)).some((r) => r.id === room.id && r.name === ann.user.username));

  // A third user sees nothing of it, and nobody adds a member.
  const eve = await join('dm_eve');
  fails(await api('GET', `/api/rooms/${room.id}`, { token: eve.token }), 404, 'not_found');
  fails(await api('GET', `/api/messages/${room.id}`, { token: eve.token }), 404, 'not_found');
  fails(await api('POST', `/api/rooms/${room.id}/members`, { token: eve.token, body: { username: eve.user.username } }), 404, 'not_found');
  fails(await api('POST', `/api/rooms/${room.id}/members`, { token: ann.token, body: { username: eve.user.username } }), 403, 'forbidden');
  fails(await api('PATCH', `/api/rooms/${room.id}/members/${ben.user.id}`, { token: ann.token, body: { role: 'moderator' } }), 403, 'forbidden');
  fails(await api('DELETE', `/api/rooms/${room.id}/members/${ben.user.id}`, { token: ann.token }), 403, 'forbidden');
  fails(await api('DELETE', `/api/rooms/${room.id}/members/${ben.user.id}?ban=true`, { token: ann.token }), 403, 'forbidden');
  const es = (await connect(eve.token)).socket;
  ackFails(await ack(es, 'join_room', { room_id: room.id }), 'not_found');
  fails(await api('POST', '/api/join', { body: { username: uniqueName('dm_x'), room_id: room.id } }), 404, 'not_found');
  // In SQL too: a third member is refused by the table itself.
  assert.equal(ok(await api('GET', `/api/users/${room.id}`, { token: ann.token })).total, 2);

  // Leaving a DM (self only), then POST /api/dm brings both back.
  const left = ok(await api('DELETE', `/api/rooms/${room.id}/members/${ann.user.id}`, { token: ann.token }));
  assert.equal(left.reason, 'left');
  fails(await api('GET', `/api/rooms/${room.id}`, { token: ann.token }), 404, 'not_found');
  const back2 = ok(await api('POST', '/api/dm', { token: ann.token, body: { username: ben.user.username } }), 200);
  assert.equal(back2.room.id, room.id);
  assert.equal(back2.room.member_count, 2);
  assert.equal(ok(await api('GET', `/api/messages/${room.id}`, { token: ann.token })).messages.length, 1);
});

test('POST /api/dm refusals: yourself 400, unknown user 404, hostile bodies 400', async () => {
  const u = await join('dm_bad');
  fails(await api('POST', '/api/dm', { token: u.token, body: { username: u.user.username } }), 400, 'validation_error', 'username');
  fails(await api('POST', '/api/dm', { token: u.token, body: { username: u.user.username.toUpperCase() } }), 400, 'validation_error', 'username');
  fails(await api('POST', '/api/dm', { token: u.token, body: { username: uniqueName('nobody') } }), 404, 'not_found', 'username');
  for (const username of ["x' OR '1'='1", 'a;DROP TABLE rooms', '', 'x'.repeat(33), 'bad name', 'n\u0000ul', 7, null, ['a'], { a: 1 }]) {
    fails(await api('POST', '/api/dm', { token: u.token, body: { username } }), 400, 'validation_error', 'username');
  }
  fails(await api('POST', '/api/dm', { token: u.token, body: {} }), 400, 'validation_error', 'username');
  fails(await api('POST', '/api/dm', { token: u.token, rawBody: '[1]' }), 400, 'invalid_json');
  fails(await api('POST', '/api/dm', { token: u.token, rawBody: Buffer.from([0x7b, 0x22, 0x75, 0x73, 0x65, 0x72, 0x6e, 0x61, 0x6d, 0x65, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]) }), 400, 'invalid_json');
  fails(await api('POST', '/api/dm', { body: { username: 'general' } }), 401, 'unauthorized');
  fails(await api('GET', '/api/dm', { token: u.token }), 405, 'method_not_allowed');
});

test('a direct room takes no third member, even straight in SQL', async () => {
  const a = await join('dm_sql_a');
  const b = await join('dm_sql_b');
  const c = await join('dm_sql_c');
  const room = ok(await api('POST', '/api/dm', { token: a.token, body: { username: b.user.username } }), 201).room;
  assert.throws(() => psql(`INSERT INTO user_rooms (user_id, room_id) VALUES ('${c.user.id}', '${room.id}')`), /no other members/);
  assert.throws(() => psql(`INSERT INTO direct_rooms (room_id, user_lo, user_hi) SELECT id, '${b.user.id}', '${a.user.id}' FROM rooms WHERE id = 'general'`));
});
