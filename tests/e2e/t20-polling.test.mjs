// t20-polling -- the Engine.IO long-polling transport through nginx: default
// socket.io-client options (polling, then the upgrade), polling only, no loss
// during the upgrade, sessions spread over two bridges, malformed and
// oversized requests, unknown and expired sessions, and the ping timeout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import WebSocket from 'ws';
import { BASE, api, ok, join, createRoom, send, stack, waitFor } from './lib.mjs';

const RS = '\x1e';

async function until(fn, ms, what) {
  assert.ok(await waitFor(fn, ms), `timed out waiting for ${what}`);
}

/** Connects with socket.io-client and resolves with the `connected` payload. */
function connect(token, opts = {}) {
  const socket = io(BASE, { auth: { token }, reconnection: false, forceNew: true, ...opts });
  const connected = new Promise((resolve, reject) => {
    socket.once('connected', resolve);
    socket.once('connect_error', reject);
    setTimeout(() => reject(new Error('no connected event')), 10000);
  });
  return { socket, connected };
}

function collect(socket, name) {
  const got = [];
  socket.on(name, (d) => got.push(d));
  return got;
}

async function rawPoll(query, init) {
  const r = await fetch(`${BASE}/socket.io/?EIO=4&transport=polling${query}`, init);
  return { status: r.status, text: await r.text(), type: r.headers.get('content-type') };
}

/** A raw polling handshake: returns the sid and the open packet. */
async function handshake() {
  const r = await rawPoll('');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.text[0], '0', r.text);
  const open = JSON.parse(r.text.slice(1));
  assert.deepEqual(open.upgrades, ['websocket']);
  assert.ok(open.pingInterval > 0 && open.pingTimeout > 0 && open.maxPayload > 0);
  return open;
}

test('default options: connects over polling, upgrades to websocket, exchanges every event', async () => {
  const a = await join('pda', { room_id: 'general' });
  const b = await join('pdb');
  const room = await createRoom(b.token, 'poll');
  const sb = connect(b.token, { transports: ['websocket'] });
  await sb.connected;
  const bMsgs = collect(sb.socket, 'new_message');
  const bJoined = collect(sb.socket, 'user_joined');
  const bTyping = collect(sb.socket, 'typing');
  const bStatus = collect(sb.socket, 'user_status');
  assert.equal((await sb.socket.emitWithAck('join_room', { room_id: room.id })).ok, true);

  const sa = connect(a.token); // no options at all
  const upgraded = new Promise((resolve) => sa.socket.io.engine.once('upgrade', (t) => resolve(t.name)));
  const hello = await sa.connected;
  assert.equal(hello.user.id, a.user.id);
  assert.equal(await upgraded, 'websocket');
  assert.equal(sa.socket.io.engine.transport.name, 'websocket');
  const aRooms = collect(sa.socket, 'room_created');

  const j = await sa.socket.emitWithAck('join_room', { room_id: room.id });
  assert.equal(j.ok, true, JSON.stringify(j));
  const s = await sa.socket.emitWithAck('send_message', { room_id: room.id, message: 'over the upgrade' });
  assert.equal(s.ok, true, JSON.stringify(s));
  assert.equal((await sa.socket.emitWithAck('typing', { room_id: room.id, is_typing: true })).ok, true);
  const r2 = await createRoom(b.token, 'poll2');
  await until(() => bMsgs.some((m) => m.id === s.message.id), 5000, 'new_message at b');
  await until(() => bJoined.some((e) => e.user.id === a.user.id), 5000, 'user_joined at b');
  await until(() => bTyping.some((e) => e.user_id === a.user.id && e.is_typing), 5000, 'typing at b');
  await until(() => aRooms.some((e) => e.room.id === r2.id), 5000, 'room_created at a');
  const bad = await sa.socket.emitWithAck('send_message', { room_id: room.id, message: '' });
  assert.equal(bad.ok, false);
  assert.equal(bad.error.code, 'validation_error');
  sa.socket.close();
  // a is a member of b's room now: its last connection closing reaches b.
  await until(() => bStatus.some((e) => e.user_id === a.user.id && e.status === 'offline'), 10000, 'user_status offline at b');
  sb.socket.close();
});

