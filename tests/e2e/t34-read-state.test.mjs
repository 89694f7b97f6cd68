// t34-read-state -- read positions, unread counts and read receipts (DESIGN §8):
// POST /api/rooms/{id}/read and mark_read (forward only, clamped to last_seq),
// `read` to the user's connections on both bridges, unread on every Room,
// GET /api/rooms/{id}/reads, read_receipt in small rooms, and deleted messages
// leaving the counts.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { api, ok, fails, show, join, createRoom, send, assertRoom } from './lib.mjs';
import {
  connect, closeAll, collect, ack, ackOk, ackFails, joinRoom, sendWs, waitEvent, psql,
  Bridge, EXTRA_PORT_1, PsqlSession,
} from './sio.mjs';

let B;

before(async () => {
  B = await Bridge.start({ port: EXTRA_PORT_1 });
});

afterEach(closeAll);

after(async () => {
  await closeAll();
  if (B) {
    const r = await B.stop();
    assert.deepEqual(r, { code: 0, signal: null }, `bridge B exits cleanly on SIGTERM; log:\n${B.logTail()}`);
  }
});

const markRead = (token, roomId, body) => api('POST', `/api/rooms/${encodeURIComponent(roomId)}/read`, { token, body });
const del = (token, roomId, id) => api('DELETE', `/api/messages/${encodeURIComponent(roomId)}/${id}`, { token });
const reads = (token, roomId, query = '') => api('GET', `/api/rooms/${encodeURIComponent(roomId)}/reads${query ? `?${query}` : ''}`, { token });

/** The room as GET /api/rooms/{id} shows it to token's user. */
async function roomOf(token, roomId) {
  const room = ok(await api('GET', `/api/rooms/${encodeURIComponent(roomId)}`, { token })).room;
  assertRoom(room);
  return room;
}

/** The room as GET /api/me lists it. */
async function meRoom(token, roomId) {
  const room = ok(await api('GET', '/api/me', { token })).rooms.find((r) => r.id === roomId);
  assert.ok(room, `room ${roomId} in /api/me`);
  assertRoom(room);
  return room;
}

/** The last page of GET /api/rooms (the newest rooms), fixed by (limit, offset). */
async function lastPage(token) {
  const total = ok(await api('GET', '/api/rooms?limit=1', { token })).total;
  return `limit=20&offset=${Math.max(0, total - 20)}`;
}
async function listed(token, roomId, page) {
  const d = ok(await api('GET', `/api/rooms?${page}`, { token }));
  const room = d.rooms.find((r) => r.id === roomId);
  assert.ok(room, `room ${roomId} on the page ${page}`);
  assertRoom(room);
  return room;
}

