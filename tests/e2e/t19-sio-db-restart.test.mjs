// t19-sio-db-restart -- PostgreSQL stops and starts again while WebSocket
// clients stay connected to two bridges (the stack's through nginx, and an
// extra one). Keep this family last: it stops the database of the shared stack.
import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { api, ok, join, createRoom, history, stack, waitFor, show } from './lib.mjs';
import {
  connect, connectError, closeAll, collect, ack, ackFails, joinRoom, sendWs, member, sleep,
  extraBridge, PsqlSession, conninfo, psql, bridgesUp,
} from './sio.mjs';

const B = extraBridge();

// Every test starts with every bridge connected to the database again.
beforeEach(() => bridgesUp([B.bridge.port]));

/** Retries fn until it returns a truthy value (bounded); returns it. */
async function retry(fn, timeoutMs, what) {
  const v = await waitFor(fn, timeoutMs, 250);
  assert.ok(v, `${what}: not within ${timeoutMs} ms`);
  return v;
}

test('db restart: acks fail with db_unavailable during the outage; afterwards the same connections send, and listeners get every message once, in order', async () => {
  const owner = await join('dr_owner');
  const room = await createRoom(owner.token, 'dr');
  const sender = await join('dr_sender', { room_id: room.id });
  const late = await join('dr_late');
  const listeners = [];
  for (let i = 0; i < 3; i++) listeners.push(await join(`dr_l${i}`, { room_id: room.id }));

  const sS = (await connect(sender.token)).socket;
  const lA1 = (await connect(listeners[0].token)).socket;
  const lA2 = (await connect(listeners[1].token)).socket;
  const lB = (await connect(listeners[2].token, { url: B.url })).socket;
  const sockets = [sS, lA1, lA2, lB];
  for (const s of sockets) await joinRoom(s, room.id);
  const cols = sockets.map((s) => collect(s, 'new_message'));
  const drops = sockets.map((s) => collect(s, 'disconnect'));
  const acked = [];
  for (let i = 1; i <= 3; i++) acked.push(await sendWs(sS, room.id, `before ${i}`));
  for (const c of cols) await c.waitCount(3);

  let stopped = false;
  try {
    stack('pg-stop');
    stopped = true;

    // Each event answers at once with db_unavailable; none hangs (the ack bound is the test).
    for (let i = 0; i < 3; i++) {
      ackFails(await ack(sS, 'send_message', { room_id: room.id, message: `during ${i}` }, 15_000), 'db_unavailable', `send #${i}`);
    }
    ackFails(await ack(lA1, 'join_room', { room_id: room.id }, 15_000), 'db_unavailable', 'join_room');
    ackFails(await ack(lB, 'send_message', { room_id: room.id, message: 'during on B' }, 15_000), 'db_unavailable', 'send on B');
    // A new CONNECT cannot be checked: refused with db_unavailable, not unauthorized.
    const err = await connectError(late.token);
    assert.equal(err.message, 'db_unavailable', JSON.stringify(err.data));
    // REST agrees.
    const r = await api('POST', `/api/messages/${room.id}`, { token: owner.token, body: { message: 'rest during' } });
    assert.equal(r.status, 503, show(r));

    stack('pg-start');
    stopped = false;
  } finally {
    if (stopped) stack('pg-start');
  }

  // Right away, through REST (the workers may well be back before the
  // bridges LISTEN again: the bridges must fill that gap from the table).
  const first = await retry(async () => {
    const r = await api('POST', `/api/messages/${room.id}`, { token: owner.token, body: { message: 'rest after 1' } });
    return r.status === 201 ? r.json.data.message : null;
  }, 30_000, 'REST send after pg-start');
  acked.push(first);
  for (let i = 2; i <= 4; i++) {
    acked.push(ok(await api('POST', `/api/messages/${room.id}`, { token: owner.token, body: { message: `rest after ${i}` } }), 201).message);
  }
  // The same WebSocket connection sends again once the bridge is back.
  const again = await retry(async () => {
    const a = await ack(sS, 'send_message', { room_id: room.id, message: 'ws after 1', client_id: 'dr-after-1' }, 15_000);
    if (a.ok) return a.message;
    assert.equal(a.error.code, 'db_unavailable', JSON.stringify(a));
    return null;
  }, 30_000, 'WebSocket send after pg-start');
  acked.push(again);
  for (let i = 2; i <= 4; i++) acked.push(await sendWs(sS, room.id, `ws after ${i}`));
  // On bridge B too.
  await retry(async () => (await ack(lB, 'send_message', { room_id: room.id, message: 'from B after', client_id: 'dr-b' }, 15_000)).ok, 30_000, 'send on B after pg-start');
  const fromB = (await history(owner.token, room.id, 'limit=1')).messages[0];
  assert.equal(fromB.content, 'from B after');
  acked.push(fromB);

  // Nothing refused was stored; everything acknowledged was.
  const stored = (await history(owner.token, room.id, 'limit=200')).messages;
  assert.deepEqual(stored.map((m) => m.content), [
    'before 1', 'before 2', 'before 3',
    'rest after 1', 'rest after 2', 'rest after 3', 'rest after 4',
    'ws after 1', 'ws after 2', 'ws after 3', 'ws after 4', 'from B after',
  ]);
  assert.deepEqual(stored, acked);

  // Every connection, on both bridges, got every message once, in order.
  for (const [i, c] of cols.entries()) {
    await c.waitCount(stored.length, 30_000, `connection ${i}`);
    assert.deepEqual(c.items, stored, `connection ${i}`);
  }
  // Nobody was disconnected, and presence survived.
  for (const [i, d] of drops.entries()) assert.deepEqual(d.items, [], `connection ${i} stayed connected`);
  for (const s of sockets) assert.ok(s.connected);
  assert.equal((await member(owner.token, room.id, listeners[2].user.id)).online, true);
  // New connections work again, on every bridge once each has reconnected.
  await bridgesUp([B.bridge.port]);
  const { connected } = await connect(late.token);
  assert.equal(connected.user.id, late.user.id);
  // And a last message after all that arrives everywhere, once.
  const last = await sendWs(lA1, room.id, 'the end');
  for (const c of cols) await c.waitFor((m) => m.id === last.id, 10_000);
  for (const [i, c] of cols.entries()) assert.equal(c.items.length, stored.length + 1, `connection ${i}`);
});

