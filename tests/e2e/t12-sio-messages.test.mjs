// t12-sio-messages -- send_message over the WebSocket: the ack, delivery to
// every subscribed connection, client_id de-duplication, validation, the
// rate limit shared with REST.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import {
  api, ok, join, createRoom, send, history, assertMessage, TS_RE,
} from './lib.mjs';
import {
  connect, closeAll, collect, ack, ackOk, ackFails, joinRoom, sendWs,
} from './sio.mjs';

afterEach(closeAll);

/** Two users with two connections each, all subscribed to a fresh room. */
async function party(prefix) {
  const a = await join(`${prefix}_a`);
  const room = await createRoom(a.token, prefix);
  const b = await join(`${prefix}_b`, { room_id: room.id });
  const conns = [];
  for (const u of [a, a, b, b]) {
    const { socket } = await connect(u.token);
    await joinRoom(socket, room.id);
    conns.push(socket);
  }
  return { a, b, room, conns };
}

test('send_message: ack {ok, message, duplicate:false}; new_message to every subscribed connection, sender included', async () => {
  const { a, room, conns } = await party('m_fan');
  const cols = conns.map((s) => collect(s, 'new_message'));
  const a1 = ackOk(await ack(conns[0], 'send_message', { room_id: room.id, message: 'hello, room' }));
  assert.deepEqual(Object.keys(a1).sort(), ['duplicate', 'message', 'ok']);
  assert.equal(a1.duplicate, false);
  const m = a1.message;
  assertMessage(m);
  assert.equal(m.room_id, room.id);
  assert.equal(m.seq, 1);
  assert.equal(m.user_id, a.user.id);
  assert.equal(m.username, a.user.username);
  assert.equal(m.content, 'hello, room');
  assert.equal(m.client_id, null);
  assert.match(m.timestamp, TS_RE);
  for (const [i, c] of cols.entries()) {
    const got = await c.waitFor((x) => x.id === m.id, 5000, `connection ${i}`);
    assert.deepEqual(got, m, `connection ${i} gets the stored message`);
  }
  // Stored: the REST history has it.
  const page = await history(a.token, room.id);
  assert.deepEqual(page.messages, [m]);
  // A second one: every connection has both, in order, once.
  const m2 = await sendWs(conns[3], room.id, 'second', { client_id: 'm-fan-2' });
  assert.equal(m2.client_id, 'm-fan-2');
  for (const [i, c] of cols.entries()) {
    await c.waitFor((x) => x.id === m2.id, 5000, `connection ${i}`);
    assert.deepEqual(c.items.map((x) => x.seq), [1, 2], `connection ${i}`);
  }
});

test('a connection not subscribed to the room gets no new_message (even of its own user)', async () => {
  const u = await join('m_unsub');
  const room = await createRoom(u.token, 'm_unsub');
  const side = await createRoom(u.token, 'm_unsub_side');
  const { socket: sub } = await connect(u.token);
  await joinRoom(sub, room.id);
  const { socket: other } = await connect(u.token);
  await joinRoom(other, side.id);
  const col = collect(other, 'new_message');
  await sendWs(sub, room.id, 'only for subscribers');
  const barrier = await send(u.token, side.id, 'barrier');
  await col.waitFor((m) => m.id === barrier.id);
  assert.deepEqual(col.items.map((m) => m.content), ['barrier']);
});

test('same client_id: duplicate:true with the same message and no second delivery; other content: conflict', async () => {
  const { room, conns } = await party('m_dup');
  const cols = conns.map((s) => collect(s, 'new_message'));
  const first = ackOk(await ack(conns[0], 'send_message', { room_id: room.id, message: 'once', client_id: 'dup-1' }));
  assert.equal(first.duplicate, false);
  // The retry, from another connection of the same user.
  const again = ackOk(await ack(conns[1], 'send_message', { room_id: room.id, message: 'once', client_id: 'dup-1' }));
  assert.deepEqual(Object.keys(again).sort(), ['duplicate', 'message', 'ok']);
  assert.equal(again.duplicate, true);
  assert.deepEqual(again.message, first.message);
  // Same client_id, different text or room: conflict, nothing stored.
  ackFails(await ack(conns[0], 'send_message', { room_id: room.id, message: 'twice', client_id: 'dup-1' }), 'conflict');
  // Another user may use the same client_id.
  const byB = ackOk(await ack(conns[2], 'send_message', { room_id: room.id, message: 'once', client_id: 'dup-1' }));
  assert.equal(byB.duplicate, false);
  assert.equal(byB.message.seq, 2);
  for (const [i, c] of cols.entries()) {
    await c.waitFor((m) => m.id === byB.message.id, 5000, `connection ${i}`);
    assert.deepEqual(c.items.map((m) => m.seq), [1, 2], `connection ${i}: the duplicate was not delivered again`);
  }
  const reader = await join('m_dup_reader');
  const page = await history(reader.token, room.id);
  assert.deepEqual(page.messages.map((m) => [m.content, m.client_id]), [['once', 'dup-1'], ['once', 'dup-1']]);
});

