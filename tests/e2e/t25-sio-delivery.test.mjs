// t25-sio-delivery -- what a subscription is promised, under the races that
// used to break it: the first subscriber of a room on a bridge while a
// message commits (nothing after the ack's last_seq is missed), leave then
// join at once (the connection stays subscribed), a burst of join_room past
// CHAT_WS_MAX_ROOMS, the join_room ack of a huge room and of a huge recovery
// (bounded, paged), typing toggles (coalesced), and a subscriber that cannot
// receive (no endless range reads).
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { api, ok, fails, join, createRoom, send, history, REPO } from './lib.mjs';
import {
  connect, closeAll, collect, ack, ackOk, ackFails, joinRoom, rawConnect, psql, sleep, bridgeMetric,
  direct, BRIDGE_PORT, STACK_BRIDGES,
} from './sio.mjs';

afterEach(closeAll);

const lit = (s) => `'${String(s).replace(/'/g, "''")}'`;

/** Rooms made in SQL (fast, no rate limit), created by userId who is a member of each. */
function sqlRooms(userId, n, prefix) {
  const out = psql(`WITH r AS (
      INSERT INTO rooms (name, created_by)
      SELECT ${lit(prefix)} || '_' || i || '_' || md5(random()::text), ${lit(userId)} FROM generate_series(1, ${n}) i
      RETURNING id)
    , m AS (INSERT INTO user_rooms (user_id, room_id) SELECT ${lit(userId)}, id FROM r)
    SELECT id FROM r`);
  return out.split('\n').filter(Boolean);
}

test('the first subscriber of a fresh room on a bridge gets every message after the ack, even one racing the join', async () => {
  // One connection on each bridge; every room is new to both bridges.
  // One message per room: a message lost in the race is never followed by
  // another that would make the bridge read the gap.
  const ROOMS = 80;
  const SENDS = 1;
  const subs = [];
  const wanted = [];
  for (let i = 0; i < STACK_BRIDGES; i++) {
    const u = await join(`first_s${i}`);
    const { socket } = await connect(u.token, { url: direct(BRIDGE_PORT + i) });
    subs.push({ u, socket, got: collect(socket, 'new_message') });
  }
  for (let k = 0; k < ROOMS; k++) {
    const sender = await join(`first_w${k}`);
    const room = await createRoom(sender.token, 'first');
    // The joins and the sends leave at the same moment.
    const joins = subs.map((s) => ack(s.socket, 'join_room', { room_id: room.id }));
    const sends = Array.from({ length: SENDS }, (_, j) => send(sender.token, room.id, `race ${k}.${j}`));
    const acks = await Promise.all(joins);
    await Promise.all(sends);
    for (const [i, s] of subs.entries()) {
      const a = ackOk(acks[i], `join ${k} on bridge ${i}`);
      const snapshot = a.room.last_seq;
      const inAck = a.messages.map((m) => m.seq);
      assert.deepEqual(inAck, Array.from({ length: snapshot }, (_, j) => j + 1), `ack ${k} bridge ${i}`);
      // Every message after the snapshot arrives live, in order, each once.
      const want = Array.from({ length: SENDS - snapshot }, (_, j) => snapshot + j + 1);
      const mine = () => s.got.items.filter((m) => m.room_id === room.id).map((m) => m.seq);
      // (waitFor looks at the items: with nothing wanted and nothing
      // collected yet it would wait for an item that need not come.)
      if (want.length > 0) {
        await s.got.waitFor(() => mine().length >= want.length, 5000, `room ${k} on bridge ${i} after last_seq ${snapshot}`)
          .catch((e) => assert.fail(`${e.message}; got ${JSON.stringify(mine())}, want ${JSON.stringify(want)}`));
      }
      assert.deepEqual(mine(), want, `live messages of room ${k} on bridge ${i}`);
      wanted.push({ s, room: room.id, want, k, i });
    }
  }
  // Nothing came twice, or late, meanwhile.
  for (const w of wanted) {
    assert.deepEqual(w.s.got.items.filter((m) => m.room_id === w.room).map((m) => m.seq), w.want, `room ${w.k} on bridge ${w.i} at the end`);
  }
});

