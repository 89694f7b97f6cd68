// t15-sio-hostile -- input no well-behaved client sends, through nginx with
// raw WebSocket frames, and the connection-level limits (ping timeout,
// CONNECT timeout, rooms per connection) on an extra bridge with short
// settings.
import { test, afterEach, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { join, createRoom, send } from './lib.mjs';
import {
  connect, closeAll, ack, ackOk, ackFails, joinRoom, RawClient, rawConnect, handshake, wsUrl,
  Bridge, EXTRA_PORT_1, sleep, nginxGuard, STACK_BRIDGES, direct, BRIDGE_PORT, WebSocket,
} from './sio.mjs';

afterEach(closeAll);

const MAX_PAYLOAD = 65536;
/** The stack's first bridge, without nginx. */
const BRIDGE = direct(BRIDGE_PORT);

test('unknown event: ok:false validation_error, never ok:true', async () => {
  const u = await join('h_unknown');
  const { socket } = await connect(u.token);
  for (const name of ['hack', 'JOIN_ROOM', 'join_room ', 'connected', 'error', 'new_message', '']) {
    ackFails(await ack(socket, name, {}), 'validation_error', `event ${JSON.stringify(name)}`);
  }
});

test('events before CONNECT: unauthorized (ack or error event), the connection stays usable', async () => {
  const u = await join('h_early', { room_id: 'general' });
  const c = await RawClient.open();
  const id = await c.emit('join_room', { room_id: 'general' });
  ackFails(await c.waitAck(id), 'unauthorized', 'join_room before CONNECT');
  await c.emit('send_message', { room_id: 'general', message: 'sneaky' }, { withAck: false });
  const e = await c.waitEvent('error');
  assert.equal(e.code, 'unauthorized');
  assert.equal(typeof e.message, 'string');
  // Then a proper CONNECT works on the same connection.
  const r = await c.sioConnect(u.token);
  assert.equal(r.type, '40');
  const connected = await c.waitEvent('connected');
  assert.equal(connected.user.id, u.user.id);
  const id2 = await c.emit('join_room', { room_id: 'general' });
  ackOk(await c.waitAck(id2));
});

test('binary attachments are refused with validation_error; the connection stays usable', async () => {
  const u = await join('h_binary');
  const room = await createRoom(u.token, 'h_binary');
  const c = await rawConnect(u.token);
  await c.send('451-["send_message",{"_placeholder":true,"num":0}]');
  const e = await c.waitEvent('error');
  assert.equal(e.code, 'validation_error');
  await c.send('451-7["send_message",{"_placeholder":true,"num":0}]');
  ackFails(await c.waitAck(7), 'validation_error', 'binary event with ack id');
  const id = await c.emit('join_room', { room_id: room.id });
  ackOk(await c.waitAck(id));
  const id2 = await c.emit('send_message', { room_id: room.id, message: 'still here' });
  assert.equal((await c.waitAck(id2)).message.content, 'still here');
});

test('event frames that parse but carry bad JSON get an error, not ok', async () => {
  const u = await join('h_badjson');
  const c = await rawConnect(u.token);
  const cases = ['42[', '42{"a":1}', '42"join_room"', '42[]', '42[5,{}]', '42["join_room"]', '42["join_room",{"room_id":"general"}]x',
    '42["send_message",{"room_id":"general","message":"a","message":"b"}]'];
  for (const [i, body] of cases.entries()) {
    const id = 100 + i;
    await c.send(`${body.slice(0, 2)}${id}${body.slice(2)}`);
    const a = await c.waitAck(id);
    assert.equal(a.ok, false, `${body}: ${JSON.stringify(a)}`);
    assert.ok(['invalid_json', 'validation_error'].includes(a.error.code), `${body}: ${JSON.stringify(a)}`);
  }
  // Another namespace's event: refused too.
  await c.send('42/admin,200["join_room",{"room_id":"general"}]');
  const a = await c.waitAck(200);
  assert.equal(a.ok, false, JSON.stringify(a));
  assert.equal(c.closeInfo, null, 'still open');
});

/** Opens a raw connection (CONNECTed when token is given), sends frame, expects a close with code. */
async function expectClose(token, frame, code, opts) {
  const c = token ? await rawConnect(token) : await RawClient.open();
  await c.send(frame, opts);
  const info = await c.waitClosed(10_000);
  assert.equal(info.code, code, `close code after ${typeof frame === 'string' ? JSON.stringify(frame.slice(0, 40)) : 'binary'}: ${JSON.stringify(info)}`);
  return info;
}

test('malformed packets close the connection with 1002', async () => {
  const u = await join('h_malformed');
  for (const f of ['4x', '9', '4', '47', '0', 'hello', '42999999999999999999["join_room",{}]', '45-["x",{}]']) {
    await expectClose(u.token, f, 1002);
  }
  // Also before CONNECT.
  await expectClose(null, '4x', 1002);
  await expectClose(null, '', 1002);
});

test('engine.io ping from the client gets a pong; noop is ignored', async () => {
  const u = await join('h_ping');
  const c = await rawConnect(u.token);
  await c.send('2probe');
  assert.equal(await c.waitFrame((s) => s.startsWith('3')), '3probe');
  await c.send('6');
  const id = await c.emit('join_room', { room_id: 'general' });
  ackOk(await c.waitAck(id));
});

// The two size tests talk to a bridge directly: through nginx the close
// code is not reliably delivered (see the test after them).
test('a text message of exactly 64 KiB is read; one byte more closes with 1009', async () => {
  const u = await join('h_size');
  const room = await createRoom(u.token, 'h_size');
  const c = await rawConnect(u.token, { url: BRIDGE });
  const head = `421["send_message",{"room_id":"${room.id}","message":"`;
  const tail = '"}]';
  const fill = (n) => 'x'.repeat(n - head.length - tail.length);
  const exact = head + fill(MAX_PAYLOAD) + tail;
  assert.equal(Buffer.byteLength(exact), MAX_PAYLOAD);
  await c.send(exact);
  // Read and refused for its content (4000 characters at most), not closed.
  ackFails(await c.waitAck(1), 'validation_error', '64 KiB message');
  const over = `422["send_message",{"room_id":"${room.id}","message":"${fill(MAX_PAYLOAD + 1)}"}]`;
  assert.equal(Buffer.byteLength(over), MAX_PAYLOAD + 1);
  await c.send(over);
  const info = await c.waitClosed();
  assert.equal(info.code, 1009, JSON.stringify(info));
});

test('fragmented messages are reassembled; past 64 KiB in total: 1009', async () => {
  const u = await join('h_frag');
  const room = await createRoom(u.token, 'h_frag');
  const c = await rawConnect(u.token, { url: BRIDGE });
  const msg = `425["send_message",{"room_id":"${room.id}","message":"in three pieces"}]`;
  await c.send(msg.slice(0, 5), { fin: false });
  await c.send(msg.slice(5, 20), { fin: false });
  await c.send(msg.slice(20), { fin: true });
  const a = ackOk(await c.waitAck(5));
  assert.equal(a.message.content, 'in three pieces');
  // 3 fragments of 30000 bytes: each small, together too large.
  const piece = 'y'.repeat(30000);
  await c.send(`426["send_message",{"room_id":"${room.id}","message":"${piece}`, { fin: false });
  await c.send(piece, { fin: false });
  await c.send(`${piece}"}]`, { fin: true });
  const info = await c.waitClosed();
  assert.equal(info.code, 1009, JSON.stringify(info));
});

test('through nginx too, an oversized message is closed with 1009, every time', async () => {
  const u = await join('h_frag_nginx');
  const room = await createRoom(u.token, 'h_frag_nginx');
  const piece = 'y'.repeat(30000);
  const codes = [];
  for (let i = 0; i < 20; i++) {
    const c = await rawConnect(u.token);
    await c.send(`42["send_message",{"room_id":"${room.id}","message":"${piece}`, { fin: false });
    await c.send(piece, { fin: false });
    await c.send(`${piece}"}]`, { fin: true });
    codes.push((await c.waitClosed()).code);
  }
  assert.deepEqual(codes, codes.map(() => 1009), 'the close frame must not be lost between the bridge and nginx');
});

test('a binary frame closes with 1003', async () => {
  const u = await join('h_binframe');
  await expectClose(u.token, Buffer.from('42["join_room",{"room_id":"general"}]'), 1003, { binary: true });
  await expectClose(null, Buffer.from([1, 2, 3]), 1003, { binary: true });
});

test('a text frame with invalid UTF-8 closes with 1007', async () => {
  const u = await join('h_utf8');
  await expectClose(u.token, Buffer.concat([Buffer.from('42["send_message",{"room_id":"general","message":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}]')]), 1007, { binary: false });
  // An overlong encoding and a lone surrogate in UTF-8 are invalid too.
  await expectClose(u.token, Buffer.from([0x34, 0x32, 0xc0, 0xaf]), 1007, { binary: false });
  await expectClose(u.token, Buffer.from([0x34, 0x32, 0xed, 0xa0, 0x80]), 1007, { binary: false });
});

// The refusals are asked of a bridge directly: through nginx each one also
// tests the next point, which has a test of its own below.
test('handshakes other than EIO=4 over websocket are refused', async () => {
  for (const query of ['EIO=3&transport=websocket', 'EIO=5&transport=websocket', 'transport=websocket', 'EIO=4', 'EIO=4&transport=polling', 'EIO=4x&transport=websocket', 'EIO=4&transport=websocket&sid=nosuchsession']) {
    const h = await handshake(wsUrl({ url: BRIDGE, query }));
    assert.equal(h.opened, false, `${query} must be refused`);
  }
  const good = await handshake(wsUrl({ url: BRIDGE }));
  assert.equal(good.opened, true);
});

test('a refused upgrade is answered with an Engine.IO error (HTTP 400/403 + JSON), not a dropped connection', async () => {
  const cases = [
    ['EIO=3&transport=websocket', {}, 400, 5],
    ['EIO=4&transport=carrier-pigeon', {}, 400, 0],
    ['EIO=4&transport=websocket', { Origin: 'http://evil.example' }, 403, 4],
    ['EIO=4&transport=websocket&sid=nosuchsession', {}, 400, 1],
  ];
  const got = [];
  for (const [query, headers] of cases) {
    const h = await handshake(wsUrl({ url: BRIDGE, query }), headers);
    got.push([query, headers, h.status ?? h.error, h.json?.code]);
  }
  assert.deepEqual(got, cases.map(([q, hd, st, code]) => [q, hd, st, code]));
});

test('a refused upgrade through nginx leaves the bridges in rotation', async (t) => {
  const guard = nginxGuard(t);
  // One keep-alive connection to nginx for all requests: the same nginx
  // worker (each keeps its own list of failed upstreams) answers them all.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  const bad = await new Promise((resolve, reject) => {
    const req = http.get(wsUrl({ query: 'EIO=3&transport=websocket' }).replace(/^ws/, 'http'), {
      agent,
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': randomBytes(16).toString('base64') },
    }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('upgrade', (res, sock) => {
      sock.destroy();
      resolve('upgraded');
    });
    req.on('error', reject);
  });
  assert.notEqual(bad, 'upgraded', 'EIO=3 must be refused');
  // Right after it, normal upgrades on the same nginx worker still reach a bridge.
  const after = [];
  for (let i = 0; i < STACK_BRIDGES + 1; i++) {
    after.push(await new Promise((resolve) => {
      const ws = new WebSocket(wsUrl(), { agent, perMessageDeflate: false });
      ws.on('open', () => {
        ws.terminate();
        resolve('open');
      });
      ws.on('unexpected-response', (req, res) => {
        const reused = req.reusedSocket;
        req.destroy();
        resolve(`HTTP ${res.statusCode}${reused ? '' : ' (another connection)'}`);
      });
      ws.on('error', (e) => resolve(e.message));
    }));
  }
  assert.deepEqual(after, after.map(() => 'open'), `normal upgrades right after a refused EIO=3 (answered HTTP ${bad} through nginx)`);
  guard.done();
});