test('a client_id used over REST is recognised over the WebSocket', async () => {
  const u = await join('m_dup_rest');
  const room = await createRoom(u.token, 'm_dup_rest');
  const m = await send(u.token, room.id, 'via rest', { client_id: 'cross-1' });
  const { socket } = await connect(u.token);
  await joinRoom(socket, room.id);
  const a = ackOk(await ack(socket, 'send_message', { room_id: room.id, message: 'via rest', client_id: 'cross-1' }));
  assert.equal(a.duplicate, true);
  assert.deepEqual(a.message, m);
});

test('send_message to a room the user is not a member of: forbidden; unknown room: not_found', async () => {
  const owner = await join('m_forb_o');
  const room = await createRoom(owner.token, 'm_forb');
  const u = await join('m_forb_u');
  const { socket } = await connect(u.token);
  ackFails(await ack(socket, 'send_message', { room_id: room.id, message: 'let me in' }), 'forbidden');
  ackFails(await ack(socket, 'send_message', { room_id: 'no-such-room-9', message: 'x' }), 'not_found');
  const page = await history(owner.token, room.id);
  assert.deepEqual(page.messages, []);
});

test('send_message validation: empty, too long, control characters, wrong types', async () => {
  const u = await join('m_valid');
  const room = await createRoom(u.token, 'm_valid');
  const { socket } = await connect(u.token);
  await joinRoom(socket, room.id);
  const col = collect(socket, 'new_message');
  const bad = [
    { room_id: room.id },
    { room_id: room.id, message: '' },
    { room_id: room.id, message: '   ' },
    { room_id: room.id, message: 'x'.repeat(4001) },
    { room_id: room.id, message: '😀'.repeat(4001) },
    { room_id: room.id, message: 'bell \u0007' },
    { room_id: room.id, message: 'escape \u001b[31m' },
    { room_id: room.id, message: 'del \u007f' },
    { room_id: room.id, message: 'c1 \u0085' },
    { room_id: room.id, message: 5 },
    { room_id: room.id, message: null },
    { room_id: room.id, message: ['hi'] },
    { room_id: room.id, message: { text: 'hi' } },
    { room_id: room.id, message: true },
    { room_id: 7, message: 'hi' },
    { message: 'hi' },
    { room_id: room.id, message: 'hi', client_id: 5 },
    { room_id: room.id, message: 'hi', client_id: '' },
    { room_id: room.id, message: 'hi', client_id: 'c'.repeat(65) },
    { room_id: room.id, message: 'hi', client_id: 'tab\tid' },
  ];
  for (const p of bad) {
    const what = JSON.stringify(p).slice(0, 80);
    ackFails(await ack(socket, 'send_message', p), 'validation_error', what);
  }
  ackFails(await ack(socket, 'send_message', 'hi'), 'validation_error', 'string payload');
  // JSON escapes the parser itself refuses (NUL, lone surrogates): invalid_json is fine too.
  for (const message of ['nul \u0000 byte', 'lone \ud800 surrogate', 'lone \udfff']) {
    const a = await ack(socket, 'send_message', { room_id: room.id, message });
    assert.equal(a.ok, false, JSON.stringify(a));
    assert.ok(['invalid_json', 'validation_error'].includes(a.error.code), JSON.stringify(a));
  }
  // At the limits: 4000 characters (also 4000 four-byte ones), newline and tab, a 64-character client_id.
  const ok1 = await sendWs(socket, room.id, 'x'.repeat(4000));
  const emoji = '😀'.repeat(4000);
  const ok2 = await sendWs(socket, room.id, emoji);
  const ok3 = await sendWs(socket, room.id, 'line 1\n\tline 2', { client_id: 'c'.repeat(64) });
  assert.equal(ok1.content.length, 4000);
  assert.equal(ok2.content, emoji, 'a 16000-byte message round-trips unchanged');
  assert.equal(ok3.content, 'line 1\n\tline 2');
  // Listeners get them too (the big one travels by reference through NOTIFY).
  await col.waitFor((m) => m.id === ok3.id);
  assert.deepEqual(col.items, [ok1, ok2, ok3]);
  const page = await history(u.token, room.id);
  assert.deepEqual(page.messages, [ok1, ok2, ok3], 'nothing refused was stored');
});

