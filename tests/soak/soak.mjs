// soak.mjs -- the soak test: mixed load on the whole stack while a chaos loop
// restarts PostgreSQL and SIGKILLs bridges and FastCGI workers; then the
// invariants, from the clients' own logs and the table.
//
// Run by tests/soak/run.sh (make soak), which starts a stack with two
// bridges and exports CHAT_BASE_URL, CHAT_STATE_DIR, CHAT_PORT and
// CHAT_WS_BRIDGES. SOAK_SECONDS is the length of the loaded phase (default
// 1500), SOAK_SEED makes the random choices repeatable, SOAK_SUMMARY names
// the JSON file the figures go to.
//
// Load: socket.io-client over WebSocket and over Engine.IO polling (send,
// typing, voluntary reconnects with since_seq), clients that leave and
// join a room again, and REST senders. Every send carries a client_id and
// is retried with it until acknowledged.
//
// Invariants (each violation is listed; any one makes the exit status 1):
// 1. stored once: every acknowledged message is in the table exactly once,
//    with the id, seq and content of its ack; no content is stored twice.
// 2. delivery: per connection and room, the join_room ack's messages and
//    then the live new_message events form one run of consecutive seqs
//    (in order, no gap, no repeat); per client and room, after the final
//    recovery, the seqs held are exactly 1..last_seq of the table with the
//    table's ids and contents (nothing missing, nothing twice).
// 3. presence: once every client has disconnected and the grace and the
//    presence TTL have passed, the presence table is empty and GET
//    /api/users shows none of the soak's users online.
// 4. memory: the anonymous resident memory (RssAnon) of every process role
//    (each bridge, the FastCGI supervisor and its largest worker, the
//    largest nginx worker, the largest PostgreSQL process) at the end is
//    within SOAK_RSS_TOLERANCE_PCT percent plus SOAK_RSS_TOLERANCE_KB of
//    its baseline, taken after a warm-up with the same clients.
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(here, '..', '..');
// socket.io-client from tests/e2e/node_modules (the lock file run.sh installs).
const requireE2e = createRequire(path.join(REPO, 'tests/e2e/package.json'));
const { io } = await import(pathToFileURL(requireE2e.resolve('socket.io-client')).href);

const BASE = (process.env.CHAT_BASE_URL || 'http://127.0.0.1:18080').replace(/\/$/, '');
const STATE = fs.realpathSync(path.resolve(REPO, process.env.CHAT_STATE_DIR || 'var/soak'));
const BRIDGES = Number(process.env.CHAT_WS_BRIDGES || 2);
const SECONDS = Number(process.env.SOAK_SECONDS || 1500);
const SUMMARY = process.env.SOAK_SUMMARY || path.join(STATE, 'soak-summary.json');
const RSS_PCT = Number(process.env.SOAK_RSS_TOLERANCE_PCT || 20);
const RSS_KB = Number(process.env.SOAK_RSS_TOLERANCE_KB || 4096);
// SOAK_SELFTEST=drop: one client ignores one live message, so the delivery
// checks must fail (shows that they can).
const SELFTEST = process.env.SOAK_SELFTEST || '';
let selftestDropped = false;
const PRESENCE_TTL = Number(process.env.CHAT_PRESENCE_TTL || 30);
const N_WS = Number(process.env.SOAK_WS_CLIENTS || 10);
const N_POLL = Number(process.env.SOAK_POLL_CLIENTS || 4);
const N_CHURN = Number(process.env.SOAK_CHURN_CLIENTS || 2);
const N_REST = Number(process.env.SOAK_REST_SENDERS || 3);

// ---------------------------------------------------------------- helpers

let seed = Number(process.env.SOAK_SEED || Date.now() % 1e9) >>> 0;
const SEED = seed;
function rand() {
  // mulberry32
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const between = (a, b) => a + rand() * (b - a);
const pick = (xs) => xs[Math.floor(rand() * xs.length)];
const sleep = (ms) => new Promise((res) => setTimeout(res, ms));
const t0 = Date.now();
const ts = () => `${((Date.now() - t0) / 1000).toFixed(1)}s`;
const say = (...a) => console.log(`soak ${ts()}:`, ...a);

const violations = [];
function violate(kind, detail) {
  violations.push({ kind, at: ts(), detail });
  if (violations.length <= 50) say(`VIOLATION ${kind}: ${JSON.stringify(detail).slice(0, 500)}`);
}

function run(cmd, args, timeout = 120_000) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd: REPO, env: process.env, timeout, maxBuffer: 256 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${stdout}${stderr}`));
      else resolve(stdout);
    });
  });
}
const stack = (...args) => run(path.join(REPO, 'deploy/local/stack.sh'), args);
const psql = async (sql) => (await stack('psql', '-X', '-q', '-tA', '-F', '\t', '-v', 'ON_ERROR_STOP=1', '-c', sql)).trim();
const lit = (s) => `'${String(s).replace(/'/g, "''")}'`;

