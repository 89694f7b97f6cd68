#!/usr/bin/env node
// compare-report.mjs -- the side-by-side table of bench/compare: chat against the Flask and Node peers.
//
// Usage: node bench/compare-report.mjs build/compare/<stamp>
//
// Reads lg-<target>-<run>.json (one loadgen JSON line each), wrk-<target>.wrk
// and machine.txt from that directory, prints the tables as Markdown and
// writes the same text to COMPARE.md there. Plain node, no dependencies.
// Every ratio is oriented so that > 1 means chat is better: chat/peer for
// throughput and connections, peer/chat for latency, memory and CPU.
// Exit status 1 when a run is missing, left no JSON, or reported a fatal error.
import fs from 'node:fs';
import path from 'node:path';

const dir = process.argv[2];
if (!dir || !fs.existsSync(dir)) {
  console.error('usage: node bench/compare-report.mjs DIR   (a build/compare/<stamp> directory)');
  process.exit(2);
}
const TARGETS = ['chat', 'flask', 'node'];
const PEERS = ['flask', 'node'];
const RUNS = ['fixed5', 'fixed20', 'sat', 'idle'];

const read = (f) => { try { return fs.readFileSync(path.join(dir, f), 'utf8'); } catch { return null; } };
const problems = [];

// ---------------------------------------------------------------- inputs
const lg = {};
for (const t of TARGETS) {
  lg[t] = {};
  for (const r of RUNS) {
    const txt = read(`lg-${t}-${r}.json`);
    if (txt === null) continue; // target not run
    const line = txt.trim().split('\n').pop();
    let j = null;
    try { j = JSON.parse(line); } catch { /* below */ }
    if (!j || typeof j !== 'object') { problems.push(`${t}/${r}: no JSON output`); continue; }
    if (j.fatal) problems.push(`${t}/${r}: fatal: ${j.fatal}`);
    lg[t][r] = j;
  }
}

const unit = (v) => {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(v || '');
  if (!m) return null;
  return Number(m[1]) * { us: 0.001, ms: 1, s: 1000, m: 60000 }[m[2]];
};
function parseWrk(txt) {
  if (!txt) return null;
  const r = {};
  let m;
  if ((m = /Requests\/sec:\s+([\d.]+)/.exec(txt))) r.rps = Number(m[1]); else return null;
  for (const q of ['50', '99']) if ((m = new RegExp(`\\n\\s+${q}(?:\\.000)?%\\s+(\\S+)`).exec(txt))) r[`p${q}`] = unit(m[1]);
  r.non2xx = (m = /Non-2xx or 3xx responses:\s+(\d+)/.exec(txt)) ? Number(m[1]) : 0;
  r.sockerr = (m = /Socket errors: (.*)/.exec(txt)) ? m[1].trim() : null;
  r.total = (m = /(\d+) requests in ([\d.]+\w+)/.exec(txt)) ? `${m[1]} in ${m[2]}` : null;
  return r;
}
const wrk = {};
for (const t of TARGETS) {
  const txt = read(`wrk-${t}.wrk`);
  if (txt === null) continue;
  wrk[t] = parseWrk(txt);
  if (!wrk[t]) problems.push(`${t}/wrk: no result`);
  else if (wrk[t].non2xx) problems.push(`${t}/wrk: ${wrk[t].non2xx} non-2xx responses`);
}
for (const f of (read('failed.txt') || '').split('\n').filter(Boolean)) {
  if (!problems.some((x) => x.startsWith(`${f}:`))) problems.push(`${f}: failed (see the bench/compare log)`);
}
const present = TARGETS.filter((t) => Object.keys(lg[t]).length || wrk[t]);
for (const t of present) for (const r of RUNS) if (!lg[t][r] && !problems.some((p) => p.startsWith(`${t}/${r}:`))) problems.push(`${t}/${r}: missing`);

