// t17-sio-two-bridges -- two chat-ws processes on one database act as one:
// bridge A is the stack's (through nginx), bridge B an extra one started
// here on its own port (nginx knows one upstream, so B is reached directly).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join, createRoom, send, history, assertRoom, TS_RE } from './lib.mjs';
import {
  connect, closeAll, collect, ack, ackOk, joinRoom, sendWs, member, sleep, assertSeqs,
  extraBridge,
} from './sio.mjs';

const B = extraBridge();

const onB = (token) => connect(token, { url: B.url });

test('messages sent on either bridge reach the clients of both, in one order', async () => {
  const owner = await join('tb_owner');
  const room = await createRoom(owner.token, 'tb_order');
  const users = [];
  for (let i = 0; i < 4; i++) users.push(await join(`tb_u${i}`, { room_id: room.id }));
  // Senders: users 0 on A, 1 on B. Listeners: user 2 on A, user 3 on B.
  const sA = (await connect(users[0].token)).socket;
  const sB = (await onB(users[1].token)).socket;
  const lA = (await connect(users[2].token)).socket;
  const lB = (await onB(users[3].token)).socket;
  for (const s of [sA, sB, lA, lB]) await joinRoom(s, room.id);
  const cols = [sA, sB, lA, lB].map((s) => collect(s, 'new_message'));
  const jobs = [];
  for (let k = 0; k < 15; k++) {
    jobs.push(ack(sA, 'send_message', { room_id: room.id, message: `A ${k}` }, 30_000));
    jobs.push(ack(sB, 'send_message', { room_id: room.id, message: `B ${k}` }, 30_000));
  }
  // REST in the middle as well.
  for (let k = 0; k < 5; k++) jobs.push(send(owner.token, room.id, `REST ${k}`).then((message) => ({ ok: true, message })));
  const acks = await Promise.all(jobs);
  for (const a of acks) assert.equal(a.ok, true, JSON.stringify(a));
  const stored = acks.map((a) => a.message).sort((x, y) => x.seq - y.seq);
  const n = stored.length;
  assertSeqs(stored.map((m) => m.seq), 0, n, 'stored');
  for (const [i, c] of cols.entries()) {
    await c.waitCount(n, 30_000, `connection ${i}`);
    assert.deepEqual(c.items, stored, `connection ${i} (${i % 2 ? 'B' : 'A'})`);
  }
  assert.deepEqual((await history(owner.token, room.id, 'limit=200')).messages, stored);
});

test('presence across bridges: online/offline of a user on B reach a watcher on A; one open connection anywhere keeps the user online', async () => {
  const w = await join('tb_pw');
  const room = await createRoom(w.token, 'tb_presence');
  const x = await join('tb_px', { room_id: room.id });
  const ws = (await connect(w.token)).socket;
  await joinRoom(ws, room.id);
  const status = collect(ws, 'user_status');
  const msgs = collect(ws, 'new_message');
  const ofX = () => status.items.filter((e) => e.user_id === x.user.id).map((e) => e.status);

  const xB = (await onB(x.token)).socket;
  const on = await status.waitFor((e) => e.user_id === x.user.id, 5000, 'online from B');
  assert.equal(on.status, 'online');
  assert.equal(on.username, x.user.username);
  assert.match(on.last_seen, TS_RE);
  assert.equal((await member(w.token, room.id, x.user.id)).online, true);

  // A second connection on the other bridge: no second online.
  const xA = (await connect(x.token)).socket;
  // B's connection closes; A's keeps the user online past the grace period.
  xB.close();
  await sleep(4500);
  const m = await send(w.token, room.id, 'barrier');
  await msgs.waitFor((y) => y.id === m.id);
  assert.deepEqual(ofX(), ['online']);
  assert.equal((await member(w.token, room.id, x.user.id)).online, true);

  xA.close();
  const off = await status.waitFor((e) => e.user_id === x.user.id && e.status === 'offline', 10_000, 'offline');
  assert.equal(off.username, x.user.username);
  assert.equal((await member(w.token, room.id, x.user.id)).online, false);
  assert.deepEqual(ofX(), ['online', 'offline']);
});

test('typing, user_joined and room_created across bridges', async () => {
  const w = await join('tb_tw');
  const room = await createRoom(w.token, 'tb_typing');
  const x = await join('tb_tx', { room_id: room.id });
  const wA = (await connect(w.token)).socket;
  await joinRoom(wA, room.id);
  const typing = collect(wA, 'typing');
  const joined = collect(wA, 'user_joined');
  const xB = (await onB(x.token)).socket;
  await joinRoom(xB, room.id);
  const xTyping = collect(xB, 'typing');

  ackOk(await ack(xB, 'typing', { room_id: room.id, is_typing: true }));
  const t = await typing.waitFor((e) => e.is_typing === true, 5000, 'typing from B');
  assert.deepEqual(t, { room_id: room.id, user_id: x.user.id, username: x.user.username, is_typing: true });
  ackOk(await ack(xB, 'typing', { room_id: room.id, is_typing: false }));
  await typing.waitFor((e) => e.is_typing === false, 5000, 'typing stop from B');
  // And the other way round.
  ackOk(await ack(wA, 'typing', { room_id: room.id, is_typing: true }));
  const t2 = await xTyping.waitFor((e) => e.is_typing === true, 5000, 'typing from A');
  assert.equal(t2.user_id, w.user.id);
  ackOk(await ack(wA, 'typing', { room_id: room.id, is_typing: false }));

  // A new member joining on B is announced on A.
  const y = await join('tb_ty');
  const yB = (await onB(y.token)).socket;
  await joinRoom(yB, room.id);
  const j = await joined.waitFor((e) => e.user.id === y.user.id, 5000, 'user_joined from B');
  assert.equal(j.room_id, room.id);
  assert.equal(j.member_count, 3);

  // room_created reaches clients on B.
  const created = collect(yB, 'room_created');
  const r = await createRoom(w.token, 'tb_created');
  const ev = await created.waitFor((e) => e.room.id === r.id, 5000, 'room_created on B');
  assertRoom(ev.room);
  // One object for everyone: role null; the creator's "owner" is in the REST answer.
  assert.equal(ev.room.role, null);
  assert.deepEqual({ ...ev.room, role: r.role, unread: r.unread }, r);

  // A message from B reaches A (sanity of the same room both ways).
  const got = collect(wA, 'new_message');
  const m = await sendWs(yB, room.id, 'from B');
  assert.deepEqual(await got.waitFor((x2) => x2.id === m.id), m);
});

test('a client moving from B to A recovers exactly what it missed', async () => {
  const s = await join('tb_rs');
  const room = await createRoom(s.token, 'tb_recover');
  const c = await join('tb_rc', { room_id: room.id });
  const onBsock = (await onB(c.token)).socket;
  await joinRoom(onBsock, room.id);
  const col = collect(onBsock, 'new_message');
  for (let i = 1; i <= 3; i++) await send(s.token, room.id, `seen ${i}`);
  await col.waitCount(3);
  const last = col.items[col.items.length - 1].seq;
  onBsock.close();
  const missed = [];
  for (let i = 1; i <= 4; i++) missed.push(await send(s.token, room.id, `missed ${i}`));
  const onA = (await connect(c.token)).socket;
  const live = collect(onA, 'new_message');
  const a = await joinRoom(onA, room.id, { since_seq: last });
  assert.equal(a.recovered, true);
  assert.deepEqual(a.messages, missed);
  const next = await send(s.token, room.id, 'live');
  await live.waitFor((m) => m.id === next.id);
  assert.deepEqual(live.items.map((m) => m.seq), [8]);
});