async function api(method, urlPath, { body, token } = {}) {
  const h = {};
  if (body !== undefined) h['content-type'] = 'application/json';
  if (token) h.authorization = `Bearer ${token}`;
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), 15_000);
  try {
    const res = await fetch(BASE + urlPath, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body), signal: ctl.signal });
    const text = await res.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, json, text, retryAfter: Number(res.headers.get('retry-after') || 0) };
  } catch (e) {
    return { status: 0, json: undefined, text: String(e) };
  } finally {
    clearTimeout(timer);
  }
}

/** Retries a REST call through outages until it gives `status`. */
async function apiUntil(status, method, urlPath, opts, what) {
  for (let i = 0; i < 120; i++) {
    const r = await api(method, urlPath, opts);
    if (r.status === status) return r.json.data;
    if (r.status !== 0 && r.status < 500 && r.status !== 429) throw new Error(`${what}: HTTP ${r.status} ${r.text}`);
    await sleep(500);
  }
  throw new Error(`${what}: no ${status} within 60 s`);
}

let nameSeq = 0;
const uname = (p) => `${p}_${SEED.toString(36)}_${(nameSeq++).toString(36)}`.slice(0, 32);
async function joinUser(prefix, room_id) {
  const body = { username: uname(prefix) };
  if (room_id) body.room_id = room_id;
  return apiUntil(201, 'POST', '/api/join', { body }, `join ${body.username}`);
}

// ---------------------------------------------------------------- accounting

const stats = {
  sent_ws: 0, sent_polling: 0, sent_rest: 0, acked: 0, acked_duplicate: 0, send_retries: 0,
  delivered: 0, recoveries: 0, recovered_false: 0, rest_fills: 0, reconnects: 0,
  voluntary_reconnects: 0, connect_failures: 0, joins: 0, leaves: 0, typing: 0,
};
const acked = new Map(); // client_id -> {id, seq, room, content}
const pendingAtEnd = [];
let cidSeq = 0;
const newCid = (who) => `s${SEED.toString(36)}-${who}-${(cidSeq++).toString(36)}`;
let stopping = false; // no new sends
let loadDone = false; // no voluntary reconnects, churn, typing

function recordAck(cid, content, room, m, duplicate) {
  stats.acked++;
  if (duplicate) stats.acked_duplicate++;
  const prev = acked.get(cid);
  if (prev && (prev.id !== m.id || prev.seq !== m.seq)) violate('ack_mismatch', { cid, prev, now: { id: m.id, seq: m.seq } });
  if (m.content !== content || m.room_id !== room) violate('ack_content', { cid, content, room, got: m });
  acked.set(cid, { id: m.id, seq: m.seq, room, content });
}

// ---------------------------------------------------------------- socket clients

class SockClient {
  constructor(name, user, token, rooms, transport, { churnRoom = null, sends = true } = {}) {
    this.name = name;
    this.user = user;
    this.token = token;
    this.rooms = rooms; // rooms this client verifies (it is a member of all of them at the end)
    this.transport = transport;
    this.churnRoom = churnRoom;
    this.sends = sends;
    this.have = new Map(rooms.map((r) => [r, new Map()])); // room -> seq -> {id, content}
    this.stream = new Map(); // room -> next seq expected on this connection (null until the ack)
    this.joined = new Set(); // rooms whose join_room ack came on this connection
    this.left = new Set(); // rooms the client has left (churn) and not joined again
    this.socket = null;
    this.conn = 0; // connection number, to drop stale callbacks
    this.pending = null; // the send in flight: {cid, room, content}
    this.closed = false;
    this.connecting = false;
  }

  maxSeq(room) {
    const h = this.have.get(room);
    let s = 0;
    while (h.has(s + 1)) s++;
    return s;
  }

  hold(room, m, how) {
    const h = this.have.get(room);
    if (!h) return;
    const prev = h.get(m.seq);
    if (prev) {
      if (how === 'live') violate('duplicate_delivery', { client: this.name, room, seq: m.seq, how, conn: this.conn });
      if (prev.id !== m.id) violate('seq_two_messages', { client: this.name, room, seq: m.seq, ids: [prev.id, m.id] });
      return;
    }
    h.set(m.seq, { id: m.id, content: m.content });
    stats.delivered++;
  }