// ---------------------------------------------------------------- metrics
const ok = (j) => j && !j.fatal;
const send = (r, k) => (t) => { const j = lg[t][r]; return ok(j) && j.send ? j.send[k] : null; };
const lat = (r, k, q) => (t) => { const j = lg[t][r]; return ok(j) && j.send && j.send[k] && j.send[k].n ? j.send[k][q] : null; };
const cpu = (r, k) => (t) => { const j = lg[t][r]; return ok(j) && j.cpu_send_phase ? j.cpu_send_phase[k] : null; };
const cpuSum = (r) => (t) => {
  const j = lg[t][r];
  if (!ok(j) || !j.cpu_send_phase || j.cpu_send_phase.server_cpu_pct == null) return null;
  return j.cpu_send_phase.server_cpu_pct + (j.cpu_send_phase.aux_cpu_pct || 0);
};
const idle = (k) => (t) => { const j = lg[t].idle; return ok(j) ? j[k] : null; };
const wrkv = (k) => (t) => (wrk[t] ? wrk[t][k] : null);

// better: 'high' (ratio chat/peer), 'low' (ratio peer/chat), null (no ratio: a measurement check)
const sections = [
  ['Throughput', [
    ['stored msg/s, sat', send('sat', 'stored_msgs_per_s'), 'high', 1],
    ['deliveries/s, sat', send('sat', 'deliveries_per_s'), 'high', 0],
    ['stored msg/s, fixed20 (200 offered)', send('fixed20', 'stored_msgs_per_s'), 'high', 1],
    ['deliveries/s, fixed20', send('fixed20', 'deliveries_per_s'), 'high', 0],
  ]],
  ['Latency (ms)', ['fixed5', 'fixed20', 'sat'].flatMap((r) => [
    [`e2e p50, ${r}`, lat(r, 'e2e_latency_ms', 'p50'), 'low', 1],
    [`e2e p99, ${r}`, lat(r, 'e2e_latency_ms', 'p99'), 'low', 1],
    [`ack p99, ${r}`, lat(r, 'ack_latency_ms', 'p99'), 'low', 1],
  ])],
  ['CPU during the send phase (% of one core; the machine has 200 %)', ['fixed5', 'fixed20', 'sat'].flatMap((r) => [
    [`server CPU %, ${r}`, cpu(r, 'server_cpu_pct'), 'low', 0],
    [`server + PostgreSQL CPU %, ${r}`, cpuSum(r), 'low', 0],
    [`machine busy %, ${r}`, cpu(r, 'machine_busy_pct'), 'low', 0],
    [`loadgen CPU %, ${r}`, cpu(r, 'loadgen_cpu_pct'), null, 0, true],
    [`other CPU % (not server/PG/loadgen), ${r}`, cpu(r, 'unattributed_cpu_pct'), null, 0],
  ])],
  ['Idle connections', [
    ['RSS per connection (KB)', idle('rss_per_conn_kb'), 'low', 1],
    ['max connected', idle('max_connected'), 'high', 0],
  ]],
  ['REST: wrk GET /api/rooms (-t2 -c50, 11 rooms)', [
    ['req/s', wrkv('rps'), 'high', 0],
    ['p99 (ms)', wrkv('p99'), 'low', 1],
  ]],
];

const fmt = (x, d) => (x == null || Number.isNaN(x) ? '–' : Number(x).toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }));
function ratio(c, p, better) {
  if (!better || c == null || p == null) return '–';
  const r = better === 'high' ? c / p : p / c;
  if (!Number.isFinite(r) || r === 0) return '–';
  return `${r >= 10 ? r.toFixed(0) : r.toFixed(2)}×`;
}

