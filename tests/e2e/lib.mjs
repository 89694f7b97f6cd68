// lib.mjs -- helpers shared by the end-to-end tests of the REST API.
//
// The tests talk to the real stack (nginx -> chat-fcgi pool -> PostgreSQL)
// that tests/e2e/run.sh starts; CHAT_BASE_URL points them elsewhere.
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const BASE = (process.env.CHAT_BASE_URL || 'http://127.0.0.1:18080').replace(/\/$/, '');
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export const TOKEN_RE = /^[0-9a-f]{64}$/;
export const TS_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/**
 * fetch() over the suite's kept-alive connections. A test that blocks the
 * event loop (psql by spawnSync) for about nginx's keepalive_timeout can
 * have its pooled connection closed by nginx just as undici writes the next
 * request onto it ("other side closed", seen in CI after t57's 65 s of
 * psql). nginx closes a kept-alive connection only while it waits for a
 * request; one it has read is always answered (the stack never returns
 * 444), so a request that meets a connection closed under it, with no
 * answer, was not acted on: it is sent once more, on a new connection.
 * Anything else is thrown with its cause in the message.
 */
export async function fetchKeepAlive(url, init) {
  try {
    return await fetch(url, init);
  } catch (e) {
    const code = e.cause?.code;
    if (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE') return fetch(url, init);
    if (e.cause) e.message = `${e.message}: ${code || ''} ${e.cause.message}`;
    throw e;
  }
}

/**
 * Sends one request and returns {status, headers, json, text}.
 * body: a value sent as JSON (Content-Type application/json);
 * rawBody: a string or Buffer sent as is (Content-Type application/json
 * unless headers say otherwise); token: sent as "Authorization: Bearer";
 * headers: extra headers, a null value removes a default one.
 */
export async function api(method, urlPath, { body, token, headers = {}, rawBody } = {}) {
  const h = {};
  if (body !== undefined || rawBody !== undefined) h['content-type'] = 'application/json';
  if (token !== undefined) h.authorization = `Bearer ${token}`;
  for (const [k, v] of Object.entries(headers)) {
    const key = k.toLowerCase();
    if (v === null) delete h[key];
    else h[key] = v;
  }
  let payload;
  if (rawBody !== undefined) payload = rawBody;
  else if (body !== undefined) payload = JSON.stringify(body);
  const res = await fetchKeepAlive(BASE + urlPath, { method, headers: h, body: payload, redirect: 'manual' });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json, text };
}

/** Describes a response for assertion messages. */
export function show(r) {
  const t = r.text.length > 400 ? `${r.text.slice(0, 400)}...` : r.text;
  return `HTTP ${r.status} ${t}`;
}

/** Asserts the response is JSON (Content-Type and body). */
export function assertJson(r) {
  const ct = r.headers.get('content-type') || '';
  assert.match(ct, /^application\/json\b/i, `Content-Type of ${show(r)}`);
  assert.ok(r.json !== undefined && r.json !== null && typeof r.json === 'object', `JSON body expected: ${show(r)}`);
}

/** Asserts a success envelope with the status and returns its data. */
export function ok(r, status = 200) {
  assert.equal(r.status, status, show(r));
  assertJson(r);
  assert.equal(r.json.success, true, show(r));
  assert.ok('data' in r.json, show(r));
  assert.equal(r.json.error, undefined, show(r));
  return r.json.data;
}

/**
 * Asserts an error envelope: the status, the code and, when field is given
 * (a string), error.field; field === null asserts that there is none.
 * Returns the error object.
 */
export function fails(r, status, code, field) {
  assert.equal(r.status, status, show(r));
  assertJson(r);
  assert.equal(r.json.success, false, show(r));
  assert.equal(r.json.data, undefined, show(r));
  const e = r.json.error;
  assert.equal(typeof e, 'object', show(r));
  assert.equal(e.code, code, show(r));
  assert.equal(typeof e.message, 'string', show(r));
  assert.ok(e.message.length > 0, show(r));
  if (field === null) assert.equal(e.field, undefined, `no field expected: ${show(r)}`);
  else if (field !== undefined) assert.equal(e.field, field, show(r));
  return e;
}

let counter = 0;

