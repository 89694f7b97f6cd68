// t16-sio-backpressure -- a client that stops reading is disconnected; the
// others in the room get everything, in order.
//
// The stalled client is a raw WebSocket through nginx whose TCP socket is
// paused right after it joined. The kernel and nginx buffer several MB
// before the bridge's own queue (1 MiB / 1000 frames) fills, so the flood
// is of big messages (4000 four-byte characters, 16 kB of UTF-8 each) from
// many users (each stays within the per-user burst of 20), in rounds until
// the bridge has dropped the stalled connection.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { api, join, createRoom, history } from './lib.mjs';
import {
  connect, closeAll, collect, joinRoom, rawConnect, member, sleep, assertSeqs,
} from './sio.mjs';

afterEach(closeAll);

const ROUND_USERS = 10;
const PER_USER = 20;
const MAX_ROUNDS = 12; // 2400 messages, 38 MB: far past any buffering on this path

test('a client that does not read is closed (1008) while the reading one gets every message in order', async () => {
  const owner = await join('bp_owner');
  const room = await createRoom(owner.token, 'bp');
  const stalledUser = await join('bp_stalled', { room_id: room.id });
  const stalled = await rawConnect(stalledUser.token);
  const jid = await stalled.emit('join_room', { room_id: room.id });
  assert.equal((await stalled.waitAck(jid)).ok, true);
  // From now on nothing is read from the socket.
  stalled.ws._socket.pause();

  const reader = await join('bp_reader', { room_id: room.id });
  const { socket } = await connect(reader.token);
  await joinRoom(socket, room.id);
  const got = collect(socket, 'new_message');
  assert.equal((await member(owner.token, room.id, stalledUser.user.id)).online, true);

  const big = '😀'.repeat(4000);
  let sent = 0;
  let dropped = false;
  for (let round = 0; round < MAX_ROUNDS && !dropped; round++) {
    const users = await Promise.all(Array.from({ length: ROUND_USERS }, (_, i) => join(`bp_f${round}_${i}`, { room_id: room.id })));
    await Promise.all(users.map(async (u) => {
      for (let k = 0; k < PER_USER; k++) {
        const r = await api('POST', `/api/messages/${room.id}`, { token: u.token, body: { message: big, client_id: `bp-${k}` } });
        assert.equal(r.status, 201, r.text.slice(0, 200));
        sent++;
      }
    }));
    // The reader keeps up (the bridge does not wait for the stalled one).
    await got.waitCount(sent, 60_000, `reader after round ${round}`);
    dropped = (await member(owner.token, room.id, stalledUser.user.id)).online === false;
  }
  // The close frees the presence row after the 3 s grace: offline then.
  const end = Date.now() + 20_000;
  while (!dropped && Date.now() < end) {
    await sleep(250);
    dropped = (await member(owner.token, room.id, stalledUser.user.id)).online === false;
  }
  assert.ok(dropped, `the stalled client was not disconnected after ${sent} messages (${(sent * 16).toLocaleString()} kB)`);

  // The reader got exactly every message, in order, each once.
  assertSeqs(got.items.map((m) => m.seq), 0, sent, 'reader');
  assert.ok(got.items.every((m) => m.content === big));
  // And keeps getting new ones.
  const after = await api('POST', `/api/messages/${room.id}`, { token: owner.token, body: { message: 'after the drop' } });
  assert.equal(after.status, 201);
  await got.waitFor((m) => m.content === 'after the drop', 10_000);
  assertSeqs(got.items.map((m) => m.seq), 0, sent + 1, 'reader after the drop');
  const page = await history(owner.token, room.id, 'limit=1');
  assert.equal(page.messages[0].seq, sent + 1);

  // The stalled client, reading again: a gap-free prefix, then the close.
  stalled.ws._socket.resume();
  const info = await stalled.waitClosed(30_000);
  assert.ok([1008, 1006].includes(info.code), `closed with 1008 (or cut off): ${JSON.stringify(info)}`);
  if (info.code === 1008) assert.match(info.reason, /slow|queue/i);
  const seqs = stalled.texts().filter((s) => s.startsWith('42["new_message",')).map((s) => JSON.parse(s.slice(2))[1].seq);
  assert.ok(seqs.length < sent, `it did not get everything (${seqs.length} of ${sent})`);
  assertSeqs(seqs, 0, seqs.length, 'what the stalled client got before the close');
});