const out = [];
const p = (s = '') => out.push(s);
const stamp = path.basename(path.resolve(dir));
p(`## bench/compare ${stamp}: chat vs the Flask and Node peers`);
p();
p('Same load generator (the peers\' `loadgen.js`, unchanged) and the same runs as the peers\' `run-all.sh`:');
p('200 clients in one room, 10 senders; `fixed5` = 10 × 5 msg/s, `fixed20` = 10 × 20 msg/s, `sat` = closed loop,');
p('window 1. chat = this project through nginx (1 bridge, rate limits lifted); flask = `flask/app.py` (loadgen offers');
p('permessage-deflate, as in the peers\' `flask` row); node = `node/server.js`, 1 process. CPU "server" is the');
p('server process tree (chat: chat-ws + nginx + chat-fcgi); PostgreSQL is counted apart (chat, node).');
p();
p('**Ratios: > 1 = chat better** (chat/peer for throughput and connections; peer/chat for latency, memory, CPU).');
p('CPU ratios at the fixed rates compare the cost of the same load; at `sat` read them with the throughput.');
p('"other CPU" = machine busy − server − PostgreSQL − loadgen: other work on the shared machine and kernel time.');
p();
const machine = read('machine.txt');
if (machine) {
  const m = Object.fromEntries(machine.trim().split('\n').map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]));
  p(`Machine: ${m.nproc} cores (${m.cpu}), ${m.os}, ${m.date}; chat at ${m.chat}; ${m.settings}.`);
  p();
}
const flags = [];
for (const [title, rows] of sections) {
  p(`### ${title}`);
  p();
  p('| metric | chat | flask | node | chat vs flask | chat vs node |');
  p('|---|---|---|---|---|---|');
  for (const [label, get, better, dec, flag85] of rows) {
    const v = Object.fromEntries(TARGETS.map((t) => [t, get(t)]));
    const cell = (t) => {
      let s = fmt(v[t], dec);
      if (flag85 && v[t] != null && v[t] >= 85) { s += ' ⚠'; flags.push(`${t}: ${label} = ${v[t]} (≥ 85 %: the load generator co-limits this run)`); }
      return s;
    };
    p(`| ${label} | ${cell('chat')} | ${cell('flask')} | ${cell('node')} | ${ratio(v.chat, v.flask, better)} | ${ratio(v.chat, v.node, better)} |`);
  }
  p();
}
if (flags.length) {
  p('⚠ Load generator at ≥ 85 % of a core (figures of that run are a lower bound for the server):');
  p();
  for (const f of flags) p(`- ${f}`);
  p();
}