/** A username that no other test (or earlier run) uses: 1..32 of [A-Za-z0-9_.-]. */
export function uniqueName(prefix = 'u') {
  counter += 1;
  const tail = `${process.pid.toString(36)}${counter.toString(36)}${randomBytes(4).toString('hex')}`;
  return `${prefix.slice(0, 12)}_${tail}`.slice(0, 32);
}

/**
 * Joins as a new user with a unique name. Options: room_id, token (of the
 * caller), name (instead of a generated one). Returns {user, token, data, res}.
 */
export async function join(prefix = 'u', { room_id, token, name } = {}) {
  const username = name ?? uniqueName(prefix);
  const body = { username };
  if (room_id !== undefined) body.room_id = room_id;
  const res = await api('POST', '/api/join', { body, token });
  const data = ok(res, 201);
  assert.equal(data.user.username.toLowerCase(), username.toLowerCase(), show(res));
  assert.match(data.token, TOKEN_RE, show(res));
  return { user: data.user, token: data.token, data, res };
}

/** Creates a room (the creator becomes a member) and returns it. */
export async function createRoom(token, prefix = 'room', extra = {}) {
  const r = await api('POST', '/api/rooms', { token, body: { room_name: uniqueName(prefix), ...extra } });
  return ok(r, 201).room;
}

/**
 * A room (private by default) of a fresh owner with a moderator and two
 * plain members, all added by the owner: {owner, mod, m1, m2, room}.
 */
export async function staffedRoom(prefix, visibility = 'private') {
  const owner = await join(`${prefix}_o`);
  const mod = await join(`${prefix}_m`);
  const m1 = await join(`${prefix}_a`);
  const m2 = await join(`${prefix}_b`);
  const room = ok(await api('POST', '/api/rooms', { token: owner.token, body: { room_name: uniqueName(prefix), visibility } }), 201).room;
  for (const u of [mod, m1, m2]) ok(await api('POST', `/api/rooms/${room.id}/members`, { token: owner.token, body: { username: u.user.username } }), 201);
  const pr = ok(await api('PATCH', `/api/rooms/${room.id}/members/${mod.user.id}`, { token: owner.token, body: { role: 'moderator' } }));
  assert.deepEqual(Object.keys(pr).sort(), ['role', 'user']);
  assert.equal(pr.role, 'moderator');
  assert.equal(pr.user.id, mod.user.id);
  return { owner, mod, m1, m2, room };
}

/** Sends a message and returns the stored Message (asserting 201). */
export async function send(token, roomId, message, extra = {}) {
  const r = await api('POST', `/api/messages/${encodeURIComponent(roomId)}`, { token, body: { message, ...extra } });
  const data = ok(r, 201);
  assert.equal(data.duplicate, false, show(r));
  return data.message;
}

/** Reads one history page. */
export async function history(token, roomId, query = '') {
  const r = await api('GET', `/api/messages/${encodeURIComponent(roomId)}${query ? `?${query}` : ''}`, { token });
  return ok(r, 200);
}

export function assertUser(u, { online } = {}) {
  assert.equal(typeof u, 'object');
  assert.equal(typeof u.id, 'string');
  assert.ok(u.id.length > 0);
  assert.equal(typeof u.username, 'string');
  assert.match(u.joined_at, TS_RE);
  assert.ok(u.last_seen === null || TS_RE.test(u.last_seen), `last_seen ${u.last_seen}`);
  assert.equal(typeof u.online, 'boolean');
  if (online !== undefined) assert.equal(u.online, online);
}