test('leave_room then join_room at once: the connection stays subscribed (a late user_left does not undo the join)', async () => {
  const u = await join('lj_user');
  const talker = await join('lj_talk');
  const room = await createRoom(talker.token, 'lj');
  const talkers = [talker];
  const { socket } = await connect(u.token);
  await joinRoom(socket, room.id);
  const got = collect(socket, 'new_message');
  for (let k = 0; k < 30; k++) {
    const left = ack(socket, 'leave_room', { room_id: room.id });
    const joined = ack(socket, 'join_room', { room_id: room.id });
    assert.equal(ackOk(await left, `leave ${k}`).left, true);
    ackOk(await joined, `join ${k}`);
    // Give a user_left that lost the race time to arrive, then speak.
    await sleep(20);
    // (A fresh talker every 15 messages: the per-user send budget is 20.)
    if (k % 15 === 14) talkers.push(await join('lj_talk', { room_id: room.id }));
    const m = await send(talkers.at(-1).token, room.id, `after rejoin ${k}`);
    await got.waitFor((x) => x.id === m.id, 5000, `message after rejoin ${k}`);
  }
  // A typing event needs the subscription too.
  ackOk(await ack(socket, 'typing', { room_id: room.id, is_typing: true }), 'typing after the rejoins');
  // And a plain leave still stops delivery.
  ackOk(await ack(socket, 'leave_room', { room_id: room.id }), 'final leave');
  const before = got.items.length;
  await send(talkers.at(-1).token, room.id, 'after leaving');
  await sleep(500);
  assert.equal(got.items.length, before, 'nothing after leaving');
  ackFails(await ack(socket, 'typing', { room_id: room.id, is_typing: true }), 'forbidden', 'typing after leaving');
});

test('a burst of join_room cannot take a connection past CHAT_WS_MAX_ROOMS (100)', async () => {
  const u = await join('maxr_user');
  const rooms = sqlRooms(u.user.id, 110, 'maxr');
  const { socket } = await connect(u.token);
  // 95 joins within the event rate (100 per 10 s), then a burst of 15.
  for (let i = 0; i < 95; i++) {
    ackOk(await ack(socket, 'join_room', { room_id: rooms[i] }), `join ${i}`);
    if (i % 9 === 8) await sleep(1000);
  }
  await sleep(2000);
  const burst = await Promise.all(rooms.slice(95).map((id) => ack(socket, 'join_room', { room_id: id })));
  const okCount = burst.filter((a) => a.ok).length;
  for (const a of burst.filter((x) => !x.ok)) ackFails(a, 'forbidden', 'join past the limit');
  assert.equal(okCount, 5, `joins of the burst that were accepted: ${JSON.stringify(burst.map((a) => a.ok || a.error.code))}`);
  // A join of a room already joined is not a new room: still fine.
  ackOk(await ack(socket, 'join_room', { room_id: rooms[0] }), 'rejoin at the limit');
});

