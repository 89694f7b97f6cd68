// t36-delete -- deleting messages (DESIGN §8): DELETE /api/messages/{room_id}/{id}
// and the delete_message event. Who may (author, owner, moderators, site
// admins), who may not (403, or 404 where the room is invisible), twice,
// unknown and hostile ids, message_deleted on both bridges, tombstones in
// history and recovery, the text gone from the database.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, ok, fails, join, uniqueName, send, history, assertMessage, staffedRoom } from './lib.mjs';
import {
  connect, closeAll, collect, ack, ackOk, ackFails, joinRoom, sendWs, psql, sleep,
  extraBridge,
} from './sio.mjs';

const B = extraBridge();

const del = (token, roomId, id) => api('DELETE', `/api/messages/${encodeURIComponent(roomId)}/${id}`, { token });
const memberOf = (id, uid) => `/api/rooms/${id}/members/${uid}`;

/** Asserts a 200 answer to a delete: {message: the tombstone, deleted}. */
function deletedOk(r, m, fresh = true) {
  const d = ok(r, 200);
  assert.deepEqual(Object.keys(d).sort(), ['deleted', 'message']);
  assert.equal(d.deleted, fresh);
  assertMessage(d.message);
  assert.equal(d.message.id, m.id);
  assert.equal(d.message.seq, m.seq);
  assert.equal(d.message.deleted, true);
  assert.equal(d.message.content, null);
  return d;
}

const gone = (m) => psql(`SELECT content IS NULL AND deleted_at IS NOT NULL FROM messages WHERE id = ${m.id}`);

test('REST: the author, a moderator, the owner and a site admin delete; a plain member gets 403; the text is gone', async () => {
  const { owner, mod, m1, m2, room } = await staffedRoom('dl_who');
  const admin = await join('dl_who_adm');
  psql(`UPDATE users SET site_admin = true WHERE id = '${admin.user.id}'`);
  const own = await send(m1.token, room.id, 'mine, to delete');
  const byMod = await send(m2.token, room.id, 'deleted by the moderator');
  const byOwner = await send(m2.token, room.id, 'deleted by the owner');
  const byAdmin = await send(m2.token, room.id, 'deleted by the site admin');
  const kept = await send(mod.token, room.id, 'the moderator keeps this');

  // A plain member may not delete another's message, nor the moderator's.
  fails(await del(m1.token, room.id, byMod.id), 403, 'forbidden');
  fails(await del(m2.token, room.id, kept.id), 403, 'forbidden');
  assert.equal(gone(byMod), 'f');

  deletedOk(await del(m1.token, room.id, own.id), own);
  deletedOk(await del(mod.token, room.id, byMod.id), byMod);
  deletedOk(await del(owner.token, room.id, byOwner.id), byOwner);
  // The site admin is no member of this private room and still may.
  deletedOk(await del(admin.token, room.id, byAdmin.id), byAdmin);
  for (const m of [own, byMod, byOwner, byAdmin]) assert.equal(gone(m), 't');
  assert.equal(gone(kept), 'f');
  assert.equal(psql(`SELECT count(*) FROM messages WHERE room_id = '${room.id}' AND content LIKE '%deleted by%'`), '0');

  // Demoted, a moderator deletes no more.
  const later = await send(m2.token, room.id, 'after the demotion');
  ok(await api('PATCH', memberOf(room.id, mod.user.id), { token: owner.token, body: { role: 'member' } }));
  fails(await del(mod.token, room.id, later.id), 403, 'forbidden');
});

