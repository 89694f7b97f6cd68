// t49-bench-smoke -- chat-bench (bench/, issue 16 item 3) against the test
// stack: its epoll engine does the WebSocket upgrade, Engine.IO and
// Socket.IO by itself, so a short fan-out and a short durable run must see
// every delivery once, in seq order (delivered ratio 1, no gap, no
// duplicate), every send acked, no connection failed. The stack keeps its
// rate limits (20 messages per user per 10 s, 32 unauthenticated sessions
// per address), so the runs stay under them: a fixed rate, few handshakes
// in flight. Timing is not asserted (speed is for bench/).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { BASE, REPO } from './lib.mjs';

const BUILD = path.resolve(REPO, process.env.CHAT_BUILD || 'build/asan');
const BENCH = path.join(BUILD, 'chat-bench');

before(() => {
  // make test builds it; a run of this file alone builds it with the flags
  // of its build dir (the sanitizers for build/asan).
  const san = process.env.CHAT_BENCH_SANITIZE ?? (path.basename(BUILD) === 'asan' ? 'address,undefined' : '');
  const r = spawnSync('make', ['-s', `BUILD=${BUILD}`, `SANITIZE=${san}`, 'chat-bench'],
    { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, `make chat-bench failed:\n${r.stdout}${r.stderr}`);
  assert.ok(fs.existsSync(BENCH), `${BENCH} was not built`);
});

/** Runs chat-bench with args; returns its JSON line. */
function bench(args) {
  const r = spawnSync(BENCH, ['--url', BASE, '--quiet', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', timeout: 120_000,
  });
  assert.equal(r.status, 0, `chat-bench ${args.join(' ')} exited ${r.status}:\n${r.stderr}`);
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]);
}

function assertClean(j, conns) {
  assert.equal(j.connections.ready, conns, JSON.stringify(j.errors ?? j.connections));
  assert.equal(j.connections.failed, 0);
  assert.equal(j.connections.disconnects, 0);
  assert.ok(j.counts.acked > 0, 'nothing was acked');
  assert.equal(j.counts.ack_errors, 0, JSON.stringify(j.errors));
  assert.equal(j.counts.unacked_at_end, 0);
  assert.equal(j.counts.sent, j.counts.acked);
  assert.equal(j.counts.deliveries, j.counts.expected_deliveries);
  assert.equal(j.counts.delivered_ratio, 1);
  assert.equal(j.counts.seq_gaps, 0);
  assert.equal(j.counts.seq_dups, 0);
}

test('fanout: 24 clients over 2 processes, every message delivered to each once, in seq order', () => {
  const j = bench(['--scenario', 'fanout', '--clients', '24', '--senders', '4', '--rate', '8',
    '--procs', '2', '--connect-concurrency', '8', '--warmup', '0.5', '--duration', '2', '--drain', '5',
    '--label', 't47-fanout']);
  assertClean(j, 24);
  assert.equal(j.counts.expected_deliveries, j.counts.acked * 24);
});

test('durable: 2 senders, acks after commit, the sender sees its own messages', () => {
  const j = bench(['--scenario', 'durable', '--senders', '2', '--rate', '4', '--warmup', '0.5',
    '--duration', '2', '--drain', '5', '--label', 't47-durable']);
  assertClean(j, 2);
});
