// t42-metrics -- observability (issue 15 item 6): both metrics pages by
// the Prometheus conventions (seconds, _total counters, histograms with
// cumulative _bucket{le}, _sum, _count; chat_build_info; no pid label);
// chat-fcgi's counters summed across workers whoever starts them
// (spawn-fcgi -F N, multiwatch -f N: one shared mapping); CHAT_METRICS_ALLOW
// on both programs, refused addresses and bad values; the bridge's
// /healthz (200 with both database connections, 503 without); promtool's
// lint of both pages.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { api, join, REPO, fcgiRequest } from './lib.mjs';
import { conninfo, sleep } from './sio.mjs';

const BUILD = path.resolve(REPO, process.env.CHAT_BUILD || 'build/asan');
const VERSION = fs.readFileSync(path.join(REPO, 'VERSION'), 'utf8').trim();
const SCHEMA = fs.readdirSync(path.join(REPO, 'migrations'))
  .filter((f) => /^\d{4}_.*\.sql$/.test(f)).sort().pop().slice(0, 4);
const DB = conninfo('chat', { user: 'chat_svc' });
const WS_PORT = Number(process.env.CHAT_WS_PORT || Number(process.env.CHAT_PORT || 18080) + 1);
const EXTRA_WS_PORT = Number(process.env.CHAT_PORT || 18080) + 9;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 't42-'));
const children = [];

after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  await sleep(500);
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Checks a page against the text format's conventions; returns {name: [{labels, value}]}. */
function checkConventions(text) {
  const types = {};
  const samples = {};
  for (const line of text.split('\n')) {
    if (!line) continue;
    let m = /^# TYPE ([a-z_]+) (counter|gauge|histogram|summary)$/.exec(line);
    if (m) {
      assert.ok(!types[m[1]], `TYPE ${m[1]} twice`);
      types[m[1]] = m[2];
      continue;
    }
    if (line.startsWith('# HELP ')) continue;
    m = /^([a-z_]+)(\{[^}]*\})? (-?[0-9.e+]+|\+Inf)$/.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    assert.doesNotMatch(line, /\bpid="/, 'no pid label');
    (samples[m[1]] ??= []).push({ labels: m[2] || '', value: Number(m[3]) });
  }
  for (const [name, type] of Object.entries(types)) {
    assert.doesNotMatch(name, /_ms(_|$)/, `${name}: base units (seconds), not milliseconds`);
    if (type === 'counter') assert.match(name, /_total$/, `counter ${name} ends in _total`);
    if (type === 'histogram') {
      const b = samples[`${name}_bucket`];
      assert.ok(b && b.length > 2, `${name}_bucket`);
      let prev = 0;
      for (const s of b) {
        assert.ok(s.value >= prev, `${name} buckets are cumulative`);
        prev = s.value;
      }
      assert.equal(b.at(-1).labels, '{le="+Inf"}');
      assert.equal(samples[`${name}_count`][0].value, b.at(-1).value, `${name}: +Inf = _count`);
      assert.ok(samples[`${name}_sum`][0].value >= 0);
    }
  }
  for (const name of Object.keys(samples)) {
    const base = name.replace(/_(bucket|sum|count)$/, '');
    assert.ok(types[name] || types[base], `sample ${name} has a TYPE`);
  }
  assert.deepEqual(samples.chat_build_info, [{ labels: `{version="${VERSION}",schema="${SCHEMA}"}`, value: 1 }]);
  return samples;
}

const value = (samples, name, labels = '') => samples[name].find((s) => s.labels === labels).value;

test('chat-fcgi /api/metrics: Prometheus conventions, request histogram counts requests', async () => {
  await join('met');
  const r = await api('GET', '/api/metrics');
  assert.equal(r.status, 200);
  const s = checkConventions(r.text);
  assert.ok(value(s, 'chat_fcgi_request_duration_seconds_count') >= 1);
  assert.ok(value(s, 'chat_fcgi_requests_total', '{status="2xx"}') >= 1);
});

test('chat-ws /metrics: Prometheus conventions, ack and delivery histograms', async () => {
  const r = await api('GET', '/metrics/ws/0');
  assert.equal(r.status, 200);
  const s = checkConventions(r.text);
  for (const h of ['chat_ws_ack_seconds', 'chat_ws_delivery_seconds']) assert.ok(s[`${h}_bucket`], h);
  assert.ok(s.chat_ws_db_roundtrip_seconds_sum);
});