test('join_room in a room of 8000 members: the ack holds one page of them, the rest page over REST', async () => {
  const N = 8000;
  const owner = await join('big_owner');
  const room = await createRoom(owner.token, 'big');
  psql(`WITH u AS (
      INSERT INTO users (username) SELECT 'bigm_' || md5(random()::text) || '_' || i FROM generate_series(1, ${N}) i
      RETURNING id)
    INSERT INTO user_rooms (user_id, room_id) SELECT id, ${lit(room.id)} FROM u`);
  const u = await join('big_user', { room_id: room.id });
  const { socket } = await connect(u.token);
  const a = await joinRoom(socket, room.id);
  assert.equal(a.room.member_count, N + 2);
  assert.ok(Array.isArray(a.members) && a.members.length > 0 && a.members.length <= 100, `members page: ${a.members.length}`);
  assert.equal(a.members_has_more, true);
  assert.equal(a.members[0].id, owner.user.id, 'oldest membership first');
  // Still connected and live.
  const got = collect(socket, 'new_message');
  const m = await send(owner.token, room.id, 'hello big room');
  await got.waitFor((x) => x.id === m.id, 5000, 'a message after the big join');

  // REST pages: limit/offset, total, has_more; the pages tile the list.
  const p1 = ok(await api('GET', `/api/users/${room.id}?limit=1000`, { token: owner.token }));
  assert.equal(p1.users.length, 1000);
  assert.equal(p1.total, N + 2);
  assert.equal(p1.has_more, true);
  assert.deepEqual(p1.users.slice(0, a.members.length).map((x) => x.id), a.members.map((x) => x.id));
  const p2 = ok(await api('GET', `/api/users/${room.id}?limit=1000&offset=1000`, { token: owner.token }));
  assert.equal(p2.users.length, 1000);
  assert.ok(!p1.users.some((x) => p2.users.find((y) => y.id === x.id)), 'pages do not overlap');
  const last = ok(await api('GET', `/api/users/${room.id}?limit=1000&offset=${N}`, { token: owner.token }));
  assert.equal(last.users.length, 2);
  assert.equal(last.has_more, false);
  const past = ok(await api('GET', `/api/users/${room.id}?offset=${N + 5}`, { token: owner.token }));
  assert.deepEqual(past.users, []);
  assert.equal(past.has_more, false);
  // Default page: the first 1000.
  const dflt = ok(await api('GET', `/api/users/${room.id}`, { token: owner.token }));
  assert.equal(dflt.users.length, 1000);
  for (const q of ['limit=0', 'limit=1001', 'limit=abc', 'offset=-1', 'offset=1e3', 'limit=', 'limit=%2B1']) {
    fails(await api('GET', `/api/users/${room.id}?${q}`, { token: owner.token }), 400, 'validation_error');
  }
  fails(await api('GET', `/api/users/nope-${room.id}?limit=5`, { token: owner.token }), 404, 'not_found');
});

test('join_room recovering many large messages: bounded by bytes, recovered:false, the connection lives', async () => {
  const owner = await join('rec_owner');
  const room = await createRoom(owner.token, 'rec');
  // 300 messages of 16 kB (4000 four-byte characters): 4.8 MB, far past the 1 MiB queue.
  psql(`DO $$ DECLARE r record; BEGIN
    FOR i IN 1..300 LOOP
      SELECT * INTO r FROM chat_send_message(${lit(owner.user.id)}, ${lit(room.id)}, repeat('😀', 3990) || lpad(i::text, 10), NULL, 0, 10);
      IF r.err IS NOT NULL THEN RAISE EXCEPTION '% %', r.err, r.msg; END IF;
    END LOOP; END $$;`);
  const u = await join('rec_user', { room_id: room.id });
  const { socket } = await connect(u.token);
  const a = await joinRoom(socket, room.id, { since_seq: 0 });
  assert.equal(a.recovered, false, 'too many bytes to recover');
  assert.ok(a.messages.length >= 1 && a.messages.length < 300, `messages in the ack: ${a.messages.length}`);
  const bytes = Buffer.byteLength(JSON.stringify(a));
  assert.ok(bytes <= 512 * 1024, `ack of ${bytes} bytes`);
  // The newest ones, contiguous up to last_seq: the client pages back with before.
  const seqs = a.messages.map((m) => m.seq);
  assert.equal(seqs.at(-1), 300);
  assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => 301 - seqs.length + i));
  const older = await history(owner.token, room.id, `before=${seqs[0]}&limit=5`);
  assert.equal(older.messages.at(-1).seq, seqs[0] - 1);
  // Without since_seq the newest page is bounded the same way.
  const b = await joinRoom(socket, room.id);
  assert.ok(Buffer.byteLength(JSON.stringify(b)) <= 512 * 1024);
  // A small recovery still recovers exactly.
  const c = await joinRoom(socket, room.id, { since_seq: 297 });
  assert.equal(c.recovered, true);
  assert.deepEqual(c.messages.map((m) => m.seq), [298, 299, 300]);
  // Alive and subscribed.
  const got = collect(socket, 'new_message');
  const m = await send(owner.token, room.id, 'after the big recovery');
  await got.waitFor((x) => x.id === m.id, 5000, 'live after recovery');
  assert.equal(got.items.filter((x) => x.room_id === room.id).length, 1);
});