export function assertRoom(room) {
  assert.equal(typeof room, 'object');
  const keys = ['change_seq', 'created_at', 'created_by', 'description', 'id', 'last_seq', 'member_count', 'name', 'online_count', 'role', 'unread', 'visibility'];
  // A direct room also names the other user (DESIGN §7, docs/api.md).
  if (room.visibility === 'direct') keys.push('peer');
  assert.deepEqual(Object.keys(room).sort(), keys.sort());
  assert.ok(['public', 'private', 'direct'].includes(room.visibility), `visibility ${room.visibility}`);
  assert.ok(room.role === null || ['owner', 'moderator', 'member'].includes(room.role), `role ${room.role}`);
  assert.equal(typeof room.id, 'string');
  assert.equal(typeof room.name, 'string');
  assert.ok(room.description === null || typeof room.description === 'string');
  assert.match(room.created_at, TS_RE);
  assert.ok(room.created_by === null || typeof room.created_by === 'string');
  assert.ok(Number.isInteger(room.member_count) && room.member_count >= 0);
  assert.ok(Number.isInteger(room.online_count) && room.online_count >= 0);
  assert.ok(Number.isInteger(room.last_seq) && room.last_seq >= 0);
  // unread (DESIGN §8): the caller's count, null when not a member.
  if (room.role === null) assert.equal(room.unread, null, 'a non-member has no unread count');
  else assert.ok(Number.isInteger(room.unread) && room.unread >= 0 && room.unread <= room.last_seq, `unread ${room.unread}`);
  // The room's change counter: edits and deletions (DESIGN §8).
  assert.ok(Number.isInteger(room.change_seq) && room.change_seq >= 0);
}

export function assertMessage(m) {
  assert.equal(typeof m, 'object');
  assert.deepEqual(
    Object.keys(m).sort(),
    ['client_id', 'content', 'deleted', 'edited_at', 'id', 'room_id', 'seq', 'timestamp', 'user_id', 'username'],
  );
  assert.ok(Number.isInteger(m.id) && m.id > 0, `id ${m.id}`);
  assert.ok(Number.isInteger(m.seq) && m.seq > 0, `seq ${m.seq}`);
  assert.equal(typeof m.room_id, 'string');
  assert.equal(typeof m.user_id, 'string');
  assert.equal(typeof m.username, 'string');
  assert.equal(typeof m.deleted, 'boolean');
  // A tombstone (DESIGN §8): no text.
  if (m.deleted) assert.equal(m.content, null);
  else assert.equal(typeof m.content, 'string');
  assert.match(m.timestamp, TS_RE);
  if (m.edited_at !== null) assert.match(m.edited_at, TS_RE);
  assert.ok(m.client_id === null || typeof m.client_id === 'string');
}

/** Runs deploy/local/stack.sh cmd [args] with this environment plus env; returns its output. */
export function stack(cmd, env = {}, args = []) {
  const r = spawnSync(path.join(REPO, 'deploy/local/stack.sh'), [cmd, ...args], {
    cwd: REPO,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 120_000,
  });
  const out = `${r.stdout || ''}${r.stderr || ''}`;
  if (r.error) throw new Error(`stack.sh ${cmd}: ${r.error.message}\n${out}`);
  if (r.status !== 0) throw new Error(`stack.sh ${cmd} exited ${r.status}:\n${out}`);
  return out;
}

/** The pids of the running chat-fcgi processes, as stack.sh status reports them. */
export function fcgiPids() {
  const r = spawnSync(path.join(REPO, 'deploy/local/stack.sh'), ['status'], {
    cwd: REPO,
    env: process.env,
    encoding: 'utf8',
    timeout: 60_000,
  });
  const m = /chat-fcgi:\s+running \(pids? ([0-9 ]+)\)/.exec(r.stdout || '');
  assert.ok(m, `stack.sh status shows no chat-fcgi pids:\n${r.stdout}${r.stderr}`);
  return m[1].trim().split(/\s+/).map(Number).sort((a, b) => a - b);
}

/** The environment process pid was started with, as an object (throws when /proc cannot be read). */
export function procEnv(pid) {
  const env = {};
  for (const kv of fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
    const i = kv.indexOf('=');
    if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return env;
}

/** The environment the stack gave its chat-fcgi (DATABASE_URL, CHAT_*, sanitizer options), and its binary. */
export function stackFcgiEnv(state) {
  const pid = fs.readFileSync(path.join(state, 'run/fcgi.pid'), 'utf8').trim();
  const env = procEnv(pid);
  assert.ok(env.DATABASE_URL, 'the stack chat-fcgi has DATABASE_URL');
  return { env, bin: fs.readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, '') };
}

/** True when process pid runs (a zombie nobody reaped has ended). */
export function procAlive(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return false;
  }
}

/** The pids of the children of process pid (e.g. a pool master's workers), sorted. */
export function procChildren(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim().split(/\s+/).filter(Boolean).map(Number).sort((a, b) => a - b);
  } catch {
    return [];
  }
}

