// t52-connect-cost -- issue 16 item 6b (connection storms), what 0026 changed:
// join_room builds its room object and its member list (each member's online
// flag) in its own queries, and chat_connect_batch does presence and the
// user object of a whole batch of CONNECTs inline. Every result must stay
// what the functions the REST side still uses say, key order included, for
// every online state: connected, connected twice, only on a bridge whose
// heartbeat is stale (offline), never connected; and for the refusals.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { api, ok, fails, join, createRoom, send } from './lib.mjs';
import { connect, connectError, closeAll, joinRoom, ack, ackOk, ackFails, collect, psql } from './sio.mjs';

afterEach(closeAll);

const enc = encodeURIComponent;
const get = async (token, urlPath) => ok(await api('GET', urlPath, { token }));
const lit = (s) => `'${String(s).replace(/'/g, "''")}'`;
/** GET /api/users/{room}'s members as User objects (without role and room_joined_at), keys in the ack's order. */
const asUsers = (list, keys) => list.map((u) => Object.fromEntries(keys.map((k) => [k, u[k]])));
const USER_KEYS = ['id', 'username', 'joined_at', 'last_seen', 'online', 'registered'];

/** A presence row of userId on a bridge whose last heartbeat is an hour old: not online. */
function stalePresence(userId) {
  const bridge = `t52-stale-${process.pid}`;
  psql(`INSERT INTO bridges (id, heartbeat_at) VALUES (${lit(bridge)}, now() - interval '1 hour')
          ON CONFLICT (id) DO UPDATE SET heartbeat_at = EXCLUDED.heartbeat_at;
        INSERT INTO presence (bridge_id, conn_id, user_id)
          VALUES (${lit(bridge)}, ${lit(`c-${userId}`)}, ${lit(userId)}) ON CONFLICT DO NOTHING`);
}

test('the join_room ack carries the room and the members as the REST side shows them, every online state', async () => {
  const owner = await join('cc_owner');
  const room = await createRoom(owner.token, 'cc_room');
  const live = await join('cc_live', { room_id: room.id });
  const twice = await join('cc_twice', { room_id: room.id });
  const stale = await join('cc_stale', { room_id: room.id });
  const never = await join('cc_never', { room_id: room.id });
  const reader = await join('cc_reader', { room_id: room.id });
  stalePresence(stale.user.id);
  await connect(live.token);
  await connect(twice.token);
  await connect(twice.token);
  // Unread for the reader: 3 of 4 messages after its position, one deleted.
  const m1 = await send(owner.token, room.id, 'one');
  ok(await api('POST', `/api/rooms/${enc(room.id)}/read`, { token: reader.token, body: { seq: m1.seq } }));
  await send(owner.token, room.id, 'two');
  const gone = await send(owner.token, room.id, 'three');
  await send(owner.token, room.id, 'four');
  ok(await api('DELETE', `/api/messages/${enc(room.id)}/${gone.id}`, { token: owner.token }));

  const s = (await connect(reader.token)).socket;
  const a = await joinRoom(s, room.id);
  const rest = (await get(reader.token, `/api/rooms/${enc(room.id)}`)).room;
  assert.deepEqual(a.room, rest, 'the room object');
  assert.deepEqual(Object.keys(a.room), Object.keys(rest), 'its key order');
  assert.equal(a.room.unread, 2, 'two unread: the deleted one is not');
  assert.equal(a.room.role, 'member');
  assert.equal(a.room.member_count, 6);
  assert.equal(a.room.online_count, 3, 'live, twice (once) and the reader; not the stale one');
  const users = (await get(reader.token, `/api/users/${enc(room.id)}`)).users;
  assert.deepEqual(a.members, asUsers(users, USER_KEYS), 'the member list, online flags included');
  for (const u of a.members) assert.deepEqual(Object.keys(u), USER_KEYS, 'key order');
  const online = Object.fromEntries(a.members.map((u) => [u.id, u.online]));
  assert.deepEqual(
    [owner, live, twice, stale, never, reader].map((u) => online[u.user.id]),
    [false, true, true, false, false, true],
  );
  assert.equal(a.members_has_more, false);
  assert.deepEqual(a.messages.map((m) => m.seq), [m1.seq, m1.seq + 1, m1.seq + 2, m1.seq + 3], 'the history');
  assert.equal(a.messages[2].content, null, 'the deleted one, as a tombstone');

  // A user who is not yet a member becomes one: the others see user_joined.
  const ls = (await connect(live.token)).socket;
  await joinRoom(ls, room.id);
  const joined = collect(ls, 'user_joined');
  const newcomer = await join('cc_new');
  const ns = (await connect(newcomer.token)).socket;
  const b = await joinRoom(ns, room.id);
  assert.equal(b.room.member_count, 7);
  assert.equal(b.room.role, 'member');
  assert.equal(b.room.unread, 0, 'a new member starts at the end');
  assert.deepEqual(b.room, (await get(newcomer.token, `/api/rooms/${enc(room.id)}`)).room);
  assert.deepEqual(b.members, asUsers((await get(newcomer.token, `/api/users/${enc(room.id)}`)).users, USER_KEYS));
  const ev = await joined.waitFor((e) => e.user.id === newcomer.user.id, 5000, 'newcomer');
  assert.equal(ev.member_count, 7);
  // Joining again changes nothing, and says so the same way.
  const again = await joinRoom(ns, room.id);
  assert.deepEqual(again.room, b.room);
});

