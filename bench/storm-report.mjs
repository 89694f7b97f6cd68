#!/usr/bin/env node
// storm-report.mjs -- the table of bench/storm.sh: connects/s and CPU per connect, CPU per heartbeat.
//
// Usage: node bench/storm-report.mjs build/bench/storm-<stamp>.jsonl [storm-<stamp>-pgfuncs.txt]
//
// CPU per connect = a process's CPU over the ramp (chat-bench's ramp_cpu_pct, % of one core) x the ramp's
// seconds / the connections made. CPU per ping round trip = perf stat's task-clock of the process over its
// window / the pings sent meanwhile (connections x seconds / ping interval); system calls the same way.
// STORM_PARTS (as bench/storm.sh's): the parts to report, "ramp heartbeat" by default.
// Plain node, no dependencies. Exit status 1 when a part is missing.
import fs from 'node:fs';

const [file, funcs] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/storm-report.mjs STORM.jsonl [PGFUNCS.txt]');
  process.exit(2);
}
const runs = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const byLabel = Object.fromEntries(runs.map((r) => [r.label, r]));
const fmt = (x, d = 1) => (x == null || !Number.isFinite(x) ? '–' : Number(x).toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }));
const verdict = (ok) => (ok == null ? 'not measured' : ok ? 'met' : 'missed');
const out = [];
const p = (s = '') => out.push(s);
let rc = 0;
const parts = (process.env.STORM_PARTS || 'ramp heartbeat').split(/\s+/);

const ramp = byLabel['storm-ramp'];
if (parts.includes('ramp')) {
  p('### Connection storm (chat-bench idle ramp: CONNECT + join_room per connection)');
  p();
  if (!ramp || !ramp.connections) {
    p('no ramp result');
    rc = 1;
  } else {
    const c = ramp.connections;
    const rate = c.connect_s > 0 ? c.ready / c.connect_s : null;
    const per = (name) => {
      const pct = ramp.idle && ramp.idle.ramp_cpu_pct ? ramp.idle.ramp_cpu_pct[name] : null;
      return pct == null || !c.ready ? null : (pct / 100) * c.connect_s / c.ready * 1e6;
    };
    p(`${c.ready}/${c.target} connections (${c.failed} failed) in ${fmt(c.connect_s, 2)} s: **${fmt(rate, 0)} connects/s**; ` +
      `connect p50 ${fmt(c.connect_us.p50 / 1000, 0)} ms, p99 ${fmt(c.connect_us.p99 / 1000, 0)} ms; ` +
      `machine ${fmt(ramp.background_busy_pct, 0)} % busy (of 200) before the run.`);
    p();
    p('| process | CPU % over the ramp | µs CPU per connect |');
    p('|---|---|---|');
    let total = 0;
    for (const n of ['chat-ws', 'nginx', 'postgres', 'chat-fcgi']) {
      const v = per(n);
      if (v != null) total += v;
      p(`| ${n} | ${fmt(ramp.idle.ramp_cpu_pct[n])} | ${fmt(v, 0)} |`);
    }
    p(`| all | | ${fmt(total, 0)} |`);
    p();
    p(`Target ≥ 5,000 connects/s through nginx: ${fmt(rate, 0)}/s, ${verdict(rate == null ? null : rate >= 5000)}. ` +
      `At ${fmt(total, 0)} µs of CPU per connect the two cores would allow at most ${fmt(2e6 / total, 0)} connects/s.`);
    p();
    if (funcs && fs.existsSync(funcs)) {
      const rows = fs.readFileSync(funcs, 'utf8').split('\n').filter(Boolean).map((l) => l.split(' '));
      if (rows.length) {
        p('PostgreSQL functions over the ramp (track_functions; wall time inside the function, so it includes waits):');
        p();
        p('| function | calls | calls per connect | self ms per connect | total ms per connect |');
        p('|---|---|---|---|---|');
        for (const [name, calls, tot, self] of rows) {
          p(`| ${name} | ${calls} | ${fmt(calls / c.ready, 2)} | ${fmt(self / c.ready, 3)} | ${fmt(tot / c.ready, 3)} |`);
        }
        p();
      }
    }
  }
}

const hb = byLabel['storm-heartbeat'];
if (parts.includes('heartbeat')) {
  p('### Idle heartbeat (Engine.IO ping → pong through nginx)');
  p();
  if (!hb || !hb.perf) {
    p('no heartbeat result');
    rc = 1;
  } else {
    const live = hb.idle ? hb.idle.connections : hb.connections.ready;
    const pings = live * hb.perf.seconds * 1000 / hb.perf.ping_interval_ms;
    p(`${live} connections, a ping every ${hb.perf.ping_interval_ms} ms: ≈ ${fmt(pings, 0)} round trips in the ${hb.perf.seconds} s perf window; ` +
      `machine ${fmt(hb.background_busy_pct, 0)} % busy before the run.`);
    p();
    const cols = ['task-clock', 'sendto', 'recvfrom', 'epoll_ctl', 'epoll_wait', 'poll', 'writev', 'readv'];
    p(`| process | µs CPU per ping | ${cols.slice(1).map((x) => `${x} per ping`).join(' | ')} |`);
    p(`|---|---|${cols.slice(1).map(() => '---').join('|')}|`);
    let all = 0;
    let have = false;
    for (const n of ['chat-ws', 'nginx']) {
      const o = hb.perf[n];
      if (!o) { p(`| ${n} | – | ${cols.slice(1).map(() => '–').join(' | ')} |`); continue; }
      const us = o['task-clock'] != null ? (o['task-clock'] * 1000) / pings : null;
      if (us != null) { all += us; have = true; }
      p(`| ${n} | ${fmt(us, 1)} | ${cols.slice(1).map((k) => fmt(o[k] != null ? o[k] / pings : null, 2)).join(' | ')} |`);
    }
    p();
    p(`Target ≤ 10 µs of CPU per idle heartbeat all-in: chat-ws + nginx ${fmt(have ? all : null, 1)} µs, ${verdict(have ? all <= 10 : null)}. ` +
      `chat-bench's own figure over its hold window: chat-ws ${fmt(hb.procs['chat-ws'].cpu_pct)} %, nginx ${fmt(hb.procs.nginx.cpu_pct)} % of a core.`);
    p();
  }
}
process.stdout.write(`${out.join('\n')}\n`);
process.exit(rc);