  connect() {
    if (this.closed || this.connecting) return;
    this.connecting = true;
    const conn = ++this.conn;
    this.stream.clear();
    this.joined.clear();
    const s = io(BASE, { transports: [this.transport], reconnection: false, forceNew: true, timeout: 10_000, auth: { token: this.token } });
    this.socket = s;
    s.on('connected', () => {
      if (conn !== this.conn) return;
      this.connecting = false;
      for (const r of this.rooms) if (!this.left.has(r)) this.joinRoom(r, conn);
    });
    s.on('connect_error', () => {
      if (conn !== this.conn) return;
      stats.connect_failures++;
      this.retry(conn, between(500, 2000));
    });
    s.on('disconnect', () => {
      if (conn !== this.conn) return;
      this.retry(conn, between(200, 2000));
    });
    s.on('new_message', (m) => {
      if (conn !== this.conn || !this.have.has(m.room_id)) return;
      if (SELFTEST === 'drop' && !selftestDropped && m.seq > 5) {
        selftestDropped = true;
        say(`selftest: ${this.name} ignores seq ${m.seq} of ${m.room_id}`);
        return;
      }
      const next = this.stream.get(m.room_id);
      if (next === undefined || next === null) {
        // Not subscribed on this connection: before its join_room ack, or
        // after its leave_room ack.
        const kind = this.left.has(m.room_id) ? 'event_after_leave' : next === null ? 'event_before_join_ack' : 'event_not_joined';
        violate(kind, { client: this.name, transport: this.transport, room: m.room_id, seq: m.seq, conn, left_at_seq: this.leftAt?.[m.room_id] });
      } else if (m.seq !== next) {
        violate(m.seq > next ? 'gap_in_stream' : 'order_in_stream', { client: this.name, transport: this.transport, room: m.room_id, expected: next, got: m.seq, conn });
        this.stream.set(m.room_id, Math.max(next, m.seq + 1));
      } else {
        this.stream.set(m.room_id, next + 1);
      }
      this.hold(m.room_id, m, 'live');
    });
    // A connect that neither succeeds nor fails (nginx/bridge half-dead).
    setTimeout(() => {
      if (conn === this.conn && this.connecting) this.retry(conn, 0);
    }, 15_000);
  }

  retry(conn, delay) {
    if (conn !== this.conn) return;
    this.conn++; // everything of the old connection is stale from now on
    this.connecting = false;
    try {
      this.socket.close();
    } catch {
      // gone
    }
    this.socket = null;
    if (this.closed) return;
    stats.reconnects++;
    setTimeout(() => this.connect(), delay);
  }

  // The ack is handled in its callback, synchronously: the ack and the
  // events after it may arrive in one read, and an awaited promise would
  // resume only after those events were handled.
  joinRoom(room, conn) {
    const since = this.maxSeq(room);
    this.stream.set(room, null);
    this.socket.timeout(15_000).emit('join_room', { room_id: room, since_seq: since }, (err, a) => {
      if (conn !== this.conn) return;
      if (err) {
        this.retry(conn, between(200, 1000));
        return;
      }
      if (!a || !a.ok) {
        // db_unavailable during an outage: the connection is fine, ask again.
        setTimeout(() => {
          if (conn === this.conn) this.joinRoom(room, conn);
        }, between(500, 1500));
        return;
      }
      stats.joins++;
      if (since > 0) stats.recoveries++;
      const last = a.room.last_seq;
      const msgs = a.messages || [];
      this.stream.set(room, last + 1);
      this.joined.add(room);
      if (a.recovered === false) {
        // More were missed than the recovery limit: the newest page came; the
        // rest is read over REST, as a client would.
        stats.recovered_false++;
        for (const m of msgs) this.hold(room, m, 'fill');
        this.fill(room, since, last);
        return;
      }
      let want = since + 1;
      for (const m of msgs) {
        if (m.seq !== want) violate('recovery_not_consecutive', { client: this.name, room, since, last, want, got: m.seq, conn });
        want = m.seq + 1;
        this.hold(room, m, 'recovery');
      }
      if (want !== last + 1) violate('recovery_short', { client: this.name, transport: this.transport, room, since, last, ack_ends_at: want - 1, conn });
    });
  }

