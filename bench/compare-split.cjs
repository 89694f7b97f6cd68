'use strict';
// compare-split.cjs -- preload for the peers' load generator: the CPU of each server process apart, over the
// load generator's own measurement windows.
//
// Usage: CHAT_COMPARE_SPLIT='chat-ws=123;nginx=456' CHAT_COMPARE_SPLIT_OUT=FILE \
//          node -r bench/compare-split.cjs loadgen.js --pid 123,456 ...
//
// The load generator sums the CPU of every --pid (with descendants) into one server_cpu_pct. To tell each
// server's own cost from the proxy's, this module takes the same figure per named group: it wraps
// process.cpuUsage, which loadgen.js calls exactly at the start of a measurement window (no argument: the send
// phase of a chat run, the ramp of an idle run) and at its end (with the start value). At each start it reads
// utime+stime+cutime+cstime of every group's process tree from /proc, as loadgen.js does for --pid; at each
// end it appends one JSON line to CHAT_COMPARE_SPLIT_OUT:
//   {"window":1,"seconds":3.01,"cpu_pct":{"chat-ws":41.2,"nginx":30.1}}
// (% of one core over the window). The load generator stays unchanged; without the two variables this module
// does nothing.

const fs = require('node:fs');
const { performance } = require('node:perf_hooks');

const spec = process.env.CHAT_COMPARE_SPLIT || '';
const outFile = process.env.CHAT_COMPARE_SPLIT_OUT || '';
const CLK_TCK = 100; // as loadgen.js: getconf CLK_TCK on Linux x86_64

// "name=pid,pid;name=pid" -> [[name, [pid, ...]], ...]; anything malformed is an error, not a silent zero.
function parseSpec(s) {
  return s.split(';').filter(Boolean).map((part) => {
    const m = /^([A-Za-z0-9_.-]+)=([0-9]+(?:,[0-9]+)*)$/.exec(part.trim());
    if (!m) throw new Error(`compare-split.cjs: bad group '${part}' in CHAT_COMPARE_SPLIT`);
    return [m[1], m[2].split(',').map(Number)];
  });
}

function tree(pid, acc) {
  if (acc.has(pid) || acc.size > 4096) return;
  acc.add(pid);
  let tasks = [];
  try { tasks = fs.readdirSync(`/proc/${pid}/task`); } catch { return; }
  for (const t of tasks) {
    let kids = '';
    try { kids = fs.readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim(); } catch { continue; }
    if (kids) for (const k of kids.split(/\s+/)) tree(Number(k), acc);
  }
}

function ticks(pids) {
  const all = new Set();
  for (const p of pids) tree(p, all);
  let sum = 0;
  for (const p of all) {
    try {
      const st = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      sum += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    } catch { /* exited: its CPU moved to its parent's cutime/cstime */ }
  }
  return sum;
}

if (spec && outFile) {
  const groups = parseSpec(spec);
  const snap = () => ({ t: performance.now(), ticks: Object.fromEntries(groups.map(([n, p]) => [n, ticks(p)])) });
  const orig = process.cpuUsage.bind(process);
  let start = null;
  let windows = 0;
  process.cpuUsage = function cpuUsageSplit(prev) {
    if (prev === undefined) {
      start = snap();
    } else if (start) {
      const end = snap();
      const secs = (end.t - start.t) / 1000;
      const pct = {};
      for (const [n] of groups) pct[n] = secs > 0 ? +(((end.ticks[n] - start.ticks[n]) / CLK_TCK / secs) * 100).toFixed(2) : null;
      windows++;
      fs.appendFileSync(outFile, `${JSON.stringify({ window: windows, seconds: +secs.toFixed(3), cpu_pct: pct })}\n`);
      start = null;
    }
    return orig(prev);
  };
}
