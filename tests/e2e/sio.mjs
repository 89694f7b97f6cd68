// sio.mjs -- helpers shared by the end-to-end tests of the real-time bridge.
//
// Two kinds of client:
// - the official socket.io-client (connect, waitEvent, collect, ack), for
//   everything a real client can say;
// - RawClient, Engine.IO v4 / Socket.IO v5 spoken by hand over the `ws`
//   package, for input no well-behaved client produces (packets before
//   CONNECT, malformed packets, oversized/binary/invalid UTF-8 frames,
//   a client that stops answering pings or reading).
// Plus Bridge (an extra chat-ws process next to the stack's own one, for
// the multi-bridge tests and for settings the stack's bridge does not have)
// and psql (SQL on the stack's database).
import { before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { io } from 'socket.io-client';
import WebSocket from 'ws';
import { BASE, REPO, api, ok, procEnv } from './lib.mjs';

export { WebSocket };

/** nginx in front of everything (CHAT_BASE_URL). */
export const PORT = Number(new URL(BASE).port || 80);
/** The stack's first chat-ws, directly (stack.sh: CHAT_WS_PORT, default CHAT_PORT + 1). */
export const BRIDGE_PORT = Number(process.env.CHAT_WS_PORT || PORT + 1);
/** How many bridges the stack runs behind nginx (on BRIDGE_PORT, BRIDGE_PORT + 1, ...). */
export const STACK_BRIDGES = Number(process.env.CHAT_WS_BRIDGES || 1);
/** Ports for extra bridges started by the tests, clear of the stack's. */
export const EXTRA_PORT_1 = BRIDGE_PORT + STACK_BRIDGES + 10;
export const EXTRA_PORT_2 = EXTRA_PORT_1 + 1;
export const STATE_DIR = path.resolve(REPO, process.env.CHAT_STATE_DIR || 'var/local');

export const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

/** Resolves like promise, or rejects with message after ms (the timer is cleared either way). */
export function withTimeout(promise, ms, message) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

/** The base URL of a bridge on 127.0.0.1:port, bypassing nginx. */
export const direct = (port) => `http://127.0.0.1:${port}`;

// Every socket and raw client opened here, closed by closeAll().
const opened = new Set();

/** Closes every client these helpers opened (use in after/afterEach). */
export async function closeAll() {
  for (const c of opened) {
    try {
      if (c instanceof RawClient) c.terminate();
      else c.close();
    } catch {
      // already gone
    }
  }
  opened.clear();
}

function describe(v) {
  const s = JSON.stringify(v);
  return s && s.length > 600 ? `${s.slice(0, 600)}...` : s;
}

/**
 * Opens a socket.io-client connection (websocket transport, no
 * reconnection) and waits for the `connected` event.
 * opts: url (default nginx), auth (replaces {token}), query, extraHeaders,
 * timeout (ms), ioOpts (more socket.io-client options).
 * Returns {socket, connected}. Rejects on connect_error or timeout.
 */
export function connect(token, opts = {}) {
  const { socket, promise } = start(token, opts);
  return promise.then((r) => {
    if (r.error) {
      socket.close();
      const e = new Error(`connect failed: ${r.error.message} ${describe(r.error.data)}`);
      e.cause = r.error;
      throw e;
    }
    return { socket, connected: r.connected };
  });
}

/** Like connect() but expects a connect_error; resolves with it (message, data). */
export function connectError(token, opts = {}) {
  const { socket, promise } = start(token, opts);
  return promise.then((r) => {
    socket.close();
    assert.ok(r.error, `connect_error expected, got connected: ${describe(r.connected)}`);
    return r.error;
  });
}

function start(token, opts) {
  const { url = BASE, auth, query, extraHeaders, timeout = 10_000, ioOpts = {} } = opts;
  const o = {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    timeout,
    ...ioOpts,
  };
  if (auth !== undefined) o.auth = auth;
  else if (token !== undefined && token !== null) o.auth = { token };
  if (query !== undefined) o.query = query;
  if (extraHeaders !== undefined) o.extraHeaders = extraHeaders;
  const socket = io(url, o);
  opened.add(socket);
  const promise = new Promise((resolve) => {
    const timer = setTimeout(
      () => resolve({ error: { message: `no connected/connect_error within ${timeout} ms` } }),
      timeout + 1000,
    );
    socket.once('connected', (connected) => {
      clearTimeout(timer);
      resolve({ connected });
    });
    socket.once('connect_error', (error) => {
      clearTimeout(timer);
      resolve({ error });
    });
  });
  return { socket, promise };
}

/**
 * Waits for the next `name` event on socket whose payload satisfies pred.
 * Only events arriving after the call count (use collect() otherwise).
 */
export function waitEvent(socket, name, pred = () => true, timeout = 5000, what = '') {
  return new Promise((resolve, reject) => {
    const seen = [];
    const on = (p) => {
      seen.push(p);
      if (pred(p)) {
        clearTimeout(timer);
        socket.off(name, on);
        resolve(p);
      }
    };
    const timer = setTimeout(() => {
      socket.off(name, on);
      reject(new Error(`no matching '${name}' event ${what} within ${timeout} ms; got ${seen.length}: ${describe(seen.slice(-5))}`));
    }, timeout);
    socket.on(name, on);
  });
}

/**
 * Accumulates every `name` event of socket from now on.
 * .items: the payloads in arrival order; .waitFor(pred, timeout): the first
 * item (already there or still to come) matching pred; .waitCount(n,
 * timeout): until at least n items; .stop().
 */
export function collect(socket, name) {
  const c = {
    name,
    items: [],
    waiters: new Set(),
    on(p) {
      c.items.push(p);
      for (const w of [...c.waiters]) w();
    },
    waitFor(pred = () => true, timeout = 5000, what = '') {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = c.items.find(pred);
          if (hit === undefined) return false;
          clearTimeout(timer);
          c.waiters.delete(check);
          resolve(hit);
          return true;
        };
        const timer = setTimeout(() => {
          c.waiters.delete(check);
          reject(new Error(`no matching '${name}' event ${what} within ${timeout} ms; have ${c.items.length}: ${describe(c.items.slice(-5))}`));
        }, timeout);
        if (!check()) c.waiters.add(check);
      });
    },
    async waitCount(n, timeout = 5000, what = '') {
      await c.waitFor(() => c.items.length >= n, timeout, `(${n} of them${what ? `, ${what}` : ''})`);
      return c.items;
    },
    stop() {
      socket.off(name, c.on);
    },
  };
  c.on = c.on.bind(c);
  socket.on(name, c.on);
  return c;
}

