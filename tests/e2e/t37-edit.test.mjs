// t37-edit -- editing messages (DESIGN §8): PATCH /api/messages/{room_id}/{id},
// the edit_message event, message_updated on both bridges in the room's
// order, edited_at, the room's change counter (change_seq) and the catch-up
// call GET /api/messages/{room_id}/changes for a client that was offline.
// Hostile input: someone else's message, a deleted one, unknown and huge
// ids, SQL metacharacters, invalid UTF-8, oversized and mistyped text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  api, ok, fails, join, uniqueName, send, history, assertMessage, assertRoom, staffedRoom, TS_RE,
} from './lib.mjs';
import { connect, collect, ack, ackOk, ackFails, joinRoom, sendWs, psql, sleep, extraBridge } from './sio.mjs';

const B = extraBridge();

const path = (roomId, id) => `/api/messages/${encodeURIComponent(roomId)}/${id}`;
const edit = (token, roomId, id, message) => api('PATCH', path(roomId, id), { token, body: { message } });
const del = (token, roomId, id) => api('DELETE', path(roomId, id), { token });
const changes = (token, roomId, query = '') =>
  api('GET', `/api/messages/${encodeURIComponent(roomId)}/changes${query ? `?${query}` : ''}`, { token });
const roomOf = async (token, roomId) => {
  const room = ok(await api('GET', `/api/rooms/${encodeURIComponent(roomId)}`, { token })).room;
  assertRoom(room);
  return room;
};
const bytes = (...parts) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))));
const stored = (m) => psql(`SELECT coalesce(content, '<null>') FROM messages WHERE id = ${m.id}`);

/** Asserts a 200 answer to an edit: {message} with the text, same id and seq. */
function editedOk(r, m, content) {
  const d = ok(r, 200);
  assert.deepEqual(Object.keys(d), ['message']);
  assertMessage(d.message);
  assert.equal(d.message.id, m.id);
  assert.equal(d.message.seq, m.seq);
  assert.equal(d.message.timestamp, m.timestamp);
  assert.equal(d.message.content, content);
  assert.equal(d.message.deleted, false);
  assert.match(d.message.edited_at, TS_RE);
  return d.message;
}

/** Every event of the names on socket, in arrival order, as [name, payload]. */
function events(socket, names) {
  const seen = [];
  for (const n of names) socket.on(n, (p) => seen.push([n, p]));
  return seen;
}

async function until(fn, what, n = 100) {
  for (let i = 0; i < n; i++) {
    if (fn()) return;
    await sleep(50);
  }
  assert.fail(`timed out waiting for ${what}`);
}

test('REST: the author edits; seq, id and timestamp stay, edited_at is set; the same text again changes nothing', async () => {
  const { owner, m1, room } = await staffedRoom('ed_rest');
  const m = await send(m1.token, room.id, 'helo world');
  assert.equal(m.edited_at, null);
  const c0 = (await roomOf(owner.token, room.id)).change_seq;
  const e = editedOk(await edit(m1.token, room.id, m.id, 'hello world'), m, 'hello world');
  assert.equal(stored(m), 'hello world');
  assert.equal((await roomOf(owner.token, room.id)).change_seq, c0 + 1);
  // The same text again: 200, the same message, nothing bumped.
  const again = editedOk(await edit(m1.token, room.id, m.id, 'hello world'), m, 'hello world');
  assert.equal(again.edited_at, e.edited_at);
  assert.equal((await roomOf(owner.token, room.id)).change_seq, c0 + 1);
  // History shows the current state; no new seq was taken.
  const next = await send(m1.token, room.id, 'next');
  assert.equal(next.seq, m.seq + 1);
  const h = await history(owner.token, room.id);
  const hm = h.messages.find((x) => x.id === m.id);
  assertMessage(hm);
  assert.equal(hm.content, 'hello world');
  assert.equal(hm.edited_at, e.edited_at);
  assert.equal(h.messages.find((x) => x.id === next.id).edited_at, null);
  // Multi-line text and SQL metacharacters are stored as they are.
  for (const t of ["x'; DROP TABLE messages; --", 'a\nb\tc', "\\'\"%_$1 ${x} E'\\x00'", 'ümlaut ✓ 🎉']) {
    editedOk(await edit(m1.token, room.id, m.id, t), m, t);
  }
  assert.equal(psql('SELECT count(*) > 0 FROM messages'), 't');
});