test('REST: twice is 200 and changes nothing; unknown ids and other rooms\' messages are 404; private rooms are invisible', async () => {
  const { owner, m1, room } = await staffedRoom('dl_nf');
  const stranger = await join('dl_nf_s');
  const m = await send(m1.token, room.id, 'once');
  deletedOk(await del(m1.token, room.id, m.id), m, true);
  // Again, by the author or the owner: 200, the same tombstone, deleted:false.
  deletedOk(await del(m1.token, room.id, m.id), m, false);
  deletedOk(await del(owner.token, room.id, m.id), m, false);

  const live = await send(m1.token, room.id, 'still here');
  // A non-member of a private room: 404 exactly as for a missing room.
  const missing = await del(stranger.token, `no-such-${uniqueName('r')}`, live.id);
  fails(missing, 404, 'not_found', 'room_id');
  const hidden = await del(stranger.token, room.id, live.id);
  fails(hidden, 404, 'not_found', 'room_id');
  assert.deepEqual(hidden.body, missing.body);
  assert.equal(gone(live), 'f');

  // Unknown id, and a message of another room (owned by the same caller).
  fails(await del(owner.token, room.id, 999999999999), 404, 'not_found', 'id');
  const other = ok(await api('POST', '/api/rooms', { token: owner.token, body: { room_name: uniqueName('dl_nf2') } }), 201).room;
  const elsewhere = await send(owner.token, other.id, 'in the other room');
  fails(await del(owner.token, room.id, elsewhere.id), 404, 'not_found', 'id');
  fails(await del(owner.token, other.id, live.id), 404, 'not_found', 'id');
  assert.equal(gone(elsewhere), 'f');

  // A public room: a non-member sees it and is refused 403.
  const pub = ok(await api('POST', '/api/rooms', { token: owner.token, body: { room_name: uniqueName('dl_pub') } }), 201).room;
  const pm = await send(owner.token, pub.id, 'public');
  fails(await del(stranger.token, pub.id, pm.id), 403, 'forbidden');

  // No token: 401.
  fails(await api('DELETE', `/api/messages/${room.id}/${live.id}`), 401, 'unauthorized');
});

test('REST: hostile ids are 400 validation_error naming id; nothing is deleted', async () => {
  const { owner, room } = await staffedRoom('dl_bad', 'public');
  const m = await send(owner.token, room.id, 'survives');
  for (const id of ['-1', '0', '00', `0${m.id}`, '1e30', '1e3', '1.0', '+1', ' 1', '1%20', '1;%20DROP%20TABLE%20messages',
    `${m.id}%3B%20DROP`, '%E2%91%A0', '%D9%A3', 'abc', '9007199254740992', '99999999999999999999999999999999', '0x10',
    'null', 'true']) {
    const r = await del(owner.token, room.id, id);
    assert.equal(fails(r, 400, 'validation_error', 'id').field, 'id', id);
  }
  // A NUL in the path: nginx refuses it before it reaches the application.
  assert.equal((await del(owner.token, room.id, `${m.id}%00`)).status, 400);
  // The largest id a JSON number holds is well formed, and unknown.
  fails(await del(owner.token, room.id, '9007199254740991'), 404, 'not_found', 'id');
  // Path shapes that are no resource.
  for (const p of [`/api/messages/${room.id}/${m.id}/`, `/api/messages/${room.id}/${m.id}/x`]) {
    const r = await api('DELETE', p, { token: owner.token });
    assert.equal(r.status, 404, `${p}: ${r.status}`);
  }
  // Other methods on the message resource: 405 naming DELETE.
  const r = await api('GET', `/api/messages/${room.id}/${m.id}`, { token: owner.token });
  assert.equal(r.status, 405);
  assert.match(r.headers.get('allow') || '', /DELETE/);
  assert.equal(gone(m), 'f');
  assert.equal((await history(owner.token, room.id)).messages.find((x) => x.id === m.id).content, 'survives');
});

test('socket: delete_message acks {ok, message, deleted} with the same rules; hostile payloads fail', async () => {
  const { owner, mod, m1, m2, room } = await staffedRoom('dl_ws');
  const stranger = await join('dl_ws_s');
  const s1 = (await connect(m1.token)).socket;
  const s2 = (await connect(m2.token)).socket;
  const sm = (await connect(mod.token)).socket;
  const ss = (await connect(stranger.token)).socket;
  const own = await sendWs(s1, room.id, 'mine');
  const theirs = await send(m2.token, room.id, 'theirs');
  const owners = await send(owner.token, room.id, 'the owner\'s');

  ackFails(await ack(s1, 'delete_message', { room_id: room.id, id: theirs.id }), 'forbidden');
  ackFails(await ack(s2, 'delete_message', { room_id: room.id, id: owners.id }), 'forbidden');
  ackFails(await ack(ss, 'delete_message', { room_id: room.id, id: theirs.id }), 'not_found');
  ackFails(await ack(s1, 'delete_message', { room_id: `no-such-${uniqueName('r')}`, id: own.id }), 'not_found');
  ackFails(await ack(s1, 'delete_message', { room_id: room.id, id: 999999999999 }), 'not_found');
  for (const id of [-1, 0, 1e30, 1.5, '1', `${own.id}; DROP TABLE messages`, '①', null, true, [own.id], { id: own.id }, 9007199254740992]) {
    ackFails(await ack(s1, 'delete_message', { room_id: room.id, id }), 'validation_error', `id ${JSON.stringify(id)}`);
  }
  ackFails(await ack(s1, 'delete_message', { room_id: room.id }), 'validation_error');
  ackFails(await ack(s1, 'delete_message', { id: own.id }), 'validation_error');
  assert.equal(gone(own), 'f');

  const a = ackOk(await ack(s1, 'delete_message', { room_id: room.id, id: own.id }));
  assert.equal(a.deleted, true);
  assert.equal(a.message.id, own.id);
  assert.equal(a.message.deleted, true);
  assert.equal(a.message.content, null);
  assert.equal(ackOk(await ack(s1, 'delete_message', { room_id: room.id, id: own.id })).deleted, false);
  assert.equal(ackOk(await ack(sm, 'delete_message', { room_id: room.id, id: theirs.id })).deleted, true);
  for (const m of [own, theirs]) assert.equal(gone(m), 't');
  assert.equal(gone(owners), 'f');
  // Without an ack: still done (and nothing is answered).
  const noAck = await send(m2.token, room.id, 'no ack');
  s2.emit('delete_message', { room_id: room.id, id: noAck.id });
  for (let i = 0; i < 50 && gone(noAck) !== 't'; i++) await sleep(100);
  assert.equal(gone(noAck), 't');
});

