// t14-sio-typing-presence -- typing indicators and online/offline status.
//
// Absence is checked with a barrier (a message sent afterwards reaches the
// same connection after anything committed before it); the few sleeps only
// let a grace period pass so that a wrong event would have had its chance.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { join, createRoom, send, TS_RE } from './lib.mjs';
import {
  connect, closeAll, collect, ack, ackOk, ackFails, joinRoom, member, sleep,
} from './sio.mjs';

afterEach(closeAll);

const GRACE_MS = 3000; // CHAT_WS_GRACE
const TYPING_TTL_MS = 5000; // CHAT_TYPING_TTL

/** A room with a typist A (two connections) and a watcher B, all subscribed. */
async function typingRoom(prefix) {
  // Created by a third user: a leaves the room in a test, and an owner cannot.
  const owner = await join(`${prefix}_o`);
  const room = await createRoom(owner.token, prefix);
  const a = await join(`${prefix}_a`, { room_id: room.id });
  const b = await join(`${prefix}_b`, { room_id: room.id });
  const a1 = (await connect(a.token)).socket;
  const a2 = (await connect(a.token)).socket;
  const b1 = (await connect(b.token)).socket;
  for (const s of [a1, a2, b1]) await joinRoom(s, room.id);
  return { a, b, room, a1, a2, b1 };
}

function assertTyping(ev, room, user, isTyping) {
  assert.deepEqual(Object.keys(ev).sort(), ['is_typing', 'room_id', 'user_id', 'username']);
  assert.equal(ev.room_id, room.id);
  assert.equal(ev.user_id, user.user.id);
  assert.equal(ev.username, user.user.username);
  assert.equal(ev.is_typing, isTyping);
}

test('typing: the others get {is_typing:true}, the typist\'s own connections do not; refreshes send nothing new', async () => {
  const { a, room, a1, a2, b1 } = await typingRoom('ty_basic');
  const bTyping = collect(b1, 'typing');
  const aTyping = [collect(a1, 'typing'), collect(a2, 'typing')];
  const msgs = [a1, a2, b1].map((s) => collect(s, 'new_message'));
  const t = ackOk(await ack(a1, 'typing', { room_id: room.id, is_typing: true }));
  assert.equal(t.ok, true);
  const ev = await bTyping.waitFor((e) => e.is_typing === true);
  assertTyping(ev, room, a, true);
  // Refreshes (from either connection of the same user only move the expiry).
  ackOk(await ack(a1, 'typing', { room_id: room.id, is_typing: true }));
  ackOk(await ack(a1, 'typing', { room_id: room.id, is_typing: true }));
  // Explicit stop.
  ackOk(await ack(a1, 'typing', { room_id: room.id, is_typing: false }));
  await bTyping.waitFor((e) => e.is_typing === false);
  // Barrier: nothing more, and nothing at all on the typist's connections.
  const m = await send(a.token, room.id, 'barrier');
  for (const c of msgs) await c.waitFor((x) => x.id === m.id);
  assert.deepEqual(bTyping.items.map((e) => e.is_typing), [true, false]);
  for (const c of aTyping) assert.deepEqual(c.items, [], 'the typist gets no typing of its own');
  // A second stop changes nothing either.
  ackOk(await ack(a1, 'typing', { room_id: room.id, is_typing: false }));
  const m2 = await send(a.token, room.id, 'barrier 2');
  await msgs[2].waitFor((x) => x.id === m2.id);
  assert.equal(bTyping.items.length, 2);
});

test('typing expires to false without a refresh (CHAT_TYPING_TTL 5 s)', async () => {
  const { a, room, a1, b1 } = await typingRoom('ty_expire');
  const bTyping = collect(b1, 'typing');
  ackOk(await ack(a1, 'typing', { room_id: room.id, is_typing: true }));
  await bTyping.waitFor((e) => e.is_typing === true);
  const off = await bTyping.waitFor((e) => e.is_typing === false, 10_000, 'expiry within 10 s');
  assertTyping(off, room, a, false);
  assert.deepEqual(bTyping.items.map((e) => e.is_typing), [true, false]);
});