test('REST: not the author 403 (owner and moderator included), deleted 409, unknown 404, invisible room 404', async () => {
  const { owner, mod, m1, m2, room } = await staffedRoom('ed_who');
  const stranger = await join('ed_who_s');
  const admin = await join('ed_who_adm');
  psql(`UPDATE users SET site_admin = true WHERE id = '${admin.user.id}'`);
  const m = await send(m1.token, room.id, 'original');
  for (const u of [m2, owner, mod, admin]) {
    fails(await edit(u.token, room.id, m.id, 'hijacked'), admin === u ? 404 : 403, admin === u ? 'not_found' : 'forbidden');
  }
  // A private room the caller cannot see: 404 like a missing room.
  const hidden = await edit(stranger.token, room.id, m.id, 'hijacked');
  const missing = await edit(stranger.token, `no-such-${uniqueName('r')}`, m.id, 'hijacked');
  fails(hidden, 404, 'not_found', 'room_id');
  fails(missing, 404, 'not_found', 'room_id');
  assert.deepEqual(hidden.json, missing.json);
  // Unknown id, the largest id, a message of another room.
  fails(await edit(m1.token, room.id, 999999999999, 'x'), 404, 'not_found', 'id');
  fails(await edit(m1.token, room.id, '9007199254740991', 'x'), 404, 'not_found', 'id');
  const other = ok(await api('POST', '/api/rooms', { token: m1.token, body: { room_name: uniqueName('ed_who2') } }), 201).room;
  const elsewhere = await send(m1.token, other.id, 'elsewhere');
  fails(await edit(m1.token, room.id, elsewhere.id, 'x'), 404, 'not_found', 'id');
  fails(await edit(m1.token, other.id, m.id, 'x'), 404, 'not_found', 'id');
  // A public room: a non-member sees it, and still is not the author.
  const pm = await send(m1.token, other.id, 'public one');
  fails(await edit(stranger.token, other.id, pm.id, 'x'), 403, 'forbidden');
  // Deleted: 409 conflict, the tombstone stays.
  ok(await del(mod.token, room.id, m.id));
  fails(await edit(m1.token, room.id, m.id, 'resurrected'), 409, 'conflict', 'id');
  assert.equal(stored(m), '<null>');
  // No token: 401.
  fails(await api('PATCH', path(room.id, m.id), { body: { message: 'x' } }), 401, 'unauthorized');
  assert.equal(stored(pm), 'public one');
  assert.equal(stored(elsewhere), 'elsewhere');
});

test('REST: hostile ids, bodies and text are 400; nothing changes', async () => {
  const { owner, room } = await staffedRoom('ed_bad', 'public');
  const m = await send(owner.token, room.id, 'survives');
  for (const id of ['-1', '0', '00', `0${m.id}`, '1e3', '1.0', '+1', '1;%20DROP%20TABLE%20messages', 'abc',
    '9007199254740992', '99999999999999999999999999999999', '0x10', 'null']) {
    fails(await edit(owner.token, room.id, id, 'x'), 400, 'validation_error', 'id');
  }
  const max = 4000; // CHAT_MESSAGE_MAX's default, as the test stack runs
  for (const message of ['', 'x'.repeat(max + 1), 'é'.repeat(max + 1), 5, null, true, ['x'], { t: 'x' }, 'a\u0000b']) {
    fails(await edit(owner.token, room.id, m.id, message), 400, 'validation_error', 'message');
  }
  fails(await api('PATCH', path(room.id, m.id), { token: owner.token, body: {} }), 400, 'validation_error', 'message');
  fails(await api('PATCH', path(room.id, m.id), { token: owner.token, body: ['x'] }), 400, 'invalid_json');
  for (const b of [[0xc3, 0x28], [0xed, 0xa0, 0x80], [0xff], [0xe2, 0x82]]) {
    fails(await api('PATCH', path(room.id, m.id), { token: owner.token, rawBody: bytes('{"message":"a', b, '"}') }), 400, 'invalid_json');
  }
  fails(await api('PATCH', path(room.id, m.id), { token: owner.token, rawBody: '{"message":' }), 400, 'invalid_json');
  const r = await api('PATCH', path(room.id, m.id), { token: owner.token, rawBody: '{"message":"x"}', headers: { 'content-type': 'text/plain' } });
  assert.equal(r.status, 415);
  assert.equal(stored(m), 'survives');
  // The longest text is fine.
  editedOk(await edit(owner.token, room.id, m.id, 'é'.repeat(max)), m, 'é'.repeat(max));
  // The message resource now takes DELETE and PATCH.
  const g = await api('GET', path(room.id, m.id), { token: owner.token });
  assert.equal(g.status, 405);
  assert.match(g.headers.get('allow') || '', /DELETE/);
  assert.match(g.headers.get('allow') || '', /PATCH/);
});