test('typing toggled as fast as allowed reaches the others coalesced, ending in the last state', async () => {
  const a = await join('ty_a');
  const room = await createRoom(a.token, 'ty');
  const b = await join('ty_b', { room_id: room.id });
  const { socket: sa } = await connect(a.token);
  const { socket: sb } = await connect(b.token);
  await joinRoom(sa, room.id);
  await joinRoom(sb, room.id);
  const seen = collect(sb, 'typing');
  const TOGGLES = 30;
  for (let i = 0; i < TOGGLES; i++) {
    ackOk(await ack(sa, 'typing', { room_id: room.id, is_typing: i % 2 === 0 }), `toggle ${i}`);
  }
  // The last toggle was is_typing:false: that is what b ends with.
  await seen.waitFor((t) => t.is_typing === false && seen.items.at(-1) === t, 5000, 'the final stop');
  await sleep(2500);
  const mine = seen.items.filter((t) => t.user_id === a.user.id);
  assert.ok(mine.length <= 6, `typing events for ${TOGGLES} toggles: ${mine.length}`);
  assert.equal(mine.at(-1).is_typing, false);
  // Hostile: a non-boolean still fails; typing in a room not joined still fails.
  ackFails(await ack(sa, 'typing', { room_id: room.id, is_typing: 'yes' }), 'validation_error');
  const other = await createRoom(b.token, 'ty_other');
  ackFails(await ack(sa, 'typing', { room_id: other.id, is_typing: true }), 'forbidden');
});

test('typing again right after a send is told again (clients forget typing when the message arrives)', async () => {
  // The web client drops "X is typing" when X's message arrives. With
  // coalescing, typing(true) → send → typing(false) → typing(true) within a
  // second looked like no change to the bridge, and the second "typing" was
  // never told (the browser test of the typing line caught it).
  const a = await join('tys_a');
  const room = await createRoom(a.token, 'tys');
  const b = await join('tys_b', { room_id: room.id });
  const { socket: sa } = await connect(a.token);
  const { socket: sb } = await connect(b.token);
  await joinRoom(sa, room.id);
  await joinRoom(sb, room.id);
  const seen = collect(sb, 'typing');
  const msgs = collect(sb, 'new_message');
  ackOk(await ack(sa, 'typing', { room_id: room.id, is_typing: true }), 'typing');
  await seen.waitFor((t) => t.user_id === a.user.id && t.is_typing === true, 5000, 'the first typing');
  ackOk(await ack(sa, 'send_message', { room_id: room.id, message: 'done typing' }), 'send');
  ackOk(await ack(sa, 'typing', { room_id: room.id, is_typing: false }), 'stop');
  await msgs.waitFor((m) => m.content === 'done typing', 5000, 'the message');
  const after = seen.items.length;
  ackOk(await ack(sa, 'typing', { room_id: room.id, is_typing: true }), 'typing again');
  await seen.waitFor((t, i) => i >= after && t.user_id === a.user.id && t.is_typing === true,
    5000, 'typing told again after the message');
});

