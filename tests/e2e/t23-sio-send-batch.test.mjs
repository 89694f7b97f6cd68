// t23-sio-send-batch -- send_message requests that share a transaction run as
// one chat_send_batch call (migration 0009): every request still gets its own
// answer, with the checks of chat_send_message, and hostile text survives the
// array literals it travels in. Since migration 0023 the batch is stored
// set-based and announced with one `new_messages` per room (below).
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { api, ok, join, createRoom, assertMessage } from './lib.mjs';
import {
  connect, closeAll, collect, ack, ackOk, ackFails, joinRoom, assertSeqs, STACK_BRIDGES,
  PsqlSession, psql, direct, BRIDGE_PORT,
} from './sio.mjs';

afterEach(closeAll);

// Texts that would break a hand-made array literal or SQL: quotes,
// backslashes, separators, braces, the word NULL, blanks, multi-byte UTF-8.
const HOSTILE = [
  'he said "hi"', 'back\\slash', '\\"', '{a,b}', '}{"', 'NULL', 'null', ' , ',
  "'; DROP TABLE messages; --", 'ünïcødé 😀 漢字', 'tab\there', 'line\nbreak', '""', ',',
];

async function batchedTotal() {
  let sum = 0;
  for (let i = 0; i < STACK_BRIDGES; i++) {
    const r = await api('GET', `/metrics/ws/${i}`);
    assert.equal(r.status, 200, `metrics of bridge ${i}`);
    const m = /^chat_ws_db_batched_total (\d+)$/m.exec(r.text);
    assert.ok(m, `chat_ws_db_batched_total on bridge ${i}`);
    sum += Number(m[1]);
  }
  return sum;
}

test('a burst of sends mixing good, refused, duplicate and conflicting requests: each gets its own answer', async () => {
  const owner = await join('b_owner');
  const room = await createRoom(owner.token, 'b_room');
  const other = await createRoom(owner.token, 'b_other'); // nobody below is a member
  const users = [];
  for (let i = 0; i < 4; i++) users.push(await join(`b_u${i}`, { room_id: room.id }));
  const socks = [];
  for (const u of users) {
    const { socket } = await connect(u.token);
    await joinRoom(socket, room.id);
    socks.push(socket);
  }
  const cols = socks.map((s) => collect(s, 'new_message'));
  // A client_id already used, for the conflict below.
  const first = ackOk(await ack(socks[1], 'send_message',
    { room_id: room.id, message: 'original', client_id: 'b-used' }));
  const before = await batchedTotal();

  // Everything fired at once, no sender waiting for an ack.
  const plan = [];
  HOSTILE.forEach((text, k) => plan.push({ s: k % socks.length, body: { room_id: room.id, message: text }, want: 'ok' }));
  plan.push({ s: 0, body: { room_id: other.id, message: 'not a member' }, want: 'forbidden' });
  plan.push({ s: 1, body: { room_id: 'b-no-such-room', message: 'nowhere' }, want: 'not_found' });
  plan.push({ s: 2, body: { room_id: room.id, message: 'twice', client_id: 'b-twice' }, want: 'ok' });
  plan.push({ s: 2, body: { room_id: room.id, message: 'twice', client_id: 'b-twice' }, want: 'duplicate' });
  plan.push({ s: 1, body: { room_id: room.id, message: 'not the original', client_id: 'b-used' }, want: 'conflict' });
  plan.push({ s: 3, body: { room_id: room.id, message: 'original', client_id: 'b-used' }, want: 'ok-other-user' });
  for (let k = 0; k < 12; k++) plan.push({ s: k % socks.length, body: { room_id: room.id, message: `filler ${k}` }, want: 'ok' });
  const acks = await Promise.all(plan.map((p) => ack(socks[p.s], 'send_message', p.body, 30_000)));

  const stored = [];
  let original;
  acks.forEach((a, i) => {
    const p = plan[i];
    const what = `request ${i} (${p.want}): ${JSON.stringify(p.body)}`;
    switch (p.want) {
      case 'ok':
      case 'ok-other-user':
        ackOk(a, what);
        assert.equal(a.duplicate, false, what);
        assertMessage(a.message);
        assert.equal(a.message.content, p.body.message, `content byte for byte: ${what}`);
        assert.equal(a.message.room_id, room.id);
        assert.equal(a.message.user_id, users[p.s].user.id, what);
        assert.equal(a.message.client_id, p.body.client_id ?? null, what);
        stored.push(a.message);
        break;
      case 'duplicate':
        ackOk(a, what);
        assert.equal(a.duplicate, true, what);
        original = a.message;
        break;
      default:
        ackFails(a, p.want, what);
    }
  });
  // The duplicate answers with the message the first request stored.
  const twice = stored.find((m) => m.client_id === 'b-twice');
  assert.deepEqual(original, twice);
  // Another user may use the same client_id: it is per user.
  assert.notEqual(stored.find((m) => m.client_id === 'b-used').id, first.message.id);

  // The accepted messages took the next seqs, without a gap, in one order.
  stored.sort((x, y) => x.seq - y.seq);
  assertSeqs(stored.map((m) => m.seq), first.message.seq, stored.length, 'seqs after the first message');
  // Every connection got each of them once, in seq order, as acknowledged.
  for (const [i, c] of cols.entries()) {
    await c.waitCount(stored.length + 1, 20_000, `connection ${i}`);
    assert.deepEqual(c.items.slice(1), stored, `connection ${i}`);
  }
  // The history agrees, texts included.
  const page = ok(await api('GET', `/api/messages/${room.id}?limit=100`, { token: owner.token }));
  assert.deepEqual(page.messages.slice(1), stored);
  assert.equal(page.messages.length, stored.length + 1);

  // And the burst did run in batches (the test would pass without them, so check).
  const after = await batchedTotal();
  assert.ok(after - before >= 2, `requests ran in batches: ${before} -> ${after}`);
});

