// t45-ops-pool-modes -- the ways to run the chat-fcgi pool besides the
// stack's own (spawn-fcgi -n with chat-fcgi's pool master), each on a
// socket of its own next to the stack, with the stack's database
// (docs/operations.md "Running the pool"):
// - spawn-fcgi -F 2: stderr is /dev/null there, so the log goes to syslog
//   (a datagram socket, CHAT_SYSLOG_SOCKET; here a receiver of the test's);
// - spawn-fcgi -n -- multiwatch -f 2: the log on stderr, a killed worker
//   replaced, SIGTERM stops the workers after their request (SIGUSR1).
// In both, the workers share one password-hash semaphore, named after the
// socket, without a pool master to make one.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { waitFor, procAlive, procChildren, fcgiRequest, stackFcgiEnv } from './lib.mjs';
import { STATE_DIR, sleep } from './sio.mjs';

const state = fs.realpathSync(STATE_DIR);
const dir = path.join(state, `ops-${process.pid}`);
const started = [];

after(() => {
  for (const pid of started) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  for (const key of semKeys) spawnSync('ipcrm', ['-S', key]);
  fs.rmSync(dir, { recursive: true, force: true });
});

const fcgiBin = () => {
  const pid = fs.readFileSync(path.join(state, 'run/fcgi.pid'), 'utf8').trim();
  // The stack's master was exec'd by spawn-fcgi: its executable is chat-fcgi.
  return fs.readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, '');
};

/** Runs argv with env (nothing else of ours) as the stack's user, its output to logPath. */
function run(argv, env, logPath) {
  const log = fs.openSync(logPath, 'a');
  const envArgs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  const cmd = process.getuid() === 0
    ? ['setpriv', ['--reuid=chat', '--regid=chat', '--init-groups', '--', 'env', '-i', ...envArgs, ...argv]]
    : ['env', ['-i', ...envArgs, ...argv]];
  const child = spawn(cmd[0], cmd[1], { cwd: '/', stdio: ['ignore', log, log], detached: true });
  fs.closeSync(log);
  return child;
}

/** A syslog daemon's socket (SOCK_DGRAM) at sockPath; each datagram becomes a line of outPath. */
function syslogReceiver(sockPath, outPath) {
  const py = [
    'import socket, os, sys',
    's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
    's.bind(sys.argv[1]); os.chmod(sys.argv[1], 0o666)',
    'f = open(sys.argv[2], "ab", buffering=0)',
    'while True: f.write(s.recv(65536) + b"\\n")',
  ].join('\n');
  const child = spawn('/usr/bin/python3', ['-c', py, sockPath, outPath], { stdio: 'ignore', detached: true });
  child.unref();
  started.push(child.pid);
  return child;
}

/** The scheduling policy of pid (sched(7): 0 SCHED_OTHER, 3 SCHED_BATCH): field 41 of /proc/<pid>/stat. */
const schedPolicy = (pid) => Number(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[38]);

const semKeys = new Set();
const read = (p) => (fs.existsSync(p) ? fs.readFileSync(p, 'utf8') : '');

/** The semaphore keys the workers logged, each once per worker: asserts they are one. */
function sharedKey(text, n) {
  const keys = [...text.matchAll(/semaphore key (0x[0-9a-f]{8})/g)].map((m) => m[1]);
  assert.equal(keys.length, n, `each of the ${n} workers names its password-hash semaphore:\n${text}`);
  assert.equal(new Set(keys).size, 1, `one semaphore for the workers of one socket: ${keys}`);
  semKeys.add(keys[0]);
  return keys[0];
}