// ---------------------------------------------------------------- sanity per run
p('### Checks per run');
p();
p('| target | run | sent / acked | delivered ratio | errors | unexpected disconnects | bg busy % before |');
p('|---|---|---|---|---|---|---|');
const errs = (j) => {
  const parts = Object.entries(j.errors || {}).map(([k, n]) => `${k}=${n}`);
  if (j.send && j.send.inflight_at_end) parts.push(`unacked_at_end=${j.send.inflight_at_end}`);
  return parts.length ? parts.join(', ') : '0';
};
for (const t of TARGETS) {
  for (const r of RUNS) {
    const j = lg[t][r];
    if (!j) { if (present.includes(t)) p(`| ${t} | ${r} | NO OUTPUT | | | | |`); continue; }
    if (j.fatal) { p(`| ${t} | ${r} | FATAL: ${j.fatal} | | ${errs(j)} | | ${fmt(j.background_busy_pct_before, 0)} |`); continue; }
    if (r === 'idle') {
      p(`| ${t} | idle | ${j.max_connected} connected (${j.stop_reason}); ${j.connected_after_hold} after hold | – | ${errs(j)} | ${j.hold_disconnects} during hold | ${fmt(j.background_busy_pct_before, 0)} |`);
    } else {
      const s = j.send;
      p(`| ${t} | ${r} | ${s.sent} / ${s.acked} | ${s.delivered_ratio} | ${errs(j)} | ${j.unexpected_disconnects} | ${fmt(j.background_busy_pct_before, 0)} |`);
    }
  }
}
p();
for (const t of TARGETS) {
  const w = wrk[t];
  if (w && (w.non2xx || w.sockerr)) p(`- wrk ${t}: non-2xx ${w.non2xx}, socket errors: ${w.sockerr || 'none'}`);
}
// ---------------------------------------------------------------- fair rows (issue 16, item 5)
// chat-direct (chat-ws without nginx) and node-nginx (Node behind an nginx of chat's settings), and the CPU of
// each server process apart (split-<target>-<run>.jsonl from bench/compare-split.cjs, over the loadgen's send
// window): each server's own cost per delivery apart from the proxy's.
function fairRows() {
  const FAIR = ['chat', 'chat-direct', 'node', 'node-nginx'];
  const fairLg = {};
  const split = {};
  for (const t of FAIR) {
    fairLg[t] = lg[t] || {};
    split[t] = {};
    for (const r of RUNS) {
      if (!lg[t]) {
        const txt = read(`lg-${t}-${r}.json`);
        if (txt !== null) {
          let j = null;
          try { j = JSON.parse(txt.trim().split('\n').pop()); } catch { /* below */ }
          if (!j || typeof j !== 'object') problems.push(`${t}/${r}: no JSON output`);
          else { if (j.fatal) problems.push(`${t}/${r}: fatal: ${j.fatal}`); fairLg[t][r] = j; }
        }
      }
      const s = read(`split-${t}-${r}.jsonl`);
      if (s) { try { split[t][r] = JSON.parse(s.trim().split('\n')[0]); } catch { /* no split */ } }
    }
  }
  const ran = FAIR.filter((t) => Object.keys(fairLg[t]).length);
  if (!ran.some((t) => t === 'chat-direct' || t === 'node-nginx')) return;
  for (const t of ['chat-direct', 'node-nginx']) {
    if (!ran.includes(t)) continue;
    for (const r of RUNS) if (!fairLg[t][r] && !problems.some((x) => x.startsWith(`${t}/${r}:`))) problems.push(`${t}/${r}: missing`);
  }
  const dps = (t, r) => { const j = fairLg[t][r]; return ok(j) && j.send && j.send.deliveries_per_s ? j.send.deliveries_per_s : null; };
  // Deliveries inside the first SECS seconds of the send phase, from the loadgen's per-second counts (the
  // CPU window is the send phase; deliveries that arrive in the drain after it are not in its CPU).
  const delivIn = (j, secs) => {
    const a = j.send.per_sec_deliveries || [];
    const whole = Math.floor(secs);
    let n = 0;
    for (let k = 0; k < whole && k < a.length; k++) n += a[k] || 0;
    return n + (secs - whole) * (a[whole] || 0);
  };
  // µs of CPU per delivery: CPU seconds of the process trees over the send window / deliveries in it.
  const usPer = (t, r, procs) => {
    const sp = split[t][r]; const j = fairLg[t][r];
    if (!sp || !ok(j) || !j.send) return null;
    const d = delivIn(j, sp.seconds);
    if (!(d > 0)) return null;
    let sum = 0;
    for (const n of procs) { if (sp.cpu_pct[n] == null) return null; sum += sp.cpu_pct[n]; }
    return ((sum / 100) * sp.seconds / d) * 1e6;
  };
  const SERVER = { chat: ['ws', 'nginx', 'fcgi'], 'chat-direct': ['ws', 'nginx', 'fcgi'], node: ['node'], 'node-nginx': ['node', 'nginx'] };
  const withPg = (t) => [...SERVER[t], 'postgres'];

  p('### Fair rows: each server\'s own cost apart from the proxy\'s');
  p();
  p('chat-direct = the Socket.IO connections straight to chat-ws (REST still nginx → chat-fcgi); node-nginx = the');
  p('Node process behind an nginx with chat\'s settings. CPU per delivery = the process tree\'s CPU over the');
  p('loadgen\'s send window (bench/compare-split.cjs) / deliveries in that window (its per-second counts), in µs. "ws" = chat-ws, "fcgi" =');
  p('chat-fcgi (REST only: ≈ 0 in the send phase).');
  p();
  p('| run | metric | chat | chat-direct | node | node-nginx |');
  p('|---|---|---|---|---|---|');
  const cellsOf = (f, dec) => FAIR.map((t) => fmt(f(t), dec)).join(' | ');
  for (const r of ['fixed5', 'fixed20', 'sat']) {
    p(`| ${r} | deliveries/s | ${cellsOf((t) => dps(t, r), 0)} |`);
    p(`| ${r} | e2e p50 / p99 ms | ${FAIR.map((t) => { const j = fairLg[t][r]; const e = ok(j) && j.send && j.send.e2e_latency_ms; return e && e.n ? `${fmt(e.p50, 1)} / ${fmt(e.p99, 1)}` : '–'; }).join(' | ')} |`);
    for (const proc of ['ws', 'node', 'nginx', 'fcgi', 'postgres']) {
      p(`| ${r} | µs CPU/delivery: ${proc} | ${cellsOf((t) => (split[t][r] && split[t][r].cpu_pct[proc] != null ? usPer(t, r, [proc]) : null), 2)} |`);
    }
    p(`| ${r} | µs CPU/delivery: server all-in | ${cellsOf((t) => usPer(t, r, SERVER[t]), 2)} |`);
    p(`| ${r} | µs CPU/delivery: server + PostgreSQL | ${cellsOf((t) => usPer(t, r, withPg(t)), 2)} |`);
  }
  p();

  // The targets of issue 16 item 5, each with the figures it is computed from.
  const verdict = (v, goal, cmp) => (v == null ? 'not measured' : (cmp === '≤' ? v <= goal : v >= goal) ? 'met' : 'missed');
  const rx = (a, b) => (a != null && b != null && b !== 0 ? a / b : null);
  const r20 = 'fixed20';
  p('#### Targets (issue 16, item 5)');
  p();
  p('| target | figure | verdict |');
  p('|---|---|---|');
  const wsOwn = usPer('chat-direct', r20, ['ws']) ?? usPer('chat', r20, ['ws']);
  const nodeOwn = usPer('node', r20, ['node']);
  const q = rx(wsOwn, nodeOwn);
  p(`| chat-ws's own CPU per delivery ≤ ¼ of Node's (fixed20) | chat-ws ${fmt(wsOwn, 2)} µs, Node ${fmt(nodeOwn, 2)} µs: ${fmt(q, 2)} of Node's | ${verdict(q, 0.25, '≤')} |`);
  const effNginx = rx(usPer('node-nginx', r20, SERVER['node-nginx']), usPer('chat', r20, SERVER.chat));
  p(`| all-in through nginx ≥ 2× Node behind nginx at the same load (CPU per delivery, fixed20) | chat ${fmt(usPer('chat', r20, SERVER.chat), 2)} µs, node-nginx ${fmt(usPer('node-nginx', r20, SERVER['node-nginx']), 2)} µs: ${fmt(effNginx, 2)}× | ${verdict(effNginx, 2, '≥')} |`);
  const effNginxPg = rx(usPer('node-nginx', r20, withPg('node-nginx')), usPer('chat', r20, withPg('chat')));
  p(`| the same with PostgreSQL counted (fixed20) | chat ${fmt(usPer('chat', r20, withPg('chat')), 2)} µs, node-nginx ${fmt(usPer('node-nginx', r20, withPg('node-nginx')), 2)} µs: ${fmt(effNginxPg, 2)}× | ${verdict(effNginxPg, 2, '≥')} |`);
  const satNginx = rx(dps('chat', 'sat'), dps('node-nginx', 'sat'));
  p(`| all-in through nginx ≥ 2× Node behind nginx (deliveries/s, sat) | chat ${fmt(dps('chat', 'sat'), 0)}, node-nginx ${fmt(dps('node-nginx', 'sat'), 0)}: ${fmt(satNginx, 2)}× | ${verdict(satNginx, 2, '≥')} |`);
  const effDirect = rx(usPer('node', r20, SERVER.node), usPer('chat', r20, SERVER.chat));
  p(`| chat through nginx ahead of Node direct (CPU per delivery, fixed20) | chat ${fmt(usPer('chat', r20, SERVER.chat), 2)} µs, node ${fmt(usPer('node', r20, SERVER.node), 2)} µs: ${fmt(effDirect, 2)}× | ${verdict(effDirect, 1, '≥')} |`);
  const satDirect = rx(dps('chat', 'sat'), dps('node', 'sat'));
  p(`| chat through nginx ahead of Node direct (deliveries/s, sat) | chat ${fmt(dps('chat', 'sat'), 0)}, node ${fmt(dps('node', 'sat'), 0)}: ${fmt(satDirect, 2)}× | ${verdict(satDirect, 1, '≥')} |`);
  p();
  p('Background load of each run (machine busy % before it, of 200): ' + FAIR.filter((t) => ran.includes(t)).map((t) => `${t} ${RUNS.map((r) => (fairLg[t][r] ? fmt(fairLg[t][r].background_busy_pct_before, 0) : '–')).join('/')}`).join('; ') + ' (fixed5/fixed20/sat/idle).');
  p();
  for (const t of ['chat-direct', 'node-nginx']) {
    if (!ran.includes(t)) continue;
    for (const r of RUNS) {
      const j = fairLg[t][r];
      if (!j || j.fatal) continue;
      const e = Object.entries(j.errors || {}).map(([k, n]) => `${k}=${n}`).join(', ') || '0';
      if (r === 'idle') p(`- ${t}/idle: ${j.max_connected} connected (${j.stop_reason}), RSS per connection ${fmt(j.rss_per_conn_kb, 2)} KB, errors ${e}`);
      else p(`- ${t}/${r}: sent/acked ${j.send.sent}/${j.send.acked}, delivered ratio ${j.send.delivered_ratio}, errors ${e}, unexpected disconnects ${j.unexpected_disconnects}`);
    }
  }
  p();
}
fairRows();