// CONNECTs queued together run as one chat_connect_batch call (migration
// 0011), which takes the users' presence locks in one order: bursts of the
// same users on every bridge neither deadlock nor mix up who is who.
test('a burst of CONNECTs of the same users on every bridge: all connect as themselves, in batches', async () => {
  const owner = await join('bc_owner');
  const room = await createRoom(owner.token, 'bc_room');
  const users = [];
  for (let i = 0; i < 4; i++) users.push(await join(`bc_u${i}`, { room_id: room.id }));
  const before = await batchedTotal();
  const attempts = [];
  for (let k = 0; k < 15; k++) for (const u of users) attempts.push(connect(u.token).then((r) => ({ r, u })));
  attempts.push(connect('f'.repeat(64)).then((r) => ({ r }), (e) => ({ e })));
  const results = await Promise.all(attempts);
  const bad = results.pop();
  assert.ok(bad.e, 'an unknown token in the burst is refused');
  for (const { r, u } of results) {
    assert.equal(r.connected.user.id, u.user.id, 'connected as its own user');
    assert.ok(r.connected.rooms.some((x) => x.id === room.id), 'its room is listed');
  }
  const listed = ok(await api('GET', `/api/users/${room.id}`, { token: owner.token })).users;
  for (const u of users) assert.equal(listed.find((x) => x.id === u.user.id)?.online, true, `${u.user.username} online`);
  const after = await batchedTotal();
  assert.ok(after - before >= 2, `connects ran in batches: ${before} -> ${after}`);
});

// ---- one NOTIFY per room per batch (migration 0023) ---------------------------
//
// chat_send_batch stores a batch set-based and raises one `new_messages`
// per room, its messages in seq order, split so that no payload passes the
// 8000-byte limit (a message too long to travel alone goes as the
// `new_message {room_id, seq}` reference, read back by the bridges). These
// call the function in psql, as a bridge's pipeline segment would, LISTEN
// beside it, and watch clients of both stack bridges.

const sqlLit = (s) => (s === null ? 'NULL' : `'${String(s).replace(/'/g, "''")}'`);
const sqlArr = (xs, type) => `ARRAY[${xs.map(sqlLit).join(',')}]::${type}[]`;

/**
 * Runs one chat_send_many (or fn, its json form chat_send_batch) in a psql
 * session that LISTENs on chat_events.
 * reqs: [{user, room, content (SQL expression), cid, rate, window}].
 * Returns {rows: [{err, data}], notes: [{raw, ev}]} with the notifications
 * the batch raised about the given rooms, in their order.
 */
