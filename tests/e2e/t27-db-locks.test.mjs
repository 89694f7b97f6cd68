// t27-db-locks -- transactions that meet on the same rows: the lock order
// of chat_send_batch and chat_connect_batch (migration 0014), and the
// transparent retry of a transaction PostgreSQL aborted as a deadlock, by
// the bridges and by the REST workers. The interleavings are forced with
// psql sessions holding locks; "waiting" is read from pg_stat_activity.
import { test, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { api, ok, join, createRoom, history, waitFor, show } from './lib.mjs';
import {
  connect, connectError, closeAll, ack, joinRoom, disconnected, psql, sleep, PsqlSession, conninfo,
  direct, BRIDGE_PORT, bridgeMetric,
} from './sio.mjs';

const sessions = [];
async function session(app) {
  const s = await PsqlSession.open({ app });
  sessions.push(s);
  return s;
}

/** A session whose open transaction holds room roomId's row (and waits a minute before it looks for deadlocks). */
async function holdingRoom(roomId) {
  const s = await session('t24-s0');
  await s.run('BEGIN');
  await s.run("SET LOCAL deadlock_timeout = '60s'");
  await s.run(`SELECT 1 FROM rooms WHERE id = ${lit(roomId)} FOR UPDATE`);
  return s;
}

afterEach(async () => {
  await closeAll();
  for (const s of sessions.splice(0)) s.end();
});
after(async () => {
  await closeAll();
  watcher?.end();
});

const lit = (s) => (s === null ? 'NULL' : `'${String(s).replace(/'/g, "''")}'`);
const arr = (xs, type = 'text') => `ARRAY[${xs.map(lit).join(',')}]::${type}[]`;

let watcher;
/** Waits until a backend of application_name app waits on a lock; returns false after timeoutMs. */
async function lockWaiting(app, timeoutMs = 20_000) {
  watcher ??= await PsqlSession.open({ app: 't24-watch' });
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await watcher.run(`SELECT count(*) FROM pg_stat_activity WHERE application_name = ${lit(app)} AND wait_event_type = 'Lock'`) !== '0') return true;
    await sleep(20);
  }
  return false;
}

/*
 * A deadlock is found by the backend whose deadlock_timeout runs out first,
 * once, counted from when it began to wait. The tests that want the
 * service's transaction to be the one aborted give s0 a long timeout and
 * the services 3 s (under CHAT_DB_TIMEOUT, 5 s), time enough to close the
 * cycle after the service began to wait.
 */
async function serviceDeadlockTimeout(fn) {
  psql("ALTER SYSTEM SET deadlock_timeout = '3s'");
  psql('SELECT pg_reload_conf()');
  try {
    await fn();
  } finally {
    psql('ALTER SYSTEM RESET deadlock_timeout');
    psql('SELECT pg_reload_conf()');
  }
}

/** Waits until the statement p of session app waits on a lock or has ended. */
async function waitingOrDone(app, p) {
  let done = false;
  p.then(() => { done = true; }, () => { done = true; });
  assert.ok(await waitFor(() => done || psql(`SELECT count(*) FROM pg_stat_activity WHERE application_name = ${lit(app)} AND wait_event_type = 'Lock'`) !== '0', 20_000, 50), `${app}: neither waiting nor done`);
}

/** A send batch as a bridge would call it: [user, room, content, client_id] rows. */
function batchSql(rows, rate = 0) {
  return `SELECT string_agg(coalesce(err, 'ok'), ',' ORDER BY o) FROM chat_send_many(
    ${arr(rows.map((r) => r[0]))}, ${arr(rows.map((r) => r[1]))}, ${arr(rows.map((r) => r[2]))},
    ${arr(rows.map((r) => r[3] ?? null))}, ${arr(rows.map(() => String(rate)), 'int')},
    ${arr(rows.map(() => '10'), 'int')}) WITH ORDINALITY AS b(err, msg, field, retry, data, o)`;
}

