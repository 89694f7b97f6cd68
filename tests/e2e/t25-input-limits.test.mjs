// t25-input-limits -- valid JSON with "\u0000" in a string field (REST and
// Socket.IO), the per-user room-creation limit, joins from one address (new
// names are limited, returning users are not), the room_created NOTIFY
// budget and the __Host- session cookie.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import {
  api, ok, fails, join, createRoom, history, uniqueName, stack, show, setCookies,
} from './lib.mjs';
import {
  connect, closeAll, ack, ackOk, ackFails, joinRoom, RawClient, rawConnect,
} from './sio.mjs';

afterEach(closeAll);

/** A JSON text of obj whose string values have every "@" replaced by \u0000. */
const withNul = (obj) => JSON.stringify(obj).replaceAll('@', '\\u0000');

/** Asserts a 400 validation_error naming field, for a NUL in that field. */
function assertNulRefused(r, field, what) {
  assert.equal(r.status, 400, `${what}: ${show(r)}`);
  fails(r, 400, 'validation_error', field);
  assert.match(r.json.error.message, /control character/, `${what}: ${show(r)}`);
}

test('REST: "\\u0000" in any string field is 400 validation_error naming the field', async () => {
  const u = await join('nul');
  const room = await createRoom(u.token, 'nul');
  const msgs = `/api/messages/${room.id}`;
  const cases = [
    [msgs, u.token, { message: 'nul@byte' }, 'message'],
    [msgs, u.token, { message: '@' }, 'message'],
    [msgs, u.token, { message: 'trailing@' }, 'message'],
    [msgs, u.token, { message: 'fine', client_id: 'c@1' }, 'client_id'],
    ['/api/join', undefined, { username: 'ab@cd' }, 'username'],
    ['/api/join', undefined, { username: uniqueName('nul'), room_id: 'general@' }, 'room_id'],
    ['/api/rooms', u.token, { room_name: 'r@oom' }, 'room_name'],
    ['/api/rooms', u.token, { name: 'r@oom' }, 'name'],
    ['/api/rooms', u.token, { room_name: uniqueName('nul'), description: 'd@' }, 'description'],
  ];
  for (const [p, token, body, field] of cases) {
    const rawBody = withNul(body);
    assertNulRefused(await api('POST', p, { token, rawBody }), field, `${p} ${rawBody}`);
  }
  // Nothing of it was stored.
  assert.equal((await history(u.token, room.id)).messages.length, 0);
  // A NUL in a key is not a field of ours: 400, never a server error.
  const r = await api('POST', msgs, { token: u.token, rawBody: '{"mess\\u0000age":"x"}' });
  assert.equal(r.status, 400, show(r));
  // The same texts without the NUL are fine.
  const m = ok(await api('POST', msgs, { token: u.token, body: { message: 'nulbyte', client_id: 'c1' } }), 201);
  assert.equal(m.message.content, 'nulbyte');
});

test('Socket.IO: "\\u0000" in an event payload is validation_error, never a truncated value', async () => {
  const u = await join('nul_ws');
  const room = await createRoom(u.token, 'nul_ws');
  const { socket } = await connect(u.token);
  await joinRoom(socket, room.id);
  const cases = [
    ['send_message', { room_id: room.id, message: 'nul\u0000byte' }, 'message'],
    ['send_message', { room_id: room.id, message: 'ok', client_id: 'c\u00001' }, 'client_id'],
    ['join_room', { room_id: `${room.id}\u0000` }, 'room_id'],
    ['leave_room', { room_id: `\u0000${room.id}` }, 'room_id'],
    ['typing', { room_id: `${room.id}\u0000x`, is_typing: true }, 'room_id'],
  ];
  for (const [event, payload, field] of cases) {
    const e = ackFails(await ack(socket, event, payload), 'validation_error', `${event} ${JSON.stringify(payload)}`);
    assert.match(e.message, new RegExp(`^${field} .*control character`), `${event}: ${e.message}`);
  }
  // An event name with a NUL is not the name before it.
  ackFails(await ack(socket, 'send_message\u0000', { room_id: room.id, message: 'sneaky' }), 'validation_error', 'name with NUL');
  assert.equal((await history(u.token, room.id)).messages.length, 0, 'nothing stored');
});

test('Socket.IO CONNECT: a token followed by "\\u0000" is unauthorized, not the token', async () => {
  const u = await join('nul_connect');
  const c = await RawClient.open();
  const r = await c.sioConnect(`${u.token}\u0000garbage`);
  assert.equal(r.type, '44', JSON.stringify(r));
  assert.equal(r.data.data.code, 'unauthorized', JSON.stringify(r));
  // The same connection then CONNECTs with the real token.
  const r2 = await c.sioConnect(u.token);
  assert.equal(r2.type, '40', JSON.stringify(r2));
  const raw = await rawConnect(u.token);
  assert.equal(raw.closeInfo, null);
});