async function sqlBatch(reqs, rooms, fn = 'chat_send_many') {
  const s = await PsqlSession.open();
  try {
    await s.run('LISTEN chat_events');
    const out = await s.run(`SELECT coalesce(b.err, 'ok') || ' ' || coalesce(b.retry::text, '-') || ' ' || coalesce(b.data::text, '')
      FROM ${fn}(${sqlArr(reqs.map((r) => r.user), 'text')}, ${sqlArr(reqs.map((r) => r.room), 'text')},
        ARRAY[${reqs.map((r) => r.content).join(',')}]::text[], ${sqlArr(reqs.map((r) => r.cid ?? null), 'text')},
        ARRAY[${reqs.map((r) => r.rate ?? 0).join(',')}]::int[], ARRAY[${reqs.map((r) => r.window ?? 10).join(',')}]::int[])
        WITH ORDINALITY b ORDER BY ordinality`);
    // Notifications are printed once the next statement has run.
    const tail = await s.run('SELECT 1');
    const lines = `${out}\n${tail}`.split('\n');
    const re = /^Asynchronous notification "chat_events" with payload "(.*)" received from server process with PID \d+\.$/;
    const notes = lines.map((l) => re.exec(l)).filter(Boolean).map((m) => ({ raw: m[1], ev: JSON.parse(m[1]) }))
      .filter((n) => rooms.includes(n.ev.room_id) && /^new_message/.test(n.ev.type));
    const rows = lines.filter((l) => l && !re.test(l) && l !== '1').map((l) => {
      const [err, retry, ...rest] = l.split(' ');
      const data = rest.join(' ');
      return { err, retry: retry === '-' ? null : Number(retry), data: data ? JSON.parse(data) : null };
    });
    assert.equal(rows.length, reqs.length, `one answer per request:\n${out}`);
    return { rows, notes };
  } finally {
    s.end();
  }
}

/** Listeners of a room on each stack bridge (directly, not through nginx), joined. */
async function listenersOnEveryBridge(roomId, users) {
  const ports = STACK_BRIDGES >= 2 ? [BRIDGE_PORT, BRIDGE_PORT + 1] : [BRIDGE_PORT];
  const cols = [];
  for (const [k, port] of ports.entries()) {
    const { socket } = await connect(users[k % users.length].token, { url: direct(port) });
    await joinRoom(socket, roomId);
    cols.push({ port, col: collect(socket, 'new_message') });
  }
  return cols;
}

/** The messages a batch's notifications carried for room, in order (references as {seq}). */
function carried(notes, roomId) {
  const out = [];
  for (const { ev } of notes.filter((n) => n.ev.room_id === roomId)) {
    if (ev.type === 'new_messages') out.push(...ev.messages);
    else out.push({ seq: ev.seq, reference: true });
  }
  return out;
}

test('a batch spanning several rooms: one new_messages per room, in seq order, delivered in order on both bridges', async () => {
  const owner = await join('nr_owner');
  const rooms = [];
  for (let r = 0; r < 3; r++) rooms.push(await createRoom(owner.token, `nr_room${r}`));
  const users = [];
  for (let i = 0; i < 2; i++) users.push(await join(`nr_u${i}`));
  const cols = {};
  for (const room of rooms) cols[room.id] = await listenersOnEveryBridge(room.id, users);
  // Interleaved: room 0, 1, 2, 0, 1, 2, ... from both users, hostile texts among them.
  const texts = ['plain', '],"ts":1}', '{"type":"new_messages","room_id":"x","messages":[]}', 'back\\slash "q"',
    'ünïcødé 😀', 'line\nbreak\ttab', 'NULL', "'; DROP TABLE messages; --", '\\u0000 not a NUL'];
  const reqs = [];
  for (let k = 0; k < 18; k++) {
    reqs.push({ user: users[k % 2].user.id, room: rooms[k % 3].id, content: sqlLit(`${texts[k % texts.length]} #${k}`), cid: `nr-${k}` });
  }
  const { rows, notes } = await sqlBatch(reqs, rooms.map((r) => r.id));
  for (const [k, row] of rows.entries()) {
    assert.equal(row.err, 'ok', `request ${k}`);
    assert.equal(row.data.duplicate, false);
    assert.equal(row.data.message.content, `${texts[k % texts.length]} #${k}`, `request ${k}: text byte for byte`);
    assert.equal(row.data.message.room_id, rooms[k % 3].id);
    assertMessage(row.data.message);
  }
  for (const [r, room] of rooms.entries()) {
    const mine = rows.filter((_, k) => k % 3 === r).map((x) => x.data.message);
    // Request order is seq order within a room, 1..6 (fresh rooms).
    assertSeqs(mine.map((m) => m.seq), 0, mine.length, `room ${r}`);
    const ofRoom = notes.filter((n) => n.ev.room_id === room.id);
    assert.equal(ofRoom.length, 1, `one notification for room ${r}: ${ofRoom.map((n) => n.raw).join('\n')}`);
    assert.equal(ofRoom[0].ev.type, 'new_messages');
    assert.ok(Number.isInteger(ofRoom[0].ev.ts), 'it carries ts');
    // The notification carries the message the ack carried, byte for byte.
    assert.deepEqual(ofRoom[0].ev.messages, mine, `room ${r}: the notification's messages are the acks'`);
    for (const { port, col } of cols[room.id]) {
      await col.waitCount(mine.length, 20_000, `room ${r} on bridge ${port}`);
      assert.deepEqual(col.items, mine, `room ${r} on bridge ${port}: every message once, in seq order`);
    }
  }
});