  async fill(room, from, to) {
    let after = from;
    while (after < to) {
      const r = await api('GET', `/api/messages/${encodeURIComponent(room)}?after=${after}&limit=200`, { token: this.token });
      if (r.status !== 200) {
        await sleep(500);
        continue;
      }
      stats.rest_fills++;
      const ms = r.json.data.messages.filter((m) => m.seq <= to);
      if (ms.length === 0) break;
      for (const m of ms) this.hold(room, m, 'fill');
      after = ms[ms.length - 1].seq;
    }
  }

  ready(room) {
    return this.socket && this.socket.connected && this.joined.has(room);
  }

  async sendLoop(interval) {
    while (!stopping && !this.closed) {
      await sleep(between(interval * 0.5, interval * 1.5));
      if (stopping) break;
      if (!this.pending) {
        const rooms = this.rooms.filter((r) => r !== this.churnRoom);
        const room = pick(rooms);
        const cid = newCid(this.name);
        this.pending = { cid, room, content: `soak ${cid} from ${this.name} via ${this.transport}` };
      }
      await this.trySend();
    }
  }

  async trySend() {
    const p = this.pending;
    if (!p || !this.ready(p.room)) return false;
    const conn = this.conn;
    if (p.tried) stats.send_retries++;
    p.tried = true;
    if (this.transport === 'polling') stats.sent_polling++;
    else stats.sent_ws++;
    let a;
    try {
      a = await this.socket.timeout(15_000).emitWithAck('send_message', { room_id: p.room, message: p.content, client_id: p.cid });
    } catch {
      if (conn === this.conn) this.retry(conn, between(200, 1000));
      return false;
    }
    if (a && a.ok) {
      recordAck(p.cid, p.content, p.room, a.message, a.duplicate);
      this.pending = null;
      return true;
    }
    if (a?.error?.code === 'rate_limited') await sleep(1000);
    return false;
  }

  async churnLoop() {
    const room = this.churnRoom;
    while (!loadDone && !this.closed) {
      await sleep(between(3000, 9000));
      if (loadDone) break;
      const conn = this.conn;
      if (!this.socket || !this.socket.connected) continue;
      if (this.left.has(room)) {
        this.left.delete(room);
        this.joinRoom(room, conn);
      } else if (this.joined.has(room)) {
        await new Promise((resolve) => {
          this.socket.timeout(10_000).emit('leave_room', { room_id: room }, (err, a) => {
            // Synchronously, as for join_room: events after the ack are violations.
            if (!err && a && a.ok && conn === this.conn) {
              stats.leaves++;
              this.leftAt = { ...this.leftAt, [room]: this.stream.get(room) - 1 };
              this.left.add(room);
              this.joined.delete(room);
              this.stream.delete(room);
            }
            resolve();
          });
        });
      }
    }
    // Members of the room again for the final check.
    this.left.delete(room);
    if (this.socket && this.socket.connected && !this.joined.has(room)) this.joinRoom(room, this.conn);
  }

  async noiseLoop() {
    while (!loadDone && !this.closed) {
      await sleep(between(2000, 8000));
      if (loadDone) break;
      if (!this.socket || !this.socket.connected) continue;
      if (rand() < 0.03) {
        // A voluntary reconnect (a page reload): since_seq does the rest.
        stats.voluntary_reconnects++;
        this.retry(this.conn, between(100, 1500));
        continue;
      }
      const room = pick(this.rooms);
      if (this.joined.has(room)) {
        this.socket.emit('typing', { room_id: room, is_typing: rand() < 0.7 });
        stats.typing++;
      }
    }
  }

  close() {
    this.closed = true;
    this.conn++;
    if (this.socket) this.socket.close();
    this.socket = null;
  }
}

// ---------------------------------------------------------------- REST senders

async function restSender(name, token, room, interval) {
  let p = null;
  while (!stopping || p) {
    await sleep(between(interval * 0.5, interval * 1.5));
    if (!p) {
      if (stopping) break;
      const cid = newCid(name);
      p = { cid, content: `soak ${cid} from ${name} via rest`, tried: false };
    }
    if (p.tried) stats.send_retries++;
    p.tried = true;
    stats.sent_rest++;
    const r = await api('POST', `/api/messages/${encodeURIComponent(room)}`, { token, body: { message: p.content, client_id: p.cid } });
    if (r.status === 201 || r.status === 200) {
      recordAck(p.cid, p.content, room, r.json.data.message, r.json.data.duplicate);
      p = null;
    } else if (r.status === 429) {
      await sleep(1000 * (r.retryAfter || 1));
    } else if (r.status !== 0 && r.status < 500) {
      violate('rest_send_refused', { name, status: r.status, body: r.text.slice(0, 300) });
      p = null;
    }
    if (stopping && p && Date.now() > drainDeadline) {
      pendingAtEnd.push(p.cid);
      break;
    }
  }
}
let drainDeadline = Infinity;