async function fourUsersTwoRooms(prefix) {
  const owner = await join(`${prefix}_o`);
  const r1 = await createRoom(owner.token, `${prefix}1`);
  const r2 = await createRoom(owner.token, `${prefix}2`);
  const users = [];
  for (let i = 1; i <= 4; i++) {
    const u = await join(`${prefix}_u${i}`, { room_id: r1.id });
    const r = await api('POST', '/api/join', { token: u.token, body: { username: u.user.username, room_id: r2.id } });
    assert.ok(r.status === 200 || r.status === 201, show(r));
    users.push(u.user.id);
  }
  return { owner, r1: r1.id, r2: r2.id, users };
}

/**
 * Two send batches, first then second: s0 holds the client_id lock of the
 * first batch's second request (client_id c2), so the first stops there
 * after whatever it took for its first request; the second batch runs
 * meanwhile. Both must succeed.
 */
async function opposedBatches(first, second, rate) {
  const s0 = await session('t24-s0');
  const s1 = await session('t24-s1');
  const s2 = await session('t24-s2');
  await s0.run('BEGIN');
  await s0.run(`SELECT pg_advisory_xact_lock(hashtextextended(${lit(`chat.client:${first[1][0]}:c2`)}, 0))`);
  const b1 = s1.run(batchSql(first, rate));
  b1.catch(() => {});
  assert.ok(await lockWaiting('t24-s1'), 'the first batch waits for the client_id lock');
  const b2 = s2.run(batchSql(second, rate));
  b2.catch(() => {});
  await waitingOrDone('t24-s2', b2);
  await s0.run('COMMIT');
  const [r1s, r2s] = await Promise.allSettled([b1, b2]);
  assert.equal(r1s.status, 'fulfilled', `first batch: ${r1s.reason}`);
  assert.equal(r2s.status, 'fulfilled', `second batch: ${r2s.reason}`);
  assert.equal(r1s.value, 'ok,ok');
  assert.equal(r2s.value, 'ok,ok');
}

test('send batches that lock the same rooms in opposite orders do not deadlock', async () => {
  const { owner, r1, r2, users: [u1, u2, u3, u4] } = await fourUsersTwoRooms('lk');
  // The second batch goes the other way round: R2, then R1.
  await opposedBatches([[u1, r1, 'a1'], [u2, r2, 'a2', 'c2']], [[u3, r2, 'b1'], [u4, r1, 'b2']], 0);
  const in1 = (await history(owner.token, r1)).messages.map((m) => m.content).sort();
  const in2 = (await history(owner.token, r2)).messages.map((m) => m.content).sort();
  assert.deepEqual(in1, ['a1', 'b2']);
  assert.deepEqual(in2, ['a2', 'b1']);
});

test('send batches of the same senders in opposite orders (rate buckets) do not deadlock', async () => {
  const { r1, users: [u1, u2] } = await fourUsersTwoRooms('lr');
  await opposedBatches([[u1, r1, 'a1'], [u2, r1, 'a2', 'c2']], [[u2, r1, 'b1'], [u1, r1, 'b2']], 100);
});