test('promtool check metrics (Prometheus\'s own linter) accepts both pages without a complaint', async () => {
  for (const url of ['/api/metrics', '/metrics/ws/0']) {
    const r = await api('GET', url);
    assert.equal(r.status, 200);
    const p = spawnSync('promtool', ['check', 'metrics'], { input: r.text, encoding: 'utf8' });
    assert.equal(p.error, undefined, `promtool runs (deploy/local/deps.sh installs prometheus): ${p.error}`);
    assert.equal(p.status, 0, `promtool on ${url}:\n${p.stdout}${p.stderr}`);
    assert.equal(`${p.stdout}${p.stderr}`.trim(), '', `promtool says nothing of ${url}`);
  }
});

// ------------------------------------------------ FastCGI, spoken directly

/** Starts chat-fcgi workers on their own socket through cmd (spawn-fcgi -F / multiwatch); waits until they answer. */
async function startPool(name, argv, env = {}) {
  const sock = path.join(tmp, `${name}.sock`);
  const child = spawn(argv[0], argv.slice(1).map((a) => a.replace('@SOCK@', sock)), {
    env: { ...process.env, DATABASE_URL: DB, CHAT_FCGI_WORKERS: '0', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  let log = '';
  child.stderr.on('data', (d) => { log += d; });
  for (let i = 0; i < 200; i++) {
    try {
      const r = await fcgiRequest(sock, '/api/health', { remoteAddr: '127.0.0.1' });
      if (r.status === 200) return { sock, child, log: () => log };
    } catch { /* not yet */ }
    await sleep(100);
  }
  throw new Error(`${name} did not answer: ${log}`);
}

async function countedAcrossWorkers(pool, n) {
  const metric = async () => {
    const r = await fcgiRequest(pool.sock, '/api/metrics', { remoteAddr: '127.0.0.1' });
    assert.equal(r.status, 200, r.body);
    return value(checkConventions(r.body), 'chat_fcgi_requests_total', '{status="2xx"}');
  };
  const before = await metric();
  // Six at a time, so that every worker takes some.
  for (let i = 0; i < n; i += 6) {
    const rs = await Promise.all(Array.from({ length: 6 }, () => fcgiRequest(pool.sock, '/api/health', { remoteAddr: '127.0.0.1' })));
    for (const r of rs) assert.equal(r.status, 200);
  }
  // Whichever worker answers the scrape reports all of them (+1: the first scrape).
  for (let i = 0; i < 6; i++) assert.equal(await metric(), before + n + 1 + i);
}

test('spawn-fcgi -F 3: the three processes count into one set of metrics', async () => {
  const pool = await startPool('forked', ['spawn-fcgi', '-F', '3', '-s', '@SOCK@', '-n', '--', path.join(BUILD, 'chat-fcgi')]);
  assert.ok(fs.existsSync(`${pool.sock}.metrics`), 'the mapping lives next to the socket');
  await countedAcrossWorkers(pool, 36);
});

test('multiwatch -f 3: the same', async () => {
  const file = path.join(tmp, 'mw.metrics');
  // spawn-fcgi execs its command without a PATH search.
  const mw = spawnSync('sh', ['-c', 'command -v multiwatch'], { encoding: 'utf8' }).stdout.trim();
  assert.ok(mw, 'multiwatch is installed (deploy/local/deps.sh)');
  const pool = await startPool('mw', ['spawn-fcgi', '-n', '-s', '@SOCK@', '--', mw, '-f', '3', '--', path.join(BUILD, 'chat-fcgi')],
    { CHAT_FCGI_METRICS_FILE: file });
  assert.ok(fs.existsSync(file));
  await countedAcrossWorkers(pool, 36);
});

test('CHAT_METRICS_ALLOW: chat-fcgi serves listed addresses and networks, refuses others with 403', async () => {
  const def = await startPool('allow-default', ['spawn-fcgi', '-n', '-s', '@SOCK@', '--', path.join(BUILD, 'chat-fcgi')]);
  for (const a of ['127.0.0.1', '127.9.9.9', '::1']) assert.equal((await fcgiRequest(def.sock, '/api/metrics', { remoteAddr: a })).status, 200, a);
  for (const a of ['203.0.113.5', '10.0.0.1', '::2', '', 'not-an-address', '::ffff:10.0.0.1']) {
    const r = await fcgiRequest(def.sock, '/api/metrics', { remoteAddr: a });
    assert.equal(r.status, 403, a);
    assert.doesNotMatch(r.body, /chat_/);
  }
  const lan = await startPool('allow-lan', ['spawn-fcgi', '-n', '-s', '@SOCK@', '--', path.join(BUILD, 'chat-fcgi')],
    { CHAT_METRICS_ALLOW: '203.0.113.0/24, 2001:db8::/32 192.0.2.7' });
  for (const a of ['203.0.113.5', '::ffff:203.0.113.200', '2001:db8:1::9', '192.0.2.7']) assert.equal((await fcgiRequest(lan.sock, '/api/metrics', { remoteAddr: a })).status, 200, a);
  for (const a of ['127.0.0.1', '203.0.114.5', '192.0.2.8', '2001:db9::1']) assert.equal((await fcgiRequest(lan.sock, '/api/metrics', { remoteAddr: a })).status, 403, a);
  // Everything else still answers.
  assert.equal((await fcgiRequest(lan.sock, '/api/health', { remoteAddr: '203.0.114.5' })).status, 200);
});

test('CHAT_METRICS_ALLOW: bad values are refused by --check and at start, naming the variable', () => {
  for (const v of ['foo', '10.0.0.0/33', '::/129', '10.0.0.0/x', '10.0.0.0/', '10.0.0.0/-1', ',', '1.2.3.4/8/8', '127.0.0.1:80',
    Array.from({ length: 33 }, (_, i) => `10.0.0.${i}`).join(',')]) {
    for (const prog of ['chat-fcgi', 'chat-ws']) {
      const c = spawnSync(path.join(BUILD, prog), ['--check'], { env: { ...process.env, DATABASE_URL: DB, CHAT_METRICS_ALLOW: v }, encoding: 'utf8' });
      assert.equal(c.status, 1, `${prog} ${v}: ${c.stdout}`);
      assert.match(c.stdout, /^configuration: FAILED: invalid CHAT_METRICS_ALLOW: /, v);
    }
    const r = spawnSync(path.join(BUILD, 'chat-ws'), [], { env: { ...process.env, DATABASE_URL: DB, CHAT_METRICS_ALLOW: v, CHAT_WS_PORT: String(EXTRA_WS_PORT) }, encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 2, `${v}: ${r.stderr}`);
    assert.match(r.stderr, /^chat-ws: invalid CHAT_METRICS_ALLOW: /);
  }
});

// ------------------------------------------------ the bridge

/** GET on the first bridge's own port. */
async function bridgeGet(port, p, headers = {}) {
  const r = await fetch(`http://127.0.0.1:${port}${p}`, { headers });
  return { status: r.status, text: await r.text(), type: r.headers.get('content-type') };
}

test('chat-ws /metrics: CHAT_METRICS_ALLOW applies to the client address nginx passes', async () => {
  assert.equal((await bridgeGet(WS_PORT, '/metrics')).status, 200);
  const refused = await bridgeGet(WS_PORT, '/metrics', { 'X-Real-IP': '203.0.113.9' });
  assert.equal(refused.status, 403);
  assert.doesNotMatch(refused.text, /chat_/);
  assert.equal((await bridgeGet(WS_PORT, '/metrics', { 'X-Forwarded-For': '203.0.113.9' })).status, 403);
  // Through nginx, from loopback.
  assert.equal((await api('GET', '/metrics/ws/1')).status, 200);
});

test('chat-ws /healthz: 200 with both database connections up, 503 without', async () => {
  const ok = await bridgeGet(WS_PORT, '/healthz');
  assert.equal(ok.status, 200);
  assert.equal(ok.text, 'ok: database listen connection up, query connection up\n');
  // A bridge whose database cannot be reached still starts, and says so.
  const child = spawn(path.join(BUILD, 'chat-ws'), [], {
    env: { ...process.env, DATABASE_URL: `host=${tmp} port=1 dbname=chat`, CHAT_WS_PORT: String(EXTRA_WS_PORT), CHAT_DB_TIMEOUT: '1' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  let r;
  for (let i = 0; i < 100; i++) {
    try {
      r = await bridgeGet(EXTRA_WS_PORT, '/healthz');
      break;
    } catch { await sleep(100); }
  }
  assert.ok(r, 'the extra bridge did not listen');
  assert.equal(r.status, 503);
  assert.equal(r.text, 'unavailable: database listen connection down, query connection down\n');
  child.kill('SIGTERM');
  await new Promise((res) => child.once('exit', res));
});