test('polling only (no WebSocket at all): every event works and the transport stays polling', async () => {
  const a = await join('ppa');
  const b = await join('ppb');
  const room = await createRoom(a.token, 'pp');
  const sa = connect(a.token, { transports: ['polling'] });
  const sb = connect(b.token, { transports: ['polling'] });
  await Promise.all([sa.connected, sb.connected]);
  assert.equal((await sb.socket.emitWithAck('join_room', { room_id: room.id })).ok, true);
  assert.equal((await sa.socket.emitWithAck('join_room', { room_id: room.id })).ok, true);
  const got = collect(sb.socket, 'new_message');
  const typing = collect(sb.socket, 'typing');
  const acks = await Promise.all(Array.from({ length: 12 }, (_, i) =>
    sa.socket.emitWithAck('send_message', { room_id: room.id, message: `p${i}`, client_id: `pp-${i}` })));
  assert.ok(acks.every((x) => x.ok), JSON.stringify(acks));
  await sa.socket.emitWithAck('typing', { room_id: room.id, is_typing: true });
  await until(() => got.length >= 12, 5000, '12 messages over polling');
  await until(() => typing.length >= 1, 5000, 'typing over polling');
  assert.deepEqual(got.map((m) => m.seq), acks.map((x) => x.message.seq).sort((x, y) => x - y));
  const dup = await sa.socket.emitWithAck('send_message', { room_id: room.id, message: 'p0', client_id: 'pp-0' });
  assert.equal(dup.duplicate, true);
  assert.equal(sa.socket.io.engine.transport.name, 'polling');
  assert.equal(sb.socket.io.engine.transport.name, 'polling');
  sa.socket.close();
  sb.socket.close();
});

test('messages sent during the upgrade are neither lost nor duplicated', async () => {
  const owner = await join('puo');
  const room = await createRoom(owner.token, 'pu');
  // Several senders, so the flow stays under each user's send rate limit.
  const senders = await Promise.all(Array.from({ length: 10 }, (_, i) => join(`pus${i}`, { room_id: room.id })));
  const reader = await join('pur', { room_id: room.id });
  let stop = false;
  let sent = 0;
  const flow = (async () => {
    while (!stop) {
      const s = senders[sent % senders.length];
      await send(s.token, room.id, `flow ${sent++}`);
      await new Promise((r) => setTimeout(r, 30));
    }
  })();
  await until(() => sent >= 5, 5000, 'the flow to start');
  for (let round = 0; round < 3; round++) {
    const s = connect(reader.token);
    const seqs = collect(s.socket, 'new_message');
    await s.connected;
    const j = await s.socket.emitWithAck('join_room', { room_id: room.id });
    assert.equal(j.ok, true);
    const first = j.room.last_seq;
    await until(() => s.socket.io.engine.transport.name === 'websocket', 5000, 'the upgrade');
    await until(() => seqs.length >= 20, 10000, '20 live messages');
    const got = seqs.map((m) => m.seq);
    assert.deepEqual(got, got.map((_, i) => first + 1 + i), `round ${round}: ${got}`);
    s.socket.close();
  }
  stop = true;
  await flow;
});

test('polling sessions spread over two bridges, each served by its own bridge', async () => {
  const users = await Promise.all(Array.from({ length: 6 }, (_, i) => join(`p2b${i}`)));
  const room = await createRoom(users[0].token, 'p2b');
  const socks = users.map((u) => connect(u.token, { transports: ['polling'] }));
  await Promise.all(socks.map((s) => s.connected));
  const prefixes = new Set(socks.map((s) => s.socket.io.engine.id.slice(0, 3)));
  assert.ok(prefixes.size >= 2, `sessions on one bridge only: ${[...prefixes]}`);
  const got = socks.map((s) => collect(s.socket, 'new_message'));
  for (const s of socks) assert.equal((await s.socket.emitWithAck('join_room', { room_id: room.id })).ok, true);
  const acks = [];
  for (let i = 0; i < 6; i++) acks.push(await socks[i].socket.emitWithAck('send_message', { room_id: room.id, message: `from ${i}` }));
  const want = acks.map((x) => x.message.seq);
  for (const g of got) await until(() => g.length === 6, 5000, 'every message on every bridge');
  for (const g of got) assert.deepEqual(g.map((m) => m.seq), want);
  socks.forEach((s) => s.socket.close());
});