test('a CONNECT batch and a presence close of the same user do not deadlock', async () => {
  const u = await join('lp');
  const uid = u.user.id;
  const hash = `(SELECT token_hash FROM sessions WHERE user_id = ${lit(uid)} LIMIT 1)`;
  const s0 = await session('t24-s0');
  const s1 = await session('t24-s1');
  // s0 does what chat_presence_close_many does: the user's presence lock, then the user's row.
  await s0.run('BEGIN');
  await s0.run("SET LOCAL deadlock_timeout = '60s'");
  await s0.run(`SELECT pg_advisory_xact_lock(hashtextextended(${lit(`chat.presence:${uid}`)}, 0))`);
  // A TTL far beyond the session's makes chat_auth renew it (and write the user's row).
  const c = s1.run(`SELECT coalesce(err, 'ok') FROM chat_connect_batch(ARRAY[${hash}], ARRAY[100000000],
    ARRAY['t24-bridge'], ARRAY['t24-conn'])`);
  c.catch(() => {});
  assert.ok(await lockWaiting('t24-s1'), 'the CONNECT waits for the presence lock');
  const upd = s0.run(`UPDATE users SET last_seen = now() WHERE id = ${lit(uid)}`);
  upd.catch(() => {});
  await waitFor(() => psql("SELECT count(*) FROM pg_stat_activity WHERE application_name IN ('t24-s0', 't24-s1') AND wait_event_type = 'Lock'") !== '2', 5000, 50);
  await upd;
  await s0.run('COMMIT');
  const r = await Promise.allSettled([c]);
  assert.equal(r[0].status, 'fulfilled', `CONNECT batch: ${r[0].reason}`);
  assert.equal(r[0].value, 'ok');
  psql("SELECT chat_bridge_remove('t24-bridge')");
});

test('removing a bridge takes its users\' presence locks (no offline for a user connecting elsewhere meanwhile)', async () => {
  const u = await join('lr');
  const uid = u.user.id;
  psql(`SELECT chat_presence_open('t27-gone', 't27-conn', ${lit(uid)})`);
  const s0 = await session('t24-s0');
  const s1 = await session('t24-s1');
  // s0 is a CONNECT of the same user elsewhere: it holds the user's presence lock.
  await s0.run('BEGIN');
  await s0.run(`SELECT pg_advisory_xact_lock(hashtextextended(${lit(`chat.presence:${uid}`)}, 0))`);
  const rm = s1.run("SELECT chat_bridge_remove('t27-gone')");
  rm.catch(() => {});
  assert.ok(await lockWaiting('t24-s1'), 'the removal waits for the user\'s presence lock');
  await s0.run('COMMIT');
  assert.equal(await rm, '1', 'then it tells the user offline (no other row)');
});

test('a bridge retries a send that PostgreSQL aborted as a deadlock: the ack is ok, stored once', async () => serviceDeadlockTimeout(async () => {
  const owner = await join('ld_o');
  const room = await createRoom(owner.token, 'ld');
  const u = await join('ld_u', { room_id: room.id });
  const { socket } = await connect(u.token);
  await joinRoom(socket, room.id);
  // s0 holds the room's row; the bridge's send takes its client_id lock, then waits for the row.
  const s0 = await holdingRoom(room.id);
  const a = ack(socket, 'send_message', { room_id: room.id, message: 'through a deadlock', client_id: 'ld-1' }, 60_000);
  assert.ok(await lockWaiting('chat-ws'), 'the bridge waits for the room row');
  // s0 now wants the client_id lock the bridge holds: the bridge's backend
  // (deadlock_timeout 1 s) finds the deadlock and aborts its transaction.
  await s0.run(`SELECT pg_advisory_xact_lock(hashtextextended(${lit(`chat.client:${u.user.id}:ld-1`)}, 0))`);
  await s0.run('COMMIT');
  const res = await a;
  assert.equal(res.ok, true, JSON.stringify(res));
  assert.equal(res.message.content, 'through a deadlock');
  const stored = (await history(owner.token, room.id)).messages.filter((m) => m.client_id === 'ld-1');
  assert.equal(stored.length, 1);
}));

test('a REST worker retries a send that PostgreSQL aborted as a deadlock: 201, stored once', async () => serviceDeadlockTimeout(async () => {
  const owner = await join('lf_o');
  const room = await createRoom(owner.token, 'lf');
  const s0 = await holdingRoom(room.id);
  const p = api('POST', `/api/messages/${room.id}`, { token: owner.token, body: { message: 'rest through a deadlock', client_id: 'lf-1' } });
  assert.ok(await lockWaiting('chat-fcgi'), 'the worker waits for the room row');
  await s0.run(`SELECT pg_advisory_xact_lock(hashtextextended(${lit(`chat.client:${owner.user.id}:lf-1`)}, 0))`);
  await s0.run('COMMIT');
  const r = await p;
  assert.equal(r.status, 201, show(r));
  const stored = (await history(owner.token, room.id)).messages.filter((m) => m.client_id === 'lf-1');
  assert.equal(stored.length, 1);
}));

