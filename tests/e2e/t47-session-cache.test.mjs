// t47-session-cache -- the chat-fcgi workers' session caches (issue 16 item 2):
// every worker remembers the sessions it checked, and forgets them when
// PostgreSQL says so (NOTIFY chat_fcgi, migration 0025). A logout, a ban,
// a session cut short or expired, a deleted account must be refused by
// every worker of the pool, and stay refused; a flood of random tokens must
// not push the valid sessions out. run.sh sets CHAT_SESSION_CACHE_MS to a
// minute, so only the notifications (not the time limit) can pass these
// tests in time; the polls are bounded, with no timing assertion beyond a
// generous bound.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { api, ok, fails, join, show, fcgiPids, waitFor } from './lib.mjs';
import { psql } from './sio.mjs';

// Requests at once: more than the pool's workers, so that every worker
// answers some of each round (four by default; CHAT_FCGI_WORKERS).
const WIDE = 24;
const ROUNDS = 6; // WIDE x ROUNDS requests reach every worker

/** WIDE requests at once with token; returns their statuses. */
async function round(token, urlPath = '/api/rooms') {
  const rs = await Promise.all(Array.from({ length: WIDE }, () => api('GET', urlPath, { token })));
  return rs.map((r) => r.status);
}

/** Every worker has answered (and so cached) token: ROUNDS rounds all 200. */
async function warm(token) {
  for (let i = 0; i < ROUNDS; i++) {
    const st = await round(token);
    assert.ok(st.every((s) => s === 200), `warm-up round ${i}: ${st}`);
  }
}

/**
 * Polls until a whole round is refused (bounded: 10 s, generous against
 * the 100 ms aimed at), then checks ROUNDS more rounds: a worker that had
 * not heard would answer 200 from its cache for a minute. Returns the
 * milliseconds until the first fully refused round.
 */
async function refusedEverywhere(token, what) {
  const t0 = Date.now();
  const all = await waitFor(async () => (await round(token)).every((s) => s === 401), 10_000, 5);
  assert.ok(all, `${what}: some worker still accepts the token after 10 s`);
  const ms = Date.now() - t0;
  for (let i = 0; i < ROUNDS; i++) {
    const st = await round(token);
    assert.ok(st.every((s) => s === 401), `${what}: round ${i} after refusal: ${st}`);
  }
  const r = await api('GET', '/api/me', { token });
  fails(r, 401, 'unauthorized');
  return ms;
}

test('the pool has several workers (the tests below need them)', () => {
  assert.ok(fcgiPids().length >= 2, `pids ${fcgiPids()}`);
});

test('a logout is refused by every worker, and stays refused', async () => {
  const u = await join('sc_out');
  const other = await join('sc_out2');
  await warm(u.token);
  await warm(other.token);
  ok(await api('DELETE', '/api/session', { token: u.token }));
  const ms = await refusedEverywhere(u.token, 'logout');
  console.log(`# logout refused by every worker after ${ms} ms`);
  // Another user's session is untouched.
  assert.ok((await round(other.token)).every((s) => s === 200));
});

test('a ban is refused by every worker; the unban lets a surviving session back', async () => {
  const u = await join('sc_ban');
  await warm(u.token);
  // chatctl ban: revokes the sessions too.
  assert.equal(psql(`SELECT coalesce(err, 'ok') FROM chat_admin_ban('${u.user.id}', true, 'e2e', 'test')`), 'ok');
  await refusedEverywhere(u.token, 'ban');

  // A ban by hand that leaves the sessions: refused through the user's rights...
  const v = await join('sc_ban2');
  await warm(v.token);
  psql(`UPDATE users SET banned_at = now(), banned_by = 'e2e' WHERE id = '${v.user.id}'`);
  await refusedEverywhere(v.token, 'ban by hand');
  // ...and the refusal each worker remembered goes with the unban.
  psql(`UPDATE users SET banned_at = NULL, banned_by = NULL WHERE id = '${v.user.id}'`);
  const back = await waitFor(async () => (await round(v.token)).every((s) => s === 200), 10_000, 5);
  assert.ok(back, 'the unbanned user is still refused by some worker');
  await warm(v.token);
});