test('a client closing with an Engine.IO close packet or a Socket.IO DISCONNECT is let go', async () => {
  const u = await join('h_bye');
  const c = await rawConnect(u.token);
  await c.send('41');
  const info = await c.waitClosed();
  assert.equal(info.code, 1000, JSON.stringify(info));
  const d = await rawConnect(u.token);
  await d.send('1');
  assert.equal((await d.waitClosed()).code, 1000);
});

// ---------------------------------------------------------------- short settings

let bridge;

before(async () => {
  bridge = await Bridge.start({
    port: EXTRA_PORT_1,
    env: {
      CHAT_WS_PING_INTERVAL: '500',
      CHAT_WS_PING_TIMEOUT: '1000',
      CHAT_WS_AUTH_TIMEOUT: '1500',
      CHAT_WS_MAX_ROOMS: '2',
      CHAT_WS_RECOVERY_MAX: '3',
    },
  });
});

after(async () => {
  await closeAll();
  if (bridge) {
    const r = await bridge.stop();
    assert.deepEqual(r, { code: 0, signal: null }, `the extra bridge exits cleanly on SIGTERM; log:\n${bridge.logTail()}`);
  }
});

test('a client that stops answering pings is closed (ping 500 ms, timeout 1000 ms)', async () => {
  const u = await join('h_noping');
  const c = await RawClient.open({ url: bridge.url, autoPong: false });
  assert.equal(c.openPacket.pingInterval, 500);
  assert.equal(c.openPacket.pingTimeout, 1000);
  const r = await c.sioConnect(u.token);
  assert.equal(r.type, '40');
  await c.waitFrame((s) => s === '2', 5000, 'a ping');
  const info = await c.waitClosed(10_000);
  assert.ok(info.code !== 1000, `closed for the timeout: ${JSON.stringify(info)}`);
  // One that answers stays: several pings come and go.
  const d = await rawConnect(u.token, { url: bridge.url });
  for (let i = 0; i < 4; i++) await d.waitFrame((s) => s === '2', 5000, `ping ${i + 1}`);
  assert.equal(d.closeInfo, null);
  const id = await d.emit('join_room', { room_id: 'general' });
  ackOk(await d.waitAck(id));
  // socket.io-client follows the pingInterval the open packet gives.
  const { socket } = await connect(u.token, { url: bridge.url });
  await sleep(2500);
  assert.ok(socket.connected, 'socket.io-client answers the pings');
  await joinRoom(socket, 'general');
});

