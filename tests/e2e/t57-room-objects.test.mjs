// t57-room-objects -- 0032: GET /api/rooms pages (chat_rooms_json), the
// one-room object (chat_room_json_for: GET /api/rooms/{id}, create and join
// answers) and the join_room ack (chat_room_enter) build their Room objects
// with chat_room_objects_for, as GET /api/me does (0030): online counts by a
// presence probe per member row, or, when the rooms have many member rows,
// from presence read once into a hashed set. Each must give the bytes the
// view chat_room_objects spliced by chat_room_personal gives (the reference
// kept in the schema), after joins, leaves, bans, deletions, read marks and
// presence changes, whichever way the counts were taken.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { api, ok, join, createRoom, send } from './lib.mjs';
import { connect, closeAll, ack, ackOk, psql } from './sio.mjs';

afterEach(closeAll);

const enc = encodeURIComponent;
const get = async (token, urlPath) => ok(await api('GET', urlPath, { token }));
const lit = (s) => (s === null ? 'NULL' : `'${s.replace(/'/g, "''")}'`);

/** The reference object of room r for user u: the view, spliced. */
const ref = (u, r) => `(SELECT chat_room_personal(o.obj, ur.role, o.id, ${u}, ur.last_read_seq)
                          FROM chat_room_objects o
                          LEFT JOIN user_rooms ur ON ur.room_id = o.id AND ur.user_id = ${u}
                         WHERE o.id = ${r})`;

/** The reference page of GET /api/rooms (chat_rooms_json before 0032). */
const refPage = (u, limit, offset) => `(SELECT coalesce(json_agg(x.obj ORDER BY x.created_at, x.id), '[]'::json)
      FROM (SELECT o.id, o.created_at, chat_room_personal(o.obj, ur.role, o.id, ${u}, ur.last_read_seq) AS obj
              FROM chat_room_objects o
              LEFT JOIN user_rooms ur ON ur.room_id = o.id AND ur.user_id = ${u}
             WHERE o.visibility = 'public' OR ur.user_id IS NOT NULL
             ORDER BY o.created_at, o.id LIMIT ${limit} OFFSET ${offset}) x)`;

/** The reference of GET /api/me (chat_member_rooms_json before 0030). */
const refMe = (u) => `(SELECT coalesce(json_agg(${ref(u, 'ur0.room_id')} ORDER BY ur0.joined_at, ur0.room_id), '[]'::json)
                         FROM user_rooms ur0 WHERE ur0.user_id = ${u})`;

/** Every difference between the new functions and the reference, as text
 * (byte for byte), for the users and rooms given; '' when none. The setup
 * SQL runs first in the same transaction, rolled back after. */
function differences(users, rooms, setup = '') {
  const q = [];
  for (const u of users) {
    for (const r of rooms) {
      q.push(`SELECT 'room ' || ${r} || ' for ' || coalesce(${u}, 'nobody') || ': ' || coalesce(chat_room_json_for(${u}, ${r})::text, 'NULL')
                     || ' <> ' || coalesce(${ref(u, r)}::text, 'NULL')
               WHERE chat_room_json_for(${u}, ${r})::text IS DISTINCT FROM ${ref(u, r)}::text`);
    }
    if (u === 'NULL') continue;
    for (const [limit, offset] of [[50, 0], [3, 1], [1000, 0], [5, 100000]]) {
      q.push(`SELECT 'page ${limit}/${offset} for ' || ${u} || ': ' || chat_rooms_json(${u}, ${limit}, ${offset})::text
                     || ' <> ' || ${refPage(u, limit, offset)}::text
               WHERE chat_rooms_json(${u}, ${limit}, ${offset})::text IS DISTINCT FROM ${refPage(u, limit, offset)}::text`);
    }
    q.push(`SELECT 'me of ' || ${u} || ': ' || chat_member_rooms_json(${u})::text || ' <> ' || ${refMe(u)}::text
             WHERE chat_member_rooms_json(${u})::text IS DISTINCT FROM ${refMe(u)}::text`);
  }
  return psql(`BEGIN; ${setup}; ${q.join('\nUNION ALL\n')}; ROLLBACK`);
}

/** Whether chat_room_objects_for counts room r's online members from a
 * hashed set (0032's decision for one room). */
const hashed = (r) => psql(`SELECT s.n >= 64 AND (SELECT count(*) FROM presence) < 3 * s.n
                              FROM (SELECT count(*) AS n FROM user_rooms WHERE room_id = ${lit(r)}) s`);