// The bridge's sweep visits a connection when its heartbeat is next due (every
// 25 s here), and every second while it types: the expiry must not wait for
// the next ping.
test('typing expires on time on a connection idle since it connected (not at its next ping)', async () => {
  const { a, room, a1, b1 } = await typingRoom('ty_idle');
  // Past the sweep's first look at the new connections.
  await sleep(2500);
  const bTyping = collect(b1, 'typing');
  ackOk(await ack(a1, 'typing', { room_id: room.id, is_typing: true }));
  await bTyping.waitFor((e) => e.is_typing === true);
  const off = await bTyping.waitFor((e) => e.is_typing === false, TYPING_TTL_MS + 4000, 'expiry');
  assertTyping(off, room, a, false);
  // A stop held back by the one-change-a-second coalescing goes out too.
  ackOk(await ack(a1, 'typing', { room_id: room.id, is_typing: true }));
  await bTyping.waitFor((e) => e.is_typing === true && bTyping.items.length === 3);
  ackOk(await ack(a1, 'typing', { room_id: room.id, is_typing: false }));
  await bTyping.waitFor((e) => e.is_typing === false && bTyping.items.length === 4, 5000, 'the held stop');
  assert.deepEqual(bTyping.items.map((e) => e.is_typing), [true, false, true, false]);
});

test('disconnecting ends typing at once (well before the 5 s expiry)', async () => {
  const { a, room, a1, b1 } = await typingRoom('ty_disc');
  const bTyping = collect(b1, 'typing');
  ackOk(await ack(a1, 'typing', { room_id: room.id, is_typing: true }));
  await bTyping.waitFor((e) => e.is_typing === true);
  a1.close();
  // Expiry would come 5 s after the start; the close must come first.
  const off = await bTyping.waitFor((e) => e.is_typing === false, TYPING_TTL_MS - 1000, 'after the disconnect');
  assertTyping(off, room, a, false);
});

test('leaving the room ends typing', async () => {
  const { a, room, a1, b1 } = await typingRoom('ty_leave');
  const bTyping = collect(b1, 'typing');
  ackOk(await ack(a1, 'typing', { room_id: room.id, is_typing: true }));
  await bTyping.waitFor((e) => e.is_typing === true);
  ackOk(await ack(a1, 'leave_room', { room_id: room.id }));
  const off = await bTyping.waitFor((e) => e.is_typing === false, TYPING_TTL_MS - 1000, 'after leave_room');
  assertTyping(off, room, a, false);
});

test('typing errors: not joined -> forbidden, is_typing not boolean -> validation_error', async () => {
  const owner = await join('ty_err_o');
  const room = await createRoom(owner.token, 'ty_err');
  const u = await join('ty_err_u');
  const { socket } = await connect(u.token);
  ackFails(await ack(socket, 'typing', { room_id: room.id, is_typing: true }), 'forbidden', 'not a member');
  // A member whose connection did not join the room: forbidden as well.
  const { socket: os } = await connect(owner.token);
  ackFails(await ack(os, 'typing', { room_id: room.id, is_typing: true }), 'forbidden', 'member, not joined here');
  // An unknown room is not joined either: not_found or forbidden.
  const unknown = await ack(socket, 'typing', { room_id: 'no-such-room-5', is_typing: true });
  assert.equal(unknown.ok, false, JSON.stringify(unknown));
  assert.ok(['not_found', 'forbidden'].includes(unknown.error.code), JSON.stringify(unknown));
  await joinRoom(os, room.id);
  for (const v of ['yes', 1, null, undefined]) {
    ackFails(await ack(os, 'typing', { room_id: room.id, is_typing: v }), 'validation_error', `is_typing ${v}`);
  }
  ackFails(await ack(os, 'typing', { is_typing: true }), 'validation_error', 'no room_id');
});

/** A watcher subscribed to a room that the watched user also belongs to. */
async function watchRoom(prefix) {
  const w = await join(`${prefix}_w`);
  const room = await createRoom(w.token, prefix);
  const x = await join(`${prefix}_x`, { room_id: room.id });
  const ws = (await connect(w.token)).socket;
  await joinRoom(ws, room.id);
  const status = collect(ws, 'user_status');
  const msgs = collect(ws, 'new_message');
  return { w, x, room, ws, status, msgs };
}

