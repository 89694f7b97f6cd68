// t04-messages -- POST/GET /api/messages/{room_id}: membership, validation, client_id.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  api, ok, fails, join, createRoom, send, history, uniqueName, assertMessage, show,
} from './lib.mjs';

// The send limit (20 per 10 s per user) would trip if one user sent every
// message of this file, so each test that sends uses its own user and room.
async function fresh(prefix = 'msg') {
  const user = await join(prefix);
  const r = await createRoom(user.token, `${prefix}room`);
  return { alice: user, room: r };
}

let shared; // a room with a few messages, read by several tests
before(async () => {
  shared = await fresh('shared');
  await send(shared.alice.token, shared.room.id, 'shared message');
});

test('a member sends a message: 201 with the Message, seq 1, 2, 3 in a new room', async () => {
  const { alice, room } = await fresh();
  const r = await api('POST', `/api/messages/${room.id}`, { token: alice.token, body: { message: 'hello' } });
  const data = ok(r, 201);
  assert.deepEqual(Object.keys(data).sort(), ['duplicate', 'message']);
  assert.equal(data.duplicate, false);
  const m = data.message;
  assertMessage(m);
  assert.equal(m.room_id, room.id);
  assert.equal(m.seq, 1);
  assert.equal(m.user_id, alice.user.id);
  assert.equal(m.username, alice.user.username);
  assert.equal(m.content, 'hello');
  assert.equal(m.client_id, null);
  const m2 = await send(alice.token, room.id, 'second');
  const m3 = await send(alice.token, room.id, 'third');
  assert.equal(m2.seq, 2);
  assert.equal(m3.seq, 3);
  assert.ok(m2.id > m.id && m3.id > m2.id);
  assert.ok(m.timestamp <= m2.timestamp && m2.timestamp <= m3.timestamp);

  const page = await history(alice.token, room.id);
  assert.deepEqual(Object.keys(page).sort(), ['has_more', 'messages']);
  assert.equal(page.has_more, false);
  assert.deepEqual(page.messages, [m, m2, m3]);
  const got = ok(await api('GET', `/api/rooms/${room.id}`, { token: alice.token })).room;
  assert.equal(got.last_seq, 3);
});

test('a non-member gets 403 forbidden and nothing is stored; after joining it can send', async () => {
  const { alice, room } = await fresh();
  const r0 = await createRoom(alice.token, 'closed');
  const bob = await join('bob');
  fails(await api('POST', `/api/messages/${r0.id}`, { token: bob.token, body: { message: 'let me in' } }), 403, 'forbidden');
  fails(await api('POST', '/api/messages/general', { token: bob.token, body: { message: 'let me in' } }), 403, 'forbidden');
  // Reading is open to any signed-in user.
  const page = await history(bob.token, r0.id);
  assert.deepEqual(page.messages, []);
  // Joining through /api/join with room_id makes bob a member.
  ok(await api('POST', '/api/join', { token: bob.token, body: { username: bob.user.username, room_id: r0.id } }), 201);
  const m = await send(bob.token, r0.id, 'in now');
  assert.equal(m.seq, 1, 'the refused message took no seq');
  assert.equal(m.user_id, bob.user.id);
});

test('any signed-in user reads any room; an unknown room is 404', async () => {
  const carol = await join('carol');
  const page = await history(carol.token, shared.room.id);
  assert.ok(page.messages.length >= 1);
  for (const id of ['no-such-room', '%27%3B%20DROP', 'x'.repeat(65)]) {
    fails(await api('GET', `/api/messages/${id}`, { token: carol.token }), 404, 'not_found');
    fails(await api('POST', `/api/messages/${id}`, { token: carol.token, body: { message: 'x' } }), 404, 'not_found');
  }
});

test('content is stored and returned verbatim (Unicode, newlines, tabs, markup, SQL)', async () => {
  const { alice, room } = await fresh();
  const samples = [
    'h\u00e9llo \u{1F600} \u0645\u0631\u062d\u0628\u0627 \u65e5\u672c\u8a9e',
    'line 1\nline 2\n\tindented',
    '  leading and trailing spaces  ',
    '<script>alert(1)</script> & "quotes" \\ backslash',
    "'; DROP TABLE messages; --",
    '" OR 1=1 --',
    '\\',
    '%s %n %x {{7*7}} ${7*7}',
    '\u200b zero width',
    '\ufeffBOM',
    '\u{10FFFF}',
  ];
  const sent = [];
  for (const s of samples) sent.push(await send(alice.token, room.id, s));
  sent.forEach((m, i) => assert.equal(m.content, samples[i]));
  const page = await history(alice.token, room.id, `after=${sent[0].seq - 1}`);
  assert.deepEqual(page.messages.map((m) => m.content), samples);
});