test('a subscriber that cannot receive any more makes no endless range reads', async () => {
  const owner = await join('stk_owner');
  const room = await createRoom(owner.token, 'stk');
  const stuckUser = await join('stk_user', { room_id: room.id });
  // Straight to bridge 0, so that its metrics tell.
  const stuck = await rawConnect(stuckUser.token, { url: direct(BRIDGE_PORT) });
  const jid = await stuck.emit('join_room', { room_id: room.id });
  assert.equal((await stuck.waitAck(jid)).ok, true);
  stuck.ws._socket.pause();
  const slow0 = await bridgeMetric(0, 'chat_ws_slow_clients_closed_total');
  // Big messages (past the NOTIFY size) until the bridge gives up on it.
  let n = 0;
  for (let round = 0; round < 200 && (await bridgeMetric(0, 'chat_ws_slow_clients_closed_total')) === slow0; round++) {
    psql(`SELECT chat_send_message(${lit(owner.user.id)}, ${lit(room.id)}, repeat('😀', 4000), NULL, 0, 10)
            FROM generate_series(1, 20)`);
    n += 20;
  }
  assert.ok((await bridgeMetric(0, 'chat_ws_slow_clients_closed_total')) > slow0, `not closed after ${n} messages`);
  // The closing connection (cut off after a few seconds) falls behind the
  // ring now: more messages come at once.
  const reads0 = await bridgeMetric(0, 'chat_ws_gap_reads_total');
  psql(`SELECT chat_send_message(${lit(owner.user.id)}, ${lit(room.id)}, 'small ' || i, NULL, 0, 10) FROM generate_series(1, 150) i`);
  await sleep(1500);
  const reads = (await bridgeMetric(0, 'chat_ws_gap_reads_total')) - reads0;
  // The room itself reads a few gaps (big messages come by reference); a
  // subscriber that keeps re-asking makes hundreds.
  assert.ok(reads <= 20, `range reads while a stuck subscriber was in the room: ${reads}`);
});

test('a join_room ack with since_seq holds every message up to its room.last_seq, while messages commit meanwhile', async () => {
  // The soak test found an ack whose room.last_seq was one past its last
  // message: the room object was read in a later statement than the
  // messages, and a commit in between was in neither the ack nor, since the
  // bridge subscribed from last_seq, the live stream.
  const w = await join('snap_w');
  const room = await createRoom(w.token, 'snap');
  // One message per transaction for a few seconds, straight in SQL (no rate
  // limit, no HTTP in the way): as many commits as can race the joins.
  const writer = spawn(path.join(REPO, 'deploy/local/stack.sh'), ['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c',
    `DO $$ DECLARE t0 timestamptz := clock_timestamp(); BEGIN
       FOR i IN 1..200000 LOOP
         EXIT WHEN clock_timestamp() > t0 + interval '8 seconds';
         PERFORM chat_send_message(${lit(w.user.id)}, ${lit(room.id)}, 'snap ' || i, NULL, 0, 10);
         COMMIT;
       END LOOP; END $$`], { cwd: REPO, env: process.env, stdio: 'ignore' });
  const done = new Promise((res) => writer.on('exit', res));
  let finished = false;
  done.then(() => { finished = true; });
  // Four readers, each within the event rate (join + leave per round).
  const readers = [];
  for (let i = 0; i < 4; i++) {
    const u = await join(`snap_r${i}`);
    readers.push((await connect(u.token)).socket);
  }
  let checked = 0;
  await Promise.all(readers.map(async (socket) => {
    let since = 0;
    for (let round = 0; round < 20 && !finished; round++) {
      const a = await joinRoom(socket, room.id, { since_seq: since });
      const last = a.room.last_seq;
      const seqs = a.messages.map((m) => m.seq);
      if (a.recovered) {
        const want = [];
        for (let s = since + 1; s <= last; s++) want.push(s);
        assert.deepEqual(seqs, want, `join_room since_seq=${since}: messages ${since + 1}..${last} (room.last_seq)`);
        checked++;
      } else {
        assert.ok(seqs.every((s) => s <= last), `no message past room.last_seq ${last}`);
      }
      ackOk(await ack(socket, 'leave_room', { room_id: room.id }), 'leave');
      since = Math.max(0, last - 3);
    }
  }));
  await done;
  assert.ok(checked >= 20, `recovered acks checked: ${checked}`);
});
