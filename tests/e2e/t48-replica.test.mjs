// t48-replica -- reads from a streaming replica (CHAT_DATABASE_READ_URL,
// docs/operations.md "A read replica"): a real hot standby of the stack's
// PostgreSQL (stack.sh pg-replica-start: pg_basebackup -R, its own port)
// and a chat-fcgi pool of the test's own on its own socket, with the
// stack's settings plus CHAT_DATABASE_READ_URL. Its replay is paused to
// make it lag on purpose:
// - a read by a client that knows nothing newer is served by the standby
//   (a message written meanwhile is not in the answer, the counters say
//   replica);
// - its author reads it at once (the per-user WAL fence), and so does a
//   client that names its seq (seq=, after=) or a change counter (since=);
// - a room the standby does not have yet is asked of the primary;
// - writes go to the primary only (the standby would refuse them);
// - the standby stopped: reads still answer, from the primary, logged once
//   per worker; started again: reads go back to it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { join, createRoom, waitFor, procAlive, fcgiRequest, stack, stackFcgiEnv } from './lib.mjs';
import { STATE_DIR, psql } from './sio.mjs';

const state = fs.realpathSync(STATE_DIR);
const dir = path.join(state, `replica-${process.pid}`);
const sock = path.join(dir, 'r.sock');
const logPath = path.join(dir, 'fcgi.log');
let pool = null;

const read = (p) => (fs.existsSync(p) ? fs.readFileSync(p, 'utf8') : '');

/** psql on the standby (its superuser); returns the unaligned output. */
const standby = (sql) => stack('pg-replica-psql', {}, ['-tA', '-c', sql]).trim();

/** The standby has replayed everything the primary has written so far. */
async function caughtUp() {
  const lsn = psql('SELECT pg_current_wal_insert_lsn()');
  const ok = await waitFor(() => standby(`SELECT pg_last_wal_replay_lsn() >= '${lsn}'::pg_lsn`) === 't', 30_000, 50);
  assert.ok(ok, `the standby replays up to ${lsn}`);
}

async function pause() {
  standby('SELECT pg_wal_replay_pause()');
  assert.ok(await waitFor(() => standby('SELECT pg_get_wal_replay_pause_state()') === 'paused', 10_000, 50), 'replay paused');
}

const resume = () => standby('SELECT pg_wal_replay_resume()');

/** One request to the test's pool; the parsed envelope with status. */
async function req(pathq, opts = {}) {
  const r = await fcgiRequest(sock, pathq, opts);
  let body;
  try {
    body = JSON.parse(r.body);
  } catch {
    body = r.body;
  }
  return { status: r.status, body };
}

async function okData(pathq, opts = {}, status = 200) {
  const r = await req(pathq, opts);
  assert.equal(r.status, status, `${opts.method || 'GET'} ${pathq}: ${JSON.stringify(r.body)}`);
  return r.body.data;
}

/** chat_fcgi_replica_reads_total of the test's pool, by server/reason. */
async function counts() {
  const r = await fcgiRequest(sock, '/api/metrics');
  assert.equal(r.status, 200, r.body);
  const out = {};
  for (const m of r.body.matchAll(/^chat_fcgi_replica_reads_total\{server="(\w+)",reason="(\w+)"\} (\d+)$/gm)) out[`${m[1]}/${m[2]}`] = Number(m[3]);
  assert.equal(Object.keys(out).length, 4, r.body);
  return out;
}

const seqs = (page) => page.messages.map((m) => m.seq);

before(async () => {
  const out = stack('pg-replica-start').trim().split('\n');
  const url = out[out.length - 1];
  assert.match(url, /port=5433/, out.join('\n'));
  fs.mkdirSync(dir, { recursive: true, mode: 0o777 });
  fs.chmodSync(dir, 0o777);
  const { env, bin } = stackFcgiEnv(state);
  Object.assign(env, { CHAT_DATABASE_READ_URL: url, CHAT_FCGI_WORKERS: '2', CHAT_ROOMS_CACHE_MS: '0' });
  const envArgs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  const argv = ['spawn-fcgi', '-n', '-s', sock, '-M', '0666', '--', bin];
  const cmd = process.getuid() === 0
    ? ['setpriv', ['--reuid=chat', '--regid=chat', '--init-groups', '--', 'env', '-i', ...envArgs, ...argv]]
    : ['env', ['-i', ...envArgs, ...argv]];
  const log = fs.openSync(logPath, 'a');
  pool = spawn(cmd[0], cmd[1], { cwd: '/', stdio: ['ignore', log, log], detached: true });
  fs.closeSync(log);
  const up = await waitFor(async () => {
    try {
      return (await fcgiRequest(sock, '/api/health')).status === 200;
    } catch {
      return false;
    }
  }, 20_000, 100);
  assert.ok(up, `the replica pool answers:\n${read(logPath)}`);
});