// ---------------------------------------------------------------- processes and memory

function readStatus(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k) => Number((new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s) || [])[1] || 0);
    return { rss: kb('VmRSS'), anon: kb('RssAnon'), ppid: kb('PPid'), name: (/^Name:\s+(\S+)/m.exec(s) || [])[1] };
  } catch {
    return null;
  }
}
function readPid(file) {
  try {
    return Number(fs.readFileSync(file, 'utf8').trim().split('\n')[0]);
  } catch {
    return 0;
  }
}
function children(ppid) {
  const out = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const st = readStatus(d);
    if (st && st.ppid === ppid) out.push(Number(d));
  }
  return out;
}

/** RssAnon/VmRSS (KiB) of each process role of the stack. */
function memory() {
  const roles = {};
  const add = (role, pids) => {
    const ss = pids.map((p) => ({ pid: p, ...readStatus(p) })).filter((x) => x.name);
    if (ss.length === 0) return;
    roles[role] = { pids: ss.map((x) => x.pid), anon: Math.max(...ss.map((x) => x.anon)), rss: Math.max(...ss.map((x) => x.rss)), anon_sum: ss.reduce((a, x) => a + x.anon, 0) };
  };
  for (let i = 0; i < BRIDGES; i++) add(`chat-ws[${i}]`, [readPid(path.join(STATE, `run/ws${i ? i : ''}.pid`))]);
  const sup = readPid(path.join(STATE, 'run/fcgi.pid'));
  add('chat-fcgi supervisor', [sup]);
  add('chat-fcgi worker (largest)', children(sup));
  const ngx = readPid(path.join(STATE, 'run/nginx.pid'));
  add('nginx worker (largest)', children(ngx));
  const pg = readPid(path.join(STATE, 'pg/postmaster.pid'));
  add('postgres (largest process)', [pg, ...children(pg)]);
  return roles;
}

// ---------------------------------------------------------------- chaos

const faults = { pg_restart: 0, ws_kill: 0, fcgi_kill: 0 };
const faultLog = [];
let chaosOn = true;

async function chaosLoop() {
  while (chaosOn) {
    await sleep(between(15_000, 40_000));
    if (!chaosOn) break;
    const kind = pick(['pg', 'ws', 'ws', 'fcgi', 'fcgi']);
    const at = ts();
    try {
      if (kind === 'pg') {
        await stack('pg-stop');
        const down = between(2000, 8000);
        await sleep(down);
        await stack('pg-start');
        faults.pg_restart++;
        faultLog.push({ at, kind: 'pg_restart', down_ms: Math.round(down) });
      } else if (kind === 'ws') {
        const i = Math.floor(rand() * BRIDGES);
        await stack('ws-kill', String(i));
        await sleep(between(1000, 3000)); // systemd: RestartSec=1
        await stack('ws-start', String(i));
        faults.ws_kill++;
        faultLog.push({ at, kind: 'ws_kill', bridge: i });
      } else {
        const workers = children(readPid(path.join(STATE, 'run/fcgi.pid')));
        if (workers.length === 0) continue;
        const pid = pick(workers);
        process.kill(pid, 'SIGKILL');
        faults.fcgi_kill++;
        faultLog.push({ at, kind: 'fcgi_kill', pid });
      }
      say(`fault ${faultLog[faultLog.length - 1]?.kind} survived so far: ${JSON.stringify(faults)}`);
    } catch (e) {
      violate('chaos_step_failed', { kind, error: String(e.message).slice(0, 800) });
      // Bring everything back before going on.
      await stack('pg-start').catch(() => {});
      await stack('ws-start').catch(() => {});
    }
  }
}

// ---------------------------------------------------------------- main

