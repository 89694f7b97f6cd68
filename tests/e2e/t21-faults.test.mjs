// t21-faults -- faults around the REST pool: workers killed under load, a
// read-only database, and the loopback-only metrics pages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { api, ok, fails, join, createRoom, send, stack, waitFor, show } from './lib.mjs';

/** waitFor that fails the test on timeout. */
async function until(fn, ms, what) {
  assert.ok(await waitFor(fn, ms), `timed out waiting for ${what}`);
}

const STATE = process.env.CHAT_STATE_DIR;

/** The supervisor of the FastCGI pool and its workers. */
function pool() {
  const sup = Number(fs.readFileSync(path.join(STATE, 'run', 'fcgi.pid'), 'utf8').trim());
  let kids = '';
  try {
    kids = execFileSync('pgrep', ['-P', String(sup)], { encoding: 'utf8' });
  } catch { /* pgrep exits 1 when there are none */ }
  return { sup, workers: kids.split('\n').filter(Boolean).map(Number) };
}

function metricValue(text, name) {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line, `metric ${name} missing in:\n${text}`);
  return Number(line.split(' ')[1]);
}

test('workers killed under load: only answers or JSON 502s, and the pool replaces them', async () => {
  const u = await join('kill');
  const before = pool();
  assert.ok(before.workers.length >= 2, `workers: ${before.workers}`);
  const m0 = await api('GET', '/api/metrics');
  const restarts0 = metricValue(ok200Text(m0), 'chat_fcgi_worker_restarts_total');

  let stop = false;
  const seen = { ok: 0, bad: 0 };
  const load = (async () => {
    while (!stop) {
      const r = await api('GET', '/api/rooms?limit=5', { token: u.token });
      if (r.status === 200) {
        ok(r);
        seen.ok++;
      } else {
        // nginx answers for a worker that died mid-request, in the envelope.
        assert.ok([502, 503, 504].includes(r.status), show(r));
        assert.equal(r.json?.success, false, show(r));
        seen.bad++;
      }
    }
  })();
  await new Promise((r) => setTimeout(r, 200));
  for (const pid of before.workers) process.kill(pid, 'SIGKILL');
  await until(() => {
    const now = pool();
    return now.workers.length === before.workers.length &&
      now.workers.every((p) => !before.workers.includes(p));
  }, 10000, 'the pool to replace every killed worker');
  // Served again by the new workers.
  await new Promise((r) => setTimeout(r, 300));
  stop = true;
  await load;
  assert.ok(seen.ok > 0, JSON.stringify(seen));
  assert.equal(pool().sup, before.sup, 'the supervisor itself survived');
  ok(await api('GET', '/api/me', { token: u.token }));
  const m1 = await api('GET', '/api/metrics');
  assert.ok(metricValue(ok200Text(m1), 'chat_fcgi_worker_restarts_total') >= restarts0 + before.workers.length);
});

function ok200Text(r) {
  assert.equal(r.status, 200, show(r));
  assert.match(r.headers.get('content-type') ?? '', /^text\/plain/);
  return r.text;
}

test('metrics pages: the pool and each bridge, Prometheus text', async () => {
  const text = ok200Text(await api('GET', '/api/metrics'));
  assert.match(text, /^chat_build_info\{version="[^"]+",schema="\d{4}"\} 1$/m);
  assert.match(text, /^chat_fcgi_requests_total\{status="2xx"\} \d+$/m);
  const ws = ok200Text(await api('GET', '/metrics/ws/0'));
  assert.match(ws, /^chat_ws_sessions\{transport="websocket"\} \d+$/m);
  assert.equal(metricValue(ws, 'chat_ws_db_up{conn="query"}'), 1);
  assert.equal(metricValue(ws, 'chat_ws_db_up{conn="listen"}'), 1);
});

test('read-only database: writes answer 503 db_unavailable, reads work, and it recovers', async () => {
  const u = await join('ro');
  const room = await createRoom(u.token, 'ro');
  await send(u.token, room.id, 'before');
  const sql = (on) => stack('psql', {}, ['-qAt', '-c',
    on ? 'ALTER SYSTEM SET default_transaction_read_only = on' : 'ALTER SYSTEM RESET default_transaction_read_only',
    '-c', 'SELECT pg_reload_conf()']);
  sql(true);
  try {
    await until(async () => (await api('POST', `/api/messages/${room.id}`, {
      token: u.token, body: { message: 'probe' } })).status === 503, 5000, 'writes to be refused');
    for (let i = 0; i < 4; i++) {
      fails(await api('POST', `/api/messages/${room.id}`, { token: u.token, body: { message: 'ro' } }), 503, 'db_unavailable');
      fails(await api('POST', '/api/rooms', { token: u.token, body: { room_name: `ro-${Date.now()}-${i}` } }), 503, 'db_unavailable');
    }
    const h = ok(await api('GET', `/api/messages/${room.id}`, { token: u.token }));
    assert.deepEqual(h.messages.map((m) => m.content), ['before']);
    ok(await api('GET', '/api/health'));
  } finally {
    sql(false);
  }
  await until(async () => (await api('POST', `/api/messages/${room.id}`, {
    token: u.token, body: { message: 'after' } })).status === 201, 5000, 'writes to work again');
  const h = ok(await api('GET', `/api/messages/${room.id}`, { token: u.token }));
  assert.deepEqual(h.messages.map((m) => m.content), ['before', 'after']);
});