test('a send rolled back and run again keeps its place before the same socket\'s next send', async () => serviceDeadlockTimeout(async () => {
  const owner = await join('lo_o');
  const room = await createRoom(owner.token, 'lo');
  const u = await join('lo_u', { room_id: room.id });
  const { socket } = await connect(u.token, { url: direct(BRIDGE_PORT) });
  await joinRoom(socket, room.id);
  const s0 = await holdingRoom(room.id);
  const a1 = ack(socket, 'send_message', { room_id: room.id, message: 'first', client_id: 'lo-1' }, 60_000);
  assert.ok(await lockWaiting('chat-ws'), 'the first send waits for the room row');
  // The second send comes while the first is in flight; the invalid event
  // after it is answered once the bridge has taken the second one in.
  const a2 = ack(socket, 'send_message', { room_id: room.id, message: 'second', client_id: 'lo-2' }, 60_000);
  assert.equal((await ack(socket, 'send_message', { room_id: room.id })).ok, false);
  // The first one's transaction is aborted as a deadlock and runs again.
  await s0.run(`SELECT pg_advisory_xact_lock(hashtextextended(${lit(`chat.client:${u.user.id}:lo-1`)}, 0))`);
  await s0.run('COMMIT');
  const [r1, r2] = [await a1, await a2];
  assert.equal(r1.ok, true, JSON.stringify(r1));
  assert.equal(r2.ok, true, JSON.stringify(r2));
  assert.ok(r1.message.seq < r2.message.seq, `first seq ${r1.message.seq} < second seq ${r2.message.seq}`);
  const stored = (await history(owner.token, room.id)).messages.map((m) => m.content);
  assert.deepEqual(stored, ['first', 'second']);
}));

test('a send rolled back and run again keeps its place before the sends queued behind it, which went out chained (a segment that runs only if the one before committed)', async () => serviceDeadlockTimeout(async () => {
  const owner = await join('lc_o');
  const room = await createRoom(owner.token, 'lc');
  const u = await join('lc_u', { room_id: room.id });
  const { socket } = await connect(u.token, { url: direct(BRIDGE_PORT) });
  await joinRoom(socket, room.id);
  // Four more senders on the same bridge, each under the rate limit.
  const others = [];
  for (let k = 0; k < 4; k++) {
    const o = await join(`lc_s${k}`, { room_id: room.id });
    const so = (await connect(o.token, { url: direct(BRIDGE_PORT) })).socket;
    await joinRoom(so, room.id);
    others.push(so);
  }
  const rolledBack = () => bridgeMetric(0, 'chat_ws_db_rolled_back_total');
  const rolled0 = await rolledBack();
  const s0 = await holdingRoom(room.id);
  const a1 = ack(socket, 'send_message', { room_id: room.id, message: 'first', client_id: 'lc-1' }, 60_000);
  assert.ok(await lockWaiting('chat-ws'), 'the first send waits for the room row');
  // 40 sends queue behind it: enough for a second, chained segment to go
  // out while the first is in flight (ws-bridge/pgbatch.c, PG_CHAIN_MIN).
  const later = [];
  for (let n = 0; n < 10; n++) {
    others.forEach((so, k) => later.push({ k, n, p: ack(so, 'send_message', { room_id: room.id, message: `s${k}-${n}` }, 60_000) }));
  }
  // The bridge has taken them in once an invalid event after them is answered.
  for (const so of others) assert.equal((await ack(so, 'send_message', { room_id: room.id })).ok, false);
  // The first one's transaction is aborted as a deadlock; the chained one
  // behind it must not commit before it runs again.
  await s0.run(`SELECT pg_advisory_xact_lock(hashtextextended(${lit(`chat.client:${u.user.id}:lc-1`)}, 0))`);
  await s0.run('COMMIT');
  const r1 = await a1;
  assert.equal(r1.ok, true, JSON.stringify(r1));
  const rs = [];
  for (const x of later) {
    const r = await x.p;
    assert.equal(r.ok, true, `s${x.k}-${x.n}: ${JSON.stringify(r)}`);
    rs.push({ ...x, seq: r.message.seq });
  }
  for (const x of rs) assert.ok(r1.message.seq < x.seq, `first seq ${r1.message.seq} < s${x.k}-${x.n} seq ${x.seq}`);
  for (let k = 0; k < 4; k++) {
    const mine = rs.filter((x) => x.k === k);
    for (let n = 1; n < mine.length; n++) assert.ok(mine[n - 1].seq < mine[n].seq, `sender ${k}: sends keep their order`);
  }
  const stored = (await history(owner.token, room.id)).messages.map((m) => m.content);
  assert.equal(stored.length, 41);
  assert.equal(stored[0], 'first');
  // Both segments rolled back: the first's, and the chained one behind it.
  assert.ok((await rolledBack()) >= rolled0 + 2, 'the chained segment went out and was rolled back too');
}));