after(async () => {
  try {
    resume();
  } catch {
    // stopped
  }
  if (pool && procAlive(pool.pid)) {
    process.kill(pool.pid, 'SIGTERM');
    await waitFor(() => !procAlive(pool.pid), 15_000, 50);
  }
  stack('pg-replica-stop');
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a lagging standby: the reader gets its snapshot, the author and a client that knows the seq get the primary', async () => {
  const author = await join('r_auth');
  const reader = await join('r_read');
  const room = await createRoom(author.token, 'replica');
  await okData(`/api/rooms/${room.id}/members`, { method: 'POST', token: author.token, json: { username: reader.user.username } }, 201);
  const m1 = (await okData(`/api/messages/${room.id}`, { method: 'POST', token: author.token, json: { message: 'first' } }, 201)).message;
  await caughtUp();
  // Caught up: the standby answers and has the first message.
  let c0 = await counts();
  assert.deepEqual(seqs(await okData(`/api/messages/${room.id}`, { token: reader.token })), [m1.seq]);
  let c1 = await counts();
  assert.equal(c1['replica/caught_up'], c0['replica/caught_up'] + 1, 'served by the replica');

  await pause();
  // A write while the standby is paused: on the primary (the standby would refuse it).
  const m2 = (await okData(`/api/messages/${room.id}`, { method: 'POST', token: author.token, json: { message: 'second' } }, 201)).message;
  assert.equal(m2.seq, m1.seq + 1);
  assert.equal(standby(`SELECT count(*) FROM messages WHERE room_id = '${room.id}'`), '1', 'the standby has not replayed the second message');

  // The reader, knowing nothing newer: the standby's answer, without m2.
  c0 = await counts();
  assert.deepEqual(seqs(await okData(`/api/messages/${room.id}`, { token: reader.token })), [m1.seq]);
  c1 = await counts();
  assert.equal(c1['replica/caught_up'], c0['replica/caught_up'] + 1, 'served by the (lagging) replica');

  // The author reads its own write at once, on either worker.
  for (let i = 0; i < 4; i++) {
    assert.deepEqual(seqs(await okData(`/api/messages/${room.id}`, { token: author.token })), [m1.seq, m2.seq]);
  }
  // A client that names the seq it knows (from a socket.io ack or event).
  assert.deepEqual(seqs(await okData(`/api/messages/${room.id}?seq=${m2.seq}`, { token: reader.token })), [m1.seq, m2.seq]);
  assert.deepEqual(seqs(await okData(`/api/messages/${room.id}?after=${m2.seq}`, { token: reader.token })), []);
  assert.deepEqual(seqs(await okData(`/api/messages/${room.id}?after=${m1.seq}&seq=${m2.seq}`, { token: reader.token })), [m2.seq]);
  c0 = await counts();
  assert.equal(c0['primary/behind'], c1['primary/behind'] + 4 + 3, `the author's reads and the seq reads went to the primary: ${JSON.stringify(c0)}`);

  // An edit (a change the standby lacks): a client that knows the change counter reads it from the primary.
  const e = await okData(`/api/messages/${room.id}/${m1.id}`, { method: 'PATCH', token: author.token, json: { message: 'first, edited' } });
  const since = (await okData(`/api/messages/${room.id}/changes`, { token: author.token })).change_seq;
  assert.ok(since >= 1, JSON.stringify(e));
  const ch = await okData(`/api/messages/${room.id}/changes?since=${since}`, { token: reader.token });
  assert.equal(ch.change_seq, since, 'the primary answered: the standby has no changes yet');

  // A room the standby does not have: not found there, asked of the primary.
  const fresh = await createRoom(author.token, 'fresh');
  const got = await okData(`/api/rooms/${fresh.id}`, { token: reader.token });
  assert.equal(got.room.id, fresh.id);
  // The author's list has its new room at once.
  const mine = await okData('/api/me', { token: author.token });
  assert.ok(mine.rooms.some((r) => r.id === fresh.id), JSON.stringify(mine));

  resume();
  await caughtUp();
  // Replayed: the reader gets m2 from the standby now.
  c0 = await counts();
  assert.deepEqual(seqs(await okData(`/api/messages/${room.id}`, { token: reader.token })), [m1.seq, m2.seq]);
  assert.equal((await counts())['replica/caught_up'], c0['replica/caught_up'] + 1);
  assert.doesNotMatch(read(logPath), /read-only transaction|statement '[a-z_]+' failed/, 'no write reached the standby');
  // The pool's workers hold connections to the standby.
  assert.ok(Number(standby("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'chat-fcgi'")) >= 1);
});

test('the standby stopped: reads answer from the primary (logged once per worker), and go back to it when it is up', async () => {
  const u = await join('r_down');
  const room = await createRoom(u.token, 'down');
  await okData(`/api/messages/${room.id}`, { method: 'POST', token: u.token, json: { message: 'before' } }, 201);
  stack('pg-replica-stop');
  const c0 = await counts();
  for (let i = 0; i < 10; i++) {
    const page = await okData(`/api/messages/${room.id}`, { token: u.token });
    assert.equal(page.messages.length, 1);
    await okData('/api/rooms', { token: u.token });
  }
  const c1 = await counts();
  assert.equal(c1['primary/down'] - c0['primary/down'], 20, JSON.stringify(c1));
  const lines = read(logPath).match(/the read replica is unavailable/g) || [];
  assert.ok(lines.length >= 1 && lines.length <= 2, `logged once per worker (2 workers), not per read: ${lines.length}`);
  // Writes never needed it.
  await okData(`/api/messages/${room.id}`, { method: 'POST', token: u.token, json: { message: 'while down' } }, 201);

  stack('pg-replica-start');
  await caughtUp();
  // Each worker tries again after REPLICA_RETRY_MS (2 s).
  const back = await waitFor(async () => {
    const before = (await counts())['replica/caught_up'];
    await okData(`/api/messages/${room.id}`, { token: u.token });
    return (await counts())['replica/caught_up'] > before;
  }, 20_000, 250);
  assert.ok(back, 'reads go to the standby again');
  assert.match(read(logPath), /the read replica answers again/);
});
