// t33-chatctl -- site administration from the shell (issue 13 item 5):
// chatctl's subcommands against the test stack's database, as the
// services' role chat_svc, each with its refusals and hostile input; a
// sysadmin bans a user site-wide and the user's sockets close at once;
// message tombstones (DESIGN §8) and message_deleted; room deletion.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { api, ok, fails, join, uniqueName, createRoom, send, history, assertMessage, REPO } from './lib.mjs';
import {
  connect, connectError, collect, closeAll, joinRoom, disconnected, psql, conninfo, sleep,
} from './sio.mjs';

after(closeAll);

const BIN = path.resolve(REPO, process.env.CHAT_BUILD || 'build/asan', 'chatctl');
const DB = conninfo('chat', { user: 'chat_svc' });
const SECRET = process.env.CHAT_JWT_SECRET;
const PW = 'correct horse battery';

/** Runs chatctl (as the services' role, no env file) and returns {status, stdout, stderr}. */
function ctl(args, { input, env = {}, envFile = false } = {}) {
  const r = spawnSync(BIN, envFile ? args : ['--no-env-file', ...args], {
    env: { ...process.env, DATABASE_URL: DB, ...env },
    input,
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** chatctl that must succeed; returns the answer's data (JSON) or the list's lines. */
function ctlOk(args, opts) {
  const r = ctl(args, opts);
  assert.equal(r.status, 0, `chatctl ${args.join(' ')}: ${r.stderr}`);
  return r;
}

const data = (r) => JSON.parse(r.stdout);

/** chatctl through bash, so that an argument can hold bytes that are not UTF-8. */
function ctlBash(script) {
  const r = spawnSync('bash', ['-c', script, BIN], {
    env: { ...process.env, DATABASE_URL: DB },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
function mint(payload) {
  const signing = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(payload)}`;
  return `${signing}.${createHmac('sha256', SECRET).update(signing).digest('base64url')}`;
}

const login = (username, password) => api('POST', '/api/login', { body: { username, password } });
const me = (token) => api('GET', '/api/me', { token });

async function register(prefix) {
  const username = uniqueName(prefix);
  const d = ok(await api('POST', '/api/register', { body: { username, password: PW } }), 201);
  return { user: d.user, token: d.token };
}

test('--help, --version and every subcommand\'s --help; usage errors exit 2', () => {
  const h = ctlOk(['--help']);
  for (const word of ['SYNOPSIS', 'users', 'rooms', 'ban', 'unban', 'reset-password', 'revoke-sessions',
    'delete-message', 'delete-room', 'make-admin', 'revoke-admin', 'EXIT STATUS', '--env-file']) {
    assert.ok(h.stdout.includes(word), `--help names ${word}`);
  }
  assert.match(ctlOk(['--version']).stdout, /^chatctl \d+\.\d+\.\d+ \(schema 0020\)\n$/);
  for (const sub of ['users', 'rooms', 'ban', 'unban', 'reset-password', 'revoke-sessions', 'delete-message',
    'delete-room', 'make-admin', 'revoke-admin']) {
    const r = ctlOk([sub, '--help']);
    assert.ok(r.stdout.startsWith(`usage: chatctl [GLOBAL OPTIONS] ${sub}`), r.stdout);
  }
  const usage = [
    [],
    ['frobnicate'],
    ['--bogus', 'users'],
    ['ban'],
    ['unban'],
    ['reset-password'],
    ['revoke-sessions'],
    ['delete-message'],
    ['delete-message', 'general'],
    ['delete-room'],
    ['make-admin'],
    ['revoke-admin'],
    ['ban', 'a', 'b'],
    ['users', 'extra'],
    ['users', '--limit'],
    ['users', '--limit', '0'],
    ['users', '--limit', '10001'],
    ['users', '--limit', 'ten'],
    ['users', '--limit=-1'],
    ['rooms', '--like', ''],
    ['rooms', '--like', 'x'.repeat(256)],
    ['users', '--reason', 'x'],
    ['ban', 'x', '--reason', ''],
    ['ban', 'x', '--reason', 'r'.repeat(501)],
    ['ban', ''],
    ['ban', 'u'.repeat(256)],
    ['ban', 'tab\there'],
    ['delete-room', "x'; DROP TABLE rooms; --"],
    ['delete-room', 'a'.repeat(65)],
    ['delete-room', '../general'],
    ['delete-message', 'general', '0'],
    ['delete-message', 'general', '-1'],
    ['delete-message', 'general', 'abc'],
    ['delete-message', 'general', '1e3'],
    ['delete-message', 'general', '99999999999999999999999'],
    ['delete-message', 'general', "1 OR 1=1"],
    ['--env-file', '', 'users'],
    ['--env-file'],
  ];
  for (const args of usage) {
    const r = ctl(args);
    assert.equal(r.status, 2, `chatctl ${JSON.stringify(args)}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /^chatctl: /, JSON.stringify(args));
  }
  // Not UTF-8: refused before it reaches the database.
  for (const bytes of ['\\xff\\xfe', 'ab\\xc3', '\\xed\\xa0\\x80']) {
    const r = ctlBash(`"$0" --no-env-file ban "$(printf '${bytes}')"`);
    assert.equal(r.status, 2, `${bytes}: ${r.stderr}`);
    assert.match(r.stderr, /UTF-8/);
    const l = ctlBash(`"$0" --no-env-file users --like "$(printf '${bytes}')"`);
    assert.equal(l.status, 2, `--like ${bytes}: ${l.stderr}`);
  }
});

test('the env file: --env-file fills what the environment does not set; a bad one exits 2', async () => {
  const u = await join('ctl_env');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatctl-'));
  try {
    const good = path.join(dir, 'chat.env');
    fs.writeFileSync(good, `# a comment\n\nDATABASE_URL="${DB}"\nCHAT_DB_TIMEOUT=5\n`);
    const r = ctl(['--env-file', good, 'users', '--like', u.user.username], { env: { DATABASE_URL: '' }, envFile: true });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(r.stdout.includes(u.user.id));
    // The environment wins over the file's line.
    const bad = ctl(['--env-file', good, 'users'], { env: { DATABASE_URL: 'host=/nonexistent dbname=x' }, envFile: true });
    assert.equal(bad.status, 1, bad.stderr);
    assert.match(bad.stderr, /cannot connect to the database/);
    for (const [name, text] of [['noeq', 'DATABASE_URL\n'], ['badname', '1X=2\n'], ['space', 'A B=1\n'],
      ['range', 'CHAT_DB_TIMEOUT=0\n']]) {
      const f = path.join(dir, name);
      fs.writeFileSync(f, text);
      const e = ctl(['--env-file', f, 'users'], { env: { CHAT_DB_TIMEOUT: '' }, envFile: true });
      assert.equal(e.status, 2, `${name}: ${e.stderr}`);
    }
    const nf = ctl(['--env-file', path.join(dir, 'missing'), 'users'], { envFile: true });
    assert.equal(nf.status, 2);
    assert.match(nf.stderr, /cannot read/);
    fs.writeFileSync(path.join(dir, 'bin'), Buffer.from('DATABASE_URL=\xff\xfe\n', 'latin1'));
    assert.equal(ctl(['--env-file', path.join(dir, 'bin'), 'users'], { envFile: true }).status, 2);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  // A database that is not there: exit 1, said on stderr.
  const down = ctl(['users'], { env: { DATABASE_URL: 'host=/nonexistent dbname=x' } });
  assert.equal(down.status, 1);
});

test('users and rooms: columns, --like patterns (SQL metacharacters are data), --limit', async () => {
  const a = await join('ctl_list');
  const room = await createRoom(a.token, 'ctl_list_room');
  const users = ctlOk(['users', '--like', a.user.username]).stdout.trim().split('\n');
  assert.equal(users[0], 'id\tusername\tregistered\tsite_admin\tbanned\trooms\tonline\tlast_seen');
  assert.equal(users.length, 2, users.join('\n'));
  const cols = users[1].split('\t');
  assert.deepEqual(cols.slice(0, 6), [a.user.id, a.user.username, 'f', 'f', 'f', '1']);
  // By id, any case of the name, and a LIKE pattern.
  assert.equal(ctlOk(['users', '--like', a.user.id]).stdout.trim().split('\n').length, 2);
  assert.equal(ctlOk(['users', '--like', a.user.username.toUpperCase()]).stdout.trim().split('\n').length, 2);
  assert.ok(ctlOk(['users', '--like', 'ctl_list%', '--limit', '1']).stdout.trim().split('\n').length === 2);
  const rooms = ctlOk(['rooms', '--like', room.name]).stdout.trim().split('\n');
  assert.equal(rooms[0], 'id\tname\tvisibility\tmembers\tmessages\tcreated_at');
  assert.deepEqual(rooms[1].split('\t').slice(0, 5), [room.id, room.name, 'public', '1', '0']);
  assert.ok(ctlOk(['rooms', '--like=general']).stdout.includes('general\tgeneral\tpublic'));
  // '\\' is no escape character: a pattern ending with one is no error.
  for (const p of ["%'; DROP TABLE users; --", "' OR '1'='1", '\\', '%\\%', 'a\\', 'x"y', '$1', "general'--", '😀%']) {
    for (const sub of ['users', 'rooms']) {
      const r = ctlOk([sub, '--like', p]);
      assert.equal(r.stdout.split('\n')[0].split('\t')[0], 'id', `${sub} ${p}`);
    }
  }
  assert.equal(psql('SELECT count(*) > 0 FROM users'), 't');
  assert.equal(psql("SELECT count(*) FROM rooms WHERE id = 'general'"), '1');
});

test('a sysadmin bans a user site-wide from the shell: sockets close at once, every sign-in is refused, unban lets them back', async () => {
  const guest = await join('ctl_ban_g');
  const reg = await register('ctl_ban_r');
  const sub = `site-${uniqueName('s')}`;
  const jwtName = uniqueName('ctl_ban_j');
  const jwt = mint({ sub, name: jwtName, exp: Math.floor(Date.now() / 1000) + 600 });
  const jwtUser = ok(await me(jwt)).user;
  const bystander = await join('ctl_ban_b');
  const room = await createRoom(guest.token, 'ctl_ban');

  const sg = (await connect(guest.token)).socket;
  const sr = (await connect(reg.token)).socket;
  const sj = (await connect(jwt)).socket;
  const sb = (await connect(bystander.token)).socket;
  await joinRoom(sg, room.id);
  const gone = [disconnected(sg), disconnected(sr), disconnected(sj)];

  const b1 = data(ctlOk(['ban', guest.user.username, '--reason', 'spam, and worse']));
  assert.equal(b1.user.id, guest.user.id);
  assert.equal(b1.changed, true);
  assert.equal(b1.revoked_sessions, 1);
  const b2 = data(ctlOk(['ban', reg.user.id]));
  assert.equal(b2.user.id, reg.user.id);
  const b3 = data(ctlOk(['ban', jwtName.toUpperCase()]));
  assert.equal(b3.user.id, jwtUser.id);
  assert.equal(b3.revoked_sessions, 0);
  await Promise.all(gone);
  assert.ok(sb.connected, 'a bystander stays connected');
  assert.equal(psql(`SELECT banned_by IS NOT NULL AND ban_reason = 'spam, and worse' FROM users WHERE id = '${guest.user.id}'`), 't');
  // Banning again changes nothing and says so.
  assert.equal(data(ctlOk(['ban', guest.user.id])).changed, false);

  // Old tokens: 401; every way back in: 403 forbidden (CONNECT_ERROR forbidden for a site token).
  fails(await me(guest.token), 401, 'unauthorized');
  fails(await me(reg.token), 401, 'unauthorized');
  const e1 = fails(await me(jwt), 403, 'forbidden');
  assert.match(e1.message, /banned/);
  assert.equal((await connectError(guest.token)).message, 'unauthorized');
  assert.equal((await connectError(jwt)).message, 'forbidden');
  const j = fails(await api('POST', '/api/join', { body: { username: guest.user.username } }), 403, 'forbidden', 'username');
  assert.match(j.message, /banned/);
  fails(await api('POST', '/api/join', { body: { username: guest.user.username.toUpperCase(), room_id: 'general' } }), 403, 'forbidden');
  fails(await api('POST', '/api/register', { body: { username: guest.user.username, password: PW } }), 403, 'forbidden', 'username');
  fails(await login(reg.user.username, PW), 403, 'forbidden');
  // A wrong password says nothing about the ban.
  fails(await login(reg.user.username, 'not the password'), 401, 'invalid_credentials');
  fails(await api('POST', '/api/register', { body: { username: reg.user.username, password: PW } }), 403, 'forbidden');

  // Logged: admin_log rows with the OS user.
  const targets = [guest.user.username, guest.user.id, reg.user.id, jwtName.toUpperCase()].map((x) => `'${x}'`).join(', ');
  assert.equal(psql(`SELECT count(*) FROM admin_log WHERE action = 'ban' AND target IN (${targets}) AND os_user <> ''`), '4');

  // Unban: back in by every path.
  for (const u of [guest.user.username, reg.user.username, jwtUser.id]) {
    assert.equal(data(ctlOk(['unban', u])).changed, true);
  }
  assert.equal(data(ctlOk(['unban', guest.user.username])).changed, false);
  const back = await join('x', { name: guest.user.username });
  assert.equal(back.user.id, guest.user.id);
  ok(await login(reg.user.username, PW));
  ok(await me(jwt));
  const again = await connect(jwt);
  assert.equal(again.connected.user.id, jwtUser.id);

  // Unknown users: exit 1, nothing logged as done.
  for (const ghost of [uniqueName('ghost'), "x'; DROP TABLE users; --", '00000000-0000-0000-0000-000000000000']) {
    for (const s of ['ban', 'unban', 'revoke-sessions', 'make-admin', 'revoke-admin']) {
      const r = ctl([s, ghost]);
      assert.equal(r.status, 1, `${s} ${ghost}: ${r.stderr}`);
      assert.match(r.stderr, /not_found/);
    }
  }
  assert.equal(psql("SELECT count(*) FROM admin_log WHERE target LIKE '%DROP TABLE%'"), '0');
});

test('reset-password: from stdin with the API\'s rules; sessions revoked; the new password signs in', async () => {
  const u = await register('ctl_pw');
  const s = (await connect(u.token)).socket;
  const bad = [
    ['short\n', 'too short'],
    ['', 'empty'],
    ['\n', 'empty line'],
    [`${'x'.repeat(257)}\n`, '257 bytes'],
    [`${'x'.repeat(5000)}`, 'far too long'],
    ['abc\0defghij\n', 'a NUL'],
    [Buffer.from([0x61, 0x62, 0xff, 0xfe, 0x63, 0x64, 0x65, 0x66, 0x67, 0x0a]), 'not UTF-8'],
    ['first line ok\nsecond line\n', 'two lines'],
  ];
  for (const [input, what] of bad) {
    const r = ctl(['reset-password', u.user.username], { input });
    assert.equal(r.status, 2, `${what}: ${r.stderr}`);
  }
  assert.ok(s.connected, 'a refused reset revokes nothing');
  ok(await me(u.token));
  // Unknown user with a good password: 1.
  assert.equal(ctl(['reset-password', uniqueName('ghost')], { input: 'good password\n' }).status, 1);

  const gone = disconnected(s);
  const NEW = 'new pässwörd with ümlauts';
  const d = data(ctlOk(['reset-password', u.user.id], { input: `${NEW}\r\n` }));
  assert.equal(d.revoked_sessions, 1);
  assert.equal(d.user.registered, true);
  await gone;
  fails(await me(u.token), 401, 'unauthorized');
  fails(await login(u.user.username, PW), 401, 'invalid_credentials');
  ok(await login(u.user.username, NEW));
  // Exactly 8 and 256 bytes are fine; a guest becomes registered.
  const g = await join('ctl_pw_g');
  ctlOk(['reset-password', g.user.username], { input: '12345678' });
  ok(await login(g.user.username, '12345678'));
  ctlOk(['reset-password', g.user.username], { input: 'é'.repeat(128) });
  ok(await login(g.user.username, 'é'.repeat(128)));
  assert.equal(psql(`SELECT registered FROM users WHERE id = '${g.user.id}'`), 't');
  assert.equal(psql(`SELECT password_hash LIKE '$argon2id$%' FROM users WHERE id = '${g.user.id}'`), 't');
  assert.equal(psql(`SELECT count(*) FROM admin_log WHERE action = 'reset-password' AND target = '${u.user.id}'`), '1');
  assert.equal(psql(`SELECT count(*) FROM admin_log WHERE detail::text LIKE '%${NEW}%' OR detail::text LIKE '%argon2%'`), '0');
});

test('revoke-sessions: every session of the user ends and its sockets close', async () => {
  const u = await join('ctl_rv');
  const second = ok(await api('POST', '/api/join', { body: { username: u.user.username }, token: u.token }), 201);
  const s1 = (await connect(u.token)).socket;
  const s2 = (await connect(second.token)).socket;
  const gone = [disconnected(s1), disconnected(s2)];
  const d = data(ctlOk(['revoke-sessions', u.user.username]));
  assert.equal(d.revoked_sessions, 2);
  await Promise.all(gone);
  fails(await me(u.token), 401, 'unauthorized');
  fails(await me(second.token), 401, 'unauthorized');
  // Not a ban: the guest name may be taken again.
  assert.equal((await join('x', { name: u.user.username })).user.id, u.user.id);
  assert.equal(data(ctlOk(['revoke-sessions', u.user.id])).revoked_sessions, 1);
});

test('delete-message: a tombstone with the same seq, the text gone from the database, message_deleted to the room', async () => {
  const a = await join('ctl_dm_a');
  const b = await join('ctl_dm_b');
  const room = await createRoom(a.token, 'ctl_dm');
  ok(await api('POST', '/api/join', { body: { username: b.user.username, room_id: room.id }, token: b.token }), 201);
  const sb = (await connect(b.token)).socket;
  await joinRoom(sb, room.id);
  const deleted = collect(sb, 'message_deleted');
  const news = collect(sb, 'new_message');
  const m1 = await send(a.token, room.id, 'first');
  const m2 = await send(a.token, room.id, 'secret text to erase');
  const m3 = await send(a.token, room.id, 'third');
  await news.waitCount(3);

  const d = data(ctlOk(['delete-message', room.id, String(m2.id)]));
  assert.equal(d.deleted, true);
  assertMessage(d.message);
  const ev = await deleted.waitFor((e) => e.id === m2.id);
  assert.deepEqual(Object.keys(ev).sort(), ['change_seq', 'id', 'room_id', 'seq']);
  assert.ok(Number.isInteger(ev.change_seq) && ev.change_seq > 0);
  assert.deepEqual(ev, { room_id: room.id, id: m2.id, seq: m2.seq, change_seq: ev.change_seq });
  // In order: after the message it deletes.
  assert.equal(news.items.findIndex((m) => m.id === m2.id) >= 0, true);

  // History: a tombstone, same seq, no gap.
  const h = await history(a.token, room.id);
  assert.deepEqual(h.messages.map((m) => m.seq), [m1.seq, m2.seq, m3.seq]);
  for (const m of h.messages) assertMessage(m);
  const t = h.messages[1];
  assert.equal(t.id, m2.id);
  assert.equal(t.deleted, true);
  assert.equal(t.content, null);
  assert.equal(h.messages[0].deleted, false);
  // The text is gone from the database, not hidden.
  assert.equal(psql(`SELECT content IS NULL AND deleted_at IS NOT NULL FROM messages WHERE id = ${m2.id}`), 't');
  assert.equal(psql("SELECT count(*) FROM messages WHERE content LIKE '%secret text to erase%'"), '0');
  // Recovery (since_seq) and a fresh join show the tombstone too.
  const s2 = (await connect(a.token)).socket;
  const rec = await joinRoom(s2, room.id, { since_seq: 0 });
  const tomb = rec.messages.find((m) => m.id === m2.id);
  assert.equal(tomb.deleted, true);
  assert.equal(tomb.content, null);
  assert.equal(tomb.seq, m2.seq);
  // The next message takes the next seq.
  const m4 = await send(a.token, room.id, 'fourth');
  assert.equal(m4.seq, m3.seq + 1);
  assert.equal(m4.deleted, false);

  // Again: nothing changes, nothing is sent.
  assert.equal(data(ctlOk(['delete-message', room.id, String(m2.id)])).deleted, false);
  // Not found: another room's message, unknown ids, unknown rooms.
  const other = await createRoom(b.token, 'ctl_dm_o');
  for (const [r, id] of [[other.id, m1.id], [room.id, 999999999], ['no-such-room', m1.id]]) {
    const x = ctl(['delete-message', r, String(id)]);
    assert.equal(x.status, 1, `${r}/${id}: ${x.stderr}`);
    assert.match(x.stderr, /not_found/);
  }
  await sleep(300);
  assert.equal(deleted.items.length, 1, 'one message_deleted');
  assert.equal(psql(`SELECT count(*) FROM admin_log WHERE action = 'delete-message' AND target = '${room.id}/${m2.id}'`), '2');
  // The SQL function with an actor: the author and moderators, nobody else.
  const m5 = await send(a.token, room.id, 'fifth');
  const call = (actor) => psql(`SELECT coalesce(err, 'ok') FROM chat_message_delete('${actor}', '${room.id}', ${m5.id})`);
  assert.equal(call(b.user.id), 'forbidden');
  assert.equal(call(a.user.id), 'ok');
});

test('delete-room: members get room_removed {reason: deleted} and leave it; everything of the room goes', async () => {
  const a = await join('ctl_dr_a');
  const b = await join('ctl_dr_b');
  const room = await createRoom(a.token, 'ctl_dr');
  ok(await api('POST', '/api/join', { body: { username: b.user.username, room_id: room.id }, token: b.token }), 201);
  await send(a.token, room.id, 'soon gone');
  const sa = (await connect(a.token)).socket;
  const sb = (await connect(b.token)).socket;
  await joinRoom(sa, room.id);
  await joinRoom(sb, room.id);
  const removed = [collect(sa, 'room_removed'), collect(sb, 'room_removed')];
  const d = data(ctlOk(['delete-room', room.id]));
  assert.equal(d.room_id, room.id);
  assert.equal(d.removed_members, 2);
  for (const c of removed) {
    const ev = await c.waitFor((e) => e.room_id === room.id);
    assert.deepEqual(ev, { room_id: room.id, reason: 'deleted' });
  }
  fails(await api('GET', `/api/rooms/${room.id}`, { token: a.token }), 404, 'not_found');
  fails(await api('GET', `/api/messages/${room.id}`, { token: a.token }), 404, 'not_found');
  assert.equal(psql(`SELECT count(*) FROM messages WHERE room_id = '${room.id}'`), '0');
  assert.equal(psql(`SELECT count(*) FROM user_rooms WHERE room_id = '${room.id}'`), '0');
  assert.ok(sa.connected && sb.connected, 'the sockets stay, without the room');
  const again = ctl(['delete-room', room.id]);
  assert.equal(again.status, 1);
  assert.match(again.stderr, /not_found/);
  assert.equal(ctl(['delete-room', 'no-such-room']).status, 1);
});

test('make-admin and revoke-admin: a site administrator moderates every room', async () => {
  const owner = await join('ctl_sa_o');
  const victim = await join('ctl_sa_v');
  const admin = await join('ctl_sa_a');
  const room = await createRoom(owner.token, 'ctl_sa');
  ok(await api('POST', '/api/join', { body: { username: victim.user.username, room_id: room.id }, token: victim.token }), 201);
  const kick = () => api('DELETE', `/api/rooms/${room.id}/members/${victim.user.id}`, { token: admin.token });
  fails(await kick(), 403, 'forbidden');
  const d = data(ctlOk(['make-admin', admin.user.username]));
  assert.equal(d.site_admin, true);
  assert.equal(d.changed, true);
  assert.equal(data(ctlOk(['make-admin', admin.user.id])).changed, false);
  assert.ok(ctlOk(['users', '--like', admin.user.username]).stdout.includes(`${admin.user.username}\tf\tt\t`));
  ok(await kick());
  ok(await api('POST', '/api/join', { body: { username: victim.user.username, room_id: room.id }, token: victim.token }), 201);
  assert.equal(data(ctlOk(['revoke-admin', admin.user.username])).changed, true);
  fails(await kick(), 403, 'forbidden');
  assert.equal(psql(`SELECT count(*) FROM admin_log WHERE action IN ('make-admin', 'revoke-admin') AND target IN ('${admin.user.username}', '${admin.user.id}')`), '3');
});

test('make run\'s stack: `stack.sh chatctl` runs the tool on the stack\'s database', async () => {
  const { user } = await join('stackctl');
  const r = spawnSync(path.join(REPO, 'deploy/local/stack.sh'), ['chatctl', 'users', '--like', user.username], {
    env: process.env, // the harness's CHAT_STATE_DIR, CHAT_PORT and CHAT_BUILD
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 2, r.stdout);
  assert.equal(lines[1].split('\t')[0], user.id);
  const bad = spawnSync(path.join(REPO, 'deploy/local/stack.sh'), ['chatctl', 'no-such-command'], {
    env: process.env,
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(bad.status, 2, bad.stderr);
});
