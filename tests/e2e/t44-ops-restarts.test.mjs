// t44-ops-restarts -- restarts without an outage (DESIGN §9, docs/operations.md):
// REST load and Socket.IO senders keep running through a reload of the
// chat-fcgi pool (SIGHUP to its master: new workers first, then the old ones
// finish their request and leave; the socket stays) and a rolling restart of
// the stack's two bridges (SIGTERM, one at a time). Counted at the end:
// 0 failed REST requests, 0 acknowledged messages lost, every socket client
// back with since_seq and holding every message of the room exactly once.
// A bridge also survives SIGHUP.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  REPO, api, join, createRoom, history, uniqueName, waitFor, procAlive, procChildren,
} from './lib.mjs';
import {
  connect, closeAll, ack, sleep, STATE_DIR, STACK_BRIDGES, BRIDGE_PORT, direct,
} from './sio.mjs';

after(closeAll);

/** deploy/local/stack.sh cmd args, without blocking the event loop (the load must go on). */
function stackAsync(cmd, args = []) {
  return new Promise((resolve, reject) => {
    const child = spawn(path.join(REPO, 'deploy/local/stack.sh'), [cmd, ...args], {
      cwd: REPO, env: process.env, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`stack.sh ${cmd} ${args.join(' ')} exited ${code}:\n${out}`))));
  });
}

const runDir = () => path.join(fs.realpathSync(STATE_DIR), 'run');
const readPid = (file) => Number(fs.readFileSync(path.join(runDir(), file), 'utf8').trim());

// Sends per user stay under CHAT_MSG_RATE (20 per 10 s): one every SEND_EVERY_MS.
const SEND_EVERY_MS = 600;

/**
 * REST load: one loop per user, each a GET /api/rooms after the other and a
 * POST of a message every SEND_EVERY_MS, until stopped; counts every failure.
 */
function restLoad(users, roomId) {
  const st = { requests: 0, failures: [], sent: [], stop: false };
  const loop = async (k) => {
    const u = users[k];
    let lastPost = 0;
    for (let i = 0; !st.stop; i++) {
      let r;
      const post = Date.now() - lastPost >= SEND_EVERY_MS;
      if (post) lastPost = Date.now();
      const clientId = `rest-${k}-${i}`;
      try {
        r = post
          ? await api('POST', `/api/messages/${roomId}`, { token: u.token, body: { message: clientId, client_id: clientId } })
          : await api('GET', '/api/rooms', { token: u.token });
      } catch (e) {
        st.failures.push(`${post ? 'POST' : 'GET'}: ${e.message}`);
        continue;
      }
      st.requests++;
      if (r.status !== (post ? 201 : 200)) st.failures.push(`${post ? 'POST' : 'GET'}: HTTP ${r.status} ${r.text.slice(0, 200)}`);
      else if (post) st.sent.push(r.json.data.message.id);
    }
  };
  st.done = Promise.all(users.map((_, k) => loop(k)));
  return st;
}

/**
 * A Socket.IO client that sends a numbered message now and then and keeps
 * every new_message of the room; when its bridge goes, it connects again
 * through nginx and joins with since_seq (the last seq it holds). A send
 * whose ack did not come is sent again with the same client_id after the
 * reconnection, as a client does.
 */
class Member {
  constructor(user, roomId, name) {
    Object.assign(this, { user, roomId, name });
    this.bySeq = new Map();
    this.dupes = [];
    this.acked = [];
    this.reconnects = 0;
    this.recoveries = 0;
    this.errors = [];
    this.stopped = false;
  }

  lastSeq() {
    let s = 0;
    while (this.bySeq.has(s + 1)) s++;
    return s;
  }

  keep(m) {
    if (this.bySeq.has(m.seq)) {
      if (this.bySeq.get(m.seq).id !== m.id) this.dupes.push(m.seq);
      return;
    }
    this.bySeq.set(m.seq, m);
  }

  async open() {
    for (let attempt = 0; ; attempt++) {
      try {
        const { socket } = await connect(this.user.token, { timeout: 5000 });
        socket.on('new_message', (m) => { if (m.room_id === this.roomId) this.keep(m); });
        const since = this.lastSeq();
        const a = await ack(socket, 'join_room', since ? { room_id: this.roomId, since_seq: since } : { room_id: this.roomId });
        if (!a || a.ok !== true) throw new Error(`join_room: ${JSON.stringify(a)}`);
        if (since) {
          assert.equal(a.recovered, true, `${this.name} recovers from ${since}`);
          this.recoveries++;
          for (const m of a.messages) this.keep(m);
        }
        this.socket = socket;
        return;
      } catch (e) {
        // A bridge that is going away or not yet back: nginx sends the next try elsewhere.
        if (attempt >= 100 || this.stopped) throw new Error(`${this.name} cannot come back: ${e.message}`);
        await sleep(100);
      }
    }
  }

  /** Sends until stop() (after open()); resolves when it has stopped. */
  async run() {
    for (let i = 0; !this.stopped; i++) {
      const clientId = `${this.name}-${i}`;
      for (;;) {
        if (!this.socket.connected) {
          this.socket.close();
          this.reconnects++;
          await this.open();
        }
        let a;
        try {
          a = await ack(this.socket, 'send_message', { room_id: this.roomId, message: clientId, client_id: clientId }, 5000);
        } catch {
          continue; // no ack (the bridge went): the same client_id again
        }
        if (a && a.ok === true) {
          this.acked.push(a.message.id);
          break;
        }
        this.errors.push(JSON.stringify(a));
        break;
      }
      await sleep(SEND_EVERY_MS);
    }
  }
}