test('GET /api/rooms pages, GET /api/rooms/{id} and the join_room ack: the bytes of the view, counts exact after membership and presence changes, both ways of counting online', async () => {
  const owner = await join('ro_o');
  const rooms = [];
  for (let i = 0; i < 6; i++) rooms.push(await createRoom(owner.token, `ro${i}`));
  const priv = await createRoom(owner.token, 'ro_priv', { visibility: 'private' });
  const [a, b, c, d] = [await join('ro_a'), await join('ro_b'), await join('ro_c'), await join('ro_d')];
  const nobody = await join('ro_n'); // a member of none of them
  for (const u of [a, b, c, d]) {
    for (const r of rooms) ok(await api('POST', '/api/join', { token: u.token, body: { username: u.user.username, room_id: r.id } }), 201);
  }
  ok(await api('POST', `/api/rooms/${priv.id}/members`, { token: owner.token, body: { username: a.user.username } }), 201);
  const dm = ok(await api('POST', '/api/dm', { token: a.token, body: { username: b.user.username } }), 201).room;
  // Room 0 is big: 300 more members, 100 of them on a live bridge, the
  // rest offline.
  const tag = `ro${process.pid}_${Date.now() % 100000}`;
  const live = `t57-live-${tag}`;
  const stale = `t57-stale-${tag}`;
  psql(`INSERT INTO bridges (id, heartbeat_at) VALUES ('${live}', now() + interval '10 minutes');
        WITH u AS (INSERT INTO users (username) SELECT '${tag}_' || g FROM generate_series(1, 300) g RETURNING id, username)
        INSERT INTO user_rooms (user_id, room_id) SELECT u.id, '${rooms[0].id}' FROM u;
        INSERT INTO presence (bridge_id, conn_id, user_id)
          SELECT '${live}', 'c-' || id, id
            FROM users WHERE username LIKE '${tag}\\_%' AND split_part(username, '_', 3)::int <= 100;
        INSERT INTO presence (bridge_id, conn_id, user_id)
          VALUES ('${live}', 'c-a', ${lit(a.user.id)}), ('${live}', 'c-b', ${lit(b.user.id)})`);
  // A bridge past the cutoff (not online) holding 20 more of room 0's and d:
  // such a bridge is reaped any time, so it lives only in the transaction
  // of a check.
  const withStale = `INSERT INTO bridges (id, heartbeat_at) VALUES ('${stale}', now() - interval '1 hour');
        INSERT INTO presence (bridge_id, conn_id, user_id)
          SELECT '${stale}', 'c-' || id, id FROM users
           WHERE id = ${lit(d.user.id)}
              OR (username LIKE '${tag}\\_%' AND split_part(username, '_', 3)::int BETWEEN 101 AND 120)`;
  // Read state: others' messages, a deletion, a's own message, a read mark.
  for (let i = 0; i < 3; i++) await send(b.token, rooms[1].id, `b${i}`);
  const gone = await send(b.token, rooms[1].id, 'gone');
  ok(await api('DELETE', `/api/messages/${enc(rooms[1].id)}/${gone.id}`, { token: b.token }));
  await send(b.token, rooms[2].id, 'x');
  await send(a.token, rooms[2].id, 'mine');
  await send(b.token, rooms[3].id, 'y1');
  await send(b.token, rooms[3].id, 'y2');
  ok(await api('POST', `/api/rooms/${enc(rooms[3].id)}/read`, { token: a.token, body: { seq: 1 } }));
  await send(b.token, dm.id, 'd1');
  await send(owner.token, priv.id, 'p1');
  // Presence: a and b online on the live bridge above (not through the
  // suite's bridges, which earlier tests restart); c connected for its
  // ack, its presence removed below, and a for the join_room ack at the
  // end (connected only then: the synchronous psql calls in between block
  // this process's event loop long enough to miss the bridge's pings).
  const sc = (await connect(c.token)).socket;
  // Membership: c leaves room 4, d is banned from room 5, room 5's a made
  // moderator, then c goes offline.
  ackOk(await ack(sc, 'leave_room', { room_id: rooms[4].id }));
  ok(await api('DELETE', `/api/rooms/${enc(rooms[5].id)}/members/${enc(d.user.id)}?ban=true`, { token: owner.token }));
  ok(await api('PATCH', `/api/rooms/${enc(rooms[5].id)}/members/${enc(a.user.id)}`, { token: owner.token, body: { role: 'moderator' } }));
  sc.disconnect();
  const ids = [...rooms.map((r) => r.id), priv.id, dm.id];
  const users = [owner, a, b, c, d, nobody].map((u) => lit(u.user.id));
  // c offline at once (its bridge removes the row in its own time).
  psql(`DELETE FROM presence WHERE user_id = ${lit(c.user.id)}`);

  assert.equal(hashed(rooms[0].id), 't', 'room 0 alone: presence read once');
  assert.equal(hashed(rooms[1].id), 'f', 'room 1 alone: probes');
  assert.equal(differences([...users, 'NULL'], [...ids.map(lit), "'no-such-room'"]), '', 'every object, page and list as the reference');
  assert.equal(differences(users, ids.map(lit), withStale), '', 'the same with a stale bridge');
  assert.equal(psql(`BEGIN; ${withStale}; SELECT chat_room_json_for(${lit(a.user.id)}, ${lit(rooms[0].id)})->>'online_count'
                       || ' ' || (chat_room_json_for(${lit(a.user.id)}, ${lit(rooms[1].id)})->>'online_count'); ROLLBACK`),
               '102 2', 'a stale bridge counts nowhere, both ways of counting');

  // The counts, by hand: room 0 has owner, a, b, c, d and 300; online a, b and 100.
  let r0 = (await get(a.token, `/api/rooms/${enc(rooms[0].id)}`)).room;
  assert.equal(r0.member_count, 305);
  assert.equal(r0.online_count, 102);
  assert.equal(r0.role, 'member');
  const page = psql(`SELECT chat_rooms_json(${lit(a.user.id)}, 1000, 0)`);
  const byId = Object.fromEntries(JSON.parse(page).map((r) => [r.id, r]));
  assert.equal(byId[rooms[0].id].online_count, 102);
  assert.equal(byId[rooms[1].id].online_count, 2, 'a and b; c gone');
  assert.equal(byId[rooms[1].id].unread, 3, 'the deleted message is not unread');
  assert.equal(byId[rooms[2].id].unread, 0, "a's own message reads the room");
  assert.equal(byId[rooms[3].id].unread, 1);
  assert.equal(byId[rooms[4].id].member_count, 4, 'c left');
  assert.equal(byId[rooms[5].id].member_count, 4, 'd banned');
  assert.equal(byId[rooms[5].id].role, 'moderator');
  assert.equal(byId[priv.id].member_count, 2);
  assert.equal(byId[dm.id].name, b.user.username, "a DM is named after the peer");
  const other = JSON.parse(psql(`SELECT chat_rooms_json(${lit(nobody.user.id)}, 1000, 0)`));
  assert.equal(other.find((r) => r.id === priv.id), undefined, 'a private room is not listed for others');
  assert.equal(other.find((r) => r.id === rooms[0].id).role, null);
  assert.equal(other.find((r) => r.id === rooms[0].id).unread, null);

  // Presence changes: 50 of the live ones go, 30 offline ones come to the
  // live bridge.
  psql(`DELETE FROM presence WHERE bridge_id = '${live}' AND user_id IN
          (SELECT id FROM users WHERE username LIKE '${tag}\\_%' AND split_part(username, '_', 3)::int <= 50);
        INSERT INTO presence (bridge_id, conn_id, user_id)
          SELECT '${live}', 'c-' || id, id FROM users
           WHERE username LIKE '${tag}\\_%' AND split_part(username, '_', 3)::int BETWEEN 201 AND 230`);
  assert.equal(differences(users.slice(0, 2), ids.slice(0, 2).map(lit), withStale), '', 'after the presence changes');
  r0 = (await get(a.token, `/api/rooms/${enc(rooms[0].id)}`)).room;
  assert.equal(r0.online_count, 2 + 50 + 30);
  // The join_room ack's room is GET /api/rooms/{id}'s, bytes compared above.
  const sa = (await connect(a.token)).socket;
  const entered = ackOk(await ack(sa, 'join_room', { room_id: rooms[0].id }));
  assert.deepEqual(entered.room, r0);
  assert.deepEqual(Object.keys(entered.room), Object.keys(r0), 'key order');
  // The 300 offline again: only a and b.
  psql(`DELETE FROM presence WHERE bridge_id = '${live}' AND user_id NOT IN (${lit(a.user.id)}, ${lit(b.user.id)})`);
  r0 = (await get(a.token, `/api/rooms/${enc(rooms[0].id)}`)).room;
  assert.equal(r0.online_count, 2, 'only a and b');
  assert.equal(differences(users.slice(0, 3), ids.map(lit)), '', 'after the others went');
  psql(`DELETE FROM presence WHERE bridge_id = '${live}'; DELETE FROM bridges WHERE id = '${live}'`);
  sa.disconnect();
});