test('REST: edits spend the sender\'s message tokens: 429 rate_limited', async () => {
  const { owner, room } = await staffedRoom('ed_rate', 'public');
  const m = await send(owner.token, room.id, 'v0');
  let limited = null;
  for (let i = 1; i <= 40 && !limited; i++) {
    const r = await edit(owner.token, room.id, m.id, `v${i}`);
    if (r.status === 429) limited = r;
    else ok(r);
  }
  assert.ok(limited, 'an edit flood is rate limited');
  fails(limited, 429, 'rate_limited');
  assert.match(limited.headers.get('retry-after') || '', /^\d+$/);
  assert.equal(psql(`SELECT content FROM messages WHERE id = ${m.id}`).startsWith('v'), true);
});

test('socket: edit_message acks {ok, message} with the same rules; hostile payloads fail', async () => {
  const { owner, m1, m2, room } = await staffedRoom('ed_ws');
  const stranger = await join('ed_ws_s');
  const s1 = (await connect(m1.token)).socket;
  const s2 = (await connect(m2.token, { url: B.url })).socket;
  const ss = (await connect(stranger.token)).socket;
  const own = await sendWs(s1, room.id, 'mine');
  const theirs = await send(m2.token, room.id, 'theirs');

  const a = ackOk(await ack(s1, 'edit_message', { room_id: room.id, id: own.id, message: 'mine, edited' }));
  assert.deepEqual(Object.keys(a).sort(), ['message', 'ok']);
  assertMessage(a.message);
  assert.equal(a.message.content, 'mine, edited');
  assert.equal(a.message.seq, own.seq);
  assert.match(a.message.edited_at, TS_RE);
  ackFails(await ack(s1, 'edit_message', { room_id: room.id, id: theirs.id, message: 'x' }), 'forbidden');
  ackFails(await ack(ss, 'edit_message', { room_id: room.id, id: own.id, message: 'x' }), 'not_found');
  ackFails(await ack(s1, 'edit_message', { room_id: `no-such-${uniqueName('r')}`, id: own.id, message: 'x' }), 'not_found');
  ackFails(await ack(s1, 'edit_message', { room_id: room.id, id: 999999999999, message: 'x' }), 'not_found');
  for (const id of [-1, 0, 1e30, 1.5, '1', `${own.id}; DROP TABLE messages`, null, true, [own.id], 9007199254740992]) {
    ackFails(await ack(s1, 'edit_message', { room_id: room.id, id, message: 'x' }), 'validation_error', `id ${JSON.stringify(id)}`);
  }
  for (const message of ['', 'x'.repeat(4001), 'é'.repeat(4001), 7, null, false, ['x'], { a: 1 }, 'a\u0000b', undefined]) {
    ackFails(await ack(s1, 'edit_message', { room_id: room.id, id: own.id, message }), 'validation_error', `message ${JSON.stringify(message)}`);
  }
  ackFails(await ack(s1, 'edit_message', { id: own.id, message: 'x' }), 'validation_error');
  ackOk(await ack(s2, 'delete_message', { room_id: room.id, id: theirs.id }));
  ackFails(await ack(s2, 'edit_message', { room_id: room.id, id: theirs.id, message: 'back' }), 'conflict');
  assert.equal(stored(own), 'mine, edited');
  assert.equal(stored(theirs), '<null>');
  // Without an ack: still done.
  s1.emit('edit_message', { room_id: room.id, id: own.id, message: 'no ack' });
  await until(() => stored(own) === 'no ack', 'the edit without an ack');
  // The owner may not edit it either (only delete).
  const so = (await connect(owner.token)).socket;
  ackFails(await ack(so, 'edit_message', { room_id: room.id, id: own.id, message: 'x' }), 'forbidden');
});