test('unread counts others\' messages after the read position, never one\'s own; REST read moves forward only', async () => {
  const alice = await join('rs_alice');
  const room = await createRoom(alice.token, 'rs_room');
  const bob = await join('rs_bob', { room_id: room.id });
  assert.equal(bob.data.room.unread, 0, 'a new member starts with nothing unread');
  for (let i = 1; i <= 3; i++) await send(alice.token, room.id, `hello ${i}`);
  assert.equal((await roomOf(bob.token, room.id)).unread, 3);
  assert.equal((await roomOf(alice.token, room.id)).unread, 0, 'own messages are not unread');
  assert.equal((await meRoom(bob.token, room.id)).unread, 3);

  assert.deepEqual(ok(await markRead(bob.token, room.id, { seq: 2 })), { room_id: room.id, last_read_seq: 2, unread: 1 });
  assert.equal((await roomOf(bob.token, room.id)).unread, 1);
  // Backwards or the same: no-op, the current position.
  assert.deepEqual(ok(await markRead(bob.token, room.id, { seq: 1 })), { room_id: room.id, last_read_seq: 2, unread: 1 });
  assert.deepEqual(ok(await markRead(bob.token, room.id, { seq: 2 })), { room_id: room.id, last_read_seq: 2, unread: 1 });
  assert.deepEqual(ok(await markRead(bob.token, room.id, { seq: 0 })), { room_id: room.id, last_read_seq: 2, unread: 1 });
  // Beyond last_seq: clamped to it.
  assert.deepEqual(ok(await markRead(bob.token, room.id, { seq: 1000 })), { room_id: room.id, last_read_seq: 3, unread: 0 });
  assert.deepEqual(ok(await markRead(bob.token, room.id, { seq: 9007199254740991 })), { room_id: room.id, last_read_seq: 3, unread: 0 });
  await send(alice.token, room.id, 'after the clamp');
  assert.equal((await roomOf(bob.token, room.id)).unread, 1, 'a clamped position does not swallow later messages');

  // Sending moves the sender's read position to their message.
  assert.equal((await roomOf(bob.token, room.id)).unread, 1);
  const mine = await send(bob.token, room.id, 'bob answers');
  assert.equal((await roomOf(bob.token, room.id)).unread, 0, 'sending reads the room');
  assert.equal((await roomOf(alice.token, room.id)).unread, 1, 'alice has bob\'s message unread');
  const r = ok(await reads(alice.token, room.id));
  assert.equal(r.reads.find((x) => x.user_id === bob.user.id).last_read_seq, mine.seq);
  // The owner's position moved with her own sends, to her last one.
  assert.equal(r.reads.find((x) => x.user_id === alice.user.id).last_read_seq, 4);

  // A member who joins later starts at the room's last_seq.
  const carol = await join('rs_carol', { room_id: room.id });
  assert.equal(carol.data.room.unread, 0);
  assert.equal((await meRoom(carol.token, room.id)).unread, 0);
  // A non-member sees unread null.
  const dave = await join('rs_dave');
  assert.equal((await roomOf(dave.token, room.id)).unread, null);
});

