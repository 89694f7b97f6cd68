// t05-pagination -- GET /api/messages/{room_id} with limit, before and after.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { api, ok, fails, join, createRoom, send, history, assertMessage, show } from './lib.mjs';

const N = 75; // more than the default page (50)
let owner;
let room;
let sent; // sent[i] has seq i + 1

const seqs = (page) => page.messages.map((m) => m.seq);
const range = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => a + i); // a..b inclusive

before(async () => {
  owner = await join('page');
  room = await createRoom(owner.token, 'pages');
  // Five senders, 15 messages each: below the send limit of 20 per user.
  const senders = [owner];
  for (let i = 0; i < 4; i++) senders.push(await join(`page${i}`, { room_id: room.id }));
  sent = [];
  for (let i = 0; i < N; i++) {
    const s = senders[Math.floor(i / 15)];
    sent.push(await send(s.token, room.id, `message ${i + 1}`));
  }
  assert.deepEqual(sent.map((m) => m.seq), range(1, N));
});

test('no cursor: the newest 50, ascending, has_more', async () => {
  const page = await history(owner.token, room.id);
  assert.deepEqual(seqs(page), range(N - 49, N));
  assert.equal(page.has_more, true);
  page.messages.forEach(assertMessage);
  assert.deepEqual(page.messages, sent.slice(N - 50));
});

test('no cursor with limit: the newest limit', async () => {
  let page = await history(owner.token, room.id, 'limit=10');
  assert.deepEqual(seqs(page), range(N - 9, N));
  assert.equal(page.has_more, true);
  page = await history(owner.token, room.id, 'limit=1');
  assert.deepEqual(seqs(page), [N]);
  assert.equal(page.has_more, true);
  page = await history(owner.token, room.id, `limit=${N}`);
  assert.deepEqual(seqs(page), range(1, N));
  assert.equal(page.has_more, false);
  page = await history(owner.token, room.id, 'limit=200');
  assert.deepEqual(seqs(page), range(1, N));
  assert.equal(page.has_more, false);
  assert.deepEqual(page.messages, sent);
});

test('before=B: the newest limit with seq < B; has_more = older exist', async () => {
  let page = await history(owner.token, room.id, 'before=66&limit=10');
  assert.deepEqual(seqs(page), range(56, 65));
  assert.equal(page.has_more, true);
  page = await history(owner.token, room.id, 'before=11&limit=10');
  assert.deepEqual(seqs(page), range(1, 10));
  assert.equal(page.has_more, false);
  page = await history(owner.token, room.id, 'before=12&limit=10');
  assert.deepEqual(seqs(page), range(2, 11));
  assert.equal(page.has_more, true);
  page = await history(owner.token, room.id, 'before=1');
  assert.deepEqual(seqs(page), []);
  assert.equal(page.has_more, false);
  page = await history(owner.token, room.id, 'before=0');
  assert.deepEqual(seqs(page), []);
  assert.equal(page.has_more, false);
  page = await history(owner.token, room.id, 'before=60');
  assert.deepEqual(seqs(page), range(10, 59));
  assert.equal(page.has_more, true);
  page = await history(owner.token, room.id, `before=${N + 1000}&limit=5`);
  assert.deepEqual(seqs(page), range(N - 4, N));
  page = await history(owner.token, room.id, 'before=9007199254740991&limit=5');
  assert.deepEqual(seqs(page), range(N - 4, N));
});

test('walking back with before visits every message once', async () => {
  const seen = [];
  let cursor = null;
  for (let i = 0; i < 20; i++) {
    const page = await history(owner.token, room.id, cursor === null ? 'limit=7' : `limit=7&before=${cursor}`);
    seen.unshift(...seqs(page));
    if (!page.has_more) break;
    cursor = page.messages[0].seq;
  }
  assert.deepEqual(seen, range(1, N));
});

test('after=A: the oldest limit with seq > A; has_more = newer exist', async () => {
  let page = await history(owner.token, room.id, 'after=0&limit=10');
  assert.deepEqual(seqs(page), range(1, 10));
  assert.equal(page.has_more, true);
  page = await history(owner.token, room.id, 'after=65&limit=10');
  assert.deepEqual(seqs(page), range(66, 75));
  assert.equal(page.has_more, false);
  page = await history(owner.token, room.id, 'after=70&limit=10');
  assert.deepEqual(seqs(page), range(71, 75));
  assert.equal(page.has_more, false);
  page = await history(owner.token, room.id, `after=${N}`);
  assert.deepEqual(seqs(page), []);
  assert.equal(page.has_more, false);
  page = await history(owner.token, room.id, 'after=10');
  assert.deepEqual(seqs(page), range(11, 60));
  assert.equal(page.has_more, true);
});