test('message_deleted reaches the subscribers on both bridges, after the message; history and recovery show the tombstone', async () => {
  const { owner, mod, m1, m2, room } = await staffedRoom('dl_live');
  const lA = (await connect(m2.token)).socket;
  const lB = (await connect(owner.token, { url: B.url })).socket;
  for (const s of [lA, lB]) await joinRoom(s, room.id);
  const evA = collect(lA, 'message_deleted');
  const evB = collect(lB, 'message_deleted');
  const newsA = collect(lA, 'new_message');
  const newsB = collect(lB, 'new_message');
  const m = [];
  for (let i = 0; i < 3; i++) m.push(await send(m1.token, room.id, `live ${i} secret-${room.id}`));
  await newsA.waitCount(3);
  await newsB.waitCount(3);

  // By REST (the author), then by the socket of a moderator on bridge B.
  deletedOk(await del(m1.token, room.id, m[1].id), m[1]);
  const sm = (await connect(mod.token, { url: B.url })).socket;
  ackOk(await ack(sm, 'delete_message', { room_id: room.id, id: m[2].id }));
  for (const ev of [evA, evB]) {
    await ev.waitCount(2);
    // Each deletion takes the room's next change_seq (DESIGN §8, migration 0022).
    const c0 = ev.items[0].change_seq;
    assert.ok(Number.isInteger(c0) && c0 > 0);
    assert.deepEqual(ev.items, [
      { room_id: room.id, id: m[1].id, seq: m[1].seq, change_seq: c0 },
      { room_id: room.id, id: m[2].id, seq: m[2].seq, change_seq: c0 + 1 },
    ]);
  }
  // Twice: no second event.
  deletedOk(await del(owner.token, room.id, m[1].id), m[1], false);
  const after = await send(m1.token, room.id, 'after');
  await newsA.waitFor((x) => x.id === after.id);
  await newsB.waitFor((x) => x.id === after.id);
  assert.equal(evA.items.length, 2);
  assert.equal(evB.items.length, 2);
  assert.equal(after.seq, m[2].seq + 1);

  // History: tombstones with the same seqs, no gap.
  const h = await history(m2.token, room.id);
  assert.deepEqual(h.messages.map((x) => x.seq), [m[0].seq, m[1].seq, m[2].seq, after.seq]);
  for (const x of h.messages) assertMessage(x);
  assert.deepEqual(h.messages.map((x) => x.deleted), [false, true, true, false]);
  assert.deepEqual(h.messages.map((x) => x.content), [m[0].content, null, null, 'after']);
  // Recovery on both bridges.
  for (const url of [undefined, B.url]) {
    const s = (await connect(m2.token, url ? { url } : {})).socket;
    const rec = await joinRoom(s, room.id, { since_seq: m[0].seq });
    assert.deepEqual(rec.messages.map((x) => [x.seq, x.deleted, x.content]),
      [[m[1].seq, true, null], [m[2].seq, true, null], [after.seq, false, 'after']]);
  }
  assert.equal(psql(`SELECT count(*) FROM messages WHERE content LIKE '%secret-${room.id}%'`), '1');
});