test('lost LISTEN: messages committed while the bridges cannot reach the database are read back, in order, before newer ones', async () => {
  const owner = await join('dl_owner');
  const room = await createRoom(owner.token, 'dl');
  const listeners = [];
  for (let i = 0; i < 2; i++) listeners.push(await join(`dl_l${i}`, { room_id: room.id }));
  const lA = (await connect(listeners[0].token)).socket;
  const lB = (await connect(listeners[1].token, { url: B.url })).socket;
  for (const s of [lA, lB]) await joinRoom(s, room.id);
  const cols = [lA, lB].map((s) => collect(s, 'new_message'));
  const drops = [lA, lB].map((s) => collect(s, 'disconnect'));
  await sendWs(lA, room.id, 'before');
  for (const c of cols) await c.waitCount(1);

  // No new connections to the database; the bridges' connections cut;
  // 5 messages committed by a session opened before (their NOTIFYs reach no
  // bridge); a second later connections are allowed again. The REST
  // workers keep their connections throughout.
  const session = await PsqlSession.open();
  let cut;
  try {
    psqlOther('ALTER DATABASE chat ALLOW_CONNECTIONS false');
    cut = Number(await session.run("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'chat-ws'"));
    await session.run(`DO $$ DECLARE r record; BEGIN FOR i IN 1..5 LOOP
       SELECT * INTO r FROM chat_send_message('${owner.user.id}', '${room.id}', 'unheard ' || i, NULL, 0, 10);
       IF r.err IS NOT NULL THEN RAISE EXCEPTION '%', r.msg; END IF; END LOOP; END $$`);
    await sleep(1000);
  } finally {
    psqlOther('ALTER DATABASE chat ALLOW_CONNECTIONS true');
    session.end();
  }
  assert.ok(cut >= 4, `the connections of both bridges were cut (${cut})`);

  // The bridges come back by themselves; then a new message from each side.
  await retry(async () => (await ack(lA, 'send_message', { room_id: room.id, message: 'A after', client_id: 'dl-a' }, 15_000)).ok, 30_000, 'send on A');
  await retry(async () => (await ack(lB, 'send_message', { room_id: room.id, message: 'B after', client_id: 'dl-b' }, 15_000)).ok, 30_000, 'send on B');
  const stored = (await history(owner.token, room.id)).messages;
  assert.deepEqual(stored.map((m) => m.content), ['before', 'unheard 1', 'unheard 2', 'unheard 3', 'unheard 4', 'unheard 5', 'A after', 'B after']);
  for (const [i, c] of cols.entries()) {
    await c.waitCount(stored.length, 30_000, `connection ${i}`);
    assert.deepEqual(c.items, stored, `connection ${i} (${i ? 'B' : 'A'})`);
  }
  for (const [i, d] of drops.entries()) assert.deepEqual(d.items, [], `connection ${i} stayed connected`);
});

/** One statement from the postgres database (chat may refuse connections). */
function psqlOther(sql) {
  const r = spawnSync('psql', [conninfo('postgres'), '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', sql], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `psql ${sql}: ${r.stdout}${r.stderr}`);
}

test('a connection closed while the database is down: the user goes offline once it is back', async () => {
  const owner = await join('dg_owner');
  const room = await createRoom(owner.token, 'dg');
  const u = await join('dg_u', { room_id: room.id });
  const { socket } = await connect(u.token);
  await joinRoom(socket, room.id);
  assert.equal((await member(owner.token, room.id, u.user.id)).online, true);
  let stopped = false;
  try {
    stack('pg-stop');
    stopped = true;
    socket.close();
    // Past the grace period (CHAT_WS_GRACE, 3 s): the bridge tries to close
    // the presence row while the database is down.
    await sleep(3000 + 2000);
    stack('pg-start');
    stopped = false;
  } finally {
    if (stopped) stack('pg-start');
  }
  await retry(async () => {
    const r = await api('GET', `/api/users/${room.id}`, { token: owner.token });
    return r.status === 200 && r.json.data.users.find((x) => x.id === u.user.id)?.online === false;
  }, 30_000, 'the closed connection\'s user goes offline');
});