/** emitWithAck with a failure bound. */
export function ack(socket, event, payload, timeout = 10_000) {
  return socket.timeout(timeout).emitWithAck(event, payload);
}

/** Asserts an ok:true ack and returns it. */
export function ackOk(a, what = '') {
  assert.equal(typeof a, 'object', `ack ${what}: ${describe(a)}`);
  assert.equal(a.ok, true, `ok:true expected ${what}: ${describe(a)}`);
  return a;
}

/** Asserts an ok:false ack {ok:false, error:{code, message}} with the code. */
export function ackFails(a, code, what = '') {
  assert.equal(typeof a, 'object', `ack ${what}: ${describe(a)}`);
  assert.equal(a.ok, false, `ok:false expected ${what}: ${describe(a)}`);
  assert.equal(typeof a.error, 'object', `error object ${what}: ${describe(a)}`);
  assert.equal(a.error.code, code, `error code ${what}: ${describe(a)}`);
  assert.equal(typeof a.error.message, 'string', `error.message ${what}: ${describe(a)}`);
  assert.ok(a.error.message.length > 0, `error.message ${what}: ${describe(a)}`);
  return a.error;
}

/** Resolves when the socket disconnects (with the reason), or rejects after timeout. */
export function disconnected(socket, timeout = 10_000) {
  if (!socket.connected) return Promise.resolve('already disconnected');
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`socket still connected after ${timeout} ms`)), timeout);
    socket.once('disconnect', (reason) => {
      clearTimeout(timer);
      resolve(reason);
    });
  });
}

/** Joins a room over the socket and returns the ack (asserting ok). */
export async function joinRoom(socket, roomId, extra = {}) {
  return ackOk(await ack(socket, 'join_room', { room_id: roomId, ...extra }), `join_room ${roomId}`);
}

