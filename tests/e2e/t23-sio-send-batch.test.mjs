// t23-sio-send-batch -- send_message requests that share a transaction run as
// one chat_send_batch call (migration 0009): every request still gets its own
// answer, with the checks of chat_send_message, and hostile text survives the
// array literals it travels in.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { api, ok, join, createRoom, assertMessage } from './lib.mjs';
import {
  connect, closeAll, collect, ack, ackOk, ackFails, joinRoom, assertSeqs, STACK_BRIDGES,
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