test('revoke-sessions, a password change and a deleted account are refused everywhere', async () => {
  const a = await join('sc_rev');
  await warm(a.token);
  assert.equal(psql(`SELECT coalesce(err, 'ok') FROM chat_admin_revoke('${a.user.id}')`), 'ok');
  await refusedEverywhere(a.token, 'revoke-sessions');

  // A password change ends the user's other sessions (the one that asked stays).
  const name = `sc_pw_${crypto.randomBytes(4).toString('hex')}`;
  const reg = ok(await api('POST', '/api/register', { body: { username: name, password: 'correct horse battery' } }), 201);
  const second = ok(await api('POST', '/api/login', { body: { username: name, password: 'correct horse battery' } }));
  await warm(reg.token);
  await warm(second.token);
  ok(await api('POST', '/api/me/password', {
    token: reg.token, body: { current_password: 'correct horse battery', new_password: 'another horse battery' },
  }));
  await refusedEverywhere(second.token, 'password change');
  assert.ok((await round(reg.token)).every((s) => s === 200), 'the session that changed the password stays');

  const d = await join('sc_del');
  await warm(d.token);
  psql(`DELETE FROM users WHERE id = '${d.user.id}'`);
  await refusedEverywhere(d.token, 'deleted account');
});

test('a session expired or cut short is refused by every worker', async () => {
  const u = await join('sc_exp');
  await warm(u.token);
  // Expired now: the trigger says so.
  psql(`UPDATE sessions SET expires_at = now() - interval '1 second' WHERE user_id = '${u.user.id}'`);
  await refusedEverywhere(u.token, 'expired by hand');
  // (A session that expires while cached, unannounced, is asked again:
  // sessions in use slide forward in PostgreSQL, so that case is a unit
  // test, tests/unit/fcgi-app/test_sesscache.c.)
});

test('the cookie lives no longer than the session', async () => {
  const u = await join('sc_cookie');
  for (let i = 0; i < 8; i++) {
    const t0 = Math.floor(Date.now() / 1000);
    const r = await api('GET', '/api/rooms', { headers: { cookie: `chat_token=${u.token}` } });
    ok(r);
    const m = /Max-Age=(\d+)/.exec(r.headers.get('set-cookie') || '');
    assert.ok(m, show(r));
    const exp = Number(psql(`SELECT floor(extract(epoch FROM expires_at)) FROM sessions WHERE user_id = '${u.user.id}'`));
    assert.ok(t0 + Number(m[1]) <= exp + 1, `cookie until ${t0 + Number(m[1])}, session until ${exp}`);
  }
});

test('random tokens are refused and do not push valid sessions out', async () => {
  const u = await join('sc_flood');
  await warm(u.token);
  // More distinct tokens than a worker remembers refusals (1024 each).
  for (let i = 0; i < 10; i++) {
    const toks = Array.from({ length: 128 }, () => crypto.randomBytes(32).toString('hex'));
    const rs = await Promise.all(toks.map((t) => api('GET', '/api/rooms', { token: t })));
    for (const r of rs) fails(r, 401, 'unauthorized');
    // The valid user is answered throughout.
    assert.ok((await round(u.token)).every((s) => s === 200), `flood round ${i}`);
  }
  // And a logout still reaches every worker after the flood.
  ok(await api('DELETE', '/api/session', { token: u.token }));
  await refusedEverywhere(u.token, 'logout after a flood');
});

test('a new room shows at once in GET /api/rooms on every worker', async () => {
  const u = await join('sc_rooms');
  const other = await join('sc_rooms2');
  // Rooms come in creation order: the next one lands at offset total. That
  // page (empty now) is cached by every worker (CHAT_ROOMS_CACHE_MS).
  const total = ok(await api('GET', '/api/rooms?limit=1&offset=0', { token: other.token })).total;
  const page = `/api/rooms?limit=1&offset=${total}`;
  const pages = () => Promise.all(Array.from({ length: WIDE }, () => api('GET', page, { token: other.token })));
  for (let i = 0; i < ROUNDS; i++) for (const r of await pages()) assert.deepEqual(ok(r).rooms, []);
  const name = `sc-room-${crypto.randomBytes(4).toString('hex')}`;
  const made = ok(await api('POST', '/api/rooms', { token: u.token, body: { room_name: name } }), 201);
  const seen = await waitFor(async () => (await pages()).every((r) => r.status === 200 && r.json.data.rooms.some((x) => x.id === made.room.id)), 10_000, 5);
  assert.ok(seen, 'some worker serves a page without the new room');
});