test('walking forward with after visits every message once', async () => {
  const seen = [];
  let cursor = 0;
  for (let i = 0; i < 20; i++) {
    const page = await history(owner.token, room.id, `limit=8&after=${cursor}`);
    seen.push(...seqs(page));
    if (!page.has_more) break;
    cursor = page.messages[page.messages.length - 1].seq;
  }
  assert.deepEqual(seen, range(1, N));
});

test('after and before together: seq in (A, B) from A upward', async () => {
  let page = await history(owner.token, room.id, 'after=10&before=20');
  assert.deepEqual(seqs(page), range(11, 19));
  assert.equal(page.has_more, false);
  page = await history(owner.token, room.id, 'after=10&before=20&limit=5');
  assert.deepEqual(seqs(page), range(11, 15));
  assert.equal(page.has_more, true);
  page = await history(owner.token, room.id, 'before=20&after=14&limit=5');
  assert.deepEqual(seqs(page), range(15, 19));
  assert.equal(page.has_more, false);
  page = await history(owner.token, room.id, 'after=10&before=11');
  assert.deepEqual(seqs(page), []);
  assert.equal(page.has_more, false);
  page = await history(owner.token, room.id, 'after=20&before=10');
  assert.deepEqual(seqs(page), []);
});

test('an empty room: no messages, no more', async () => {
  const empty = await createRoom(owner.token, 'empty');
  for (const q of ['', 'limit=10', 'before=5', 'after=0', 'after=3&before=9']) {
    const page = await history(owner.token, empty.id, q);
    assert.deepEqual(page, { messages: [], has_more: false }, q);
  }
});

test('integer parsing: leading zeros, percent-encoded digits, first of duplicates', async () => {
  let page = await history(owner.token, room.id, 'limit=007');
  assert.deepEqual(seqs(page), range(N - 6, N));
  page = await history(owner.token, room.id, 'limit=%33');
  assert.deepEqual(seqs(page), range(N - 2, N));
  page = await history(owner.token, room.id, 'limit=2&limit=9');
  assert.deepEqual(seqs(page), [N - 1, N]);
  page = await history(owner.token, room.id, 'before=20&before=70&limit=2');
  assert.deepEqual(seqs(page), [18, 19]);
  page = await history(owner.token, room.id, 'unknown=1&limit=2&x');
  assert.deepEqual(seqs(page), [N - 1, N]);
});

test('limit outside 1..200 or not an integer is 400 on limit, never clamped', async () => {
  for (const v of ['0', '201', '-1', '-0', '1000', 'abc', '1.5', '1e2', '1e309', '', '%20', '+1', '%2B1', '%201', '1%20', '0x10', '99999999999999999999', 'NaN', 'Infinity', '1%00', '%', '%zz', '5abc']) {
    const r = await api('GET', `/api/messages/${room.id}?limit=${v}`, { token: owner.token });
    assert.equal(r.status, 400, `limit=${v}: ${show(r)}`);
    fails(r, 400, 'validation_error', 'limit');
  }
  const r = await api('GET', `/api/messages/${room.id}?limit=5&limit=abc`, { token: owner.token });
  assert.equal(ok(r).messages.length, 5);
  fails(await api('GET', `/api/messages/${room.id}?limit=abc&limit=5`, { token: owner.token }), 400, 'validation_error', 'limit');
});

test('a cursor that is negative, not an integer or beyond 2^53-1 is 400 on its field', async () => {
  for (const field of ['before', 'after']) {
    for (const v of ['-1', 'abc', '1.5', '', '1e3', '+5', '9007199254740992', '99999999999999999999', '18446744073709551616', '0x1', '5%00']) {
      const r = await api('GET', `/api/messages/${room.id}?${field}=${v}`, { token: owner.token });
      assert.equal(r.status, 400, `${field}=${v}: ${show(r)}`);
      fails(r, 400, 'validation_error', field);
    }
  }
});

test('an unknown room is 404 even with a valid query', async () => {
  fails(await api('GET', '/api/messages/no-such-room?limit=10', { token: owner.token }), 404, 'not_found');
});
