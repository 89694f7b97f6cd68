// t56-ws-io-uring -- the bridge's output through io_uring (CHAT_WS_IO_URING,
// ws-bridge/wsring.h): a fan-out's sends share one submission, frames
// coalesced for one client arrive as separate Socket.IO events in order,
// and a client that stops reading is still cut off at its queue's bound
// while the others get everything. With CHAT_WS_IO_URING=0 in the
// environment the same tests check the plain send() path (and that the ring
// counters stay at zero).
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { api, join, createRoom } from './lib.mjs';
import {
  connect, closeAll, collect, joinRoom, rawConnect, psql, sleep, direct, BRIDGE_PORT,
} from './sio.mjs';

afterEach(closeAll);

const RING = process.env.CHAT_WS_IO_URING !== '0';
const lit = (s) => `'${String(s).replace(/'/g, "''")}'`;

/** The counters of bridge 0 (its /metrics page through nginx). */
async function counters() {
  const r = await api('GET', '/metrics/ws/0');
  assert.equal(r.status, 200, 'metrics of bridge 0');
  const get = (name) => {
    const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(r.text);
    assert.ok(m, `${name} on bridge 0`);
    return Number(m[1]);
  };
  return {
    frames: get('chat_ws_frames_out_total'),
    sends: get('chat_ws_sends_total'),
    ringSends: get('chat_ws_ring_sends_total'),
    submits: get('chat_ws_ring_submits_total'),
    slowClosed: get('chat_ws_slow_clients_closed_total'),
  };
}

/** n clients of bridge 0 in one room, each collecting new_message. */
async function clients(prefix, room, n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const u = await join(`${prefix}${i}`, { room_id: room.id });
    const { socket } = await connect(u.token, { url: direct(BRIDGE_PORT) });
    await joinRoom(socket, room.id);
    out.push(collect(socket, 'new_message'));
  }
  return out;
}

test('a burst committed at once reaches 30 clients of one bridge as separate events, in order, with fewer system calls than sends', async () => {
  const owner = await join('ur_owner');
  const room = await createRoom(owner.token, 'ring');
  const got = await clients('ur_c', room, 30);
  await sleep(300); // the joins' own output is written
  const before = await counters();
  // 40 messages in one transaction: their notifications arrive together, so
  // each client's frames are queued in the same loop turn and leave coalesced.
  psql(`SELECT count(*) FROM (SELECT chat_send_message(${lit(owner.user.id)}, ${lit(room.id)}, 'burst ' || i, NULL, 0, 10) FROM generate_series(1, 40) i) s`);
  for (const [i, g] of got.entries()) await g.waitCount(40, 10_000, `client ${i}`);
  await sleep(200);
  const after = await counters();
  for (const [i, g] of got.entries()) {
    assert.deepEqual(g.items.map((m) => m.seq), Array.from({ length: 40 }, (_, j) => j + 1), `client ${i}: each message once, in order`);
    assert.deepEqual(g.items.map((m) => m.content), Array.from({ length: 40 }, (_, j) => `burst ${j + 1}`), `client ${i}: the payloads`);
  }
  const frames = after.frames - before.frames;
  const sends = after.sends - before.sends;
  assert.ok(frames >= 30 * 40, `frames written: ${frames}`);
  assert.ok(sends < frames, `coalesced: ${frames} frames in ${sends} sends`);
  if (RING) {
    const ringSends = after.ringSends - before.ringSends;
    const submits = after.submits - before.submits;
    assert.ok(ringSends >= 30, `sends through the ring: ${ringSends}`);
    assert.ok(submits * 5 <= ringSends, `one submission carries many clients' sends: ${ringSends} sends in ${submits} submissions`);
  } else {
    assert.equal(after.ringSends, 0, 'no ring sends with CHAT_WS_IO_URING=0');
    assert.equal(after.submits, 0, 'no ring submissions with CHAT_WS_IO_URING=0');
  }
});

test('a client of the ring path that stops reading is closed (1008); a reader beside it gets every message in order', async () => {
  const owner = await join('ur_slow_owner');
  const room = await createRoom(owner.token, 'ring slow');
  const stalledUser = await join('ur_stalled', { room_id: room.id });
  const stalled = await rawConnect(stalledUser.token, { url: direct(BRIDGE_PORT) });
  const jid = await stalled.emit('join_room', { room_id: room.id });
  assert.equal((await stalled.waitAck(jid)).ok, true);
  stalled.ws._socket.pause(); // nothing is read from now on
  const [reader] = await clients('ur_reader', room, 1);
  const slowBefore = (await counters()).slowClosed;
  // 16 kB messages, 20 per transaction (a turn's output stays under the
  // reader's 1 MiB bound), until the bridge drops the stalled client: the
  // kernel buffers some MB before that client's queue fills.
  const big = '😀'.repeat(4000);
  let sent = 0;
  let dropped = false;
  for (let round = 0; round < 400 && !dropped; round++) {
    psql(`SELECT count(*) FROM (SELECT chat_send_message(${lit(owner.user.id)}, ${lit(room.id)}, ${lit(big)}, NULL, 0, 10) FROM generate_series(1, 20) i) s`);
    sent += 20;
    await reader.waitCount(sent, 60_000, `reader after round ${round}`);
    dropped = (await counters()).slowClosed > slowBefore;
  }
  assert.ok(dropped, `the stalled client was not closed after ${sent} messages`);
  assert.deepEqual(reader.items.map((m) => m.seq), Array.from({ length: sent }, (_, j) => j + 1), 'the reader got everything in order');
  assert.ok(reader.items.every((m) => m.content === big), 'whole payloads');
  // Reading again, the stalled client gets a gap-free prefix, then the close.
  stalled.ws._socket.resume();
  const info = await stalled.waitClosed(30_000);
  assert.ok([1008, 1006].includes(info.code), `closed with 1008 (or cut off): ${JSON.stringify(info)}`);
  const seqs = stalled.texts().filter((t) => t.startsWith('42["new_message",')).map((t) => JSON.parse(t.slice(2))[1].seq);
  assert.ok(seqs.length < sent, `it did not get everything (${seqs.length} of ${sent})`);
  assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, j) => j + 1), 'a gap-free prefix');
});