test('message_updated reaches the subscribers on both bridges, in order with new_message and message_deleted', async () => {
  const { owner, m1, m2, room } = await staffedRoom('ed_live');
  const lA = (await connect(m2.token)).socket;
  const lB = (await connect(owner.token, { url: B.url })).socket;
  for (const s of [lA, lB]) await joinRoom(s, room.id);
  const names = ['new_message', 'message_updated', 'message_deleted'];
  const seenA = events(lA, names);
  const seenB = events(lB, names);
  const c0 = (await roomOf(owner.token, room.id)).change_seq;
  const sw = (await connect(m1.token, { url: B.url })).socket;

  const m0 = await send(m1.token, room.id, 'zero');
  const e0 = editedOk(await edit(m1.token, room.id, m0.id, 'zero, edited'), m0, 'zero, edited');
  const m1m = await sendWs(sw, room.id, 'one');
  const e1 = ackOk(await ack(sw, 'edit_message', { room_id: room.id, id: m0.id, message: 'zero, edited twice' })).message;
  ok(await del(m1.token, room.id, m1m.id));
  const m2m = await send(m1.token, room.id, 'two');
  // The same text again: no event.
  editedOk(await edit(m1.token, room.id, m0.id, 'zero, edited twice'), m0, 'zero, edited twice');
  const m3 = await send(m1.token, room.id, 'three');

  for (const seen of [seenA, seenB]) {
    await until(() => seen.some(([n, p]) => n === 'new_message' && p.id === m3.id), 'the last message');
    const got = seen.map(([n, p]) => [n, p.id, n === 'new_message' ? p.content : p.change_seq]);
    assert.deepEqual(got, [
      ['new_message', m0.id, 'zero'],
      ['message_updated', m0.id, c0 + 1],
      ['new_message', m1m.id, 'one'],
      ['message_updated', m0.id, c0 + 2],
      ['message_deleted', m1m.id, c0 + 3],
      ['new_message', m2m.id, 'two'],
      ['new_message', m3.id, 'three'],
    ]);
    const upd = seen.filter(([n]) => n === 'message_updated').map(([, p]) => p);
    for (const u of upd) {
      const { change_seq: cs, ...msg } = u;
      assert.ok(Number.isInteger(cs));
      assertMessage(msg);
    }
    assert.deepEqual(upd[0], { ...e0, change_seq: c0 + 1 });
    assert.deepEqual(upd[1], { ...e1, change_seq: c0 + 2 });
  }
  assert.equal((await roomOf(m2.token, room.id)).change_seq, c0 + 3);
});

test('an edit too long for a NOTIFY payload still reaches both bridges, read back', async () => {
  const { owner, m1, room } = await staffedRoom('ed_big', 'public');
  const lA = (await connect(owner.token)).socket;
  const lB = (await connect(owner.token, { url: B.url })).socket;
  for (const s of [lA, lB]) await joinRoom(s, room.id);
  const upA = collect(lA, 'message_updated');
  const upB = collect(lB, 'message_updated');
  const m = await send(m1.token, room.id, 'short');
  const big = '€'.repeat(3000); // 9000 bytes of UTF-8: more than a NOTIFY takes
  const e = editedOk(await edit(m1.token, room.id, m.id, big), m, big);
  for (const up of [upA, upB]) {
    const u = await up.waitFor((x) => x.id === m.id);
    assert.equal(u.content, big);
    assert.equal(u.edited_at, e.edited_at);
    assert.ok(Number.isInteger(u.change_seq) && u.change_seq > 0);
  }
});

test('recovery with since_seq returns the current state: edited text and tombstones, on both bridges', async () => {
  const { owner, m1, m2, room } = await staffedRoom('ed_rec');
  const live = (await connect(owner.token)).socket; // keeps the room in bridge A's memory
  const liveB = (await connect(owner.token, { url: B.url })).socket; // and in B's
  for (const s of [live, liveB]) await joinRoom(s, room.id);
  const ms = [];
  for (let i = 0; i < 4; i++) ms.push(await send(m1.token, room.id, `rec ${i}`));
  editedOk(await edit(m1.token, room.id, ms[1].id, 'rec 1, edited'), ms[1], 'rec 1, edited');
  ok(await del(m1.token, room.id, ms[2].id));
  editedOk(await edit(m1.token, room.id, ms[3].id, 'rec 3, edited'), ms[3], 'rec 3, edited');
  for (const url of [undefined, B.url]) {
    const s = (await connect(m2.token, url ? { url } : {})).socket;
    const rec = await joinRoom(s, room.id, { since_seq: ms[0].seq });
    assert.equal(rec.recovered, true);
    for (const x of rec.messages) assertMessage(x);
    assert.deepEqual(rec.messages.map((x) => [x.seq, x.content, x.deleted, x.edited_at !== null]), [
      [ms[1].seq, 'rec 1, edited', false, true],
      [ms[2].seq, null, true, false],
      [ms[3].seq, 'rec 3, edited', false, true],
    ]);
  }
});

