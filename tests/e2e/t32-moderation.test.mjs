// t32-moderation -- roles, adding, removing and banning members (DESIGN §7):
// who may do what, user_left reasons, room_removed and the removed user's
// sockets leaving at once, bans, site administrators, hostile input.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { api, ok, fails, join, uniqueName, createRoom, show, staffedRoom } from './lib.mjs';
import { connect, collect, ack, ackOk, ackFails, joinRoom, closeAll, psql, sleep } from './sio.mjs';

after(closeAll);

const members = (id) => `/api/rooms/${id}/members`;
const memberOf = (id, uid) => `/api/rooms/${id}/members/${uid}`;

async function add(token, roomId, username, status = 201) {
  return api('POST', members(roomId), { token, body: { username } }).then((r) => (status === 201 ? ok(r, 201) : r));
}

test('roles: the owner makes moderators; moderators add members; members and moderators change no roles', async () => {
  const { owner, mod, m1, m2, room } = await staffedRoom('mo_roles');
  const users = ok(await api('GET', `/api/users/${room.id}`, { token: m1.token })).users;
  assert.deepEqual(users.map((u) => u.role), ['owner', 'member', 'member', 'member'].map((r, i) => (i === 1 ? 'moderator' : r)));
  assert.equal(ok(await api('GET', `/api/rooms/${room.id}`, { token: mod.token })).room.role, 'moderator');

  // A moderator adds; a member does not.
  const carl = await join('mo_roles_c');
  const dave = await join('mo_roles_d');
  assert.equal((await add(mod.token, room.id, carl.user.username)).user.id, carl.user.id);
  fails(await add(m1.token, room.id, dave.user.username, 403), 403, 'forbidden');
  // Already a member: 409 conflict.
  fails(await add(owner.token, room.id, carl.user.username, 409), 409, 'conflict', 'username');
  fails(await add(owner.token, room.id, owner.user.username, 409), 409, 'conflict', 'username');
  // Unknown user: 404 naming username.
  fails(await add(owner.token, room.id, uniqueName('ghost'), 404), 404, 'not_found', 'username');

  // Role changes: owner only.
  fails(await api('PATCH', memberOf(room.id, m1.user.id), { token: mod.token, body: { role: 'moderator' } }), 403, 'forbidden');
  fails(await api('PATCH', memberOf(room.id, mod.user.id), { token: mod.token, body: { role: 'member' } }), 403, 'forbidden');
  fails(await api('PATCH', memberOf(room.id, m2.user.id), { token: m1.token, body: { role: 'moderator' } }), 403, 'forbidden');
  fails(await api('PATCH', memberOf(room.id, owner.user.id), { token: owner.token, body: { role: 'member' } }), 403, 'forbidden');
  fails(await api('PATCH', memberOf(room.id, dave.user.id), { token: owner.token, body: { role: 'moderator' } }), 404, 'not_found', 'user_id');
  for (const role of ['owner', 'admin', 'MODERATOR', '', "member' --", 1, null, true, ['member'], { role: 'member' }]) {
    fails(await api('PATCH', memberOf(room.id, m1.user.id), { token: owner.token, body: { role } }), 400, 'validation_error', 'role');
  }
  fails(await api('PATCH', memberOf(room.id, m1.user.id), { token: owner.token, body: {} }), 400, 'validation_error', 'role');
  // Demoted, a moderator adds no more.
  ok(await api('PATCH', memberOf(room.id, mod.user.id), { token: owner.token, body: { role: 'member' } }));
  fails(await add(mod.token, room.id, dave.user.username, 403), 403, 'forbidden');
  assert.equal(ok(await api('GET', `/api/rooms/${room.id}`, { token: mod.token })).room.role, 'member');
});

