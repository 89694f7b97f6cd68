// t35-search -- GET /api/messages/{room_id}/search (DESIGN §8): PostgreSQL
// full-text search over one room's messages, newest first, bounded, for
// whoever may read the room; any query text is safe (websearch_to_tsquery).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, ok, fails, join, createRoom, send, assertMessage } from './lib.mjs';
import { psql } from './sio.mjs';

const search = (token, roomId, query) => api('GET', `/api/messages/${encodeURIComponent(roomId)}/search?${query}`, { token });
const q = (s) => `q=${encodeURIComponent(s)}`;

test('finds an old message among many, newest first, limited', async () => {
  const alice = await join('sr_alice');
  const room = await createRoom(alice.token, 'sr_room');
  const first = await send(alice.token, room.id, 'the zebracorn grazes at dawn');
  // Many newer messages in SQL (the author's own room, as a REST send would write).
  psql(`INSERT INTO messages (room_id, seq, user_id, username, content)
        SELECT '${room.id}', g, '${alice.user.id}', '${alice.user.username}', 'filler message number ' || g
          FROM generate_series(2, 3001) g;
        UPDATE rooms SET last_seq = 3001 WHERE id = '${room.id}';
        UPDATE user_rooms SET last_read_seq = 3001 WHERE room_id = '${room.id}'`);
  const last = await send(alice.token, room.id, 'another zebracorn, at dusk');
  const d = ok(await search(alice.token, room.id, q('zebracorn')));
  assert.deepEqual(Object.keys(d), ['messages']);
  d.messages.forEach(assertMessage);
  assert.deepEqual(d.messages.map((m) => m.id), [last.id, first.id], 'newest first');
  assert.equal(ok(await search(alice.token, room.id, `${q('ZEBRACORN')}&limit=1`)).messages[0].id, last.id, 'case-insensitive, limit 1');
  // A common word: the default limit is 20, at most 100.
  assert.equal(ok(await search(alice.token, room.id, q('filler'))).messages.length, 20);
  const hundred = ok(await search(alice.token, room.id, `${q('filler')}&limit=100`)).messages;
  assert.equal(hundred.length, 100);
  assert.deepEqual(hundred.map((m) => m.seq), Array.from({ length: 100 }, (_, i) => 3001 - i));
  // Phrases and exclusion (websearch syntax).
  assert.deepEqual(ok(await search(alice.token, room.id, q('"at dawn"'))).messages.map((m) => m.id), [first.id]);
  assert.deepEqual(ok(await search(alice.token, room.id, q('zebracorn -dusk'))).messages.map((m) => m.id), [first.id]);
  assert.deepEqual(ok(await search(alice.token, room.id, q('zebracorn or nosuchword'))).messages.length, 2);
  // Another room's messages are not found.
  const other = await createRoom(alice.token, 'sr_other');
  assert.deepEqual(ok(await search(alice.token, other.id, q('zebracorn'))).messages, []);
});

test('query syntax and SQL metacharacters are only text', async () => {
  const alice = await join('sr_halice');
  const room = await createRoom(alice.token, 'sr_hostile');
  await send(alice.token, room.id, 'alpha beta gamma');
  await send(alice.token, room.id, 'DROP TABLE messages; said nobody');
  for (const s of ['a & !b | (c', "'; DROP TABLE messages; --", '\\', "'", '"', '"unclosed', '(((', '!!!', '&&&', ':*', 'a:*', 'x <-> y',
    '-', 'or', '%', '%%', '*', 'a<2>b', '$$', 'null']) {
    const d = ok(await search(alice.token, room.id, q(s)));
    assert.ok(Array.isArray(d.messages), s);
  }
  assert.equal(ok(await search(alice.token, room.id, q("'; DROP TABLE messages; --"))).messages.length, 1, 'the words match, nothing runs');
  assert.equal(ok(await search(alice.token, room.id, q('alpha & !beta | (gamma'))).messages.length, 1);
  assert.ok(Number(psql('SELECT count(*) FROM messages')) > 0, 'the table is still there');
});

