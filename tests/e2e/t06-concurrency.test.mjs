// t06-concurrency -- parallel writers: seq without gaps, unique names, exactly-once client_id.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, ok, fails, join, createRoom, history, uniqueName, show } from './lib.mjs';

const range = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

test('10 users x 10 messages in parallel into one room: seq 1..100, no gaps, history in order', async () => {
  const USERS = 10;
  const PER = 10; // below the send limit of 20 per user
  const owner = await join('conc');
  const room = await createRoom(owner.token, 'conc');
  const users = [owner];
  const joined = await Promise.all(Array.from({ length: USERS - 1 }, (_, i) => join(`conc${i}`, { room_id: room.id })));
  users.push(...joined);

  const jobs = [];
  for (const [u, user] of users.entries()) {
    for (let k = 0; k < PER; k++) {
      const content = `u${u} m${k}`;
      jobs.push(api('POST', `/api/messages/${room.id}`, { token: user.token, body: { message: content } })
        .then((r) => ({ r, content, user })));
    }
  }
  const results = await Promise.all(jobs);
  const messages = [];
  for (const { r, content, user } of results) {
    const data = ok(r, 201);
    assert.equal(data.message.content, content);
    assert.equal(data.message.user_id, user.user.id);
    messages.push(data.message);
  }
  const N = USERS * PER;
  const bySeq = [...messages].sort((a, b) => a.seq - b.seq);
  assert.deepEqual(bySeq.map((m) => m.seq), range(1, N), 'seqs are exactly 1..N');
  assert.equal(new Set(messages.map((m) => m.id)).size, N, 'ids are unique');

  const page = await history(owner.token, room.id, 'limit=200');
  assert.equal(page.has_more, false);
  assert.deepEqual(page.messages.map((m) => m.seq), range(1, N));
  assert.deepEqual(page.messages, bySeq, 'history returns what the senders were told');
  // Every content arrives exactly once.
  assert.deepEqual(page.messages.map((m) => m.content).sort(), messages.map((m) => m.content).sort());

  const got = ok(await api('GET', `/api/rooms/${room.id}`, { token: owner.token })).room;
  assert.equal(got.last_seq, N);
  assert.equal(got.member_count, USERS);
});

test('parallel sends into several rooms keep a separate gapless seq per room', async () => {
  const owner = await join('multi');
  const rooms = [];
  for (let i = 0; i < 3; i++) rooms.push(await createRoom(owner.token, `multi${i}`));
  const senders = [owner];
  for (let i = 0; i < 2; i++) senders.push(await join(`multi${i}`));
  for (const s of senders.slice(1)) {
    for (const room of rooms) {
      ok(await api('POST', '/api/join', { token: s.token, body: { username: s.user.username, room_id: room.id } }), 201);
    }
  }
  const jobs = [];
  for (const s of senders) {
    for (let k = 0; k < 15; k++) {
      const room = rooms[k % 3];
      jobs.push(api('POST', `/api/messages/${room.id}`, { token: s.token, body: { message: `k${k}` } }));
    }
  }
  const results = await Promise.all(jobs);
  results.forEach((r) => ok(r, 201));
  for (const room of rooms) {
    const page = await history(owner.token, room.id, 'limit=200');
    assert.deepEqual(page.messages.map((m) => m.seq), range(1, 15), room.id);
    assert.ok(page.messages.every((m) => m.room_id === room.id));
  }
});

test('the same new username joined 10 times in parallel: one 201, the rest 409', async () => {
  const username = uniqueName('race');
  const results = await Promise.all(Array.from({ length: 10 }, () => api('POST', '/api/join', { body: { username } })));
  const created = results.filter((r) => r.status === 201);
  assert.equal(created.length, 1, results.map(show).join('\n'));
  for (const r of results) {
    if (r.status !== 201) fails(r, 409, 'username_taken', 'username');
  }
  const me = ok(await api('GET', '/api/me', { token: created[0].json.data.token }));
  assert.equal(me.user.username, username);
});

test('the same room name created 10 times in parallel: one 201, the rest 409', async () => {
  const users = await Promise.all(Array.from({ length: 10 }, (_, i) => join(`rr${i}`)));
  const room_name = uniqueName('RaceRoom');
  const results = await Promise.all(users.map((u, i) => api('POST', '/api/rooms', {
    token: u.token,
    body: { room_name: i % 2 ? room_name.toUpperCase() : room_name },
  })));
  const created = results.filter((r) => r.status === 201);
  assert.equal(created.length, 1, results.map(show).join('\n'));
  for (const r of results) {
    if (r.status !== 201) fails(r, 409, 'room_exists', 'room_name');
  }
  // The newest rooms are on the last page of the creation-ordered list.
  const { total } = ok(await api('GET', '/api/rooms?limit=1', { token: users[0].token }));
  const last = ok(await api('GET', `/api/rooms?limit=200&offset=${Math.max(0, total - 200)}`, { token: users[0].token }));
  const matching = last.rooms.filter((r) => r.name.toLowerCase() === room_name.toLowerCase());
  assert.equal(matching.length, 1);
});

test('one client_id sent 10 times in parallel is stored once', async () => {
  const owner = await join('once');
  const room = await createRoom(owner.token, 'once');
  const client_id = `cid-${uniqueName('')}`;
  const results = await Promise.all(Array.from({ length: 10 }, () => api('POST', `/api/messages/${room.id}`, {
    token: owner.token,
    body: { message: 'only once', client_id },
  })));
  const created = results.filter((r) => r.status === 201);
  assert.equal(created.length, 1, results.map(show).join('\n'));
  const original = created[0].json.data.message;
  for (const r of results) {
    if (r.status === 201) continue;
    const data = ok(r, 200);
    assert.equal(data.duplicate, true);
    assert.deepEqual(data.message, original);
  }
  const page = await history(owner.token, room.id);
  assert.deepEqual(page.messages, [original]);
  assert.equal(original.seq, 1);
});

test('parallel joins into one room count every member once', async () => {
  const owner = await join('crowd');
  const room = await createRoom(owner.token, 'crowd');
  const joined = await Promise.all(Array.from({ length: 12 }, (_, i) => join(`crowd${i}`, { room_id: room.id })));
  const users = ok(await api('GET', `/api/users/${room.id}`, { token: owner.token })).users;
  assert.equal(users.length, 13);
  assert.deepEqual(users.map((u) => u.id).sort(), [owner, ...joined].map((u) => u.user.id).sort());
  const got = ok(await api('GET', `/api/rooms/${room.id}`, { token: owner.token })).room;
  assert.equal(got.member_count, 13);
});