test('a failed event without an ack id comes back as event error {code, message}', async () => {
  const u = await join('m_noack');
  const room = await createRoom(u.token, 'm_noack');
  const { socket } = await connect(u.token);
  await joinRoom(socket, room.id);
  const errs = collect(socket, 'error');
  socket.emit('send_message', { room_id: room.id, message: '' });
  const e = await errs.waitFor(() => true);
  assert.deepEqual(Object.keys(e).sort(), ['code', 'message']);
  assert.equal(e.code, 'validation_error');
  socket.emit('send_message', { room_id: 'no-such-room-1', message: 'x' });
  const e2 = await errs.waitFor((x) => x.code !== 'validation_error');
  assert.equal(e2.code, 'not_found');
  // A successful event without an ack id still delivers the message.
  const msgs = collect(socket, 'new_message');
  socket.emit('send_message', { room_id: room.id, message: 'fire and forget' });
  const m = await msgs.waitFor(() => true);
  assert.equal(m.content, 'fire and forget');
  assert.equal(errs.items.length, 2);
});

test('POST /api/messages/{room} reaches the WebSocket clients of the room', async () => {
  const { a, room, conns } = await party('m_rest');
  const cols = conns.map((s) => collect(s, 'new_message'));
  const m = await send(a.token, room.id, 'from REST', { client_id: 'rest-1' });
  for (const [i, c] of cols.entries()) {
    const got = await c.waitFor((x) => x.id === m.id, 5000, `connection ${i}`);
    assert.deepEqual(got, m);
  }
});

test('the send rate limit is shared with REST: 15 via REST, then 10 via WebSocket -> rate_limited', async () => {
  const u = await join('m_rate');
  const room = await createRoom(u.token, 'm_rate');
  const stored = [];
  for (let i = 0; i < 15; i++) stored.push(await send(u.token, room.id, `rest ${i}`));
  const { socket } = await connect(u.token);
  await joinRoom(socket, room.id);
  const acks = [];
  for (let i = 0; i < 10; i++) acks.push(await ack(socket, 'send_message', { room_id: room.id, message: `ws ${i}` }));
  const accepted = acks.filter((a) => a.ok === true);
  const limited = acks.filter((a) => a.ok === false);
  assert.ok(limited.length >= 1, `no rate_limited among 10 WebSocket sends after 15 REST ones: ${JSON.stringify(acks.map((a) => a.ok))}`);
  // The bucket refills 2 per second: a slow machine may let one or two more through.
  assert.ok(accepted.length >= 5 && accepted.length <= 8, `accepted ${accepted.length} of 10`);
  for (const l of limited) ackFails(l, 'rate_limited');
  // Once limited, the next ones are limited too until the bucket refills.
  const firstLimited = acks.findIndex((a) => a.ok === false);
  assert.ok(acks.slice(0, firstLimited).every((a) => a.ok), 'accepted ones come first');
  stored.push(...accepted.map((a) => a.message));
  // What was refused was not stored; seq has no gap. REST is limited as well now.
  const page = await history(u.token, room.id, 'limit=200');
  assert.deepEqual(page.messages.map((m) => m.content), stored.map((m) => m.content));
  assert.deepEqual(page.messages.map((m) => m.seq), stored.map((_, i) => i + 1));
  const r = await api('POST', `/api/messages/${room.id}`, { token: u.token, body: { message: 'rest after ws' } });
  assert.equal(r.status, 429, JSON.stringify(r.json));
});

test('events are limited per connection (100 per 10 s): past that, rate_limited', async () => {
  const u = await join('m_evrate');
  const { socket } = await connect(u.token);
  // Unknown events are cheap (no database) and still count.
  const acks = await Promise.all(Array.from({ length: 130 }, () => ack(socket, 'no_such_event', {})));
  const codes = acks.map((a) => (a.ok === false ? a.error.code : 'ok'));
  const unknown = codes.filter((c) => c === 'validation_error').length;
  const limited = codes.filter((c) => c === 'rate_limited').length;
  assert.equal(unknown + limited, 130, JSON.stringify(codes));
  assert.ok(unknown >= 100 && unknown <= 110, `${unknown} of 130 passed the event limit`);
  assert.ok(limited >= 20, `${limited} rate_limited`);
  assert.equal(codes.slice(0, 100).every((c) => c === 'validation_error'), true);
  // The connection stays open.
  assert.ok(socket.connected);
});