if (problems.length) {
  p('**Problems:**');
  p();
  for (const x of problems) p(`- ${x}`);
  p();
}

chatBenchSection();

const text = `${out.join('\n')}\n`;
process.stdout.write(text);
fs.writeFileSync(path.join(dir, 'COMPARE.md'), text);
process.exit(problems.length ? 1 : 0);

// ---------------------------------------------------------------- chat-bench beside loadgen.js
// cb-<target>-<run>.json: chat-bench's JSON line for the same room (fixed20 =
// 200 msg/s, sat = closed loop) and durable sends, on chat and node.
function chatBenchSection() {
  const CB_TARGETS = ['chat', 'node'];
  const cb = {};
  for (const t of CB_TARGETS) {
    cb[t] = {};
    for (const r of ['fixed20', 'sat', 'durable']) {
      const txt = read(`cb-${t}-${r}.json`);
      if (txt === null) continue;
      try { cb[t][r] = JSON.parse(txt.trim().split('\n').pop()); } catch { problems.push(`${t}/cb-${r}: no JSON output`); }
    }
  }
  if (!CB_TARGETS.some((t) => Object.keys(cb[t]).length)) return;
  const rate = (r, k) => (t) => cb[t][r]?.rates?.[k] ?? null;
  const e2e = (r, q) => (t) => (cb[t][r]?.latency_us?.[r === 'durable' ? 'ack' : 'e2e']?.[q] ?? null) / 1000 || null;
  const pct = (j, k) => j?.procs?.[k]?.cpu_pct ?? 0;
  const server = (j, t) => (t === 'node' ? pct(j, 'node') : pct(j, 'chat-ws') + pct(j, 'nginx') + pct(j, 'chat-fcgi'));
  const perDeliv = (r, f) => (t) => {
    const j = cb[t][r];
    const d = j?.rates?.deliveries_per_s;
    return d ? (f(j, t) / 100 / d) * 1e6 : null;
  };
  const lgRatio = (get, better) => ratio(get('chat'), get('node'), better);
  const lgDeliv = (r) => send(r, 'deliveries_per_s');
  const rows = [
    ['deliveries/s, sat', rate('sat', 'deliveries_per_s'), 'high', 0, lgDeliv('sat')],
    ['deliveries/s, fixed20', rate('fixed20', 'deliveries_per_s'), 'high', 0, lgDeliv('fixed20')],
    ['e2e p50 ms, fixed20', e2e('fixed20', 'p50'), 'low', 1, lat('fixed20', 'e2e_latency_ms', 'p50')],
    ['e2e p99 ms, fixed20', e2e('fixed20', 'p99'), 'low', 1, lat('fixed20', 'e2e_latency_ms', 'p99')],
    ['e2e p50 ms, sat', e2e('sat', 'p50'), 'low', 1, lat('sat', 'e2e_latency_ms', 'p50')],
    ['e2e p99 ms, sat', e2e('sat', 'p99'), 'low', 1, lat('sat', 'e2e_latency_ms', 'p99')],
    ['server CPU µs per delivery, fixed20', perDeliv('fixed20', server), 'low', 2, null],
    ['server + PostgreSQL CPU µs per delivery, fixed20', perDeliv('fixed20', (j, t) => server(j, t) + pct(j, 'postgres')), 'low', 2, null],
    ['server CPU µs per delivery, sat', perDeliv('sat', server), 'low', 2, null],
    ['durable acked msg/s (10 × 32 in flight)', rate('durable', 'acked_per_s'), 'high', 0, null],
    ['durable ack p99 ms', e2e('durable', 'p99'), 'low', 1, null],
    ['chat-bench CPU µs per delivery, sat', perDeliv('sat', (j) => pct(j, 'bench')), null, 2, null],
    ['chat-bench CPU %, sat', (t) => cb[t].sat?.procs?.bench?.cpu_pct ?? null, null, 0, null],
  ];
  p('### chat-bench (C) beside loadgen.js: chat vs node');
  p();
  p('The same room with this project\'s load generator (`build/chat-bench`, an epoll client costing a few µs per');
  p('delivery): `fixed20` = 200 msg/s, `sat` = closed loop, 10 senders × 1; durable = 10 senders × 32 in flight.');
  p('Server CPU: chat = chat-ws + nginx + chat-fcgi, node = the node process; PostgreSQL apart. Ratios > 1 = chat better.');
  p();
  p('| metric | chat | node | chat vs node (chat-bench) | chat vs node (loadgen.js) |');
  p('|---|---|---|---|---|');
  for (const [label, get, better, dec, lgGet] of rows) {
    const c = get('chat'), n = get('node');
    p(`| ${label} | ${fmt(c, dec)} | ${fmt(n, dec)} | ${ratio(c, n, better)} | ${lgGet ? lgRatio(lgGet, better) : '–'} |`);
  }
  p();
  p('| target | run | sent / acked | delivered ratio | seq gaps / dups | errors | bg busy % before |');
  p('|---|---|---|---|---|---|---|');
  for (const t of CB_TARGETS) {
    for (const r of ['fixed20', 'sat', 'durable']) {
      const j = cb[t][r];
      if (!j) continue;
      const c = j.counts || {};
      const e = Object.entries(j.errors || {}).map(([k, v]) => `${k}=${v}`).join(', ') || '0';
      p(`| ${t} | cb ${r} | ${c.sent} / ${c.acked} | ${c.delivered_ratio} | ${c.seq_gaps} / ${c.seq_dups} | ${e} | ${fmt(j.background_busy_pct, 0)} |`);
      if (c.delivered_ratio !== 1) problems.push(`${t}/cb-${r}: delivered ratio ${c.delivered_ratio}`);
    }
  }
  p();
}