test('spawn-fcgi -F 2: both workers answer, log to syslog at the right priority, share the hash bound and live through SIGHUP', async () => {
  fs.mkdirSync(dir, { recursive: true, mode: 0o777 });
  fs.chmodSync(dir, 0o777);
  const logSock = path.join(dir, 'log.sock');
  const syslog = path.join(dir, 'syslog.txt');
  syslogReceiver(logSock, syslog);
  assert.ok(await waitFor(() => fs.existsSync(logSock), 10_000, 50), 'the syslog receiver listens');
  const sock = path.join(dir, 'f.sock');
  const pidFile = path.join(dir, 'f.pid');
  const env = { ...stackFcgiEnv(state).env, CHAT_FCGI_WORKERS: '0', CHAT_SYSLOG_SOCKET: logSock };
  const stdoutLog = path.join(dir, 'spawn-F.log');
  const sp = run(['spawn-fcgi', '-F', '2', '-s', sock, '-M', '0600', '-P', pidFile, '--', fcgiBin()], env, stdoutLog);
  await new Promise((res) => sp.on('exit', res));
  const pids = await waitFor(() => {
    const p = read(pidFile).trim().split(/\s+/).filter(Boolean).map(Number);
    return p.length === 2 ? p : null;
  }, 10_000, 50);
  assert.ok(pids, `spawn-fcgi wrote two pids: ${read(pidFile)} ${read(stdoutLog)}`);
  started.push(...pids);

  // Both workers log, through syslog (their stderr is /dev/null): daemon.info = <30>.
  const ready = await waitFor(() => pids.every((p) => read(syslog).includes(`<30>chat-fcgi[${p}]: level=info comp=fcgi msg="worker ready"`)), 20_000, 50);
  assert.ok(ready, `each worker's "worker ready" reached syslog:\n${read(syslog)}`);
  assert.doesNotMatch(read(syslog), /ts=/, 'syslog stamps its own time');
  sharedKey(read(syslog), 2);
  // CHAT_FCGI_SCHED_BATCH's default, without a pool master too (pool.h).
  for (const p of pids) assert.equal(schedPolicy(p), 3, `worker ${p} runs under SCHED_BATCH`);

  for (let i = 0; i < 10; i++) {
    const r = await fcgiRequest(sock, '/api/health');
    assert.equal(r.status, 200, r.body);
  }
  // A worker without a master has nothing to reload: SIGHUP is logged, not fatal.
  process.kill(pids[0], 'SIGHUP');
  assert.ok(await waitFor(() => read(syslog).includes(`chat-fcgi[${pids[0]}]: level=info comp=fcgi msg="SIGHUP ignored`), 10_000, 50),
    `SIGHUP logged:\n${read(syslog)}`);
  assert.ok(procAlive(pids[0]), 'the worker lives on after SIGHUP');
  assert.equal((await fcgiRequest(sock, '/api/health')).status, 200);

  for (const p of pids) process.kill(p, 'SIGTERM');
  assert.ok(await waitFor(() => pids.every((p) => !procAlive(p)), 15_000, 50), 'SIGTERM stops both');
  assert.ok(pids.every((p) => read(syslog).includes(`chat-fcgi[${p}]: level=info comp=fcgi msg="worker stopped"`)), read(syslog));
});

test('spawn-fcgi -n -- multiwatch -f 2: workers answer, log on stderr, a killed one is replaced, SIGTERM stops them gracefully', async () => {
  assert.ok(fs.existsSync('/usr/bin/multiwatch'), 'multiwatch is installed (deploy/local/deps.sh)');
  fs.mkdirSync(dir, { recursive: true, mode: 0o777 });
  fs.chmodSync(dir, 0o777);
  const sock = path.join(dir, 'm.sock');
  const logPath = path.join(dir, 'multiwatch.log');
  const env = { ...stackFcgiEnv(state).env, CHAT_FCGI_WORKERS: '0', CHAT_FCGI_SCHED_BATCH: '0' };
  const mw = run(['spawn-fcgi', '-n', '-s', sock, '-M', '0600', '--', '/usr/bin/multiwatch', '-f', '2', '--', fcgiBin()], env, logPath);
  started.push(mw.pid);
  const exited = new Promise((res) => mw.on('exit', (code, signal) => res({ code, signal })));
  // setpriv and env exec in place: mw.pid is multiwatch.
  const first = await waitFor(() => {
    const c = procChildren(mw.pid);
    return c.length === 2 && (read(logPath).match(/msg="worker ready"/g) || []).length >= 2 ? c : null;
  }, 20_000, 50);
  assert.ok(first, `multiwatch runs two ready workers:\n${read(logPath)}`);
  sharedKey(read(logPath), 2);
  for (const p of first) assert.equal(schedPolicy(p), 0, `worker ${p} keeps the default policy (CHAT_FCGI_SCHED_BATCH=0)`);
  for (let i = 0; i < 10; i++) assert.equal((await fcgiRequest(sock, '/api/health')).status, 200);

  // A worker dies: multiwatch starts another on the same socket.
  process.kill(first[0], 'SIGKILL');
  const replaced = await waitFor(() => {
    const c = procChildren(mw.pid);
    return c.length === 2 && !c.includes(first[0]) ? c : null;
  }, 15_000, 50);
  assert.ok(replaced, `a new worker replaced ${first[0]}: ${procChildren(mw.pid)}`);
  await waitFor(() => (read(logPath).match(/msg="worker ready"/g) || []).length >= 3, 15_000, 50);
  for (let i = 0; i < 10; i++) assert.equal((await fcgiRequest(sock, '/api/health')).status, 200);

  // SIGTERM: multiwatch sends SIGUSR1, each worker stops after its request; multiwatch leaves.
  process.kill(mw.pid, 'SIGTERM');
  const end = await Promise.race([exited, sleep(15_000).then(() => null)]);
  assert.ok(end, 'multiwatch exits after SIGTERM');
  assert.ok(replaced.every((p) => !procAlive(p)), 'its workers are gone');
  assert.ok((read(logPath).match(/msg="worker stopped"/g) || []).length >= 2, `the workers stopped cleanly:\n${read(logPath)}`);
});