/** Sends a message over the socket and returns the stored Message (asserting ok). */
export async function sendWs(socket, roomId, message, extra = {}) {
  const a = ackOk(await ack(socket, 'send_message', { room_id: roomId, message, ...extra }), `send_message ${message}`);
  return a.message;
}

/**
 * Waits until every bridge, the stack's and those on extraPorts, has both
 * its database connections (/healthz 200). After PostgreSQL restarts, each
 * bridge reconnects on its own backoff (up to 5 s), so one bridge can take
 * events again well before another.
 */
export async function bridgesUp(extraPorts = [], timeout = 30_000) {
  const ports = [...Array(STACK_BRIDGES).keys()].map((i) => BRIDGE_PORT + i).concat(extraPorts);
  const end = Date.now() + timeout;
  for (const port of ports) {
    for (;;) {
      const status = await fetch(`${direct(port)}/healthz`).then((r) => r.status, () => 0);
      if (status === 200) break;
      assert.ok(Date.now() < end, `bridge on ${port}: /healthz ${status}, not 200 within ${timeout} ms`);
      await sleep(100);
    }
  }
}

/** GET /api/users/{room}: the member with this id (undefined when none). */
export async function member(token, roomId, userId) {
  const d = ok(await api('GET', `/api/users/${encodeURIComponent(roomId)}`, { token }));
  return d.users.find((u) => u.id === userId);
}

/** Asserts seqs is exactly from+1, from+2, ... from+n. */
export function assertSeqs(seqs, from, n, what = '') {
  assert.deepEqual(seqs, Array.from({ length: n }, (_, i) => from + i + 1), `seqs ${what}`);
}

// ------------------------------------------------------------------ raw client

/** The WebSocket URL of the Socket.IO endpoint; query is appended as is. */
export function wsUrl({ url = BASE, query = 'EIO=4&transport=websocket' } = {}) {
  return `${url.replace(/^http/, 'ws')}/socket.io/?${query}`;
}

/**
 * Tries a WebSocket handshake; resolves {opened:true, ws, client} or
 * {opened:false, status, body, json} (an HTTP answer) or {opened:false,
 * error} without throwing.
 */
export function handshake(url, headers = {}, timeout = 10_000, autoPong = true) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers, perMessageDeflate: false });
    // Listening from the start: the first frame may come with the 101.
    const client = new RawClient(ws, autoPong);
    const timer = setTimeout(() => {
      ws.terminate();
      resolve({ opened: false, error: 'timeout' });
    }, timeout);
    ws.once('open', () => {
      clearTimeout(timer);
      opened.add(client);
      resolve({ opened: true, ws, client });
    });
    ws.once('unexpected-response', (req, res) => {
      clearTimeout(timer);
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      const done = () => {
        req.destroy();
        let json;
        try {
          json = JSON.parse(body);
        } catch {
          json = undefined;
        }
        resolve({ opened: false, status: res.statusCode, body, json });
      };
      res.once('end', done);
      res.once('error', done);
    });
    ws.once('error', (err) => {
      clearTimeout(timer);
      resolve({ opened: false, error: err.message });
    });
  });
}

/**
 * For a test that may make nginx mark the bridges as failed (a refused
 * upgrade that the bridge answers by dropping the connection): call
 * guard.done() at the end of the test body. If the test did not get
 * there, nginx's fail_timeout (10 s) is waited out afterwards so that the
 * next tests do not fail for it. (Each nginx worker keeps its own list of
 * failed upstreams, so probing with a few handshakes proves nothing.)
 */
export function nginxGuard(t) {
  const guard = { passed: false, done() { guard.passed = true; } };
  t.after(async () => {
    if (!guard.passed) await sleep(11_000);
  });
  return guard;
}

/** Engine.IO v4 / Socket.IO v5 by hand. */
export class RawClient {
  /**
   * Connects and waits for the Engine.IO open packet.
   * opts: url (base), query, headers, autoPong (default true).
   */
  static async open(opts = {}) {
    const { headers = {}, autoPong = true, timeout = 10_000 } = opts;
    const r = await handshake(wsUrl(opts), headers, timeout, autoPong);
    assert.ok(r.opened, `WebSocket handshake failed: ${r.status ?? ''} ${r.error ?? ''}`);
    const c = r.client;
    opened.add(c);
    const f = await c.waitFrame((s) => s.startsWith('0'), timeout, 'Engine.IO open');
    c.openPacket = JSON.parse(f.slice(1));
    return c;
  }