test('malformed, oversized and unknown-session polling requests get clear errors', async () => {
  const open = await handshake();
  // An unknown session.
  let r = await rawPoll('&sid=nosuchsession');
  assert.equal(r.status, 400);
  assert.deepEqual(JSON.parse(r.text), { code: 1, message: 'Session ID unknown' });
  // Wrong protocol version and transport.
  r = await fetch(`${BASE}/socket.io/?EIO=3&transport=polling`);
  assert.equal(r.status, 400);
  assert.equal((await r.json()).code, 5);
  r = await fetch(`${BASE}/socket.io/?EIO=4&transport=carrier-pigeon`);
  assert.equal(r.status, 400);
  assert.equal((await r.json()).code, 0);
  // A malformed body ends the session with 400 Bad request.
  r = await rawPoll(`&sid=${open.sid}`, { method: 'POST', body: `40${RS}9garbage`, headers: { 'Content-Type': 'text/plain' } });
  assert.equal(r.status, 400, r.text);
  assert.equal(JSON.parse(r.text).code, 3);
  // The session is being closed: the next poll carries the close packet (after the open packet).
  r = await rawPoll(`&sid=${open.sid}`);
  assert.equal(r.status, 200);
  assert.ok(r.text.split(RS).includes('1'), r.text);
  // An oversized POST is refused (nginx or the bridge: 413), never accepted.
  const big = await handshake();
  const payload = `42["send_message",{"room_id":"general","message":"${'x'.repeat(70000)}"}]`;
  r = await rawPoll(`&sid=${big.sid}`, { method: 'POST', body: payload, headers: { 'Content-Type': 'text/plain' } });
  assert.equal(r.status, 413, r.text.slice(0, 200));
  // Binary packets (base64 "b") are not supported.
  const bin = await handshake();
  r = await rawPoll(`&sid=${bin.sid}`, { method: 'POST', body: 'bAQID', headers: { 'Content-Type': 'text/plain' } });
  assert.equal(r.status, 400, r.text);
});

test('a polling client authenticates and works by raw requests (CONNECT, event, ack)', async () => {
  const u = await join('praw', { room_id: 'general' });
  const open = await handshake();
  let r = await rawPoll(`&sid=${open.sid}`, { method: 'POST', body: `40{"token":"${u.token}"}`, headers: { 'Content-Type': 'text/plain' } });
  assert.equal(r.status, 200);
  assert.equal(r.text, 'ok');
  r = await rawPoll(`&sid=${open.sid}`);
  const packets = r.text.split(RS);
  assert.match(packets[0], /^40\{"sid":"/);
  assert.match(packets[1], /^42\["connected",/);
  r = await rawPoll(`&sid=${open.sid}`, { method: 'POST', body: `427["join_room",{"room_id":"general"}]${RS}3`, headers: { 'Content-Type': 'text/plain' } });
  assert.equal(r.text, 'ok');
  r = await rawPoll(`&sid=${open.sid}`);
  assert.match(r.text, /^437\[\{"ok":true,"room"\s*:/);
  // Two GETs at once are a protocol error: the second gets 400.
  const first = rawPoll(`&sid=${open.sid}`);
  await new Promise((res) => setTimeout(res, 100));
  const second = await rawPoll(`&sid=${open.sid}`);
  assert.equal(second.status, 400, second.text);
  const f = await first;
  assert.ok(f.text.split(RS).includes('1'), `the held poll ends the session: ${f.text}`);
});

test('expired polling sessions and silent WebSockets are closed by the ping timeout', async () => {
  stack('ws-restart', { CHAT_WS_PING_INTERVAL: '500', CHAT_WS_PING_TIMEOUT: '500' });
  try {
    const open = await handshake();
    assert.equal(open.pingInterval, 500);
    // Nobody polls: gone after interval + timeout.
    await new Promise((r) => setTimeout(r, 2500));
    const r = await rawPoll(`&sid=${open.sid}`);
    assert.equal(r.status, 400, r.text);
    assert.equal(JSON.parse(r.text).code, 1);
    // A raw WebSocket that never answers pings is closed.
    const ws = new WebSocket(`${BASE.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`);
    const pings = [];
    ws.on('message', (m) => { if (String(m) === '2') pings.push(Date.now()); });
    const closed = await new Promise((resolve) => ws.on('close', (code) => resolve(code)));
    assert.ok(pings.length >= 1, 'the server pinged');
    assert.ok([1001, 1006, 1008].includes(closed), `close code ${closed}`);
  } finally {
    stack('ws-restart');
  }
  ok(await api('GET', '/api/health'));
});
