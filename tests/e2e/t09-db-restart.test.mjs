// t09-db-restart -- PostgreSQL goes away and comes back; the workers recover alone.
//
// Keep this family last: it stops the database of the shared stack.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  api, ok, fails, join, createRoom, send, history, stack, fcgiPids, waitFor, show, uniqueName,
} from './lib.mjs';

test('db down: 503 db_unavailable; db back: the same workers serve the same session', async () => {
  const u = await join('dbr');
  const room = await createRoom(u.token, 'dbr');
  const m1 = await send(u.token, room.id, 'before the outage');
  const pidsBefore = fcgiPids();
  const lateName = uniqueName('nodb');
  assert.ok(pidsBefore.length >= 1);

  // Touch every worker so each one holds an open connection that will break.
  for (let i = 0; i < 4 * pidsBefore.length; i++) ok(await api('GET', '/api/me', { token: u.token }));

  let stopped = false;
  try {
    stack('pg-stop');
    stopped = true;

    // Several times, so that every worker meets the dead connection.
    for (let i = 0; i < 3 * pidsBefore.length; i++) {
      const h = await api('GET', '/api/health');
      assert.equal(h.status, 503, `health #${i}: ${show(h)}`);
      fails(h, 503, 'db_unavailable');
    }
    for (let i = 0; i < 2 * pidsBefore.length; i++) {
      fails(await api('GET', '/api/me', { token: u.token }), 503, 'db_unavailable');
    }
    fails(await api('POST', `/api/messages/${room.id}`, { token: u.token, body: { message: 'during the outage' } }), 503, 'db_unavailable');
    fails(await api('GET', `/api/messages/${room.id}`, { token: u.token }), 503, 'db_unavailable');
    // Without a session nothing reaches the database: still 401.
    fails(await api('GET', '/api/me'), 401, 'unauthorized');
    // A join cannot work either.
    fails(await api('POST', '/api/join', { body: { username: lateName } }), 503, 'db_unavailable');

    stack('pg-start');
    stopped = false;
  } finally {
    if (stopped) stack('pg-start');
  }

  // The workers reconnect by themselves (no restart): health turns 200 ...
  const healthy = await waitFor(async () => (await api('GET', '/api/health')).status === 200, 30_000);
  assert.ok(healthy, '/api/health did not return to 200 within 30 s of pg-start');
  // ... and from then on every request succeeds, on every worker.
  for (let i = 0; i < 5 * pidsBefore.length; i++) {
    const r = await api('GET', '/api/health');
    assert.deepEqual(ok(r), { status: 'ok', db: 'ok' }, `health #${i}`);
  }
  for (let i = 0; i < 5 * pidsBefore.length; i++) {
    const me = ok(await api('GET', '/api/me', { token: u.token }));
    assert.equal(me.user.id, u.user.id, `me #${i}`);
  }
  const m2 = await send(u.token, room.id, 'after the outage');
  assert.equal(m2.seq, m1.seq + 1, 'nothing was stored during the outage');
  const page = await history(u.token, room.id);
  assert.deepEqual(page.messages.map((m) => m.content), ['before the outage', 'after the outage']);
  ok(await api('POST', '/api/join', { body: { username: lateName } }), 201);

  assert.deepEqual(fcgiPids(), pidsBefore, 'the same chat-fcgi processes serve (none crashed or was replaced)');
});