test('a logout while the CONNECT is being checked: the connection is refused, the user is not online', async () => {
  const u = await join('lv');
  const uid = u.user.id;
  const url = direct(BRIDGE_PORT);
  // A connection of the same session on the same bridge shows when the logout reached it.
  const { socket: first } = await connect(u.token, { url });
  const s0 = await session('t24-s0');
  await s0.run('BEGIN');
  await s0.run(`SELECT 1 FROM users WHERE id = ${lit(uid)} FOR UPDATE`);
  const refused = connectError(u.token, { url, timeout: 60_000 });
  assert.ok(await lockWaiting('chat-ws'), 'the CONNECT waits for the user\'s row');
  const gone = disconnected(first, 20_000);
  ok(await api('DELETE', '/api/session', { token: u.token }));
  await gone;
  await s0.run('COMMIT');
  const err = await refused;
  assert.equal(err.message, 'unauthorized', JSON.stringify(err.data));
  assert.ok(await waitFor(() => psql(`SELECT count(*) FROM presence WHERE user_id = ${lit(uid)}`) === '0', 20_000, 200),
    'no presence row is left behind');
});

test('only the services connect to the database: another role cannot (nor NOTIFY chat_events)', { skip: !!process.env.DATABASE_URL && 'DATABASE_URL: roles are not ours to create' }, () => {
  psql("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'chat_intruder') THEN CREATE ROLE chat_intruder LOGIN; END IF; END $$");
  const run = (user, sql) => spawnSync('psql', [conninfo('chat', { user }), '-X', '-q', '-tA', '-v', 'ON_ERROR_STOP=1', '-c', sql], { encoding: 'utf8', timeout: 60_000 });
  const r = run('chat_intruder', `NOTIFY chat_events, '{"type":"room_created","room":{"id":"forged"}}'`);
  assert.notEqual(r.status, 0, `the intruder connected: ${r.stdout}`);
  assert.match(r.stderr, /permission denied for database/);
  const svc = run('chat_svc', 'SELECT 1');
  assert.equal(svc.status, 0, svc.stderr);
  assert.equal(svc.stdout.trim(), '1');
  const priv = psql("SELECT has_database_privilege('public', current_database(), 'CONNECT')");
  assert.equal(priv, 'f');
});