// chat-fcgi frames an answer itself (fcgi-app/fcgiout.c): past 65528 bytes
// it takes several FastCGI records, and past 32 KB nginx's first buffer.
test('a history page of 5 x 4000 four-byte characters (80 KB: two FastCGI records) arrives whole, its Content-Length exact', async () => {
  const { alice, room } = await fresh('big');
  const samples = [];
  for (let i = 0; i < 5; i++) samples.push(`${i}${'\u{1F600}'.repeat(3999)}`);
  for (const s of samples) await send(alice.token, room.id, s);
  const r = await api('GET', `/api/messages/${room.id}?limit=5`, { token: alice.token });
  const page = ok(r);
  assert.deepEqual(page.messages.map((m) => m.content), samples);
  const bytes = Buffer.byteLength(r.text);
  assert.ok(bytes > 80_000, `the page is ${bytes} bytes`);
  assert.equal(Number(r.headers.get('content-length')), bytes);
  assert.equal(r.headers.get('cache-control'), 'no-store');
  assert.match(r.headers.get('x-request-id') || '', /^[0-9a-f]+-[0-9a-f]+$/);
});

test('message: 1..4000 characters counted in code points', async () => {
  const { alice, room } = await fresh();
  for (const unit of ['a', '\u00e9', '\u20ac', '\u{1F600}']) {
    const s = unit.repeat(4000);
    const m = await send(alice.token, room.id, s);
    assert.equal(m.content, s);
    const r = await api('POST', `/api/messages/${room.id}`, { token: alice.token, body: { message: unit.repeat(4001) } });
    fails(r, 400, 'validation_error', 'message');
  }
});

test('message: no control characters other than newline and tab, not blank', async () => {
  const { alice, room } = await fresh();
  for (const message of [
    '', ' ', '   ', '\n', '\t', '\n\t \n', '\u3000', '\u00a0',
    'a\rb', 'a\u0001b', 'a\u0007', 'a\u0008b', 'a\u000bb', 'a\u000cb', 'a\u001b[31mred', 'a\u007fb', 'a\u0080b', 'a\u0085b', 'a\u009fb',
  ]) {
    const r = await api('POST', `/api/messages/${room.id}`, { token: alice.token, body: { message } });
    assert.equal(r.status, 400, `${JSON.stringify(message)}: ${show(r)}`);
    fails(r, 400, 'validation_error', 'message');
  }
});

test('message missing, null or not a string is a validation error on message', async () => {
  const { alice, room } = await fresh();
  for (const body of [{}, { message: null }, { message: 5 }, { message: 0 }, { message: [] }, { message: ['hi'] }, { message: {} }, { message: true }, { content: 'hi' }, { text: 'hi' }]) {
    const r = await api('POST', `/api/messages/${room.id}`, { token: alice.token, body });
    assert.equal(r.status, 400, `${JSON.stringify(body)}: ${show(r)}`);
    fails(r, 400, 'validation_error', 'message');
  }
});

test('a refused message takes no seq', async () => {
  const { alice, room } = await fresh();
  const r0 = await createRoom(alice.token, 'noseq');
  await send(alice.token, r0.id, 'one');
  fails(await api('POST', `/api/messages/${r0.id}`, { token: alice.token, body: { message: '' } }), 400, 'validation_error', 'message');
  fails(await api('POST', `/api/messages/${r0.id}`, { token: alice.token, body: { message: 'x', client_id: '' } }), 400, 'validation_error', 'client_id');
  const two = await send(alice.token, r0.id, 'two');
  assert.equal(two.seq, 2);
});

test('a user_id in the body is ignored: the session decides who sends', async () => {
  const { alice, room } = await fresh();
  const bob = await join('bob', { room_id: room.id });
  const first = await send(alice.token, room.id, 'first');
  const m = await send(bob.token, room.id, 'who am i', {
    user_id: alice.user.id, username: alice.user.username, seq: 7, id: first.id, room_id: 'general', timestamp: '2000-01-01T00:00:00.000Z',
  });
  assert.equal(m.user_id, bob.user.id);
  assert.equal(m.username, bob.user.username);
  assert.equal(m.seq, 2);
  assert.notEqual(m.id, first.id);
  assert.equal(m.room_id, room.id);
  assert.notEqual(m.timestamp, '2000-01-01T00:00:00.000Z');
});