async function main() {
  say(`seed ${SEED}, ${SECONDS} s of load, ${N_WS} websocket + ${N_POLL} polling + ${N_CHURN} churning socket clients, ${N_REST} REST senders, ${BRIDGES} bridges`);
  const admin = await joinUser('soakadm');
  const rooms = [];
  for (let i = 0; i < 3; i++) {
    const d = await apiUntil(201, 'POST', '/api/rooms', { token: admin.token, body: { room_name: uname(`soakroom${i}`) } }, 'create room');
    rooms.push(d.room.id);
  }
  const churnRoom = (await apiUntil(201, 'POST', '/api/rooms', { token: admin.token, body: { room_name: uname('soakchurn') } }, 'create room')).room.id;
  const allRooms = [...rooms, churnRoom];

  const clients = [];
  const users = [admin.user.id];
  for (let i = 0; i < N_WS + N_POLL; i++) {
    const u = await joinUser(i < N_WS ? 'soakws' : 'soakpl');
    users.push(u.user.id);
    // Two of the three rooms; the first two also keep the churn room.
    const mine = rooms.filter((_, k) => k !== i % 3);
    if (i < 2) mine.push(churnRoom);
    clients.push(new SockClient(`${i < N_WS ? 'ws' : 'poll'}${i}`, u.user, u.token, mine, i < N_WS ? 'websocket' : 'polling'));
  }
  for (let i = 0; i < N_CHURN; i++) {
    const u = await joinUser('soakch');
    users.push(u.user.id);
    clients.push(new SockClient(`churn${i}`, u.user, u.token, [rooms[i % 3], churnRoom], i % 2 ? 'polling' : 'websocket', { churnRoom }));
  }
  const restUsers = [];
  for (let i = 0; i < N_REST; i++) {
    const room = i === N_REST - 1 ? churnRoom : rooms[i % 3];
    const u = await joinUser('soakrs', room);
    users.push(u.user.id);
    restUsers.push({ name: `rest${i}`, token: u.token, room });
  }

  // Warm-up: the same clients, 30 s of load without faults; then everyone
  // leaves, the grace passes, and the memory baseline is taken.
  for (const c of clients) c.connect();
  let loops = [];
  const startLoad = () => {
    stopping = false;
    loadDone = false;
    loops = [
      ...clients.filter((c) => c.sends && !c.churnRoom).map((c) => c.sendLoop(c.transport === 'polling' ? 2500 : 1500)),
      ...clients.map((c) => c.noiseLoop()),
      ...clients.filter((c) => c.churnRoom).map((c) => c.churnLoop()),
      ...restUsers.map((r) => restSender(r.name, r.token, r.room, 1000)),
    ];
  };
  startLoad();
  await sleep(30_000);
  stopping = true;
  loadDone = true;
  drainDeadline = Date.now() + 60_000;
  await Promise.all(loops);
  for (const c of clients) c.closed = true, c.socket?.close();
  await waitNoPresence(users, allRooms, admin.token, 'warm-up');
  const baseline = memory();
  say('baseline memory (KiB, RssAnon):', JSON.stringify(Object.fromEntries(Object.entries(baseline).map(([k, v]) => [k, v.anon]))));
  const warmAcked = stats.acked;

  // The soak proper: reconnect every client (since_seq), load, chaos.
  for (const c of clients) {
    c.closed = false;
    c.connect();
  }
  startLoad();
  const chaos = chaosLoop();
  const end = Date.now() + SECONDS * 1000;
  while (Date.now() < end) {
    await sleep(Math.min(60_000, end - Date.now()));
    say(`progress: acked ${stats.acked}, delivered ${stats.delivered}, faults ${JSON.stringify(faults)}, reconnects ${stats.reconnects}, violations ${violations.length}`);
  }
  chaosOn = false;
  await chaos;
  // Everything up again (a fault step may have failed half-way).
  await stack('pg-start').catch((e) => violate('pg_start_at_end', String(e.message).slice(0, 400)));
  for (let i = 0; i < BRIDGES; i++) {
    if (!readStatus(readPid(path.join(STATE, `run/ws${i ? i : ''}.pid`)))) await stack('ws-start', String(i)).catch((e) => violate('ws_start_at_end', String(e.message).slice(0, 400)));
  }

  // Drain: no new sends; the ones in flight are retried until acked.
  stopping = true;
  loadDone = true;
  drainDeadline = Date.now() + 90_000;
  const sockDrain = async () => {
    while (Date.now() < drainDeadline) {
      const left = clients.filter((c) => c.pending);
      if (left.length === 0) break;
      await Promise.all(left.map((c) => c.trySend()));
      await sleep(500);
    }
    for (const c of clients) if (c.pending) pendingAtEnd.push(c.pending.cid);
  };
  await Promise.all([...loops, sockDrain()]);
  say(`drained: ${pendingAtEnd.length} sends never acknowledged`);

  // Final recovery: wait until every client holds its rooms up to the table's last_seq.
  const soakRooms = allRooms.map(lit).join(',');
  const lastSeq = async () => new Map((await psql(`SELECT id, last_seq FROM rooms WHERE id IN (${soakRooms})`)).split('\n').map((l) => {
    const [id, s] = l.split('\t');
    return [id, Number(s)];
  }));
  let last = await lastSeq();
  const quiet = Date.now() + 120_000;
  for (;;) {
    const behind = clients.filter((c) => c.rooms.some((r) => !c.joined.has(r) || c.maxSeq(r) < last.get(r)));
    if (behind.length === 0 || Date.now() > quiet) {
      for (const c of behind) {
        violate('not_recovered', { client: c.name, transport: c.transport, connected: !!c.socket?.connected, rooms: c.rooms.map((r) => ({ room: r, joined: c.joined.has(r), have: c.maxSeq(r), held: c.have.get(r).size, last: last.get(r) })) });
      }
      break;
    }
    await sleep(1000);
    last = await lastSeq();
  }

  // Invariant 2: every client's rooms are exactly 1..last_seq with the table's messages.
  const rows = (await psql(`SELECT room_id, seq, id, coalesce(client_id, ''), content FROM messages WHERE room_id IN (${soakRooms}) ORDER BY room_id, seq`))
    .split('\n').filter(Boolean).map((l) => {
      const [room, seq, id, cid, ...content] = l.split('\t');
      return { room, seq: Number(seq), id: Number(id), cid, content: content.join('\t') };
    });
  const bySeq = new Map(allRooms.map((r) => [r, new Map()]));
  for (const m of rows) bySeq.get(m.room).set(m.seq, m);
  for (const r of allRooms) {
    const n = last.get(r);
    for (let s = 1; s <= n; s++) if (!bySeq.get(r).has(s)) violate('table_gap', { room: r, seq: s });
    if (bySeq.get(r).size !== n) violate('table_count', { room: r, rows: bySeq.get(r).size, last_seq: n });
  }
  for (const c of clients) {
    for (const r of c.rooms) {
      const h = c.have.get(r);
      const missing = [];
      for (let s = 1; s <= last.get(r); s++) if (!h.has(s)) missing.push(s);
      if (missing.length) violate('client_missing', { client: c.name, transport: c.transport, room: r, missing: missing.length, first: missing.slice(0, 10) });
      const extra = [...h.keys()].filter((s) => s > last.get(r));
      if (extra.length) violate('client_extra', { client: c.name, room: r, seqs: extra.slice(0, 10) });
      for (const [s, m] of h) {
        const t = bySeq.get(r).get(s);
        if (t && (t.id !== m.id || t.content !== m.content)) violate('client_wrong_message', { client: c.name, room: r, seq: s, got: m.id, table: t.id });
      }
    }
  }

  // Invariant 1: every acknowledged message stored exactly once, as acked.
  const byCid = new Map();
  const byContent = new Map();
  for (const m of rows) {
    if (m.cid) byCid.set(m.cid, (byCid.get(m.cid) || []).concat(m));
    byContent.set(m.content, (byContent.get(m.content) || 0) + 1);
  }
  let lost = 0;
  let duplicated = 0;
  for (const [cid, a] of acked) {
    const ms = byCid.get(cid) || [];
    if (ms.length === 0) {
      lost++;
      violate('lost', { cid, ...a });
    } else if (ms.length > 1) {
      duplicated++;
      violate('duplicated', { cid, rows: ms.map((m) => m.id) });
    } else if (ms[0].id !== a.id || ms[0].seq !== a.seq || ms[0].room !== a.room || ms[0].content !== a.content) {
      violate('stored_differs', { cid, ack: a, row: ms[0] });
    }
  }
  for (const [content, n] of byContent) {
    if (n > 1) {
      duplicated++;
      violate('duplicated_content', { content: content.slice(0, 100), n });
    }
  }
  const unackedStored = rows.filter((m) => m.cid && !acked.has(m.cid));
  for (const m of unackedStored) {
    if (!pendingAtEnd.includes(m.cid)) violate('stored_never_sent', { cid: m.cid, id: m.id });
  }

  // Invariant 3: everyone gone, nobody online.
  for (const c of clients) c.close();
  await waitNoPresence(users, allRooms, admin.token, 'end');

  // Invariant 4: memory back to the baseline.
  await sleep(5000);
  const after = memory();
  const mem = {};
  for (const [role, b] of Object.entries(baseline)) {
    const a = after[role];
    if (!a) {
      violate('process_missing', { role });
      continue;
    }
    const limit = Math.round(b.anon * (1 + RSS_PCT / 100) + RSS_KB);
    mem[role] = { baseline_kib: b.anon, end_kib: a.anon, limit_kib: limit, baseline_rss_kib: b.rss, end_rss_kib: a.rss };
    if (a.anon > limit) violate('memory', { role, ...mem[role] });
  }

  const summary = {
    seed: SEED,
    seconds: SECONDS,
    elapsed_s: Math.round((Date.now() - t0) / 1000),
    bridges: BRIDGES,
    clients: { websocket: N_WS, polling: N_POLL, churning: N_CHURN, rest: N_REST },
    messages_acked: stats.acked,
    messages_acked_in_soak: stats.acked - warmAcked,
    messages_in_table: rows.length,
    deliveries: stats.delivered,
    faults,
    fault_count: faults.pg_restart + faults.ws_kill + faults.fcgi_kill,
    lost,
    duplicated,
    never_acked: pendingAtEnd.length,
    stored_but_never_acked: unackedStored.length,
    stats,
    memory_kib: mem,
    memory_tolerance: `${RSS_PCT}% + ${RSS_KB} KiB of RssAnon`,
    violations: violations.length,
    violation_kinds: violations.reduce((o, v) => ({ ...o, [v.kind]: (o[v.kind] || 0) + 1 }), {}),
    first_violations: violations.slice(0, 100),
    faults_log: faultLog,
  };
  fs.writeFileSync(SUMMARY, `${JSON.stringify(summary, null, 2)}\n`);
  console.log('\n===== soak summary =====');
  console.log(`duration: ${SECONDS} s of load (${summary.elapsed_s} s in all), seed ${SEED}`);
  console.log(`messages acknowledged: ${summary.messages_acked} acks of ${acked.size} distinct client_ids (${summary.messages_acked_in_soak} under chaos; an ack repeated for a retried client_id counts twice), in the table: ${rows.length}, deliveries checked: ${stats.delivered}`);
  console.log(`faults survived: ${summary.fault_count} (${faults.pg_restart} PostgreSQL restarts, ${faults.ws_kill} bridge SIGKILLs, ${faults.fcgi_kill} FastCGI worker SIGKILLs)`);
  console.log(`reconnects: ${stats.reconnects} (${stats.voluntary_reconnects} voluntary), recoveries with since_seq: ${stats.recoveries}, recovered:false: ${stats.recovered_false}, send retries: ${stats.send_retries}`);
  console.log(`lost: ${lost}, duplicated: ${duplicated}, never acknowledged at the end: ${pendingAtEnd.length}`);
  for (const [role, m] of Object.entries(mem)) console.log(`memory ${role}: RssAnon ${m.baseline_kib} -> ${m.end_kib} KiB (limit ${m.limit_kib})`);
  console.log(`violations: ${violations.length} ${JSON.stringify(summary.violation_kinds)}`);
  console.log(`summary: ${SUMMARY}`);
  return violations.length === 0 ? 0 : 1;
}