test('one user\'s flood of events does not fill the bridge\'s database queue for everyone', async () => {
  const owner = await join('lq_o');
  const room = await createRoom(owner.token, 'lq');
  const flooder = await join('lq_f', { room_id: room.id });
  const other = await join('lq_b', { room_id: room.id });
  const url = direct(BRIDGE_PORT);
  const { socket: b } = await connect(other.token, { url });
  await joinRoom(b, room.id);
  // 210 connections x 100 join_room (each connection's event burst) is more
  // than the bridge's shared queue (20000) holds.
  const flood = [];
  for (let i = 0; i < 210; i++) flood.push((await connect(flooder.token, { url })).socket);
  const s0 = await session('t24-s0');
  const s0pid = await s0.run('SELECT pg_backend_pid()');
  await s0.run('BEGIN');
  await s0.run('LOCK TABLE rooms IN ACCESS EXCLUSIVE MODE');
  // The bridge's statements waiting on the lock give up after CHAT_DB_TIMEOUT
  // (5 s) with db_unavailable: the lock's doing, not the queue's. On a slow
  // machine sending the flood alone can take longer than that (this loop of
  // emits blocks node), so a guard inside PostgreSQL ends s0 once one of them
  // has waited 3 s, whether or not the bridge has taken in the whole flood.
  const guard = await session('t27-flood-guard');
  const guarded = guard.run(`DO $$ BEGIN
    FOR i IN 1..1200 LOOP
      PERFORM pg_stat_clear_snapshot();
      EXIT WHEN NOT EXISTS (SELECT 1 FROM pg_locks WHERE pid = ${Number(s0pid)} AND relation = 'rooms'::regclass AND mode = 'AccessExclusiveLock');
      IF EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = 'chat-ws' AND wait_event_type = 'Lock' AND clock_timestamp() - query_start > interval '3 s') THEN
        PERFORM pg_terminate_backend(${Number(s0pid)});
        EXIT;
      END IF;
      PERFORM pg_sleep(0.05);
    END LOOP;
  END $$`, 120_000);
  await sleep(100);
  const acks = [];
  for (const s of flood) {
    for (let i = 0; i < 100; i++) acks.push(ack(s, 'join_room', { room_id: room.id }, 120_000).catch((e) => ({ ok: false, error: { code: String(e) } })));
  }
  // An invalid event is answered at once: then the bridge has taken in every event before it.
  for (const s of flood) assert.equal((await ack(s, 'join_room', {}, 60_000)).ok, false);
  const sent = ack(b, 'send_message', { room_id: room.id, message: 'still heard', client_id: 'lq-1' }, 120_000);
  assert.equal((await ack(b, 'join_room', {}, 60_000)).ok, false);
  if (!s0.exited) {
    await s0.run('COMMIT').catch((e) => {
      // The guard ended s0 (and psql with it) meanwhile: the lock is gone either way.
      if (!/terminating connection due to administrator command/.test(String(e))) throw e;
    });
  }
  await guarded;
  const r = await sent;
  assert.equal(r.ok, true, JSON.stringify(r));
  const results = await Promise.all(acks);
  const codes = {};
  for (const a of results) {
    const k = a.ok ? 'ok' : a.error.code;
    codes[k] = (codes[k] || 0) + 1;
  }
  assert.ok(codes.rate_limited > 0, `the flooder is slowed down: ${JSON.stringify(codes)}`);
  assert.equal(codes.db_unavailable, undefined, `nobody is told the database is down: ${JSON.stringify(codes)}`);
});

/*
 * messages' references to rooms and users (migration 0027 checks them once
 * per statement instead of a foreign key's query per row): the same refusals,
 * the same ON DELETE effects, and the same locks against a concurrent delete.
 */
const insertSql = (room, user, seq, content = 'direct') => `INSERT INTO messages (room_id, seq, user_id, username, content)
  VALUES (${lit(room)}, ${Number(seq)}, ${lit(user)}, 'x', ${lit(content)})`;
const refused = (fn, re) => assert.throws(fn, re);