test('a connection without a successful CONNECT is closed after CHAT_WS_AUTH_TIMEOUT', async () => {
  const c = await RawClient.open({ url: bridge.url });
  const info = await c.waitClosed(10_000);
  assert.equal(info.code, 1008, JSON.stringify(info));
  // A refused CONNECT does not extend it.
  const d = await RawClient.open({ url: bridge.url });
  const r = await d.sioConnect('f'.repeat(64));
  assert.equal(r.type, '44');
  assert.equal((await d.waitClosed(10_000)).code, 1008);
});

test('CHAT_WS_MAX_ROOMS=2: a third room on one connection is refused', async () => {
  const u = await join('h_rooms');
  // Another user's rooms: u leaves one, and an owner cannot leave.
  const owner = await join('h_rooms_o');
  const rooms = [];
  for (let i = 0; i < 3; i++) rooms.push(await createRoom(owner.token, `h_rooms${i}`));
  const { socket } = await connect(u.token, { url: bridge.url });
  await joinRoom(socket, rooms[0].id);
  await joinRoom(socket, rooms[1].id);
  ackFails(await ack(socket, 'join_room', { room_id: rooms[2].id }), 'forbidden');
  // Re-joining one it has is fine; after a leave there is room again.
  await joinRoom(socket, rooms[1].id);
  ackOk(await ack(socket, 'leave_room', { room_id: rooms[0].id }));
  await joinRoom(socket, rooms[2].id);
  // Another connection has its own allowance.
  const { socket: s2 } = await connect(u.token, { url: bridge.url });
  await joinRoom(s2, rooms[0].id);
});

test('CHAT_WS_RECOVERY_MAX=3: 3 missed are recovered, 4 are not', async () => {
  const u = await join('h_recmax');
  const room = await createRoom(u.token, 'h_recmax');
  for (let i = 1; i <= 5; i++) await send(u.token, room.id, `m${i}`);
  const { socket } = await connect(u.token, { url: bridge.url });
  const a = await joinRoom(socket, room.id, { since_seq: 2 });
  assert.equal(a.recovered, true);
  assert.deepEqual(a.messages.map((m) => m.seq), [3, 4, 5]);
  const b = await joinRoom(socket, room.id, { since_seq: 1 });
  assert.equal(b.recovered, false);
  assert.deepEqual(b.messages.map((m) => m.seq), [1, 2, 3, 4, 5], 'the newest page instead');
});