test('removing: moderators kick members; the owner cannot be removed, not even by themselves; a moderator removes no moderator', async () => {
  const { owner, mod, m1, m2, room } = await staffedRoom('mo_kick');
  const mod2 = await join('mo_kick_m2');
  await add(owner.token, room.id, mod2.user.username);
  ok(await api('PATCH', memberOf(room.id, mod2.user.id), { token: owner.token, body: { role: 'moderator' } }));

  fails(await api('DELETE', memberOf(room.id, owner.user.id), { token: mod.token }), 403, 'forbidden');
  fails(await api('DELETE', memberOf(room.id, owner.user.id), { token: owner.token }), 403, 'forbidden');
  fails(await api('DELETE', `${memberOf(room.id, owner.user.id)}?ban=true`, { token: mod.token }), 403, 'forbidden');
  fails(await api('DELETE', memberOf(room.id, m2.user.id), { token: m1.token }), 403, 'forbidden');
  fails(await api('DELETE', memberOf(room.id, mod2.user.id), { token: mod.token }), 403, 'forbidden');
  // The owner's leave_room is refused too.
  const os = (await connect(owner.token)).socket;
  ackFails(await ack(os, 'leave_room', { room_id: room.id }), 'forbidden');
  assert.equal(ok(await api('GET', `/api/rooms/${room.id}`, { token: owner.token })).room.role, 'owner');

  const kicked = ok(await api('DELETE', memberOf(room.id, m2.user.id), { token: mod.token }));
  assert.deepEqual(kicked, { room_id: room.id, user_id: m2.user.id, removed: true, banned: false, reason: 'kicked' });
  fails(await api('GET', `/api/rooms/${room.id}`, { token: m2.token }), 404, 'not_found');
  // Not a member (any more): 404 naming user_id; an unknown user id too.
  fails(await api('DELETE', memberOf(room.id, m2.user.id), { token: mod.token }), 404, 'not_found', 'user_id');
  fails(await api('DELETE', memberOf(room.id, 'no-such-user'), { token: mod.token }), 404, 'not_found', 'user_id');
  // Self-removal: anyone; then the room is gone for them.
  const self = ok(await api('DELETE', memberOf(room.id, m1.user.id), { token: m1.token }));
  assert.equal(self.reason, 'left');
  fails(await api('DELETE', `${memberOf(room.id, mod.user.id)}?ban=true`, { token: mod.token }), 403, 'forbidden');
  // The owner removes a moderator.
  assert.equal(ok(await api('DELETE', memberOf(room.id, mod2.user.id), { token: owner.token })).reason, 'kicked');
  assert.deepEqual(ok(await api('GET', `/api/users/${room.id}`, { token: owner.token })).users.map((u) => u.id).sort(), [owner.user.id, mod.user.id].sort());
});

test('a removed member\'s sockets stop receiving the room at once and get room_removed; the room gets user_left with the reason', async () => {
  const { owner, mod, m1, room } = await staffedRoom('mo_live');
  const side = await createRoom(owner.token, 'mo_live_side');
  ok(await api('POST', '/api/join', { token: m1.token, body: { username: m1.user.username, room_id: side.id } }), 201);
  const socks = [(await connect(m1.token)).socket, (await connect(m1.token)).socket];
  // One socket in the room and the side room, one only in the side room.
  await joinRoom(socks[0], room.id);
  for (const s of socks) await joinRoom(s, side.id);
  const os = (await connect(owner.token)).socket;
  await joinRoom(os, room.id);
  const left = collect(os, 'user_left');
  const removed = socks.map((s) => collect(s, 'room_removed'));
  const msgs = socks.map((s) => collect(s, 'new_message'));

  const m0 = ok(await api('POST', `/api/messages/${room.id}`, { token: owner.token, body: { message: 'before' } }), 201).message;
  await msgs[0].waitFor((m) => m.id === m0.id);

  ok(await api('DELETE', memberOf(room.id, m1.user.id), { token: mod.token }));
  for (const [i, c] of removed.entries()) {
    const ev = await c.waitFor((e) => e.room_id === room.id, 5000, `socket ${i}`);
    assert.deepEqual(ev, { room_id: room.id, reason: 'kicked' });
  }
  const ul = await left.waitFor((e) => e.user.id === m1.user.id);
  assert.deepEqual(Object.keys(ul).sort(), ['member_count', 'reason', 'room_id', 'user']);
  assert.equal(ul.reason, 'kicked');
  assert.equal(ul.member_count, 3);

  // A message right after, then one to the side room as a barrier: the room's never arrives.
  const m1msg = ok(await api('POST', `/api/messages/${room.id}`, { token: owner.token, body: { message: 'after' } }), 201).message;
  const bar = ok(await api('POST', `/api/messages/${side.id}`, { token: owner.token, body: { message: 'barrier' } }), 201).message;
  for (const c of msgs) await c.waitFor((m) => m.id === bar.id);
  assert.ok(!msgs[0].items.some((m) => m.id === m1msg.id), 'nothing of the room after the removal');
  // Its socket is no longer in the room: every event answers as for a missing room.
  ackFails(await ack(socks[0], 'send_message', { room_id: room.id, message: 'still here?' }), 'not_found');
  ackFails(await ack(socks[0], 'typing', { room_id: room.id, is_typing: true }), 'forbidden');
  ackFails(await ack(socks[0], 'join_room', { room_id: room.id }), 'not_found');
  ackFails(await ack(socks[0], 'leave_room', { room_id: room.id }), 'not_found');
  // Self-leave with leave_room (a public room): reason left, room_removed too.
  const pubLeft = collect(socks[1], 'room_removed');
  ackOk(await ack(socks[1], 'leave_room', { room_id: side.id }));
  assert.deepEqual(await pubLeft.waitFor((e) => e.room_id === side.id), { room_id: side.id, reason: 'left' });
});