test('messages keep their references: unknown rooms and users refused, a deleted room takes its messages, a deleted user leaves them anonymous', async () => {
  const { owner, r1, r2, users: [u1, u2, u3] } = await fourUsersTwoRooms('fk');
  assert.equal(psql(batchSql([[u1, r1, 'm1'], [u2, r1, 'm2'], [u1, r2, 'm3'], [u3, r2, 'm4']])), 'ok,ok,ok,ok');
  // Unknown keys, alone or among good rows: the statement is refused whole.
  refused(() => psql(insertSql('fk-no-such-room', u1, 1)), /messages_room_id_fkey[\s\S]*Key \(room_id\)=\(fk-no-such-room\) is not present in table "rooms"/);
  refused(() => psql(insertSql(r1, 'fk-no-such-user', 1000)), /messages_user_id_fkey[\s\S]*Key \(user_id\)=\(fk-no-such-user\) is not present in table "users"/);
  refused(() => psql(`INSERT INTO messages (room_id, seq, user_id, username, content)
    VALUES (${lit(r1)}, 1001, ${lit(u1)}, 'x', 'good'), (${lit(r1)}, 1002, 'fk-nobody', 'x', 'bad')`), /messages_user_id_fkey/);
  assert.equal(psql(`SELECT count(*) FROM messages WHERE room_id = ${lit(r1)} AND seq > 2`), '0');
  // A message without a user (its author deleted) is fine.
  psql(insertSql(r1, null, 1003));
  psql(`DELETE FROM messages WHERE room_id = ${lit(r1)} AND seq = 1003`);
  // Pointing a message elsewhere is checked; a referenced id does not change.
  refused(() => psql(`UPDATE messages SET room_id = 'fk-no-such-room' WHERE room_id = ${lit(r1)} AND seq = 1`), /messages_room_id_fkey/);
  refused(() => psql(`UPDATE messages SET user_id = 'fk-no-such-user' WHERE room_id = ${lit(r1)} AND seq = 1`), /messages_user_id_fkey/);
  // (A room and a user that only messages refer to: no other foreign key speaks first.)
  const bare = `fk-bare-${Date.now()}`;
  psql(`INSERT INTO rooms (id, name) VALUES (${lit(bare)}, ${lit(bare)}); INSERT INTO users (id, username) VALUES (${lit(bare)}, ${lit(bare)})`);
  psql(insertSql(bare, bare, 1));
  refused(() => psql(`UPDATE rooms SET id = 'fk-renamed' WHERE id = ${lit(bare)}`), /messages_room_id_fkey[\s\S]*still referenced from table "messages"/);
  refused(() => psql(`UPDATE users SET id = 'fk-renamed' WHERE id = ${lit(bare)}`), /messages_user_id_fkey[\s\S]*still referenced from table "messages"/);
  psql(`UPDATE rooms SET name = 'fk renamed' WHERE id = ${lit(bare)}`);
  psql(`DELETE FROM users WHERE id = ${lit(bare)}`);
  assert.equal(psql(`SELECT coalesce(user_id, '-') || ':' || content FROM messages WHERE room_id = ${lit(bare)}`), '-:direct');
  psql(`DELETE FROM rooms WHERE id = ${lit(bare)}`);
  assert.equal(psql(`SELECT count(*) FROM messages WHERE room_id = ${lit(bare)}`), '0');
  // A user deleted: their messages stay, without user_id; nobody else's change.
  psql(`DELETE FROM users WHERE id = ${lit(u1)}`);
  assert.equal(psql(`SELECT string_agg(coalesce(user_id, '-') || ':' || content, ',' ORDER BY room_id = ${lit(r2)}, seq)
    FROM messages WHERE room_id IN (${lit(r1)}, ${lit(r2)})`), `-:m1,${u2}:m2,-:m3,${u3}:m4`);
  // A room deleted: its messages go with it, the other room's stay; a send to it is not_found.
  assert.equal(psql(`SELECT coalesce(err, 'ok') FROM chat_room_delete(${lit(owner.user.id)}, ${lit(r1)})`), 'ok');
  assert.equal(psql(`SELECT count(*) FROM messages WHERE room_id = ${lit(r1)}`), '0');
  assert.equal(psql(`SELECT count(*) FROM messages WHERE room_id = ${lit(r2)}`), '2');
  assert.equal(psql(batchSql([[u2, r1, 'late'], [u2, r2, 'm5']])), 'not_found,ok');
  refused(() => psql(insertSql(r1, u2, 1)), /messages_room_id_fkey/);
  // TRUNCATE ... CASCADE of rooms or of users empties messages, as the
  // foreign keys' cascade did (rolled back: the stack's data stays).
  const tr = await session('t27-truncate');
  for (const table of ['rooms', 'users']) {
    await tr.run('BEGIN');
    await tr.run(`TRUNCATE ${table} CASCADE`);
    assert.equal(await tr.run('SELECT count(*) FROM messages'), '0', table);
    await tr.run('ROLLBACK');
  }
  assert.equal(psql(`SELECT count(*) FROM messages WHERE room_id = ${lit(r2)}`), '3', 'm3, m4, m5 stay after the rollback');
});

