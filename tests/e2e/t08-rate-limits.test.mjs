// t08-rate-limits -- the per-user send limit and the per-address limit of new
// names (t25 shows that returning users are not counted).
//
// The join limit is tested by restarting the chat-fcgi pool with a small
// CHAT_JOIN_RATE; the bucket is keyed by the client address, which every
// test shares, so the finally block restores a working limit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  api, ok, fails, join, createRoom, send, history, uniqueName, stack, show,
} from './lib.mjs';

/** Asserts a 429 rate_limited answer with an integer Retry-After in [1, max]. */
function assertLimited(r, max) {
  fails(r, 429, 'rate_limited');
  const ra = r.headers.get('retry-after');
  assert.ok(ra !== null, `Retry-After missing: ${show(r)}`);
  assert.match(ra, /^\d+$/, `Retry-After is whole seconds: ${ra}`);
  const n = Number(ra);
  assert.ok(n >= 1 && n <= max, `Retry-After ${n} not in [1, ${max}]`);
  return n;
}

test('default send limit: a burst of 20 passes, then 429 rate_limited with Retry-After', async () => {
  const u = await join('burst');
  const room = await createRoom(u.token, 'burst');
  const stored = [];
  for (let i = 0; i < 20; i++) stored.push(await send(u.token, room.id, `burst ${i}`));
  // The bucket refills at 2 per second, so a slow machine may let one or two
  // more through; a 429 must come well before 20 more.
  let limited = null;
  for (let i = 20; i < 40 && !limited; i++) {
    const r = await api('POST', `/api/messages/${room.id}`, { token: u.token, body: { message: `burst ${i}` } });
    if (r.status === 201) stored.push(r.json.data.message);
    else limited = r;
  }
  assert.ok(limited, 'no 429 within 40 quick messages');
  assertLimited(limited, 10);
  // What was refused was not stored, and seq has no gap.
  const page = await history(u.token, room.id, 'limit=200');
  assert.deepEqual(page.messages.map((m) => m.seq), stored.map((_, i) => i + 1));
  assert.deepEqual(page.messages.map((m) => m.content), stored.map((m) => m.content));
  // The limit is per user: someone else in the same room still sends.
  const other = await join('burst2', { room_id: room.id });
  const m = await send(other.token, room.id, 'not limited');
  assert.equal(m.seq, stored.length + 1);
});

test('configured limits: CHAT_JOIN_RATE=3 per 60 s, CHAT_MSG_RATE=5 per hour', async () => {
  // Prepared under the normal limits: a sender with one stored message.
  const sender = await join('lim');
  const room = await createRoom(sender.token, 'lim');
  const first = await send(sender.token, room.id, 'before the restart', { client_id: 'lim-1' });
  const refusedName = uniqueName('refused');
  const restore = {
    CHAT_JOIN_RATE: process.env.CHAT_JOIN_RATE ?? '100000',
    CHAT_JOIN_RATE_WINDOW: process.env.CHAT_JOIN_RATE_WINDOW ?? '60',
    CHAT_MSG_RATE: process.env.CHAT_MSG_RATE ?? '20',
    CHAT_MSG_RATE_WINDOW: process.env.CHAT_MSG_RATE_WINDOW ?? '10',
  };
  try {
    stack('fcgi-restart', {
      CHAT_JOIN_RATE: '3', CHAT_JOIN_RATE_WINDOW: '60', CHAT_MSG_RATE: '5', CHAT_MSG_RATE_WINDOW: '3600',
    });
    // The token from before the restart still works (sessions live in the database).
    ok(await api('GET', '/api/me', { token: sender.token }));

    // Joins: three pass, the fourth within the window is refused.
    for (let i = 0; i < 3; i++) await join('lim');
    const r4 = await api('POST', '/api/join', { body: { username: refusedName } });
    assertLimited(r4, 60);
    const r5 = await api('POST', '/api/join', { body: { username: uniqueName('lim') } });
    assertLimited(r5, 60);

    // Messages: the new bucket holds 5 (the one sent before counts under the old limits).
    const sent = [];
    for (let i = 0; i < 5; i++) sent.push(await send(sender.token, room.id, `limited ${i}`));
    const r6 = await api('POST', `/api/messages/${room.id}`, { token: sender.token, body: { message: 'one too many' } });
    assertLimited(r6, 3600);
    // A retry of a stored message (same client_id) is answered, not limited.
    const dup = ok(await api('POST', `/api/messages/${room.id}`, { token: sender.token, body: { message: 'before the restart', client_id: 'lim-1' } }), 200);
    assert.equal(dup.duplicate, true);
    assert.deepEqual(dup.message, first);
    const page = await history(sender.token, room.id);
    assert.deepEqual(page.messages.map((m) => m.seq), [1, 2, 3, 4, 5, 6]);
    assert.ok(!page.messages.some((m) => m.content === 'one too many'));
  } finally {
    stack('fcgi-restart', restore);
  }
  // Restored: joins work again, and the refused name was never taken.
  const back = await join('x', { name: refusedName });
  assert.equal(back.user.username, refusedName);
  for (let i = 0; i < 5; i++) await join('after');
});

test('under the (high) test limits, parallel joins from one address all pass', async () => {
  // run.sh raises CHAT_NGINX_JOIN_RATE and CHAT_JOIN_RATE; after the restore
  // above, nothing may still be limiting joins.
  const results = await Promise.all(Array.from({ length: 15 }, () => api('POST', '/api/join', { body: { username: uniqueName('par') } })));
  for (const r of results) ok(r, 201);
});