test('banning: a banned user cannot join again (403) until re-added, which lifts the ban', async () => {
  const owner = await join('mo_ban_o');
  const troll = await join('mo_ban_t');
  const room = await createRoom(owner.token, 'mo_ban'); // public
  const ts = (await connect(troll.token)).socket;
  await joinRoom(ts, room.id);
  const removed = collect(ts, 'room_removed');
  const msgs = collect(ts, 'new_message');

  const b = ok(await api('DELETE', `${memberOf(room.id, troll.user.id)}?ban=true`, { token: owner.token }));
  assert.deepEqual(b, { room_id: room.id, user_id: troll.user.id, removed: true, banned: true, reason: 'banned' });
  assert.deepEqual(await removed.waitFor((e) => e.room_id === room.id), { room_id: room.id, reason: 'banned' });
  // Public: still visible, but no way back in.
  ok(await api('GET', `/api/rooms/${room.id}`, { token: troll.token }));
  ackFails(await ack(ts, 'join_room', { room_id: room.id }), 'forbidden');
  fails(await api('POST', '/api/join', { token: troll.token, body: { username: troll.user.username, room_id: room.id } }), 403, 'forbidden', 'room_id');
  fails(await api('POST', `/api/messages/${room.id}`, { token: troll.token, body: { message: 'let me in' } }), 403, 'forbidden');
  const m = ok(await api('POST', `/api/messages/${room.id}`, { token: owner.token, body: { message: 'quiet now' } }), 201).message;
  await sleep(300);
  assert.ok(!msgs.items.some((x) => x.id === m.id));
  // Banning again (no longer a member) still answers, and bans.
  const again = ok(await api('DELETE', `${memberOf(room.id, troll.user.id)}?ban=true`, { token: owner.token }));
  assert.equal(again.removed, false);
  assert.equal(again.banned, true);

  // Re-added: unbanned, and in.
  const added = collect(ts, 'room_added');
  await add(owner.token, room.id, troll.user.username);
  assert.equal((await added.waitFor((e) => e.room.id === room.id)).room.role, 'member');
  await joinRoom(ts, room.id);
  // Kicked without ban: may join again.
  ok(await api('DELETE', memberOf(room.id, troll.user.id), { token: owner.token }));
  await joinRoom(ts, room.id);

  // A pre-emptive ban of a non-member of a public room.
  const lurker = await join('mo_ban_l');
  ok(await api('DELETE', `${memberOf(room.id, lurker.user.id)}?ban=true`, { token: owner.token }));
  const ls = (await connect(lurker.token)).socket;
  ackFails(await ack(ls, 'join_room', { room_id: room.id }), 'forbidden');
});

test('site administrators moderate every room, member or not; chat_may_moderate says who may', async () => {
  const owner = await join('mo_sa_o');
  const victim = await join('mo_sa_v');
  const admin = await join('mo_sa_a');
  const room = ok(await api('POST', '/api/rooms', { token: owner.token, body: { room_name: uniqueName('mo_sa'), visibility: 'private' } }), 201).room;
  await add(owner.token, room.id, victim.user.username);
  const may = (uid) => psql(`SELECT chat_may_moderate('${uid}', '${room.id}')`);
  assert.equal(may(owner.user.id), 't');
  assert.equal(may(victim.user.id), 'f');
  assert.equal(may(admin.user.id), 'f');
  // Not an admin yet: the room does not exist for them.
  fails(await api('DELETE', memberOf(room.id, victim.user.id), { token: admin.token }), 404, 'not_found');
  psql(`UPDATE users SET site_admin = true WHERE id = '${admin.user.id}'`);
  assert.equal(may(admin.user.id), 't');
  assert.equal(psql(`SELECT chat_may_moderate('${admin.user.id}', 'no-such-room')`), 'f');
  assert.equal(ok(await api('DELETE', memberOf(room.id, victim.user.id), { token: admin.token })).reason, 'kicked');
  fails(await api('DELETE', memberOf(room.id, owner.user.id), { token: admin.token }), 403, 'forbidden');
  // A site admin moderates; the room stays invisible to them as a non-member.
  fails(await api('GET', `/api/rooms/${room.id}`, { token: admin.token }), 404, 'not_found');
  // Role changes stay the owner's.
  await add(admin.token, room.id, victim.user.username);
  fails(await api('PATCH', memberOf(room.id, victim.user.id), { token: admin.token, body: { role: 'moderator' } }), 403, 'forbidden');
});