test('unicode words, and nothing found', async () => {
  const alice = await join('sr_ualice');
  const room = await createRoom(alice.token, 'sr_unicode');
  const m1 = await send(alice.token, room.id, 'Grüße aus Köln 🎉');
  const m2 = await send(alice.token, room.id, 'Привет мир');
  const m3 = await send(alice.token, room.id, '日本語 テキスト');
  assert.deepEqual(ok(await search(alice.token, room.id, q('köln'))).messages.map((m) => m.id), [m1.id]);
  assert.deepEqual(ok(await search(alice.token, room.id, q('KÖLN'))).messages.map((m) => m.id), [m1.id]);
  assert.deepEqual(ok(await search(alice.token, room.id, q('привет'))).messages.map((m) => m.id), [m2.id]);
  assert.deepEqual(ok(await search(alice.token, room.id, q('テキスト'))).messages.map((m) => m.id), [m3.id]);
  assert.deepEqual(ok(await search(alice.token, room.id, q('nothinglikethis'))).messages, []);
});

test('who may search: any signed-in user in a public room; members only in a private one (404 otherwise)', async () => {
  const alice = await join('sr_palice');
  const pub = await createRoom(alice.token, 'sr_pub');
  const priv = await createRoom(alice.token, 'sr_priv', { visibility: 'private' });
  await send(alice.token, pub.id, 'public secret');
  await send(alice.token, priv.id, 'private secret');
  const eve = await join('sr_eve');
  assert.equal(ok(await search(eve.token, pub.id, q('secret'))).messages.length, 1, 'a non-member reads a public room');
  fails(await search(eve.token, priv.id, q('secret')), 404, 'not_found');
  fails(await search(eve.token, 'no-such-room', q('secret')), 404, 'not_found');
  assert.equal(ok(await search(alice.token, priv.id, q('secret'))).messages.length, 1);
  fails(await api('GET', `/api/messages/${pub.id}/search?${q('secret')}`), 401, 'unauthorized');
  fails(await api('POST', `/api/messages/${pub.id}/search?${q('secret')}`, { token: alice.token, body: {} }), 405, 'method_not_allowed');
});

test('bad queries and limits are 400 validation_error', async () => {
  const alice = await join('sr_valice');
  const room = await createRoom(alice.token, 'sr_valid');
  fails(await search(alice.token, room.id, ''), 400, 'validation_error', 'q');
  fails(await search(alice.token, room.id, 'q='), 400, 'validation_error', 'q');
  fails(await search(alice.token, room.id, 'q=%20%20'), 400, 'validation_error', 'q');
  fails(await search(alice.token, room.id, q('\u00a0')), 400, 'validation_error', 'q');
  fails(await search(alice.token, room.id, q('x'.repeat(257))), 400, 'validation_error', 'q');
  fails(await search(alice.token, room.id, q('é'.repeat(257))), 400, 'validation_error', 'q');
  ok(await search(alice.token, room.id, q('é'.repeat(256))));
  ok(await search(alice.token, room.id, q('x'.repeat(256))));
  fails(await search(alice.token, room.id, 'q=%FF%FE'), 400, 'validation_error', 'q');
  fails(await search(alice.token, room.id, 'q=a%00b'), 400, 'validation_error', 'q');
  fails(await search(alice.token, room.id, 'q=a%0Ab'), 400, 'validation_error', 'q');
  fails(await search(alice.token, room.id, 'q=%zz'), 400, 'validation_error', 'q');
  for (const l of ['0', '101', '-1', '1.5', 'x', '', '99999999999999999999']) {
    fails(await search(alice.token, room.id, `${q('a')}&limit=${l}`), 400, 'validation_error', 'limit');
  }
});

test('a deleted message is not found, by anyone; the others still are', async () => {
  const alice = await join('sr_dalice');
  const room = await createRoom(alice.token, 'sr_deleted');
  const bob = await join('sr_dbob', { room_id: room.id });
  const gone = await send(bob.token, room.id, 'the quokka secret');
  const kept = await send(alice.token, room.id, 'a quokka in public');
  assert.equal(ok(await search(bob.token, room.id, q('quokka'))).messages.length, 2);
  ok(await api('DELETE', `/api/messages/${room.id}/${gone.id}`, { token: bob.token }));
  for (const who of [alice, bob]) {
    assert.deepEqual(ok(await search(who.token, room.id, q('quokka'))).messages.map((m) => m.id), [kept.id]);
    assert.deepEqual(ok(await search(who.token, room.id, q('secret'))).messages, [], 'its text is gone');
  }
});