  constructor(ws, autoPong) {
    this.ws = ws;
    this.autoPong = autoPong;
    this.frames = []; // {data (string), binary, consumed}
    this.waiters = new Set();
    this.closeInfo = null;
    this.nextAck = 1;
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        resolve(this.closeInfo);
        for (const w of [...this.waiters]) w();
      });
    });
    ws.on('error', () => {}); // the close event tells
    ws.on('message', (data, isBinary) => {
      const s = isBinary ? data : data.toString('utf8');
      if (!isBinary && s === '2' && this.autoPong) this.ws.send('3');
      this.frames.push({ data: s, binary: isBinary, consumed: false });
      for (const w of [...this.waiters]) w();
    });
  }

  /** Sends a frame as is (string: text; Buffer with {binary}: see ws.send). */
  send(data, opts) {
    return new Promise((resolve, reject) => {
      this.ws.send(data, opts ?? {}, (err) => (err ? reject(err) : resolve()));
    });
  }

  /**
   * The first not yet consumed text frame matching pred (a function of the
   * string); marks it consumed. Rejects on timeout or when the connection
   * closes first.
   */
  waitFrame(pred, timeout = 5000, what = '') {
    return new Promise((resolve, reject) => {
      const check = () => {
        const f = this.frames.find((x) => !x.consumed && !x.binary && pred(x.data));
        if (f) {
          f.consumed = true;
          clearTimeout(timer);
          this.waiters.delete(check);
          resolve(f.data);
          return true;
        }
        if (this.closeInfo) {
          clearTimeout(timer);
          this.waiters.delete(check);
          reject(new Error(`connection closed (${describe(this.closeInfo)}) before frame ${what}; frames: ${describe(this.texts().slice(-5))}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`no frame ${what} within ${timeout} ms; frames: ${describe(this.texts().slice(-5))}`));
      }, timeout);
      if (!check()) this.waiters.add(check);
    });
  }

  /** Every text frame received so far. */
  texts() {
    return this.frames.filter((f) => !f.binary).map((f) => f.data);
  }

  /** Socket.IO CONNECT; resolves with the parsed 40/44 payload and its type. */
  async sioConnect(token, timeout = 10_000) {
    await this.send(token === undefined ? '40' : `40${JSON.stringify({ token })}`);
    const f = await this.waitFrame((s) => s.startsWith('40') || s.startsWith('44'), timeout, 'CONNECT answer');
    return { type: f.slice(0, 2), data: f.length > 2 ? JSON.parse(f.slice(2)) : undefined };
  }

  /** Sends an event; with ack=true an ack id is attached and returned. */
  async emit(name, payload, { withAck = true } = {}) {
    const id = withAck ? this.nextAck++ : null;
    await this.send(`42${id ?? ''}${JSON.stringify([name, payload])}`);
    return id;
  }

  /** Waits for the ack of id and returns its first argument. */
  async waitAck(id, timeout = 10_000) {
    const prefix = `43${id}[`;
    const f = await this.waitFrame((s) => s.startsWith(prefix), timeout, `ack ${id}`);
    return JSON.parse(f.slice(prefix.length - 1))[0];
  }

  /** Waits for event `name` (42["name",payload]) and returns payload. */
  async waitEvent(name, timeout = 5000) {
    const prefix = `42["${name}",`;
    const f = await this.waitFrame((s) => s.startsWith(prefix), timeout, `event ${name}`);
    return JSON.parse(f.slice(2))[1];
  }

  /** Resolves with {code, reason} once closed, or rejects after timeout. */
  waitClosed(timeout = 10_000) {
    return withTimeout(this.closed, timeout, `connection still open after ${timeout} ms; frames: ${describe(this.texts().slice(-5))}`);
  }

  close(code, reason) {
    this.ws.close(code, reason);
  }

  terminate() {
    this.ws.terminate();
  }
}

/** RawClient.open + Socket.IO CONNECT that must succeed; returns the client. */
export async function rawConnect(token, opts = {}) {
  const c = await RawClient.open(opts);
  const r = await c.sioConnect(token);
  assert.equal(r.type, '40', `CONNECT refused: ${describe(r.data)}`);
  await c.waitEvent('connected');
  return c;
}

// ------------------------------------------------------------------ database

/** Runs SQL on the stack's database (stack.sh psql); returns the unaligned output. */
/** A metric of bridge i (its /metrics page through nginx), summed over label sets. */
export async function bridgeMetric(i, name) {
  const r = await api('GET', `/metrics/ws/${i}`);
  assert.equal(r.status, 200, `metrics of bridge ${i}`);
  let sum = 0;
  let seen = false;
  for (const m of r.text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+(?:\\.\\d+)?)$`, 'gm'))) {
    sum += Number(m[1]);
    seen = true;
  }
  assert.ok(seen, `${name} on bridge ${i}`);
  return sum;
}

/**
 * Runs sql (one string, or a list run as separate commands, each its own
 * transaction, in one session) as the owner, in the stack's database or in
 * database db; returns stdout, trimmed. A session that LISTENs gets psql's
 * "Asynchronous notification" lines in it.
 */
export function psql(sql, { db } = {}) {
  const args = ['-X', '-q', '-tA', '-v', 'ON_ERROR_STOP=1',
    ...(Array.isArray(sql) ? sql : [sql]).flatMap((c) => ['-c', c])];
  const r = spawnSync(db ? 'psql' : path.join(REPO, 'deploy/local/stack.sh'), db ? [conninfo(db), ...args] : ['psql', ...args], {
    cwd: REPO,
    env: process.env,
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (r.error || r.status !== 0) throw new Error(`psql failed (${r.status}): ${r.error?.message ?? ''}\n${r.stdout}${r.stderr}`);
  return r.stdout.trim();
}

/** The owner's conninfo for database db (user, application_name optional). */
export function conninfo(db = 'chat', { user, app } = {}) {
  let c = process.env.DATABASE_URL
    ? `${process.env.DATABASE_URL} dbname=${db}`
    : `host=${fs.realpathSync(STATE_DIR)}/run port=5432 dbname=${db} user=${user || 'chat'}`;
  if (process.env.DATABASE_URL && user) c += ` user=${user}`;
  if (app) c += ` application_name=${app}`;
  return c;
}

/**
 * A psql session that stays open between statements (the stack's owner by
 * default). run() resolves with a statement's output and rejects with its
 * ERROR; several run() calls may be pending at once (they run in order),
 * so a test can leave one waiting on a lock and go on.
 */
export class PsqlSession {
  static async open(opts = {}) {
    const s = new PsqlSession(opts);
    await s.run('SELECT 1');
    return s;
  }

  constructor({ db = 'chat', user, app } = {}) {
    this.p = spawn('psql', [conninfo(db, { user, app }), '-X', '-q', '-tA', '-v', 'ON_ERROR_STOP=0'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.out = '';
    this.err = '';
    this.n = 0;
    this.last = Promise.resolve();
    this.exited = false;
    // Decoded as a stream: a multi-byte character may span two chunks.
    this.p.stdout.setEncoding('utf8');
    this.p.stderr.setEncoding('utf8');
    this.p.stdout.on('data', (d) => { this.out += d; });
    this.p.stderr.on('data', (d) => { this.err += d; });
    this.p.on('exit', () => { this.exited = true; });
  }

  /** Runs one statement; resolves with its output (trimmed), rejects with its error. */
  run(sql, timeoutMs = 60_000) {
    const p = this.last.then(() => this.#run(sql, timeoutMs));
    this.last = p.catch(() => {});
    return p;
  }

  async #run(sql, timeoutMs) {
    const mark = `@@done${++this.n}@@`;
    this.p.stdin.write(`${sql};\n\\echo ${mark}\n\\warn ${mark}\n`);
    const end = Date.now() + timeoutMs;
    while (!this.out.includes(mark) || !this.err.includes(mark)) {
      assert.ok(!this.exited, `psql exited: ${this.err}`);
      assert.ok(Date.now() < end, `psql: no answer to ${sql.slice(0, 60)}: ${this.err}`);
      await sleep(20);
    }
    const i = this.out.indexOf(mark);
    const j = this.err.indexOf(mark);
    const out = this.out.slice(0, i).trim();
    const err = this.err.slice(0, j).trim();
    this.out = this.out.slice(i + mark.length + 1);
    this.err = this.err.slice(j + mark.length + 1);
    if (/ERROR:/.test(err)) throw new Error(err);
    return out;
  }

  end() {
    this.p.stdin.end();
  }
}

const lit = (s) => `'${String(s).replace(/'/g, "''")}'`;

/**
 * Stores n messages "<prefix> 1".."<prefix> n" from userId in roomId in one
 * transaction through chat_send_message (the function REST and the bridge
 * use), without the rate limit. The user must be a member.
 */
export function sqlMessages(roomId, userId, n, prefix = 'sql') {
  psql(`DO $$ DECLARE r record; BEGIN
    FOR i IN 1..${Number(n)} LOOP
      SELECT * INTO r FROM chat_send_message(${lit(userId)}, ${lit(roomId)}, ${lit(prefix)} || ' ' || i, NULL, 0, 10);
      IF r.err IS NOT NULL THEN RAISE EXCEPTION 'chat_send_message: % %', r.err, r.msg; END IF;
    END LOOP; END $$;`);
}

// ------------------------------------------------------------------ extra bridges

function portOpen(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** True when something accepts connections on the unix socket path. */
export function sockOpen(sockPath) {
  return new Promise((resolve) => {
    const s = net.connect({ path: sockPath });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** The pid of the stack's first bridge (stack.sh writes run/ws.pid), or null. */
function stackBridgePid() {
  try {
    const pid = fs.readFileSync(path.join(fs.realpathSync(STATE_DIR), 'run/ws.pid'), 'utf8').trim();
    return fs.existsSync(`/proc/${pid}/exe`) ? pid : null;
  } catch {
    return null;
  }
}

let binaryCopy = null;

/**
 * The chat-ws program the stack's first bridge runs: a copy of its very
 * executable (which a rebuild of the build dir may have replaced since),
 * named chat-ws so that stack.sh recognises it; else the build dir's.
 */
function bridgeBinary() {
  if (binaryCopy && fs.existsSync(binaryCopy)) return binaryCopy;
  const pid = stackBridgePid();
  if (pid) {
    try {
      const dir = path.join(fs.realpathSync(STATE_DIR), 'copy', `extra-${process.pid}`);
      fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
      const dst = path.join(dir, 'chat-ws');
      fs.copyFileSync(`/proc/${pid}/exe`, dst);
      fs.chmodSync(dst, 0o755);
      fs.chmodSync(dir, 0o755);
      fs.chmodSync(path.dirname(dir), 0o755);
      binaryCopy = dst;
      return dst;
    } catch {
      // fall back to the build dir
    }
  }
  return path.resolve(REPO, process.env.CHAT_BUILD || 'build', 'chat-ws');
}

/**
 * The environment the stack gave its first bridge (DATABASE_URL of the
 * service role, CHAT_* settings, sanitizer options, the stack's process
 * mark); null when it cannot be read.
 */
function stackBridgeEnv() {
  const pid = stackBridgePid();
  if (!pid) return null;
  try {
    const env = procEnv(pid);
    return env.DATABASE_URL ? env : null;
  } catch {
    return null;
  }
}

/**
 * An extra chat-ws on 127.0.0.1:port on the stack's database, with the
 * environment of the stack's own bridge plus env. It runs as the stack's
 * service user (as stack.sh does), in a process group of its own whose id
 * <state>/run/ws-<port>.pid records, so `stack.sh stop` also ends one a
 * crashed test left behind (stack.sh owns every run/ws*.pid). nginx does not
 * know it: clients connect to it directly. Its log is
 * <state>/log/ws-<port>.log.
 */
/**
 * An extra bridge for a whole test file (registers the hooks): started
 * before its first test on port, stopped after the last one, which must
 * exit cleanly on SIGTERM; every test's sockets are closed after it.
 * Returns {url, bridge}, filled once started.
 */
export function extraBridge(port = EXTRA_PORT_1) {
  const x = {
    bridge: null,
    get url() {
      return x.bridge.url;
    },
  };
  before(async () => {
    x.bridge = await Bridge.start({ port });
  });
  afterEach(closeAll);
  after(async () => {
    await closeAll();
    if (x.bridge) {
      const r = await x.bridge.stop();
      assert.deepEqual(r, { code: 0, signal: null }, `bridge B exits cleanly on SIGTERM; log:\n${x.bridge.logTail()}`);
    }
  });
  return x;
}

export class Bridge {
  static async start({ port, env = {}, timeout = 20_000 } = {}) {
    const state = fs.realpathSync(STATE_DIR);
    assert.equal(await portOpen(port), false, `127.0.0.1:${port} is already in use`);
    // What the stack's own bridge got, else the same built by hand (see stack.sh).
    let vars = stackBridgeEnv();
    if (!vars) {
      vars = {
        PATH: '/usr/local/bin:/usr/bin:/bin',
        DATABASE_URL: process.env.DATABASE_URL || `host=${state}/run port=5432 dbname=chat user=chat_svc`,
        LOCAL_CHAT_STACK: state,
      };
      for (const [k, v] of Object.entries(process.env)) {
        if (/^CHAT_/.test(k) || ['ASAN_OPTIONS', 'UBSAN_OPTIONS', 'LSAN_OPTIONS', 'TZ'].includes(k)) vars[k] = v;
      }
    }
    Object.assign(vars, { CHAT_WS_SID_PREFIX: `x${port}_` }, env, { CHAT_WS_PORT: String(port) });
    // A unix socket only when the test asks for one (env.CHAT_WS_LISTEN).
    const sock = env.CHAT_WS_LISTEN;
    if (!sock) delete vars.CHAT_WS_LISTEN;
    const logPath = path.join(state, 'log', `ws-${port}.log`);
    const log = fs.openSync(logPath, 'a');
    const envArgs = Object.entries(vars).map(([k, v]) => `${k}=${v}`);
    const bin = bridgeBinary();
    const cmd = process.getuid() === 0
      ? ['setpriv', ['--reuid=chat', '--regid=chat', '--init-groups', '--', 'env', '-i', ...envArgs, bin]]
      : ['env', ['-i', ...envArgs, bin]];
    const child = spawn(cmd[0], cmd[1], { cwd: '/', stdio: ['ignore', log, log], detached: true });
    fs.closeSync(log);
    // detached: a session of its own, so its pid is its process group's id.
    const pidFile = path.join(state, 'run', `ws-${port}.pid`);
    fs.writeFileSync(pidFile, `${child.pid}\n`);
    child.on('exit', () => fs.rmSync(pidFile, { force: true }));
    // A test that fails before stop() must not keep node --test waiting;
    // stack.sh stop ends the process (it owns run/ws-<port>.pid).
    child.unref();
    const b = new Bridge(child, port, logPath);
    const end = Date.now() + timeout;
    while (!(await (sock ? sockOpen(sock) : portOpen(port)))) {
      if (b.exited) throw new Error(`chat-ws on ${port} exited (${describe(b.exitInfo)}); see ${logPath}:\n${b.logTail()}`);
      if (Date.now() > end) {
        b.kill('SIGKILL');
        throw new Error(`chat-ws on ${port} did not listen within ${timeout} ms; see ${logPath}:\n${b.logTail()}`);
      }
      await sleep(50);
    }
    return b;
  }

  constructor(child, port, logPath) {
    this.child = child;
    this.pid = child.pid;
    this.port = port;
    this.url = direct(port);
    this.logPath = logPath;
    this.exited = false;
    this.exitInfo = null;
    this.exitPromise = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.exited = true;
        this.exitInfo = { code, signal };
        resolve(this.exitInfo);
      });
    });
  }

  logTail(n = 30) {
    try {
      return fs.readFileSync(this.logPath, 'utf8').split('\n').slice(-n).join('\n');
    } catch {
      return '';
    }
  }

  kill(signal) {
    if (!this.exited) process.kill(this.pid, signal);
  }

  /** SIGTERM; resolves with {code, signal} once it exited (SIGKILL after timeout). */
  async stop(timeout = 15_000) {
    if (this.exited) return this.exitInfo;
    this.kill('SIGTERM');
    try {
      return await withTimeout(this.exitPromise, timeout, 'timeout');
    } catch {
      this.kill('SIGKILL');
      await this.exitPromise;
      throw new Error(`chat-ws on ${this.port} did not stop within ${timeout} ms of SIGTERM`);
    }
  }
}
