// t11-sio-rooms -- join_room (ack, user_joined, recovery with since_seq),
// leave_room, and room_created.
//
// Absence is checked with a barrier instead of a sleep: events reach one
// connection in the order the database committed them, so once a later
// event (a message sent afterwards) has arrived, an earlier one that was
// going to arrive has arrived too.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import {
  api, ok, join, createRoom, send, history, assertUser, assertRoom, assertMessage,
} from './lib.mjs';
import {
  connect, closeAll, collect, ack, ackOk, ackFails, joinRoom, sendWs, assertSeqs, sqlMessages,
} from './sio.mjs';

afterEach(closeAll);

test('join_room ack: {ok, room, members, messages (newest 50), recovered:null}', async () => {
  const owner = await join('r_owner');
  const room = await createRoom(owner.token, 'r_ack', { description: 'ack shape' });
  sqlMessages(room.id, owner.user.id, 55, 'old');
  const u = await join('r_joiner');
  const { socket } = await connect(u.token);
  const a = ackOk(await ack(socket, 'join_room', { room_id: room.id }));
  assert.deepEqual(Object.keys(a).sort(), ['members', 'members_has_more', 'messages', 'ok', 'recovered', 'room']);
  assert.equal(a.members_has_more, false);
  assert.equal(a.recovered, null);
  assertRoom(a.room);
  assert.equal(a.room.id, room.id);
  assert.equal(a.room.name, room.name);
  assert.equal(a.room.description, 'ack shape');
  assert.equal(a.room.last_seq, 55);
  assert.equal(a.room.member_count, 2);
  // Members: the owner and now the joiner, each a User.
  assert.ok(Array.isArray(a.members));
  a.members.forEach((m) => assertUser(m));
  assert.deepEqual(a.members.map((m) => m.id).sort(), [owner.user.id, u.user.id].sort());
  assert.equal(a.members.find((m) => m.id === u.user.id).online, true);
  // The newest 50, ascending, identical to the REST history.
  a.messages.forEach(assertMessage);
  assertSeqs(a.messages.map((m) => m.seq), 5, 50, 'newest page');
  const page = await history(u.token, room.id, 'limit=50');
  assert.deepEqual(a.messages, page.messages);
  // Membership is stored: GET /api/me lists the room.
  const me = ok(await api('GET', '/api/me', { token: u.token }));
  assert.ok(me.rooms.some((r) => r.id === room.id));
  // Joining again is fine and changes nothing.
  const again = ackOk(await ack(socket, 'join_room', { room_id: room.id }));
  assert.equal(again.room.member_count, 2);
});

test('join_room of an empty room: messages [] and last_seq 0', async () => {
  const u = await join('r_empty');
  const room = await createRoom(u.token, 'r_empty');
  const { socket } = await connect(u.token);
  const a = await joinRoom(socket, room.id);
  assert.deepEqual(a.messages, []);
  assert.equal(a.room.last_seq, 0);
  assert.equal(a.recovered, null);
});

test('user_joined {room_id, user, member_count} reaches the room; a re-join raises none', async () => {
  const a = await join('r_uj_a');
  const room = await createRoom(a.token, 'r_uj');
  const { socket: sa } = await connect(a.token);
  await joinRoom(sa, room.id);
  const joined = collect(sa, 'user_joined');
  const msgs = collect(sa, 'new_message');

  const b = await join('r_uj_b');
  const { socket: sb } = await connect(b.token);
  await joinRoom(sb, room.id);
  const ev = await joined.waitFor((e) => e.user.id === b.user.id, 5000, 'for b');
  assert.deepEqual(Object.keys(ev).sort(), ['member_count', 'room_id', 'user']);
  assert.equal(ev.room_id, room.id);
  assert.equal(ev.member_count, 2);
  assertUser(ev.user);
  assert.equal(ev.user.username, b.user.username);

  // b joins again on a second connection: already a member, no event.
  const { socket: sb2 } = await connect(b.token);
  await joinRoom(sb2, room.id);
  const m = await sendWs(sb2, room.id, 'barrier');
  await msgs.waitFor((x) => x.id === m.id, 5000, 'barrier');
  assert.equal(joined.items.length, 1, `one user_joined only: ${JSON.stringify(joined.items)}`);
  // A user_joined of a room a connection did not join does not reach it.
  const other = await createRoom(b.token, 'r_uj_other');
  const c = await join('r_uj_c');
  const { socket: sc } = await connect(c.token);
  await joinRoom(sc, other.id);
  const m2 = await send(a.token, room.id, 'barrier 2');
  await msgs.waitFor((x) => x.id === m2.id, 5000, 'barrier 2');
  assert.deepEqual(joined.items.map((e) => e.room_id), [room.id]);
});