test('a batch with messages past the 8000-byte limit: split across notifications, references read back, in order on both bridges', async () => {
  const owner = await join('nb_owner');
  const room = await createRoom(owner.token, 'nb_room');
  const u = await join('nb_u');
  const cols = await listenersOnEveryBridge(room.id, [u, owner]);
  // Sizes in bytes of UTF-8: 3000 ('é' × 1500), 16000 ('😀' × 4000: must go
  // as a reference), 7600 (alone it fits; with anything else it does not),
  // small ones between them.
  const contents = [
    "'small 1'", "repeat('é', 1500)", "repeat('é', 1500)", "'small 2'", "repeat('😀', 4000)", "'small 3'",
    "repeat('x', 7600)", "repeat('é', 1500)", "'small 4'", "repeat('\"', 3000)", "'small 5'",
  ];
  const reqs = contents.map((c, k) => ({ user: (k % 2 ? owner : u).user.id, room: room.id, content: c }));
  const { rows, notes } = await sqlBatch(reqs, [room.id]);
  const stored = rows.map((r, k) => {
    assert.equal(r.err, 'ok', `request ${k}`);
    return r.data.message;
  });
  assertSeqs(stored.map((m) => m.seq), 0, stored.length, 'stored');
  assert.equal(stored[4].content, '😀'.repeat(4000));
  assert.equal(stored[9].content, '"'.repeat(3000));
  // Every payload under the limit; several of them; the big one by reference.
  assert.ok(notes.length >= 4, `split: ${notes.length} notifications`);
  for (const n of notes) assert.ok(Buffer.byteLength(n.raw) < 8000, `payload of ${Buffer.byteLength(n.raw)} bytes`);
  const c = carried(notes, room.id);
  assert.deepEqual(c.map((m) => m.seq), stored.map((m) => m.seq), 'each message once, in seq order, across the notifications');
  assert.equal(c[4].reference, true, 'the 16000-byte message goes as a reference');
  for (const [k, m] of c.entries()) if (!m.reference) assert.deepEqual(m, stored[k], `message ${k} as acked`);
  for (const { port, col } of cols) {
    await col.waitCount(stored.length, 20_000, `bridge ${port}`);
    assert.deepEqual(col.items, stored, `bridge ${port}: in seq order, the big ones whole`);
  }
  // A history read agrees.
  const page = ok(await api('GET', `/api/messages/${room.id}?limit=100`, { token: owner.token }));
  assert.deepEqual(page.messages, stored);
});

