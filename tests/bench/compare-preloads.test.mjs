// compare-preloads.test.mjs -- bench/compare's preloads for the peers' load generator, each in a child node.
//
// Usage: node --test tests/bench/compare-preloads.test.mjs   (no stack needed)
//
// compare-auth.cjs: the bearer token on REST calls, POST /api/join without it, and with CHAT_COMPARE_REST_URL
// every fetch() rerouted to that origin (the chat-direct target); anything but an origin is refused.
// compare-split.cjs: one JSON line per measurement window (process.cpuUsage() then process.cpuUsage(prev)),
// with the CPU of each named process tree; a malformed CHAT_COMPARE_SPLIT is an error, not a silent zero.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const auth = path.join(repo, 'bench/compare-auth.cjs');
const split = path.join(repo, 'bench/compare-split.cjs');

// Runs SCRIPT in a node that first installs a fake fetch (recording calls), then preloads PRELOAD.
function runNode(preload, script, env) {
  const pre = `globalThis.__calls = []; globalThis.fetch = async (i, init) => {
    const h = init && init.headers ? new Headers(init.headers) : new Headers();
    globalThis.__calls.push([String(i instanceof Request ? i.url : i), h.get('authorization')]); return null; };
    require(${JSON.stringify(preload)});`;
  return spawnSync(process.execPath, ['-e', `${pre}\n${script}`], { env: { ...process.env, ...env }, encoding: 'utf8' });
}

test('compare-auth: token added except on POST /api/join; REST rerouted to CHAT_COMPARE_REST_URL', () => {
  const r = runNode(auth, `(async () => {
      await fetch('http://127.0.0.1:18481/api/rooms', { method: 'POST' });
      await fetch('http://127.0.0.1:18481/api/join', { method: 'POST' });
      await fetch(new URL('http://127.0.0.1:18481/api/rooms?x=1'));
      console.log(JSON.stringify(globalThis.__calls)); })()`,
  { CHAT_COMPARE_TOKEN: 'tok', CHAT_COMPARE_REST_URL: 'http://127.0.0.1:18480' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), [
    ['http://127.0.0.1:18480/api/rooms', 'Bearer tok'],
    ['http://127.0.0.1:18480/api/join', null],
    ['http://127.0.0.1:18480/api/rooms?x=1', 'Bearer tok'],
  ]);
});

test('compare-auth: without CHAT_COMPARE_REST_URL the URL stays as the load generator wrote it', () => {
  const r = runNode(auth, `(async () => { await fetch('http://127.0.0.1:5002/api/rooms');
      console.log(JSON.stringify(globalThis.__calls)); })()`, { CHAT_COMPARE_TOKEN: 'tok', CHAT_COMPARE_REST_URL: '' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), [['http://127.0.0.1:5002/api/rooms', 'Bearer tok']]);
});

test('compare-auth: a CHAT_COMPARE_REST_URL with a path is refused', () => {
  const r = runNode(auth, '', { CHAT_COMPARE_TOKEN: 'tok', CHAT_COMPARE_REST_URL: 'http://127.0.0.1:18480/api' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /must be an origin/);
});

test('compare-split: one line per window with the CPU of each named process tree', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'split-'));
  const out = path.join(dir, 'split.jsonl');
  const r = spawnSync(process.execPath, ['-r', split, '-e', ''],
    { env: { ...process.env, CHAT_COMPARE_SPLIT: 'self=abc', CHAT_COMPARE_SPLIT_OUT: out }, encoding: 'utf8' });
  assert.notEqual(r.status, 0, 'a non-numeric pid must be refused');
  assert.match(r.stderr, /bad group/);
  // This node itself is the group "self": it burns CPU inside the window, so its share is > 0.
  const r2 = spawnSync(process.execPath, ['-e', `
      process.env.CHAT_COMPARE_SPLIT = 'self=' + process.pid + ';init=1';
      require(${JSON.stringify(split)});
      const t0 = process.cpuUsage(); const end = Date.now() + 300; while (Date.now() < end) {}
      process.cpuUsage(t0); process.cpuUsage(t0);`],
  { env: { ...process.env, CHAT_COMPARE_SPLIT_OUT: out }, encoding: 'utf8' });
  assert.equal(r2.status, 0, r2.stderr);
  const lines = fs.readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, 1, 'an end without a start writes nothing');
  assert.equal(lines[0].window, 1);
  assert.ok(lines[0].seconds > 0.2, JSON.stringify(lines[0]));
  assert.ok(lines[0].cpu_pct.self > 0, JSON.stringify(lines[0]));
  assert.ok('init' in lines[0].cpu_pct);
  fs.rmSync(dir, { recursive: true, force: true });
});