/** Polls cond() until it holds, at most ms (a cached page may lag, pagecache.h). */
async function eventually(cond, what, ms = 10_000) {
  const end = Date.now() + ms;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) assert.fail(`never: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('GET /api/rooms: a read position moved shows on every worker without waiting for the cache time; a new message within it', async () => {
  const alice = await join('rs_calice');
  const room = await createRoom(alice.token, 'rs_cache');
  const bob = await join('rs_cbob', { room_id: room.id });
  const page = await lastPage(bob.token);
  // Warm every worker's cache for this page (the pool has a few workers).
  for (let i = 0; i < 12; i++) assert.equal((await listed(bob.token, room.id, page)).unread, 0);
  await send(alice.token, room.id, 'news');
  assert.equal((await roomOf(bob.token, room.id)).unread, 1, 'GET /api/rooms/{id} is not cached');
  await eventually(async () => {
    for (let i = 0; i < 12; i++) if ((await listed(bob.token, room.id, page)).unread !== 1) return false;
    return true;
  }, 'every worker lists unread 1 (CHAT_ROOMS_CACHE_MS)');
  ok(await markRead(bob.token, room.id, { seq: 1 }));
  // The worker that took the mark drops its pages at once; the others when
  // the NOTIFY chat_fcgi of the read position reaches them (milliseconds,
  // sesscache.h), so a request racing it may still see the old page.
  await eventually(async () => {
    for (let i = 0; i < 12; i++) if ((await listed(bob.token, room.id, page)).unread !== 0) return false;
    return true;
  }, 'every worker lists unread 0 after mark read', 3_000);
});

test('a deleted message leaves the unread counts, whoever deletes it, once', async () => {
  const alice = await join('rs_dalice');
  const room = await createRoom(alice.token, 'rs_del');
  const bob = await join('rs_dbob', { room_id: room.id });
  const carol = await join('rs_dcarol', { room_id: room.id });
  const m1 = await send(alice.token, room.id, 'one');
  const m2 = await send(alice.token, room.id, 'two');
  const m3 = await send(carol.token, room.id, 'three');
  assert.equal((await roomOf(bob.token, room.id)).unread, 3);
  ok(await markRead(bob.token, room.id, { seq: m1.seq }));
  // A message at or below bob's position changes nothing; one above it
  // leaves his count; deleting twice is once.
  ok(await del(alice.token, room.id, m1.id));
  assert.equal((await roomOf(bob.token, room.id)).unread, 2);
  ok(await del(alice.token, room.id, m2.id));
  assert.equal((await roomOf(bob.token, room.id)).unread, 1);
  assert.equal((await meRoom(bob.token, room.id)).unread, 1);
  ok(await del(alice.token, room.id, m2.id));
  assert.equal((await roomOf(bob.token, room.id)).unread, 1);
  // The owner deletes carol's message: gone from bob's count, and carol's own deleted message never counted for her.
  ok(await del(alice.token, room.id, m3.id));
  assert.equal((await roomOf(bob.token, room.id)).unread, 0);
  assert.equal((await roomOf(carol.token, room.id)).unread, 0);
  assert.equal((await roomOf(alice.token, room.id)).unread, 0);
  await send(alice.token, room.id, 'four');
  assert.equal((await roomOf(bob.token, room.id)).unread, 1);
  assert.equal((await roomOf(carol.token, room.id)).unread, 1);
  ok(await markRead(bob.token, room.id, { seq: 4 }));
  assert.equal((await roomOf(bob.token, room.id)).unread, 0);
});

test('sending reads the room up to one\'s message; a lower mark_read then changes nothing', async () => {
  const alice = await join('rs_oalice');
  const room = await createRoom(alice.token, 'rs_own');
  const bob = await join('rs_obob', { room_id: room.id });
  for (let i = 0; i < 3; i++) await send(alice.token, room.id, `a${i}`);
  const mine = await send(bob.token, room.id, 'bob');
  await send(alice.token, room.id, 'a3');
  assert.equal((await roomOf(bob.token, room.id)).unread, 1, 'only what came after bob\'s message');
  assert.deepEqual(ok(await markRead(bob.token, room.id, { seq: 2 })), { room_id: room.id, last_read_seq: mine.seq, unread: 1 });
  assert.deepEqual(ok(await markRead(bob.token, room.id, { seq: 5 })), { room_id: room.id, last_read_seq: 5, unread: 0 });
  const r = ok(await reads(alice.token, room.id));
  assert.deepEqual(r.reads.map((x) => [x.user_id, x.last_read_seq]).sort(),
    [[alice.user.id, 5], [bob.user.id, 5]].sort());
});

test('read position validation: negative, fractional, strings, booleans, null, huge', async () => {
  const alice = await join('rs_valice');
  const room = await createRoom(alice.token, 'rs_valid');
  for (const seq of [-1, -9007199254740991, 1.5, 1e30, 9007199254740992, '3', true, null, [1], { n: 1 }]) {
    fails(await markRead(alice.token, room.id, { seq }), 400, 'validation_error', 'seq');
  }
  fails(await markRead(alice.token, room.id, {}), 400, 'validation_error', 'seq');
  // An integer JSON cannot hold in 64 bits is not valid JSON for the server.
  const huge = await api('POST', `/api/rooms/${room.id}/read`, { token: alice.token, rawBody: '{"seq":99999999999999999999999}', headers: { 'Content-Type': 'application/json' } });
  assert.equal(huge.status, 400, show(huge));
  assert.ok(['invalid_json', 'validation_error'].includes(huge.json.error.code), show(huge));
  fails(await api('POST', `/api/rooms/${room.id}/read`, { token: alice.token, rawBody: '[1]', headers: { 'Content-Type': 'application/json' } }), 400, 'invalid_json');
  fails(await api('POST', `/api/rooms/${room.id}/read`, { body: { seq: 1 } }), 401, 'unauthorized');
  fails(await api('GET', `/api/rooms/${room.id}/read`, { token: alice.token }), 405, 'method_not_allowed');
  fails(await reads(alice.token, room.id, 'limit=0'), 400, 'validation_error', 'limit');
  fails(await reads(alice.token, room.id, 'limit=1001'), 400, 'validation_error', 'limit');
  fails(await reads(alice.token, room.id, 'offset=-1'), 400, 'validation_error', 'offset');
});

test('members only: a public room\'s non-member is forbidden, a private room answers 404 as if missing', async () => {
  const alice = await join('rs_palice');
  const pub = await createRoom(alice.token, 'rs_pub');
  const priv = await createRoom(alice.token, 'rs_priv', { visibility: 'private' });
  const eve = await join('rs_eve');
  fails(await markRead(eve.token, pub.id, { seq: 0 }), 403, 'forbidden');
  fails(await reads(eve.token, pub.id), 403, 'forbidden');
  fails(await markRead(eve.token, priv.id, { seq: 0 }), 404, 'not_found');
  fails(await reads(eve.token, priv.id), 404, 'not_found');
  fails(await markRead(eve.token, 'no-such-room', { seq: 0 }), 404, 'not_found');
  fails(await reads(eve.token, 'no-such-room'), 404, 'not_found');
  fails(await markRead(eve.token, 'bad%20id', { seq: 0 }), 404, 'not_found');
  // An added member of the private room starts with nothing unread and may read.
  await send(alice.token, priv.id, 'before eve');
  ok(await api('POST', `/api/rooms/${priv.id}/members`, { token: alice.token, body: { username: eve.user.username } }), 201);
  assert.equal((await roomOf(eve.token, priv.id)).unread, 0);
  await send(alice.token, priv.id, 'after eve');
  assert.equal((await roomOf(eve.token, priv.id)).unread, 1);
  assert.deepEqual(ok(await markRead(eve.token, priv.id, { seq: 2 })), { room_id: priv.id, last_read_seq: 2, unread: 0 });
});

test('read receipts: every member\'s position, furthest first, paged', async () => {
  const alice = await join('rs_ralice');
  const room = await createRoom(alice.token, 'rs_receipts');
  const bob = await join('rs_rbob', { room_id: room.id });
  const carol = await join('rs_rcarol', { room_id: room.id });
  for (let i = 0; i < 4; i++) await send(alice.token, room.id, `m${i}`);
  ok(await markRead(bob.token, room.id, { seq: 2 }));
  const d = ok(await reads(carol.token, room.id));
  assert.equal(d.total, 3);
  assert.equal(d.has_more, false);
  assert.deepEqual(d.reads, [
    { user_id: alice.user.id, username: alice.user.username, last_read_seq: 4 },
    { user_id: bob.user.id, username: bob.user.username, last_read_seq: 2 },
    { user_id: carol.user.id, username: carol.user.username, last_read_seq: 0 },
  ]);
  const p = ok(await reads(carol.token, room.id, 'limit=1&offset=1'));
  assert.deepEqual(p.reads.map((x) => x.user_id), [bob.user.id]);
  assert.equal(p.has_more, true);
});

test('mark_read over the socket: ack, and `read` reaches the user\'s connections on both bridges', async () => {
  const alice = await join('rs_salice');
  const room = await createRoom(alice.token, 'rs_sock');
  const bob = await join('rs_sbob', { room_id: room.id });
  const onA = (await connect(bob.token)).socket;
  const onB = (await connect(bob.token, { url: B.url })).socket;
  const other = (await connect(alice.token, { url: B.url })).socket;
  const aj = await joinRoom(onA, room.id);
  assert.equal(aj.room.unread, 0);
  assertRoom(aj.room);
  for (let i = 0; i < 3; i++) await sendWs(other, room.id, `s${i}`);
  const seenA = collect(onA, 'read');
  const seenB = collect(onB, 'read');
  const seenAlice = collect(other, 'read');
  // The second connection did not join the room: `read` goes to the user.
  const a = ackOk(await ack(onA, 'mark_read', { room_id: room.id, seq: 2 }));
  assert.equal(a.last_read_seq, 2);
  assert.equal(a.unread, 1);
  await seenB.waitCount(1, 10_000, 'bridge B');
  assert.deepEqual(seenB.items[0], { room_id: room.id, last_read_seq: 2, unread: 1 });
  await seenA.waitCount(1, 10_000, 'bridge A (the sender\'s own connection)');
  // A no-op sends nothing; the next move is the next event.
  ackOk(await ack(onB, 'mark_read', { room_id: room.id, seq: 1 }));
  ok(await markRead(bob.token, room.id, { seq: 3 }));
  await seenA.waitCount(2, 10_000, 'REST read on bridge A');
  await seenB.waitCount(2, 10_000, 'REST read on bridge B');
  assert.deepEqual(seenA.items[1], { room_id: room.id, last_read_seq: 3, unread: 0 });
  assert.deepEqual(seenB.items[1], { room_id: room.id, last_read_seq: 3, unread: 0 });
  assert.equal(seenAlice.items.length, 0, 'another user hears nothing');
  // The connected event lists unread too.
  const again = await connect(bob.token, { url: B.url });
  const cr = again.connected.rooms.find((x) => x.id === room.id);
  assert.equal(cr.unread, 0);
});

test('mark_read over the socket: hostile payloads and rooms', async () => {
  const alice = await join('rs_halice');
  const room = await createRoom(alice.token, 'rs_hostile');
  const priv = await createRoom(alice.token, 'rs_hpriv', { visibility: 'private' });
  const eve = await join('rs_heve');
  const s = (await connect(alice.token)).socket;
  const e = (await connect(eve.token)).socket;
  for (const seq of [-1, 1.5, '2', true, null, 9007199254740992, 1e300]) {
    ackFails(await ack(s, 'mark_read', { room_id: room.id, seq }), 'validation_error', `seq ${seq}`);
  }
  ackFails(await ack(s, 'mark_read', { room_id: room.id }), 'validation_error');
  ackFails(await ack(s, 'mark_read', { seq: 1 }), 'validation_error');
  ackFails(await ack(s, 'mark_read', { room_id: 'x y', seq: 1 }), 'not_found');
  ackFails(await ack(e, 'mark_read', { room_id: room.id, seq: 0 }), 'forbidden');
  ackFails(await ack(e, 'mark_read', { room_id: priv.id, seq: 0 }), 'not_found');
  const a = ackOk(await ack(s, 'mark_read', { room_id: room.id, seq: 50 }));
  assert.equal(a.last_read_seq, 0, 'clamped to last_seq (0)');
  // Without an ack id a failure comes as event `error`.
  const err = waitEvent(s, 'error');
  s.emit('mark_read', { room_id: room.id, seq: -5 });
  assert.equal((await err).code, 'validation_error');
});

test('read_receipt: a small room\'s subscribers on both bridges see a member read further; a large room\'s do not', async () => {
  const alice = await join('rs_qalice');
  const room = await createRoom(alice.token, 'rs_small');
  const bob = await join('rs_qbob', { room_id: room.id });
  const sa = (await connect(alice.token, { url: B.url })).socket;
  await joinRoom(sa, room.id);
  const sb = (await connect(bob.token)).socket;
  await joinRoom(sb, room.id);
  for (let i = 0; i < 2; i++) await send(alice.token, room.id, `r${i}`);
  const seen = collect(sa, 'read_receipt');
  const seenBob = collect(sb, 'read_receipt');
  ackOk(await ack(sb, 'mark_read', { room_id: room.id, seq: 2 }));
  await seen.waitCount(1, 10_000, 'read_receipt on bridge B');
  assert.deepEqual(seen.items[0], { room_id: room.id, user_id: bob.user.id, username: bob.user.username, last_read_seq: 2 });
  await seenBob.waitCount(1, 10_000, 'the reader\'s subscribed connection too');
  // No move, no receipt: the next one is the next move.
  ok(await markRead(bob.token, room.id, { seq: 1 }));
  await send(alice.token, room.id, 'r2');
  ok(await markRead(bob.token, room.id, { seq: 3 }));
  await seen.waitCount(2, 10_000, 'second receipt');
  assert.equal(seen.items[1].last_read_seq, 3);

  // Over chat_receipts_max() (50) members: no receipts, the read event still.
  const big = await createRoom(alice.token, 'rs_big');
  psql(`WITH u AS (INSERT INTO users (username) SELECT 'rs_big_' || g FROM generate_series(1, 50) g RETURNING id)
        INSERT INTO user_rooms (user_id, room_id) SELECT u.id, '${big.id}' FROM u`);
  await send(alice.token, big.id, 'big');
  await joinRoom(sa, big.id);
  const bigSeen = collect(sa, 'read_receipt');
  const carol = await join('rs_qcarol', { room_id: big.id });
  await send(alice.token, big.id, 'big 2');
  const sc = (await connect(carol.token)).socket;
  const readSeen = collect(sc, 'read');
  ackOk(await ack(sc, 'mark_read', { room_id: big.id, seq: 2 }));
  await readSeen.waitCount(1, 10_000, 'read to carol');
  // A marker after it on the same bus: a receipt would have come first.
  const marker = waitEvent(sa, 'new_message', (m) => m.content === 'marker', 10_000);
  await send(alice.token, big.id, 'marker');
  await marker;
  assert.equal(bigSeen.items.length, 0, 'no read_receipt in a room of 52 members');
});

test('sends stored together move each sender\'s position (user_room_sent), not their mark, and no worker forgets a page for it', async () => {
  const alice = await join('rs_balice');
  const room = await createRoom(alice.token, 'rs_batch');
  const bob = await join('rs_bbob', { room_id: room.id });
  const carol = await join('rs_bcarol', { room_id: room.id });
  const dave = await join('rs_bdave'); // not a member: refused, moves nothing
  await send(alice.token, room.id, 'before'); // seq 1
  const rows = () => psql(`SELECT ur.user_id, ur.last_read_seq, coalesce(s.seq, 0) FROM user_rooms ur
                            LEFT JOIN user_room_sent s ON s.user_id = ur.user_id AND s.room_id = ur.room_id
                            WHERE ur.room_id = '${room.id}' ORDER BY ur.user_id`).split('\n').sort();
  const row = (u, read, sent) => `${u.user.id}|${read}|${sent}`;
  assert.deepEqual(rows(), [row(alice, 0, 1), row(bob, 0, 0), row(carol, 0, 0)].sort());

  // One statement, as chat-ws sends a batch: bob, carol, bob, dave.
  const users = [bob, carol, bob, dave].map((u) => `'${u.user.id}'`).join(', ');
  const out = psql(['LISTEN chat_fcgi',
    `SELECT string_agg(coalesce(b.err, '-'), ',' ORDER BY b.o)
       FROM chat_send_many(ARRAY[${users}], array_fill('${room.id}'::text, ARRAY[4]),
                           ARRAY['b1', 'c1', 'b2', 'd1'], array_fill(NULL::text, ARRAY[4]),
                           array_fill(0, ARRAY[4]), array_fill(0, ARRAY[4]))
            WITH ORDINALITY AS b(err, msg, field, retry, data, o)`,
    'SELECT 1']);
  assert.equal(out.split('\n')[0], '-,-,-,forbidden', out);
  for (const u of [bob, carol]) {
    assert.doesNotMatch(out, new RegExp(`Asynchronous notification "chat_fcgi" with payload "r:${u.user.id}"`),
      'a send makes no worker forget the sender\'s pages');
  }
  assert.deepEqual(rows(), [row(alice, 0, 1), row(bob, 0, 4), row(carol, 0, 3)].sort(),
    'the newest own message of each sender (b2 is 4, c1 is 3); no mark moved');

  // Every reader of the position agrees: the Room objects, /api/me, a page, the receipts.
  assert.equal((await roomOf(bob.token, room.id)).unread, 0);
  assert.equal((await roomOf(carol.token, room.id)).unread, 1, 'b2 came after carol\'s c1');
  assert.equal((await meRoom(carol.token, room.id)).unread, 1);
  assert.equal((await listed(carol.token, room.id, await lastPage(carol.token))).unread, 1);
  assert.equal((await roomOf(alice.token, room.id)).unread, 3);
  const r = ok(await reads(alice.token, room.id));
  assert.deepEqual(r.reads.map((x) => [x.user_id, x.last_read_seq]),
    [[bob.user.id, 4], [carol.user.id, 3], [alice.user.id, 1]]);

  // The control: a mark that moves does reach the workers (same session kind).
  const marked = psql(['LISTEN chat_fcgi', `SELECT err FROM chat_mark_read('${carol.user.id}', '${room.id}', 4)`, 'SELECT 1']);
  assert.match(marked, new RegExp(`Asynchronous notification "chat_fcgi" with payload "r:${carol.user.id}"`));
  assert.equal((await roomOf(carol.token, room.id)).unread, 0);
  // A mark below the sent position changes nothing, as before.
  assert.deepEqual(ok(await markRead(bob.token, room.id, { seq: 2 })), { room_id: room.id, last_read_seq: 4, unread: 0 });
});

test('a send does not wait for a transaction that holds the sender\'s member row (a mark on another connection)', async () => {
  const alice = await join('rs_halice');
  const room = await createRoom(alice.token, 'rs_held');
  const bob = await join('rs_hbob', { room_id: room.id });
  await send(alice.token, room.id, 'one');
  const held = await PsqlSession.open({ app: 't34-held' });
  try {
    await held.run('BEGIN');
    // Moves bob's mark: his member row stays locked until COMMIT.
    assert.match(await held.run(`SELECT data FROM chat_mark_read('${bob.user.id}', '${room.id}', 1)`), /"last_read_seq" : 1/);
    // A send that locked the member row would wait here for the COMMIT
    // below (and a bridge's segment holding a room could deadlock on it).
    const mine = await send(bob.token, room.id, 'while the mark is open');
    assert.equal(mine.seq, 2);
    await held.run('COMMIT');
  } finally {
    held.end();
  }
  assert.equal((await roomOf(bob.token, room.id)).unread, 0);
  assert.equal((await roomOf(alice.token, room.id)).unread, 1);
});

test('a direct room\'s unread counts the peer\'s messages after one\'s own, in every Room object', async () => {
  const ann = await join('rs_dmann');
  const ben = await join('rs_dmben');
  const room = ok(await api('POST', '/api/dm', { token: ann.token, body: { username: ben.user.username } }), 201).room;
  assert.equal(room.visibility, 'direct');
  for (const [who, text] of [[ann, 'a1'], [ann, 'a2'], [ben, 'b1'], [ann, 'a3']]) await send(who.token, room.id, text);
  // ann's own a3 is her newest: nothing unread; ben read up to his b1: a3 is unread.
  for (const [who, n] of [[ann, 0], [ben, 1]]) {
    assert.equal((await roomOf(who.token, room.id)).unread, n, `GET /api/rooms/{id} for ${who.user.username}`);
    assert.equal((await meRoom(who.token, room.id)).unread, n, `/api/me for ${who.user.username}`);
  }
  assert.deepEqual(ok(await reads(ann.token, room.id)).reads.map((x) => [x.user_id, x.last_read_seq]),
    [[ann.user.id, 4], [ben.user.id, 3]]);
});