function assertStatus(ev, user, status) {
  assert.deepEqual(Object.keys(ev).sort(), ['last_seen', 'status', 'user_id', 'username']);
  assert.equal(ev.user_id, user.user.id);
  assert.equal(ev.username, user.user.username);
  assert.equal(ev.status, status);
  assert.match(ev.last_seen, TS_RE);
}

test('presence: online on the first connection only, offline after the last one closes (grace 3 s)', async () => {
  const { w, x, room, status, msgs } = await watchRoom('pr_basic');
  const ofX = () => status.items.filter((e) => e.user_id === x.user.id).map((e) => e.status);
  assert.equal((await member(w.token, room.id, x.user.id)).online, false);

  const x1 = (await connect(x.token)).socket;
  const on = await status.waitFor((e) => e.user_id === x.user.id);
  assertStatus(on, x, 'online');
  assert.equal((await member(w.token, room.id, x.user.id)).online, true);

  // A second connection: no second online.
  const x2 = (await connect(x.token)).socket;
  const m1 = await send(w.token, room.id, 'barrier 1');
  await msgs.waitFor((m) => m.id === m1.id);
  assert.deepEqual(ofX(), ['online']);

  // The first closes: the user stays online (the second is open), past the grace period too.
  x1.close();
  await sleep(GRACE_MS + 1500);
  assert.equal((await member(w.token, room.id, x.user.id)).online, true, 'online while one connection is open');
  const m2 = await send(w.token, room.id, 'barrier 2');
  await msgs.waitFor((m) => m.id === m2.id);
  assert.deepEqual(ofX(), ['online'], 'no offline while a connection is open');

  // The last closes: offline, within the grace period plus a margin.
  x2.close();
  const off = await status.waitFor((e) => e.user_id === x.user.id && e.status === 'offline', 10_000, 'offline');
  assertStatus(off, x, 'offline');
  const mx = await member(w.token, room.id, x.user.id);
  assert.equal(mx.online, false);
  assert.match(mx.last_seen, TS_RE);
  assert.deepEqual(ofX(), ['online', 'offline']);
});

test('presence: a reconnect within the grace period does not flap', async () => {
  const { w, x, room, status, msgs } = await watchRoom('pr_reload');
  const ofX = () => status.items.filter((e) => e.user_id === x.user.id).map((e) => e.status);
  const x1 = (await connect(x.token)).socket;
  await status.waitFor((e) => e.user_id === x.user.id && e.status === 'online');
  // "Page reload": close and open again at once.
  x1.close();
  const x2 = (await connect(x.token)).socket;
  await sleep(GRACE_MS + 1500);
  const m = await send(w.token, room.id, 'barrier');
  await msgs.waitFor((y) => y.id === m.id);
  assert.deepEqual(ofX(), ['online'], 'no offline/online pair for a reload');
  assert.equal((await member(w.token, room.id, x.user.id)).online, true);
  x2.close();
  await status.waitFor((e) => e.user_id === x.user.id && e.status === 'offline', 10_000, 'offline at the end');
  assert.deepEqual(ofX(), ['online', 'offline']);
});

test('presence: user_status reaches only the rooms the user belongs to', async () => {
  const { x, status } = await watchRoom('pr_scope');
  // A bystander subscribed to an unrelated room.
  const y = await join('pr_scope_y');
  const other = await createRoom(y.token, 'pr_scope_other');
  const ys = (await connect(y.token)).socket;
  await joinRoom(ys, other.id);
  const yStatus = collect(ys, 'user_status');
  const yMsgs = collect(ys, 'new_message');
  const x1 = (await connect(x.token)).socket;
  await status.waitFor((e) => e.user_id === x.user.id && e.status === 'online');
  const mb = await send(y.token, other.id, 'barrier');
  await yMsgs.waitFor((m) => m.id === mb.id);
  assert.deepEqual(yStatus.items.filter((e) => e.user_id === x.user.id), [], 'x is not in the bystander\'s room');
  x1.close();
  await status.waitFor((e) => e.user_id === x.user.id && e.status === 'offline', 10_000);
});
