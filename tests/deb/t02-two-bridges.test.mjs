// t02-two-bridges -- the packaged site with its second bridge enabled (two
// chat-ws as the chat-ws@8081 and chat-ws@8082 units run them): a message
// reaches sockets on both bridges, and long-polling sessions (Engine.IO's
// default first transport) stay on the bridge that holds them through the
// site's sid map, then upgrade to WebSocket there.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join, createRoom, send } from '../e2e/lib.mjs';
import { connect, closeAll, collect, joinRoom, direct, BRIDGE_PORT } from '../e2e/sio.mjs';

after(closeAll);

const SECOND = Number(process.env.CHAT_DEB_WS2_PORT);

test('a message sent over REST reaches a socket on each bridge', async () => {
  assert.ok(SECOND > 0, 'CHAT_DEB_WS2_PORT is set by tests/deb/run.sh');
  const alice = await join('deb2_a');
  const room = await createRoom(alice.token, 'deb2');
  const bob = await join('deb2_b', { room_id: room.id });
  const gots = [];
  for (const port of [BRIDGE_PORT, SECOND]) {
    const { socket } = await connect(bob.token, { url: direct(port) });
    await joinRoom(socket, room.id);
    gots.push(collect(socket, 'new_message'));
  }
  const m = await send(alice.token, room.id, 'to both bridges');
  for (const [i, got] of gots.entries()) {
    const d = await got.waitFor((x) => x.id === m.id, 10_000, `bridge ${i}`);
    assert.equal(d.content, 'to both bridges');
  }
});

test('polling sessions through the site land on both bridges and work, upgraded or not', async () => {
  const alice = await join('deb2_pa');
  const room = await createRoom(alice.token, 'deb2p');
  const sids = [];
  const gots = [];
  // least_conn spreads new sessions; eight are enough to meet both bridges.
  for (let i = 0; i < 8; i++) {
    const u = await join(`deb2_p${i}`, { room_id: room.id });
    const upgrade = i % 2 === 0;
    const { socket } = await connect(u.token, { ioOpts: { transports: ['polling', 'websocket'], upgrade } });
    sids.push(socket.io.engine.id);
    await joinRoom(socket, room.id);
    gots.push(collect(socket, 'new_message'));
  }
  const prefixes = new Set(sids.map((s) => s.slice(0, 6)));
  assert.deepEqual([...prefixes].sort(), ['p8081_', 'p8082_'], `session ids of both bridges: ${sids.join(' ')}`);
  const m = await send(alice.token, room.id, 'to every session');
  for (const [i, got] of gots.entries()) {
    await got.waitFor((x) => x.id === m.id, 10_000, `session ${sids[i]}`);
  }
});