test('client_id: a retry returns the original (200, duplicate:true) and stores nothing new', async () => {
  const { alice, room } = await fresh();
  const r0 = await createRoom(alice.token, 'cid');
  const client_id = `c-${uniqueName('')}`;
  const first = await send(alice.token, r0.id, 'exactly once', { client_id });
  assert.equal(first.client_id, client_id);
  for (let i = 0; i < 3; i++) {
    const r = await api('POST', `/api/messages/${r0.id}`, { token: alice.token, body: { message: 'exactly once', client_id } });
    const data = ok(r, 200);
    assert.equal(data.duplicate, true);
    assert.deepEqual(data.message, first);
  }
  const page = await history(alice.token, r0.id);
  assert.equal(page.messages.length, 1);
  assert.deepEqual(page.messages[0], first);
  const next = await send(alice.token, r0.id, 'next');
  assert.equal(next.seq, 2);
});

test('client_id: reused with other content or in another room is 409 conflict on client_id', async () => {
  const { alice, room } = await fresh();
  const r0 = await createRoom(alice.token, 'cidc');
  const r1 = await createRoom(alice.token, 'cidd');
  const client_id = `c-${uniqueName('')}`;
  const first = await send(alice.token, r0.id, 'original', { client_id });
  fails(await api('POST', `/api/messages/${r0.id}`, { token: alice.token, body: { message: 'changed', client_id } }), 409, 'conflict', 'client_id');
  fails(await api('POST', `/api/messages/${r1.id}`, { token: alice.token, body: { message: 'original', client_id } }), 409, 'conflict', 'client_id');
  assert.equal((await history(alice.token, r0.id)).messages.length, 1);
  assert.equal((await history(alice.token, r1.id)).messages.length, 0);
  // Another user may use the same client_id: it is per user.
  const bob = await join('bob', { room_id: r0.id });
  const theirs = await send(bob.token, r0.id, 'original', { client_id });
  assert.notEqual(theirs.id, first.id);
  assert.equal(theirs.seq, 2);
});

test('client_id: 1..64 characters, a string, null means none', async () => {
  const { alice, room } = await fresh();
  const ok64 = `c${uniqueName('')}`.padEnd(64, 'z');
  const m = await send(alice.token, room.id, 'cid 64', { client_id: ok64 });
  assert.equal(m.client_id, ok64);
  const mnull = await send(alice.token, room.id, 'cid null', { client_id: null });
  assert.equal(mnull.client_id, null);
  for (const client_id of ['', 'x'.repeat(65), 5, true, [], {}]) {
    const r = await api('POST', `/api/messages/${room.id}`, { token: alice.token, body: { message: 'x', client_id } });
    assert.equal(r.status, 400, `${JSON.stringify(client_id)}: ${show(r)}`);
    fails(r, 400, 'validation_error', 'client_id');
  }
});

test('GET /api/users/{room_id} lists the members with room_joined_at', async () => {
  const { alice, room } = await fresh();
  const r0 = await createRoom(alice.token, 'members');
  const bob = await join('bob', { room_id: r0.id });
  const users = ok(await api('GET', `/api/users/${r0.id}`, { token: bob.token })).users;
  assert.deepEqual(users.map((u) => u.id).sort(), [alice.user.id, bob.user.id].sort());
  for (const u of users) {
    assert.equal(u.online, false);
    assert.match(u.room_joined_at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  }
  fails(await api('GET', '/api/users/no-such-room', { token: bob.token }), 404, 'not_found');
});

test('POST /api/messages needs a JSON object body', async () => {
  const { alice, room } = await fresh();
  fails(await api('POST', `/api/messages/${room.id}`, { token: alice.token, rawBody: 'hello', headers: { 'content-type': 'text/plain' } }), 415, 'unsupported_media_type');
  fails(await api('POST', `/api/messages/${room.id}`, { token: alice.token, rawBody: '"hello"' }), 400, 'invalid_json');
  fails(await api('POST', `/api/messages/${room.id}`, { token: alice.token, rawBody: '' }), 400, 'invalid_json');
  fails(await api('POST', `/api/messages/${room.id}`, { token: alice.token, rawBody: '{"message":"x",}' }), 400, 'invalid_json');
});