test('catch-up: an offline client compares change_seq and reads /changes for changes older than its since_seq', async () => {
  const { owner, m1, m2, room } = await staffedRoom('ed_cu');
  const old = [];
  for (let i = 0; i < 4; i++) old.push(await send(m1.token, room.id, `old ${i}`));
  // m2 was here: it knows the last seq and the change counter, then goes offline.
  const seen = await roomOf(m2.token, room.id);
  const since = seen.change_seq;
  const sinceSeq = seen.last_seq;
  // Meanwhile: an old message edited twice, another deleted, a new one sent and edited.
  editedOk(await edit(m1.token, room.id, old[0].id, 'old 0, once'), old[0], 'old 0, once');
  ok(await del(m1.token, room.id, old[2].id));
  editedOk(await edit(m1.token, room.id, old[0].id, 'old 0, twice'), old[0], 'old 0, twice');
  const fresh = await send(m1.token, room.id, 'fresh');
  editedOk(await edit(m1.token, room.id, fresh.id, 'fresh, edited'), fresh, 'fresh, edited');

  // Back: join_room with since_seq covers the new message, in its current state.
  const s = (await connect(m2.token, { url: B.url })).socket;
  const rec = await joinRoom(s, room.id, { since_seq: sinceSeq });
  assert.deepEqual(rec.messages.map((x) => [x.id, x.content]), [[fresh.id, 'fresh, edited']]);
  assert.equal(rec.room.change_seq, since + 4);
  // The older ones: /changes since what it knew, in change order, each once, current state.
  const c = ok(await changes(m2.token, room.id, `since=${since}`));
  assert.deepEqual(Object.keys(c).sort(), ['change_seq', 'changes', 'has_more']);
  for (const x of c.changes) assertMessage(x);
  assert.deepEqual(c.changes.map((x) => [x.id, x.content, x.deleted]), [
    [old[2].id, null, true],
    [old[0].id, 'old 0, twice', false],
    [fresh.id, 'fresh, edited', false],
  ]);
  assert.equal(c.change_seq, since + 4);
  assert.equal(c.has_more, false);
  // Paged: limit=1, then from the change_seq each page gives.
  const got = [];
  let cur = since;
  for (let i = 0; i < 5; i++) {
    const p = ok(await changes(m2.token, room.id, `since=${cur}&limit=1`));
    got.push(...p.changes.map((x) => x.id));
    assert.ok(p.change_seq > cur || !p.has_more);
    cur = p.change_seq;
    if (!p.has_more) break;
  }
  assert.deepEqual(got, [old[2].id, old[0].id, fresh.id]);
  assert.equal(cur, since + 4);
  // Nothing new since the latest: empty, the same counter; since beyond it too.
  assert.deepEqual(ok(await changes(m2.token, room.id, `since=${since + 4}`)), { changes: [], change_seq: since + 4, has_more: false });
  assert.deepEqual(ok(await changes(m2.token, room.id, 'since=9007199254740991')), { changes: [], change_seq: since + 4, has_more: false });
  // Without since: from the start (0).
  assert.equal(ok(await changes(m2.token, room.id)).changes.length, 3);
  // A room that never changed.
  const quiet = ok(await api('POST', '/api/rooms', { token: owner.token, body: { room_name: uniqueName('ed_cu_q') } }), 201).room;
  assert.equal(quiet.change_seq, 0);
  assert.deepEqual(ok(await changes(owner.token, quiet.id)), { changes: [], change_seq: 0, has_more: false });
});

test('/changes: hostile since and limit are 400; who may not read the room gets 404', async () => {
  const { owner, room } = await staffedRoom('ed_cb');
  const stranger = await join('ed_cb_s');
  for (const q of ['since=-1', 'since=abc', 'since=1.5', 'since=1e3', 'since=9007199254740992',
    'since=99999999999999999999999999', 'since=', 'since=0x10', "since=1'%20OR%20'1'='1", 'since=1;DROP%20TABLE%20messages']) {
    fails(await changes(owner.token, room.id, q), 400, 'validation_error', 'since');
  }
  for (const q of ['limit=0', 'limit=101', 'limit=-1', 'limit=x', 'limit=1e2']) {
    fails(await changes(owner.token, room.id, q), 400, 'validation_error', 'limit');
  }
  ok(await changes(owner.token, room.id, 'limit=100&since=0'));
  fails(await changes(stranger.token, room.id), 404, 'not_found', 'room_id');
  fails(await changes(stranger.token, `no-such-${uniqueName('r')}`), 404, 'not_found', 'room_id');
  fails(await changes(undefined, room.id), 401, 'unauthorized');
  const p = await api('POST', `/api/messages/${room.id}/changes`, { token: owner.token, body: { message: 'x' } });
  assert.equal(p.status, 405);
  assert.equal((await api('GET', `/api/messages/${room.id}/changes/x`, { token: owner.token })).status, 404);
});