test('a socket held by another process, as systemd\'s chat-fcgi.socket holds it: chat-fcgi stopped and started again (an upgrade) under requests, none fails', async () => {
  fs.mkdirSync(dir, { recursive: true, mode: 0o777 });
  fs.chmodSync(dir, 0o777);
  const sock = path.join(dir, 'held.sock');
  const logPath = path.join(dir, 'held.log');
  // The holder: binds and listens once, gives the socket to chat-fcgi as
  // fd 0 (StandardInput=socket), and on SIGUSR2 stops chat-fcgi (SIGTERM,
  // as systemctl restart does) and starts it again on the same socket.
  const py = [
    'import os, signal, socket, subprocess, sys',
    's = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)',
    's.bind(sys.argv[1]); os.chmod(sys.argv[1], 0o666); s.listen(128)',
    'start = lambda: subprocess.Popen(sys.argv[2:], stdin=s.fileno())',
    'child = [start()]',
    'def restart(*_):',
    '    child[0].terminate(); child[0].wait(); child[0] = start()',
    'def stop(*_):',
    '    child[0].terminate(); child[0].wait(); sys.exit(0)',
    'signal.signal(signal.SIGUSR2, restart); signal.signal(signal.SIGTERM, stop)',
    'while True: signal.pause()',
  ].join('\n');
  const env = { ...stackFcgiEnv(state).env, CHAT_FCGI_WORKERS: '2' };
  const holder = run(['/usr/bin/python3', '-c', py, sock, fcgiBin()], env, logPath);
  started.push(holder.pid);
  assert.ok(await waitFor(async () => {
    try {
      return (await fcgiRequest(sock, '/api/health')).status === 200;
    } catch {
      return false;
    }
  }, 20_000, 100), `chat-fcgi answers on the held socket:\n${read(logPath)}`);

  // Two clients keep asking while chat-fcgi is restarted twice.
  let stop = false;
  let done = 0;
  const failures = [];
  const client = async () => {
    while (!stop) {
      try {
        const r = await fcgiRequest(sock, '/api/health');
        if (r.status === 200) done++;
        else failures.push(`status ${r.status}: ${r.body}`);
      } catch (e) {
        failures.push(e.message);
      }
    }
  };
  const clients = [client(), client()];
  for (let round = 1; round <= 2; round++) {
    const before = done;
    const pools = (read(logPath).match(/msg="pool started/g) || []).length;
    process.kill(holder.pid, 'SIGUSR2');
    assert.ok(await waitFor(() => (read(logPath).match(/msg="pool started/g) || []).length > pools, 20_000, 50),
      `restart ${round}: a new pool started:\n${read(logPath)}`);
    assert.ok(await waitFor(() => done > before + 20, 20_000, 50), `restart ${round}: requests go on (${done})`);
  }
  stop = true;
  await Promise.all(clients);
  assert.deepEqual(failures, [], `no request failed across two restarts (${done} answered)`);
  assert.ok((read(logPath).match(/msg="pool stopped/g) || []).length >= 2, `each old pool stopped:\n${read(logPath)}`);
  process.kill(holder.pid, 'SIGTERM');
  assert.ok(await waitFor(() => !procAlive(holder.pid), 15_000, 50), 'the holder stops with its chat-fcgi');
});

test('the stack\'s pool: its workers run under SCHED_BATCH (CHAT_FCGI_SCHED_BATCH=1, the default), the master under the default policy', () => {
  const master = Number(fs.readFileSync(path.join(state, 'run/fcgi.pid'), 'utf8').trim());
  const workers = procChildren(master);
  assert.ok(workers.length > 0, `the pool master ${master} has workers`);
  assert.equal(schedPolicy(master), 0);
  for (const p of workers) assert.equal(schedPolicy(p), 3, `worker ${p} runs under SCHED_BATCH`);
});
