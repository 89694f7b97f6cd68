// t13-sio-order -- per-room order without gaps under concurrent senders.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { api, ok, join, createRoom, history, assertMessage } from './lib.mjs';
import {
  connect, closeAll, collect, ack, joinRoom, assertSeqs,
} from './sio.mjs';

afterEach(closeAll);

const SENDERS = 5;
const PER_SENDER = 20; // the default per-user burst
const LISTENERS = 3;

test(`${SENDERS} senders x ${PER_SENDER} concurrent messages: every connection sees seq 1..N in order, once`, async () => {
  const owner = await join('o_owner');
  const room = await createRoom(owner.token, 'o_room');
  const users = [];
  for (let i = 0; i < SENDERS + LISTENERS; i++) users.push(await join(`o_u${i}`, { room_id: room.id }));
  const conns = [];
  for (const u of users) {
    const { socket } = await connect(u.token);
    await joinRoom(socket, room.id);
    conns.push(socket);
  }
  const cols = conns.map((s) => collect(s, 'new_message'));
  const senders = conns.slice(0, SENDERS);

  // Everything fired at once: no sender waits for its own acks.
  const pending = [];
  for (let k = 0; k < PER_SENDER; k++) {
    for (const [i, s] of senders.entries()) {
      const text = `s${i} #${k}`;
      pending.push(ack(s, 'send_message', { room_id: room.id, message: text, client_id: `o-${i}-${k}` }, 30_000)
        .then((a) => ({ a, text, i })));
    }
  }
  const results = await Promise.all(pending);
  for (const { a, text } of results) {
    assert.equal(a.ok, true, `${text}: ${JSON.stringify(a)}`);
    assert.equal(a.duplicate, false);
    assert.equal(a.message.content, text);
  }
  const n = SENDERS * PER_SENDER;
  const acked = results.map((r) => r.a.message).sort((x, y) => x.seq - y.seq);
  assertSeqs(acked.map((m) => m.seq), 0, n, 'acked seqs are exactly 1..N');
  assert.equal(new Set(acked.map((m) => m.id)).size, n);

  // Every connection, listeners and senders alike: 1..N in order, each once,
  // each identical to what its sender was acknowledged.
  for (const [i, c] of cols.entries()) {
    await c.waitCount(n, 30_000, `connection ${i}`);
    const seqs = c.items.map((m) => m.seq);
    assertSeqs(seqs.slice(0, n), 0, n, `connection ${i} (${i < SENDERS ? 'sender' : 'listener'})`);
    c.items.forEach(assertMessage);
    assert.deepEqual(c.items.slice(0, n), acked, `connection ${i} delivers the acked messages`);
  }
  // Each sender's messages are all there (their relative order is not promised:
  // the acks of one connection may share a group commit).
  for (let i = 0; i < SENDERS; i++) {
    const mine = acked.filter((m) => m.user_id === users[i].user.id).map((m) => m.content).sort();
    assert.deepEqual(mine, Array.from({ length: PER_SENDER }, (_, k) => `s${i} #${k}`).sort(), `sender ${i}`);
  }
  // The database agrees.
  const page = ok(await api('GET', `/api/messages/${room.id}?limit=200`, { token: owner.token }));
  assert.deepEqual(page.messages, acked);
  // Nothing extra arrives afterwards: a last message is the next seq everywhere.
  const last = await ack(conns[SENDERS], 'send_message', { room_id: room.id, message: 'the end' });
  assert.equal(last.message.seq, n + 1);
  for (const [i, c] of cols.entries()) {
    await c.waitFor((m) => m.id === last.message.id, 10_000, `connection ${i}`);
    assertSeqs(c.items.map((m) => m.seq), 0, n + 1, `connection ${i} at the end`);
  }
});

test('REST and WebSocket senders interleaved into one room: one order for everyone', async () => {
  const owner = await join('o2_owner');
  const room = await createRoom(owner.token, 'o2_room');
  const restUsers = [];
  for (let i = 0; i < 3; i++) restUsers.push(await join(`o2_r${i}`, { room_id: room.id }));
  const wsUsers = [];
  for (let i = 0; i < 2; i++) wsUsers.push(await join(`o2_w${i}`, { room_id: room.id }));
  const wsConns = [];
  for (const u of wsUsers) {
    const { socket } = await connect(u.token);
    await joinRoom(socket, room.id);
    wsConns.push(socket);
  }
  const listener = (await connect(owner.token)).socket;
  await joinRoom(listener, room.id);
  const cols = [listener, ...wsConns].map((s) => collect(s, 'new_message'));
  const jobs = [];
  for (let k = 0; k < 15; k++) {
    for (const [i, u] of restUsers.entries()) {
      jobs.push(api('POST', `/api/messages/${room.id}`, { token: u.token, body: { message: `r${i} ${k}` } })
        .then((r) => ok(r, 201).message));
    }
    for (const [i, s] of wsConns.entries()) {
      jobs.push(ack(s, 'send_message', { room_id: room.id, message: `w${i} ${k}` }, 30_000)
        .then((a) => {
          assert.equal(a.ok, true, JSON.stringify(a));
          return a.message;
        }));
    }
  }
  const stored = (await Promise.all(jobs)).sort((x, y) => x.seq - y.seq);
  const n = stored.length;
  assertSeqs(stored.map((m) => m.seq), 0, n, 'stored');
  for (const [i, c] of cols.entries()) {
    await c.waitCount(n, 30_000, `connection ${i}`);
    assert.deepEqual(c.items, stored, `connection ${i}`);
  }
  const page = await history(owner.token, room.id, 'limit=200');
  assert.deepEqual(page.messages, stored);
});
