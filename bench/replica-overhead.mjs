// replica-overhead.mjs -- what reading from a replica (CHAT_DATABASE_READ_URL)
// costs chat-fcgi per request, on one machine (where replica throughput
// means nothing: both servers share the cores).
//
// Usage: node bench/replica-overhead.mjs   (CHAT_STATE_DIR, CHAT_PORT of a
// running local stack whose standby runs: stack.sh pg-replica-start)
//
// Starts two one-worker chat-fcgi pools next to the stack, on sockets of
// their own, with the stack's settings: P (primary only) and R
// (CHAT_DATABASE_READ_URL = the standby). Then, interleaved over ROUNDS
// rounds, N sequential requests of each kind, one FastCGI connection per
// request as nginx makes them, and prints per request the CPU time
// (/proc/<pid>/schedstat: on-CPU ns, robust on a busy machine) of the
// pool's worker and of all PostgreSQL processes of both clusters, and
// the wall time:
//   GET /api/messages/{room}?limit=50 on P, on R (the fast path: no lag
//   check), on R with seq= (the lag check's extra round trip), and
//   POST /api/messages on P and on R (R adds pg_current_wal_insert_lsn()).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fcgiRequest, waitFor } from '../tests/e2e/lib.mjs';

const N = Number(process.env.N || 1000);
const NW = Number(process.env.NW || 200);
const ROUNDS = Number(process.env.ROUNDS || 4);
const state = fs.realpathSync(process.env.CHAT_STATE_DIR);
const dir = path.join(state, `rbench-${process.pid}`);
fs.mkdirSync(dir, { recursive: true, mode: 0o777 });
fs.chmodSync(dir, 0o777);

const fpid = fs.readFileSync(path.join(state, 'run/fcgi.pid'), 'utf8').trim();
const baseEnv = {};
for (const kv of fs.readFileSync(`/proc/${fpid}/environ`, 'utf8').split('\0')) {
  const i = kv.indexOf('=');
  if (i > 0) baseEnv[kv.slice(0, i)] = kv.slice(i + 1);
}
const bin = fs.readlinkSync(`/proc/${fpid}/exe`).replace(/ \(deleted\)$/, '');
const readUrl = `host=${state}/run port=5433 dbname=chat user=chat_svc`;
const pools = [];

function startPool(name, extra) {
  const sock = path.join(dir, `${name}.sock`);
  const env = { ...baseEnv, CHAT_FCGI_WORKERS: '1', CHAT_MSG_RATE: '0', ...extra };
  const envArgs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  const argv = ['spawn-fcgi', '-n', '-s', sock, '-M', '0666', '--', bin];
  const cmd = process.getuid() === 0
    ? ['setpriv', ['--reuid=chat', '--regid=chat', '--init-groups', '--', 'env', '-i', ...envArgs, ...argv]]
    : ['env', ['-i', ...envArgs, ...argv]];
  const log = fs.openSync(path.join(dir, `${name}.log`), 'a');
  const child = spawn(cmd[0], cmd[1], { cwd: '/', stdio: ['ignore', log, log], detached: true });
  pools.push(child);
  return sock;
}

async function call(sock, uri, opts) {
  const r = await fcgiRequest(sock, uri, opts);
  if (r.status >= 300) throw new Error(`${uri}: ${r.status} ${r.body}`);
  return JSON.parse(r.body).data;
}

const children = (pid) => {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
};
const oncpu = (pids) => pids.reduce((t, p) => {
  try {
    return t + Number(fs.readFileSync(`/proc/${p}/schedstat`, 'utf8').split(' ')[0]);
  } catch {
    return t;
  }
}, 0);
const pgPids = () => ['pg', 'pg-replica'].flatMap((d) => {
  const pm = Number(fs.readFileSync(path.join(state, d, 'postmaster.pid'), 'utf8').split('\n')[0]);
  return [pm, ...children(pm)];
});

/** n calls of fn: [wall µs, worker CPU µs, PostgreSQL CPU µs] per call. */
async function timed(n, fn, worker) {
  const pg = pgPids();
  const w0 = oncpu([worker]);
  const p0 = oncpu(pg);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await fn(i);
  const wall = Number(process.hrtime.bigint() - t0) / 1000 / n;
  return [wall, (oncpu([worker]) - w0) / 1000 / n, (oncpu(pg) - p0) / 1000 / n];
}

const P = startPool('p', {});
const R = startPool('r', { CHAT_DATABASE_READ_URL: readUrl });
try {
  for (const s of [P, R]) {
    const up = await waitFor(async () => {
      try { return (await fcgiRequest(s, '/api/health')).status === 200; } catch { return false; }
    }, 20_000, 100);
    if (!up) throw new Error(`pool ${s} does not answer`);
  }
  const name = `rb_${process.pid}`;
  const j = await call(P, '/api/join', { method: 'POST', json: { username: name } });
  const token = j.token;
  const reader = (await call(P, '/api/join', { method: 'POST', json: { username: `${name}r` } })).token;
  const room = (await call(P, '/api/rooms', { method: 'POST', token, json: { room_name: `rb ${process.pid}` } })).room.id;
  let last = 0;
  for (let i = 0; i < 60; i++) last = (await call(P, `/api/messages/${room}`, { method: 'POST', token, json: { message: `m${i}` } })).message.seq;
  await new Promise((res) => setTimeout(res, 500)); // the standby replays
  const page = `/api/messages/${room}?limit=50`;
  const [wp] = children(pools[0].pid);
  const [wr] = children(pools[1].pid);
  const kinds = {
    'GET P': [() => call(P, page, { token: reader }), wp],
    'GET R (fast path)': [() => call(R, page, { token: reader }), wr],
    'GET R seq= (lag check)': [() => call(R, `${page}&seq=${last}`, { token: reader }), wr],
    'GET P seq=': [() => call(P, `${page}&seq=${last}`, { token: reader }), wp],
  };
  const writes = {
    'POST P': [(i) => call(P, `/api/messages/${room}`, { method: 'POST', token, json: { message: `w${i}` } }), wp],
    'POST R (+WAL fence)': [(i) => call(R, `/api/messages/${room}`, { method: 'POST', token, json: { message: `w${i}` } }), wr],
  };
  const res = {};
  for (const k of [...Object.keys(kinds), ...Object.keys(writes)]) res[k] = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const [k, [fn, w]] of Object.entries(kinds)) res[k].push(await timed(N, fn, w));
    for (const [k, [fn, w]] of Object.entries(writes)) res[k].push(await timed(NW, fn, w));
  }
  const m = await fcgiRequest(R, '/api/metrics');
  const med = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)].toFixed(0).padStart(6);
  console.log(`per request, median of ${ROUNDS} rounds (µs): wall, chat-fcgi worker CPU, PostgreSQL CPU (both clusters)`);
  for (const [k, v] of Object.entries(res)) {
    console.log(`  ${k.padEnd(24)} wall ${med(v.map((x) => x[0]))}  worker ${med(v.map((x) => x[1]))}  postgres ${med(v.map((x) => x[2]))}`);
  }
  console.log(m.body.split('\n').filter((l) => l.startsWith('chat_fcgi_replica_reads_total')).join('\n'));
} finally {
  for (const c of pools) try { process.kill(c.pid, 'SIGTERM'); } catch { /* gone */ }
  await new Promise((res) => setTimeout(res, 500));
  fs.rmSync(dir, { recursive: true, force: true });
}