/**
 * Runs send() while every COMMIT waits for a synchronous standby that never
 * comes (the row is written, the client not told), waits until the
 * application's backend waits so, then stops PostgreSQL: the shutdown ends
 * the connection before the client hears of the commit. Returns what
 * send() resolved with, PostgreSQL started again. One at a time: a COMMIT
 * that NOTIFYs holds the notification queue's lock while it waits.
 *
 * Two races are closed first. The checkpointer applies
 * synchronous_standby_names some time after the reload, so a probe commit
 * must be seen waiting before send() starts. And any other commit that
 * waits meanwhile (a bridge's presence heartbeat on the same pipelined
 * connection, or a NOTIFY holding the queue's lock) would hold send()'s
 * statement back: such waits are cancelled (the commit stays, the client
 * gets a WARNING), so only the send is left waiting.
 */
async function hiddenCommit(app, send) {
  psql("ALTER SYSTEM SET synchronous_standby_names = 'chat_t19_nobody'");
  psql('SELECT pg_reload_conf()');
  const waiting = (where) => `SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep' AND ${where}`;
  const cancelOthers = () => psql(`SELECT count(pg_cancel_backend(pid)) FROM pg_stat_activity WHERE wait_event = 'SyncRep' AND pid <> pg_backend_pid() AND query NOT LIKE '%chat_send%'`);
  let stopped = false;
  try {
    const probe = await PsqlSession.open({ app: 'chat_t19_probe' });
    try {
      let pending = null;
      await retry(async () => {
        // A commit that writes WAL; one that did not wait (the setting not
        // yet in effect) ends, and another is tried.
        pending ??= probe.run('BEGIN; CREATE TEMP TABLE chat_t19_probe (x int) ON COMMIT DROP; COMMIT').catch(() => {}).then(() => { pending = null; });
        await sleep(100);
        if (psql(waiting("application_name = 'chat_t19_probe'")) !== '1') return false;
        cancelOthers();
        return true;
      }, 20_000, 'a commit waits for the standby (synchronous_standby_names in effect)');
      await pending;
    } finally {
      probe.end();
    }
    const p = send();
    await retry(() => {
      cancelOthers();
      return psql(waiting(`query LIKE '%chat_send%' AND application_name = '${app}'`)) === '1';
    }, 20_000, `the ${app} send waits for the standby`);
    psql('ALTER SYSTEM RESET synchronous_standby_names'); // read at the next start
    stack('pg-stop');
    stopped = true;
    const v = await p;
    stack('pg-start');
    stopped = false;
    return v;
  } finally {
    if (stopped) stack('pg-start');
    psql('ALTER SYSTEM RESET synchronous_standby_names');
    psql('SELECT pg_reload_conf()');
  }
}

test('a commit hidden by the connection loss: outcome_unknown, and the retry with the same client_id stores the message once', { skip: !!process.env.DATABASE_URL && 'DATABASE_URL: the server is not ours to reconfigure' }, async () => {
  const owner = await join('du_owner');
  const room = await createRoom(owner.token, 'du');
  const sender = await join('du_sender', { room_id: room.id });
  const { socket } = await connect(sender.token);
  await joinRoom(socket, room.id);
  const wsBody = { room_id: room.id, message: 'limbo ws', client_id: 'du-ws' };
  const restBody = { message: 'limbo rest', client_id: 'du-rest' };
  const wsAck = await hiddenCommit('chat-ws', () => ack(socket, 'send_message', wsBody, 60_000));
  ackFails(wsAck, 'outcome_unknown', 'the WebSocket send');
  // Retried with the same client_id: the message committed before the
  // shutdown comes back (duplicate), stored once.
  const again = await retry(async () => {
    const x = await ack(socket, 'send_message', wsBody, 15_000);
    return x.ok ? x : null;
  }, 30_000, 'the WebSocket retry');
  assert.equal(again.duplicate, true, JSON.stringify(again));

  const rest = await hiddenCommit('chat-fcgi', () => api('POST', `/api/messages/${room.id}`, { token: owner.token, body: restBody }));
  assert.equal(rest.status, 503, show(rest));
  assert.equal(rest.json.error.code, 'outcome_unknown', show(rest));
  const r2 = await retry(async () => {
    const x = await api('POST', `/api/messages/${room.id}`, { token: owner.token, body: restBody });
    return x.status === 200 || x.status === 201 ? x : null;
  }, 30_000, 'the REST retry');
  assert.equal(r2.json.data.duplicate, true, show(r2));
  const stored = (await history(owner.token, room.id)).messages.map((m) => m.client_id);
  assert.deepEqual(stored, ['du-ws', 'du-rest']);
});