test('join_room refusals: banned, private, unknown and hostile room ids', async () => {
  const owner = await join('cc_mod');
  const room = await createRoom(owner.token, 'cc_ban');
  const troll = await join('cc_troll', { room_id: room.id });
  ok(await api('DELETE', `/api/rooms/${room.id}/members/${troll.user.id}?ban=true`, { token: owner.token }));
  const priv = ok(await api('POST', '/api/rooms', { token: owner.token, body: { room_name: `cc_priv_${Date.now()}`, visibility: 'private' } }), 201).room;
  const s = (await connect(troll.token)).socket;
  ackFails(await ack(s, 'join_room', { room_id: room.id }), 'forbidden', 'banned');
  ackFails(await ack(s, 'join_room', { room_id: priv.id }), 'not_found', 'private, not a member');
  for (const id of ['no-such-room', '"}, "role" : "owner', 'ünï ✓', `${room.id} `, room.id.toUpperCase()]) {
    const r = await ack(s, 'join_room', { room_id: id });
    assert.equal(r.ok, false, `room_id ${JSON.stringify(id)}`);
    assert.ok(['not_found', 'validation_error'].includes(r.error.code), `room_id ${JSON.stringify(id)}: ${r.error.code}`);
  }
  // Still not a member of anything it was refused.
  const me = await get(troll.token, '/api/me');
  assert.deepEqual(me.rooms.map((r) => r.id), []);
  fails(await api('GET', `/api/rooms/${enc(priv.id)}`, { token: troll.token }), 404, 'not_found');
});

test('a burst of CONNECTs (one batch): each connected event equals GET /api/me; bad tokens are refused; stale presence is offline', async () => {
  const owner = await join('cc_bowner');
  const room = await createRoom(owner.token, 'cc_burst');
  const users = [];
  for (let i = 0; i < 6; i++) users.push(await join(`cc_b${i}`, { room_id: room.id }));
  await send(owner.token, room.id, 'hello');
  // users[0] was only on a stale bridge: its CONNECT makes it online (user_status).
  stalePresence(users[0].user.id);
  const out = await join('cc_out');
  ok(await api('DELETE', '/api/session', { token: out.token }));
  const ws = (await connect(owner.token)).socket;
  await joinRoom(ws, room.id);
  const status = collect(ws, 'user_status');

  const good = [...users, ...users.slice(0, 3)].map((u) => connect(u.token).then((r) => ({ u, r })));
  const bad = [out.token, 'f'.repeat(64), owner.token.slice(0, -1) + (owner.token.endsWith('0') ? '1' : '0')].map((t) => connectError(t));
  const [oks, errs] = await Promise.all([Promise.all(good), Promise.all(bad)]);
  for (const e of errs) {
    assert.equal(e.message, 'unauthorized', JSON.stringify(e.data));
    assert.equal(e.data.code, 'unauthorized', JSON.stringify(e.data));
  }
  for (const { u, r } of oks) {
    const me = await get(u.token, '/api/me');
    // last_seen: a second connection of the user moves it on.
    const { last_seen: seen, ...user } = r.connected.user;
    const { last_seen: seenNow, ...meUser } = me.user;
    assert.deepEqual(user, meUser, `user ${u.user.username}`);
    assert.ok(seen <= seenNow && seen > u.user.joined_at, `last_seen ${seen} (now ${seenNow})`);
    assert.deepEqual(Object.keys(r.connected.user), Object.keys(me.user));
    assert.equal(r.connected.user.online, true);
    // online_count: the burst's users come online one after the other.
    const noOnline = (rooms) => rooms.map(({ online_count, ...rest }) => rest);
    assert.deepEqual(noOnline(r.connected.rooms), noOnline(me.rooms), `rooms of ${u.user.username}`);
    assert.deepEqual(Object.keys(r.connected.rooms[0]), Object.keys(me.rooms[0]));
    const oc = r.connected.rooms[0].online_count;
    assert.ok(oc >= 2 && oc <= 7, `online_count ${oc}: the owner and this user at least`);
  }
  const on = await status.waitFor((e) => e.user_id === users[0].user.id, 5000, 'users[0] online');
  assert.equal(on.status, 'online', 'the stale presence did not count as online');
  const a = await joinRoom(ws, room.id);
  assert.equal(a.room.online_count, 7, 'the owner and the six');
});
