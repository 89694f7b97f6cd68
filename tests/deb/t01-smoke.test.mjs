// t01-smoke -- the deployment tests/deb/run.sh made from the Debian package
// (packaged programs, site, env file, web client and migrations): the web
// client is served with its socket.io bundle, and a message sent over REST
// reaches another user's socket through the packaged bridge.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { api, ok, join, createRoom, send, history, BASE } from '../e2e/lib.mjs';
import { connect, closeAll, collect, joinRoom } from '../e2e/sio.mjs';

after(closeAll);

test('the packaged web client is served, its socket.io bundle included (built without npm on the host)', async () => {
  const page = await fetch(`${BASE}/`);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<html/i);
  const bundle = await fetch(`${BASE}/vendor/socket.io.esm.min.js`);
  assert.equal(bundle.status, 200, 'web/vendor/ is in the package');
  assert.match(await bundle.text(), /Socket\.IO v4/);
  // A room's address gets the client too (try_files in the packaged site).
  const room = await fetch(`${BASE}/chat/lobby`);
  assert.equal(room.status, 200);
});

test('health through the packaged site: the workers reach the migrated database', async () => {
  const h = ok(await api('GET', '/api/health'));
  assert.equal(h.status, 'ok');
  assert.equal(h.db, 'ok');
});

test('join, send over REST, receive over the socket', async () => {
  const alice = await join('deb_a');
  const room = await createRoom(alice.token, 'deb');
  const bob = await join('deb_b', { room_id: room.id });
  const { socket } = await connect(bob.token);
  await joinRoom(socket, room.id);
  const got = collect(socket, 'new_message');
  const m = await send(alice.token, room.id, 'hello from the package');
  const delivered = await got.waitFor((x) => x.id === m.id, 10_000, 'the REST message over the socket');
  assert.equal(delivered.content, 'hello from the package');
  assert.equal(delivered.username, alice.user.username);
  const page = await history(bob.token, room.id);
  assert.deepEqual(page.messages.map((x) => x.id), [m.id]);
});

test('the packaged site answers its own errors in the API envelope (413)', async () => {
  const r = await api('POST', '/api/join', { rawBody: 'x'.repeat(100_000) });
  assert.equal(r.status, 413);
  assert.equal(r.json?.error?.code, 'payload_too_large');
});