/** Waits until the presence table is empty and no soak user shows online (invariant 3). */
async function waitNoPresence(users, rooms, token, when) {
  // Grace (CHAT_WS_GRACE, 3 s) for clean closes; a killed bridge's rows go
  // after CHAT_PRESENCE_TTL, when a live bridge reaps them.
  const deadline = Date.now() + (PRESENCE_TTL * 2 + 30) * 1000;
  let rowsLeft = '';
  let online = [];
  for (;;) {
    rowsLeft = await psql('SELECT count(*) FROM presence').catch((e) => String(e.message));
    online = [];
    for (const r of rooms) {
      const d = await api('GET', `/api/users/${encodeURIComponent(r)}`, { token });
      if (d.status !== 200) {
        online.push(`GET /api/users/${r}: ${d.status}`);
        continue;
      }
      for (const u of d.json.data.users) if (u.online && users.includes(u.id)) online.push(u.username);
    }
    if (rowsLeft === '0' && online.length === 0) {
      say(`${when}: presence empty, nobody online`);
      return;
    }
    if (Date.now() > deadline) break;
    await sleep(2000);
  }
  const detail = await psql('SELECT p.bridge_id, u.username FROM presence p JOIN users u ON u.id = p.user_id LIMIT 20').catch(() => '');
  violate('still_online', { when, presence_rows: rowsLeft, online: [...new Set(online)].slice(0, 20), rows: detail.split('\n').slice(0, 20) });
}

let rc = 1;
try {
  rc = await main();
} catch (e) {
  console.error(`soak: aborted: ${e.stack || e}`);
  rc = 2;
}
process.exit(rc);
