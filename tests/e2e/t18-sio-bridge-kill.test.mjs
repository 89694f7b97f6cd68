// t18-sio-bridge-kill -- a bridge dies without cleaning up (SIGKILL): its
// users go offline once its heartbeat is older than CHAT_PRESENCE_TTL (30 s)
// and a surviving bridge reaps it; its clients reconnect to the other
// bridge and recover exactly what they missed.
import { test, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { join, createRoom, send, history } from './lib.mjs';
import {
  connect, closeAll, collect, joinRoom, member, disconnected, Bridge, EXTRA_PORT_2,
} from './sio.mjs';

const PRESENCE_TTL_S = 30;
let killed;

afterEach(closeAll);
after(async () => {
  if (killed && !killed.exited) await killed.stop().catch(() => {});
});

test('SIGKILL of a bridge: its users go offline within the presence TTL; they recover on the other bridge', async () => {
  killed = await Bridge.start({ port: EXTRA_PORT_2 });
  const w = await join('bk_w');
  const room = await createRoom(w.token, 'bk');
  const y = await join('bk_y', { room_id: room.id });
  const z = await join('bk_z', { room_id: room.id });
  // The watcher on A (nginx); y and z only on the doomed bridge.
  const wA = (await connect(w.token)).socket;
  await joinRoom(wA, room.id);
  const status = collect(wA, 'user_status');
  const wMsgs = collect(wA, 'new_message');
  const yK = (await connect(y.token, { url: killed.url })).socket;
  const zK = (await connect(z.token, { url: killed.url })).socket;
  for (const s of [yK, zK]) await joinRoom(s, room.id);
  await status.waitFor((e) => e.user_id === y.user.id && e.status === 'online', 5000, 'y online');
  await status.waitFor((e) => e.user_id === z.user.id && e.status === 'online', 5000, 'z online');
  const yMsgs = collect(yK, 'new_message');
  for (let i = 1; i <= 3; i++) await send(w.token, room.id, `before ${i}`);
  await yMsgs.waitCount(3);
  const lastSeen = yMsgs.items[2].seq;
  assert.equal(lastSeen, 3);

  const gone = disconnected(yK, 10_000);
  killed.kill('SIGKILL');
  await killed.exitPromise;
  await gone;
  const killedAt = Date.now();

  // While nobody has noticed, messages keep coming.
  const missed = [];
  for (let i = 1; i <= 3; i++) missed.push(await send(w.token, room.id, `missed ${i}`));

  // Both go offline, told by bridge A, within the TTL plus a heartbeat period and a margin.
  const bound = (PRESENCE_TTL_S + PRESENCE_TTL_S / 3 + 10) * 1000;
  for (const u of [y, z]) {
    const left = bound - (Date.now() - killedAt);
    const off = await status.waitFor((e) => e.user_id === u.user.id && e.status === 'offline', left, `${u.user.username} offline`);
    assert.equal(off.username, u.user.username);
    assert.equal((await member(w.token, room.id, u.user.id)).online, false);
  }
  // Exactly one online and one offline each.
  for (const u of [y, z]) {
    assert.deepEqual(status.items.filter((e) => e.user_id === u.user.id).map((e) => e.status), ['online', 'offline']);
  }

  // y comes back through nginx (bridge A) and recovers exactly the missed ones.
  const seen = status.items.length;
  const yA = (await connect(y.token)).socket;
  await status.waitFor((e) => status.items.indexOf(e) >= seen && e.user_id === y.user.id && e.status === 'online', 5000, 'y online again');
  const live = collect(yA, 'new_message');
  const a = await joinRoom(yA, room.id, { since_seq: lastSeen });
  assert.equal(a.recovered, true);
  assert.deepEqual(a.messages, missed);
  const next = await send(w.token, room.id, 'after the recovery');
  await live.waitFor((m) => m.id === next.id);
  assert.deepEqual(live.items, [next]);
  // The watcher on A saw every message once, in order.
  await wMsgs.waitFor((m) => m.id === next.id);
  assert.deepEqual(wMsgs.items, (await history(w.token, room.id)).messages);
});