test('hostile paths, queries and bodies on the member endpoints', async () => {
  const owner = await join('mo_h_o');
  const m = await join('mo_h_m');
  const room = await createRoom(owner.token, 'mo_h');
  await add(owner.token, room.id, m.user.username);
  // Paths that cannot name a room or a user: 404 (400 where the server
  // refuses the path itself, such as a NUL; 405 where nginx resolved a dot
  // segment into another resource), never a 500.
  for (const id of ["x'%20OR%20'1'='1", '%00', '%FF%FE', 'a'.repeat(65), '..', 'general%27--', '%2e%2e', 'r%2Fx']) {
    const r1 = await api('POST', members(id), { token: owner.token, body: { username: m.user.username } });
    const r2 = await api('DELETE', memberOf(room.id, id), { token: owner.token });
    const r3 = await api('PATCH', memberOf(id, m.user.id), { token: owner.token, body: { role: 'member' } });
    for (const r of [r1, r2, r3]) assert.ok([400, 404, 405].includes(r.status), show(r));
    if (r2.status === 404) fails(r2, 404, 'not_found');
  }
  fails(await api('DELETE', memberOf(room.id, "x'OR'1'='1"), { token: owner.token }), 404, 'not_found', 'user_id');
  fails(await api('DELETE', memberOf(room.id, 'u'.repeat(65)), { token: owner.token }), 404, 'not_found', 'user_id');
  for (const p of [`/api/rooms/${room.id}/members/`, `/api/rooms/${room.id}/members/a/b`, `/api/rooms/${room.id}/memberz`]) {
    fails(await api('DELETE', p, { token: owner.token }), 404, 'not_found');
  }
  fails(await api('GET', members(room.id), { token: owner.token }), 405, 'method_not_allowed');
  fails(await api('PUT', memberOf(room.id, m.user.id), { token: owner.token, body: {} }), 405, 'method_not_allowed');
  // ban must be true or false.
  for (const q of ['ban=yes', 'ban=1', 'ban=', 'ban=TRUE', 'ban=%00', 'ban=%ZZ', `ban=${'t'.repeat(100)}`]) {
    fails(await api('DELETE', `${memberOf(room.id, m.user.id)}?${q}`, { token: owner.token }), 400, 'validation_error', 'ban');
  }
  // Bodies: wrong types, SQL, invalid UTF-8, huge, not an object.
  for (const username of ["x' OR '1'='1", "'; DELETE FROM user_rooms; --", '', 'x'.repeat(33), 'u\u0000', 42, null, [], {}, true]) {
    fails(await api('POST', members(room.id), { token: owner.token, body: { username } }), 400, 'validation_error', 'username');
  }
  fails(await api('POST', members(room.id), { token: owner.token, rawBody: Buffer.concat([Buffer.from('{"username":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]) }), 400, 'invalid_json');
  fails(await api('PATCH', memberOf(room.id, m.user.id), { token: owner.token, rawBody: Buffer.concat([Buffer.from('{"role":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')]) }), 400, 'invalid_json');
  fails(await api('POST', members(room.id), { token: owner.token, rawBody: '"alice"' }), 400, 'invalid_json');
  fails(await api('POST', members(room.id), { token: owner.token, rawBody: '{"username":"a","username":"b"}' }), 400, 'invalid_json');
  const huge = await api('POST', members(room.id), { token: owner.token, body: { username: 'x'.repeat(200000) } });
  assert.equal(huge.status, 413, show(huge));
  fails(await api('POST', members(room.id), { token: owner.token, body: { username: m.user.username }, headers: { 'content-type': 'text/plain' } }), 415, 'unsupported_media_type');
  // Unauthenticated: 401 on every one.
  fails(await api('POST', members(room.id), { body: { username: m.user.username } }), 401, 'unauthorized');
  fails(await api('DELETE', memberOf(room.id, m.user.id)), 401, 'unauthorized');
  fails(await api('PATCH', memberOf(room.id, m.user.id), { body: { role: 'moderator' } }), 401, 'unauthorized');
  // After all of it, the member is still there and the tables are whole.
  assert.equal(ok(await api('GET', `/api/users/${room.id}`, { token: owner.token })).total, 2);
});