test('reload of the chat-fcgi pool and a rolling restart of both bridges under load: nothing fails, nothing is lost', async () => {
  assert.equal(STACK_BRIDGES, 2, 'the e2e stack runs two bridges (tests/e2e/run.sh)');
  const owner = await join('ops_o');
  const room = await createRoom(owner.token, 'ops');
  const wsUsers = [];
  const restUsers = [];
  for (let i = 0; i < 5; i++) wsUsers.push(await join('ops_ws', { room_id: room.id }));
  for (let i = 0; i < 4; i++) restUsers.push(await join('ops_rest', { room_id: room.id }));

  const members = wsUsers.map((u, i) => new Member(u, room.id, `${uniqueName('ws')}-${i}`));
  // Everyone is in the room before the first message: each must end up with seqs 1..n.
  await Promise.all(members.map((m) => m.open()));
  const running = members.map((m) => m.run());
  await waitFor(() => members.every((m) => m.acked.length >= 2), 20_000, 50);
  const load = restLoad(restUsers, room.id);
  await waitFor(() => load.requests >= 20, 20_000, 50);

  // 1. Reload the pool: SIGHUP to its master (the pid spawn-fcgi -n became).
  const master = readPid('fcgi.pid');
  const before = procChildren(master);
  assert.ok(before.length >= 2, `the pool master ${master} has workers: ${before}`);
  const reqBefore = load.requests;
  process.kill(master, 'SIGHUP');
  const replaced = await waitFor(() => {
    const now = procChildren(master);
    return now.length === before.length && now.every((p) => !before.includes(p)) && before.every((p) => !procAlive(p));
  }, 30_000, 50);
  assert.ok(replaced, `every worker replaced: before ${before}, now ${procChildren(master)}`);
  assert.ok(procAlive(master), 'the pool master lives on');
  assert.ok(fs.statSync(path.join(runDir(), 'fcgi.sock')).isSocket(), 'the socket is still there');
  await waitFor(() => load.requests >= reqBefore + 20, 20_000, 50);
  assert.deepEqual(load.failures, [], 'no REST request failed across the reload');

  // 2. Rolling restart of the bridges, one at a time, each with SIGTERM.
  // The next one goes as soon as the restarted one carries traffic again:
  // nginx has max_fails=0 for the bridges (deploy/nginx/chat.conf), so
  // it never counts a restarting bridge out.
  for (let i = 0; i < STACK_BRIDGES; i++) {
    const acked = members.map((m) => m.acked.length);
    await stackAsync('ws-restart', [String(i)]);
    // Traffic flows again through every member before the next bridge goes.
    const flowing = await waitFor(() => members.every((m, k) => m.acked.length >= acked[k] + 2), 30_000, 50);
    assert.ok(flowing, `every member sends again after the restart of bridge ${i}`);
  }
  const reqAfter = load.requests;
  await waitFor(() => load.requests >= reqAfter + 20, 20_000, 50);

  // Stop the load; then every member must hold the whole room.
  load.stop = true;
  for (const m of members) m.stopped = true;
  await load.done;
  await Promise.all(running);
  assert.deepEqual(load.failures, [], `no REST request failed (${load.requests} made)`);
  assert.ok(members.some((m) => m.reconnects > 0), 'the rolling restart moved clients');

  const all = [];
  for (let before = null; ;) {
    const page = await history(owner.token, room.id, before ? `before=${before}&limit=100` : 'limit=100');
    all.unshift(...page.messages);
    if (!page.messages.length || !page.has_more) break;
    before = page.messages[0].seq;
  }
  const stored = new Set(all.map((m) => m.id));
  assert.deepEqual(all.map((m) => m.seq), all.map((_, i) => i + 1), 'the room has seqs 1..n');
  const clientIds = all.map((m) => m.client_id);
  assert.equal(new Set(clientIds).size, clientIds.length, 'no message stored twice (client_id retries)');
  for (const id of load.sent) assert.ok(stored.has(id), `REST message ${id} stored`);
  const last = all.length;
  for (const m of members) {
    assert.deepEqual(m.errors, [], `${m.name}: no refused send`);
    for (const id of m.acked) assert.ok(stored.has(id), `${m.name}: acknowledged message ${id} stored`);
    // Whatever came after its last reconnection, it catches up live or by since_seq.
    const ok = await waitFor(() => m.lastSeq() >= last, 10_000, 50);
    assert.ok(ok, `${m.name} holds seqs 1..${last}: has up to ${m.lastSeq()} (${m.reconnects} reconnections)`);
    assert.deepEqual(m.dupes, [], `${m.name}: no seq with two messages`);
    for (let s = 1; s <= last; s++) assert.equal(m.bySeq.get(s).id, all[s - 1].id, `${m.name} seq ${s}`);
    if (m.reconnects) assert.ok(m.recoveries >= 1, `${m.name} recovered with since_seq`);
  }
});

test('SIGHUP does not stop a bridge: it says so in its log and keeps serving', async () => {
  const pid = readPid('ws.pid');
  process.kill(pid, 'SIGHUP');
  await sleep(300);
  assert.ok(procAlive(pid), 'chat-ws is still running after SIGHUP');
  const log = fs.readFileSync(path.join(fs.realpathSync(STATE_DIR), 'log', 'ws.log'), 'utf8');
  assert.match(log, /SIGHUP/, 'the bridge logs the SIGHUP');
  const u = await join('hup');
  const { socket } = await connect(u.token, { url: direct(BRIDGE_PORT) });
  socket.close();
});