test('client_id used twice in one batch: the first stores, later ones answer the original or conflict; the next batch too', async () => {
  const owner = await join('nd_owner');
  const room = await createRoom(owner.token, 'nd_room');
  const other = await createRoom(owner.token, 'nd_other');
  const u = await join('nd_u', { room_id: room.id });
  const v = await join('nd_v', { room_id: room.id });
  psql(`SELECT chat_member_add(${sqlLit(u.user.id)}, ${sqlLit(other.id)})`);
  const cols = await listenersOnEveryBridge(room.id, [owner]);
  const R = (user, content, cid, r = room) => ({ user: user.user.id, room: r.id, content: sqlLit(content), cid });
  const first = await sqlBatch([
    R(u, 'one', 'd-1'), // 0 stored
    R(u, 'one', 'd-1'), // 1 duplicate of 0
    R(u, 'changed', 'd-1'), // 2 conflict: another text
    R(u, 'one', 'd-1', other), // 3 conflict: another room
    R(v, 'one', 'd-1'), // 4 stored: client_id is per user
    R(u, 'two', null), // 5 stored: no client_id
    R(u, 'two', null), // 6 stored again: no client_id, no deduplication
    R(u, 'one', 'd-1'), // 7 duplicate of 0
  ], [room.id, other.id]);
  const [r0, r1, r2, r3, r4, r5, r6, r7] = first.rows;
  for (const r of [r0, r4, r5, r6]) {
    assert.equal(r.err, 'ok');
    assert.equal(r.data.duplicate, false);
  }
  for (const r of [r1, r7]) {
    assert.equal(r.err, 'ok');
    assert.equal(r.data.duplicate, true);
    assert.deepEqual(r.data.message, r0.data.message, 'the original message');
  }
  assert.equal(r2.err, 'conflict');
  assert.equal(r3.err, 'conflict');
  const stored = [r0, r4, r5, r6].map((r) => r.data.message);
  assertSeqs(stored.map((m) => m.seq), 0, 4, 'four stored, gapless');
  assert.notEqual(r4.data.message.id, r0.data.message.id);
  assert.deepEqual(carried(first.notes, room.id), stored, 'only the stored ones are announced, once each');
  assert.equal(carried(first.notes, other.id).length, 0, 'nothing stored in the other room');
  // Across batches: the original again, and the conflict.
  const second = await sqlBatch([R(u, 'one', 'd-1'), R(u, 'three', 'd-1'), R(u, 'four', 'd-4'), R(u, 'four', 'd-4')], [room.id]);
  assert.equal(second.rows[0].data.duplicate, true);
  assert.deepEqual(second.rows[0].data.message, r0.data.message);
  assert.equal(second.rows[1].err, 'conflict');
  assert.equal(second.rows[2].data.duplicate, false);
  assert.equal(second.rows[2].data.message.seq, 5);
  assert.deepEqual(second.rows[3].data, { ...second.rows[2].data, duplicate: true });
  stored.push(second.rows[2].data.message);
  // chat_send_batch, kept with its json answer for bridges of the version
  // before 0037, answers and stores as chat_send_many does, in order.
  assert.match(psql(`SELECT pg_get_function_result('chat_send_batch(text[],text[],text[],text[],integer[],integer[])'::regprocedure)`), /data json\)$/);
  assert.match(psql(`SELECT pg_get_function_result('chat_send_many(text[],text[],text[],text[],integer[],integer[])'::regprocedure)`), /data text\)$/);
  const third = await sqlBatch([R(u, 'five', 'd-5'), R(u, 'one', 'd-1'), R(u, 'six', null)], [room.id], 'chat_send_batch');
  assert.deepEqual(third.rows.map((r) => [r.err, r.data.duplicate, r.data.message.seq]), [['ok', false, 6], ['ok', true, 1], ['ok', false, 7]]);
  assert.deepEqual(third.rows[1].data.message, r0.data.message);
  stored.push(third.rows[0].data.message, third.rows[2].data.message);
  assert.deepEqual(carried(third.notes, room.id), stored.slice(-2), 'announced as chat_send_many announces');
  for (const { port, col } of cols) {
    await col.waitCount(stored.length, 20_000, `bridge ${port}`);
    assert.deepEqual(col.items, stored, `bridge ${port}`);
  }
});

test('the rate limit in a batch: the sender\'s bucket is taken once, the first messages pass, the rest wait; a reused client_id of a refused one is refused', async () => {
  const owner = await join('nl_owner');
  const room = await createRoom(owner.token, 'nl_room');
  const u = await join('nl_u', { room_id: room.id });
  const v = await join('nl_v', { room_id: room.id });
  const R = (user, content, cid) => ({ user: user.user.id, room: room.id, content: sqlLit(content), cid, rate: 3, window: 60 });
  const { rows } = await sqlBatch([
    R(u, 'a', 'l-a'), R(v, 'v1', null), R(u, 'b', null), R(u, 'a', 'l-a'), R(u, 'c', null), R(u, 'd', 'l-d'), R(u, 'e', null), R(u, 'd', 'l-d'),
  ], [room.id]);
  const errs = rows.map((r) => r.err);
  // u: a, b, c pass (3 tokens); the duplicate of a answers a and takes none;
  // d and e wait, and so does d's duplicate. v has a bucket of its own.
  assert.deepEqual(errs, ['ok', 'ok', 'ok', 'ok', 'ok', 'rate_limited', 'rate_limited', 'rate_limited']);
  assert.equal(rows[3].data.duplicate, true);
  for (const r of rows.slice(5)) assert.ok(r.retry >= 1, `retry ${r.retry}`);
  // The bucket is empty now: the next batch of u waits, v's does not.
  const next = await sqlBatch([R(u, 'f', null), R(v, 'v2', null)], [room.id]);
  assert.deepEqual(next.rows.map((r) => r.err), ['rate_limited', 'ok']);
  const page = ok(await api('GET', `/api/messages/${room.id}?limit=100`, { token: owner.token }));
  assert.deepEqual(page.messages.map((m) => m.content), ['a', 'v1', 'b', 'c', 'v2']);
});