test('a room or user deleted while a message is being inserted: the delete waits and takes it along, or the insert is refused', async () => {
  const { r1, r2, users: [u1, u2] } = await fourUsersTwoRooms('fr');
  const s1 = await session('t27-fk-s1');
  const s2 = await session('t27-fk-s2');
  // The insert first: the room's DELETE waits for it, then deletes its message too.
  await s1.run('BEGIN');
  await s1.run(insertSql(r1, u1, 7));
  const del = s2.run(`DELETE FROM rooms WHERE id = ${lit(r1)}`);
  del.catch(() => {});
  assert.ok(await lockWaiting('t27-fk-s2'), 'the DELETE of the room waits for the inserting transaction');
  await s1.run('COMMIT');
  await del;
  assert.equal(psql(`SELECT count(*) FROM messages WHERE room_id = ${lit(r1)}`), '0', 'no message left without its room');
  // The user's DELETE first: the insert waits for it, then is refused.
  await s1.run('BEGIN');
  await s1.run(`DELETE FROM users WHERE id = ${lit(u2)}`);
  const ins = s2.run(insertSql(r2, u2, 7));
  ins.catch(() => {});
  assert.ok(await lockWaiting('t27-fk-s2'), 'the insert waits for the transaction deleting its user');
  await s1.run('COMMIT');
  await assert.rejects(ins, /messages_user_id_fkey/);
  assert.equal(psql(`SELECT count(*) FROM messages WHERE user_id = ${lit(u2)}`), '0');
});

test('chat_send_many is never compiled by JIT, whatever the planner\'s cost (it was, per batch, once messages had statistics)', { skip: !!process.env.DATABASE_URL && 'DATABASE_URL: auto_explain needs a superuser' }, async () => {
  if (psql('SELECT pg_jit_available()') !== 't') return;
  const { r1, users: [u1, u2] } = await fourUsersTwoRooms('jt');
  // Every plan costs more than 0: without the function's own jit = off, each
  // of its statements would be compiled, and auto_explain would say so.
  const sql = `LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0;
    SET auto_explain.log_nested_statements = on; SET auto_explain.log_level = notice;
    SET jit = on; SET jit_above_cost = 0; ${batchSql([[u1, r1, 'j1'], [u2, r1, 'j2']])}`;
  const r = spawnSync('psql', [conninfo('chat'), '-X', '-q', '-tA', '-v', 'ON_ERROR_STOP=1', '-c', sql], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'ok,ok');
  // One auto_explain block per statement; the caller's own SELECT (planned
  // before the function's settings apply) is not the function's.
  const inner = r.stderr.split('Query Text:').slice(1).filter((b) => !/FROM chat_send_many\(/.test(b));
  assert.ok(inner.some((b) => /INSERT INTO messages/.test(b)), `auto_explain logged the statements inside: ${r.stderr.slice(0, 2000)}`);
  for (const b of inner) assert.doesNotMatch(b, /JIT:/, `a statement of chat_send_many was JIT-compiled: ${b.slice(0, 300)}`);
});