test('join_room of an unknown room: {ok:false, error:{code:not_found}}', async () => {
  const u = await join('r_unknown');
  const { socket } = await connect(u.token);
  ackFails(await ack(socket, 'join_room', { room_id: 'no-such-room-4b1d' }), 'not_found');
  ackFails(await ack(socket, 'join_room', { room_id: '00000000-0000-0000-0000-000000000000' }), 'not_found');
  // Nothing was stored.
  const me = ok(await api('GET', '/api/me', { token: u.token }));
  assert.deepEqual(me.rooms, []);
});

test('join_room with wrong types: validation_error', async () => {
  const u = await join('r_types');
  const room = await createRoom(u.token, 'r_types');
  const { socket } = await connect(u.token);
  const bad = [
    {},
    { room_id: 5 },
    { room_id: null },
    { room_id: ['x'] },
    { room_id: { id: room.id } },
    { room_id: room.id, since_seq: 'x' },
    { room_id: room.id, since_seq: '3' },
    { room_id: room.id, since_seq: -1 },
    { room_id: room.id, since_seq: 1.5 },
    { room_id: room.id, since_seq: true },
    { room_id: room.id, since_seq: 2 ** 60 },
  ];
  for (const p of bad) ackFails(await ack(socket, 'join_room', p), 'validation_error', JSON.stringify(p));
  // A payload that is not an object.
  ackFails(await ack(socket, 'join_room', room.id), 'validation_error', 'string payload');
  ackFails(await ack(socket, 'join_room', [room.id]), 'validation_error', 'array payload');
  ackFails(await ack(socket, 'join_room', null), 'validation_error', 'null payload');
  // since_seq: null is the same as none.
  const a = await joinRoom(socket, room.id, { since_seq: null });
  assert.equal(a.recovered, null);
});

test('since_seq recovery: exactly the missed messages, then live ones, each once', async () => {
  const s = await join('r_rec_s');
  const room = await createRoom(s.token, 'r_rec');
  const l = await join('r_rec_l', { room_id: room.id });
  for (let i = 1; i <= 3; i++) await send(s.token, room.id, `before ${i}`);

  const first = await connect(l.token);
  const a1 = await joinRoom(first.socket, room.id);
  const live1 = collect(first.socket, 'new_message');
  const m4 = await send(s.token, room.id, 'seen live');
  await live1.waitFor((m) => m.id === m4.id);
  const lastSeen = Math.max(...a1.messages.map((m) => m.seq), ...live1.items.map((m) => m.seq));
  assert.equal(lastSeen, 4);
  first.socket.close();

  // Missed while disconnected: REST and another client's WebSocket sends.
  const missed = [];
  for (let i = 1; i <= 4; i++) missed.push(await send(s.token, room.id, `missed ${i}`));
  const { socket: ss } = await connect(s.token);
  await joinRoom(ss, room.id);
  for (let i = 5; i <= 7; i++) missed.push(await sendWs(ss, room.id, `missed ${i}`));

  const second = await connect(l.token);
  const live2 = collect(second.socket, 'new_message');
  const a2 = await joinRoom(second.socket, room.id, { since_seq: lastSeen });
  assert.equal(a2.recovered, true);
  a2.messages.forEach(assertMessage);
  assert.deepEqual(a2.messages, missed, 'exactly the missed messages');
  assert.equal(a2.room.last_seq, 11);
  // Live delivery continues after the recovered ones, without repeating them.
  const next = await send(s.token, room.id, 'after the reconnect');
  await live2.waitFor((m) => m.id === next.id);
  assert.deepEqual(live2.items.map((m) => m.seq), [12]);
});

test('since_seq at or past the end: recovered:true, no messages; since_seq 0: everything', async () => {
  const s = await join('r_rec_end');
  const room = await createRoom(s.token, 'r_rec_end');
  for (let i = 1; i <= 3; i++) await send(s.token, room.id, `m ${i}`);
  const { socket } = await connect(s.token);
  const a = await joinRoom(socket, room.id, { since_seq: 3 });
  assert.equal(a.recovered, true);
  assert.deepEqual(a.messages, []);
  const b = await joinRoom(socket, room.id, { since_seq: 99 });
  assert.equal(b.recovered, true);
  assert.deepEqual(b.messages, []);
  const c = await joinRoom(socket, room.id, { since_seq: 0 });
  assert.equal(c.recovered, true);
  assert.deepEqual(c.messages.map((m) => m.content), ['m 1', 'm 2', 'm 3']);
});

test('recovery limit (CHAT_WS_RECOVERY_MAX=1000): 1000 missed recovered, 1001 -> recovered:false, newest 50', async () => {
  // Short names and texts: the ack's messages also stay within a quarter of
  // CHAT_WS_QUEUE_BYTES (256 KiB), which 1000 messages of 262 bytes reach.
  const s = await join('x', { name: `rm${Math.random().toString(36).slice(2, 8)}` });
  const room = await createRoom(s.token, 'r_rec_max');
  sqlMessages(room.id, s.user.id, 1001, 'b');
  const { socket } = await connect(s.token);
  const all = await joinRoom(socket, room.id, { since_seq: 1 });
  assert.equal(all.recovered, true, 'exactly 1000 missed is within the limit');
  assertSeqs(all.messages.map((m) => m.seq), 1, 1000, 'recovered 2..1001');
  assert.equal(all.messages[999].content, 'b 1001');

  const over = await joinRoom(socket, room.id, { since_seq: 0 });
  assert.equal(over.recovered, false, '1001 missed is over the limit');
  assertSeqs(over.messages.map((m) => m.seq), 951, 50, 'the newest page instead');
  assert.equal(over.room.last_seq, 1001);
});