/** Polls until fn() returns a truthy value, at most timeoutMs; returns that value or null. */
export async function waitFor(fn, timeoutMs = 30_000, stepMs = 200) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) return null;
    await new Promise((res) => setTimeout(res, stepMs));
  }
}

/**
 * Asserts that token is refused (401 unauthorized) on urlPath, polling for
 * at most 5 s: a logout, a ban or a password change reaches the chat-fcgi
 * workers that cached the session through NOTIFY chat_fcgi within about
 * 100 ms (docs/security.md), not before the answer that ended it.
 */
export async function refusedSoon(token, urlPath = '/api/me') {
  let r = await api('GET', urlPath, { token });
  for (const end = Date.now() + 5_000; r.status !== 401 && Date.now() < end;) {
    await new Promise((res) => setTimeout(res, 10));
    r = await api('GET', urlPath, { token });
  }
  fails(r, 401, 'unauthorized');
}

/** Returns the Set-Cookie header lines of a response. */
export function setCookies(r) {
  if (typeof r.headers.getSetCookie === 'function') return r.headers.getSetCookie();
  const v = r.headers.get('set-cookie');
  return v ? [v] : [];
}

/**
 * One FastCGI request over the unix socket sock, as nginx sends it in
 * short; resolves {status, body}. uri may carry a query; token becomes a
 * Bearer Authorization, json a JSON body. For talking to chat-fcgi
 * processes started outside the stack (t42, t45, t47).
 */
export function fcgiRequest(sock, uri, { method = 'GET', remoteAddr = '127.0.0.1', timeout = 10_000, token, json } = {}) {
  const rec = (type, body) => {
    const pad = (8 - (body.length % 8)) % 8;
    const h = Buffer.from([1, type, 0, 1, body.length >> 8, body.length & 255, pad, 0]);
    return Buffer.concat([h, body, Buffer.alloc(pad)]);
  };
  const pair = (k, v) => {
    const kb = Buffer.from(k);
    const vb = Buffer.from(v);
    assert.ok(kb.length < 128 && vb.length < 128);
    return Buffer.concat([Buffer.from([kb.length, vb.length]), kb, vb]);
  };
  const [docUri, query = ''] = uri.split('?');
  const body = json === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(json));
  const env = {
    REQUEST_METHOD: method, REQUEST_URI: uri, DOCUMENT_URI: docUri, SCRIPT_NAME: docUri, QUERY_STRING: query,
    REMOTE_ADDR: remoteAddr, CONTENT_LENGTH: String(body.length), SERVER_PROTOCOL: 'HTTP/1.1',
  };
  if (json !== undefined) env.CONTENT_TYPE = 'application/json';
  if (token) env.HTTP_AUTHORIZATION = `Bearer ${token}`;
  const params = Buffer.concat(Object.entries(env).map(([k, v]) => pair(k, v)));
  const stdin = body.length ? [rec(5, body)] : [];
  const req = Buffer.concat([
    rec(1, Buffer.from([0, 1, 0, 0, 0, 0, 0, 0])), rec(4, params), rec(4, Buffer.alloc(0)), ...stdin, rec(5, Buffer.alloc(0)),
  ]);
  return new Promise((resolve, reject) => {
    const c = net.connect(sock);
    let buf = Buffer.alloc(0);
    let out = '';
    const timer = setTimeout(() => { c.destroy(); reject(new Error(`no FastCGI answer on ${sock}`)); }, timeout);
    c.on('error', (e) => { clearTimeout(timer); reject(e); });
    c.on('data', (d) => { buf = Buffer.concat([buf, d]); });
    c.on('close', () => {
      clearTimeout(timer);
      for (let at = 0; at + 8 <= buf.length;) {
        const type = buf[at + 1];
        const len = buf.readUInt16BE(at + 4);
        if (type === 6) out += buf.subarray(at + 8, at + 8 + len).toString('utf8');
        at += 8 + len + buf[at + 6];
      }
      const head = out.split('\r\n\r\n')[0];
      const m = /^Status: (\d+)/m.exec(head);
      resolve({ status: m ? Number(m[1]) : 200, body: out.slice(out.indexOf('\r\n\r\n') + 4) });
    });
    c.write(req);
  });
}