test('leave_room: ack, user_left to the room, every connection of the leaver stops receiving it', async () => {
  const a = await join('r_leave_a');
  const room = await createRoom(a.token, 'r_leave');
  const side = await createRoom(a.token, 'r_leave_side');
  const b = await join('r_leave_b');
  const { socket: sa } = await connect(a.token);
  await joinRoom(sa, room.id);
  const b1 = await connect(b.token);
  const b2 = await connect(b.token);
  for (const s of [b1.socket, b2.socket]) {
    await joinRoom(s, room.id);
    await joinRoom(s, side.id);
  }
  const left = collect(sa, 'user_left');
  const aMsgs = collect(sa, 'new_message');
  const bMsgs = [collect(b1.socket, 'new_message'), collect(b2.socket, 'new_message')];
  const m0 = await send(a.token, room.id, 'before leave');
  for (const c of bMsgs) await c.waitFor((m) => m.id === m0.id, 5000, 'before leave');

  const la = ackOk(await ack(b1.socket, 'leave_room', { room_id: room.id }));
  assert.deepEqual(la, { ok: true, room_id: room.id, left: true });
  const ev = await left.waitFor((e) => e.user.id === b.user.id);
  assert.deepEqual(Object.keys(ev).sort(), ['member_count', 'reason', 'room_id', 'user']);
  assert.equal(ev.reason, 'left');
  assert.equal(ev.room_id, room.id);
  assert.equal(ev.member_count, 1);
  assertUser(ev.user);

  // After the leave: a message to the room, then one to the side room as a barrier.
  const m1 = await send(a.token, room.id, 'after leave');
  await aMsgs.waitFor((m) => m.id === m1.id);
  const mb = await send(a.token, side.id, 'side barrier');
  for (const [i, c] of bMsgs.entries()) {
    await c.waitFor((m) => m.id === mb.id, 5000, `barrier on b${i + 1}`);
    assert.deepEqual(c.items.map((m) => m.content), ['before leave', 'side barrier'], `b${i + 1} after leave_room`);
  }
  // No longer a member: sending is forbidden, REST too; the member list lost b.
  ackFails(await ack(b2.socket, 'send_message', { room_id: room.id, message: 'x' }), 'forbidden');
  const users = ok(await api('GET', `/api/users/${room.id}`, { token: a.token })).users;
  assert.deepEqual(users.map((u) => u.id), [a.user.id]);
  // Leaving again: ok, left:false, and no second user_left.
  const again = ackOk(await ack(b2.socket, 'leave_room', { room_id: room.id }));
  assert.equal(again.left, false);
  const m2 = await send(a.token, room.id, 'barrier 2');
  await aMsgs.waitFor((m) => m.id === m2.id);
  assert.equal(left.items.length, 1, JSON.stringify(left.items));
});

test('leave_room errors: unknown room not_found, wrong types validation_error', async () => {
  const u = await join('r_leave_err');
  const { socket } = await connect(u.token);
  ackFails(await ack(socket, 'leave_room', { room_id: 'no-such-room-77' }), 'not_found');
  ackFails(await ack(socket, 'leave_room', {}), 'validation_error');
  ackFails(await ack(socket, 'leave_room', { room_id: 1 }), 'validation_error');
});

test('room_created (POST /api/rooms) reaches every connected client, members or not', async () => {
  const creator = await join('r_rc_creator');
  const others = await Promise.all([join('r_rc_1'), join('r_rc_2', { room_id: 'general' })]);
  const socks = [];
  for (const u of [creator, ...others]) socks.push((await connect(u.token)).socket);
  // One of them subscribed to a room, one to nothing at all.
  await joinRoom(socks[2], 'general');
  const cols = socks.map((s) => collect(s, 'room_created'));
  const room = await createRoom(creator.token, 'r_rc', { description: 'broadcast' });
  for (const [i, c] of cols.entries()) {
    const ev = await c.waitFor((e) => e.room && e.room.id === room.id, 5000, `client ${i}`);
    assert.deepEqual(Object.keys(ev), ['room']);
    assertRoom(ev.room);
    // One object for everyone: role null; the creator's "owner" is in the REST answer.
    assert.equal(ev.room.role, null);
    assert.equal(ev.room.unread, null);
    assert.deepEqual({ ...ev.room, role: room.role, unread: room.unread }, room, `client ${i} gets the room as REST returned it`);
  }
});
