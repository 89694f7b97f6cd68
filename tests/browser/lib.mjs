// lib.mjs -- helpers of the browser tests: Debian's chromium driven by
// playwright-core against the real stack that tests/browser/run.sh starts
// (nginx serving web/ and the API on one origin, chat-fcgi, chat-ws,
// PostgreSQL). CHAT_BASE_URL points them elsewhere.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const BASE = (process.env.CHAT_BASE_URL || 'http://127.0.0.1:18180').replace(/\/$/, '');
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SHOTS = path.join(REPO, 'build', 'screenshots');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 360, height: 740 };

/** Launches headless chromium; every context it makes starts empty. */
export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

let counter = 0;

/** A username no other test (or earlier run) uses: 1..32 of [A-Za-z0-9_.-]. */
export function uniqueName(prefix = 'u') {
  counter += 1;
  return `${prefix.slice(0, 10)}_${process.pid.toString(36)}${counter.toString(36)}${randomBytes(3).toString('hex')}`.slice(0, 32);
}

/**
 * A new browser context (its own cookies) with one page that records
 * dialogs (dismissed), uncaught page errors and console errors.
 */
export async function newPage(browser, { viewport = DESKTOP, isMobile = false } = {}) {
  const context = await browser.newContext({ viewport, isMobile, hasTouch: isMobile, deviceScaleFactor: 1 });
  const page = await context.newPage();
  const dialogs = [];
  const pageErrors = [];
  const consoleErrors = [];
  page.on('dialog', (d) => {
    dialogs.push(`${d.type()}: ${d.message()}`);
    d.dismiss().catch(() => {});
  });
  page.on('pageerror', (e) => pageErrors.push(String(e && e.stack ? e.stack : e)));
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  return { context, page, dialogs, pageErrors, consoleErrors };
}

/**
 * Opens the client (at hash, e.g. 'chat/general' or the old '#/room/general'), joins with a fresh
 * name through the join form and waits until the live connection is up.
 * Returns {context, page, name, dialogs, pageErrors, consoleErrors}.
 */
export async function signIn(browser, { prefix = 'u', hash = '', viewport, isMobile, name } = {}) {
  const s = await newPage(browser, { viewport, isMobile });
  const username = name ?? uniqueName(prefix);
  await s.page.goto(`${BASE}/${hash}`);
  await s.page.locator('#join-name').fill(username);
  await s.page.locator('#join-submit').click();
  await s.page.locator('#view-join').waitFor({ state: 'hidden' });
  await waitConn(s.page, 'online');
  return { ...s, name: username };
}

/**
 * A new context that carries an existing session token (the chat_token
 * cookie, as join, register or login would have set it), opened at hash;
 * waits until the live connection is up. For tests whose subject is not
 * the sign-in itself. Returns what newPage does, and recorded: the payloads
 * of the events named record (recordEvents) when record is given.
 */
export async function openAs(browser, token, { hash = '', viewport, isMobile, record } = {}) {
  const s = await newPage(browser, { viewport, isMobile });
  // Before the page opens its connection: recordEvents sees its packets.
  const recorded = record ? recordEvents(s.page, record) : undefined;
  await s.context.addCookies([{ name: 'chat_token', value: token, url: BASE, httpOnly: true, sameSite: 'Lax' }]);
  await s.page.goto(`${BASE}/${hash}`);
  await s.page.locator('#view-join').waitFor({ state: 'hidden' });
  await waitConn(s.page, 'online');
  return { ...s, recorded };
}

/** Waits until a toast with this exact text shows; returns its locator. */
export async function waitToast(page, text, kind) {
  const sel = kind ? `#toasts .toast.${kind}` : '#toasts .toast';
  const loc = page.locator(sel).filter({ has: page.locator('.toast-text', { hasText: text }) });
  await page.waitForFunction(
    ([s, t]) => [...document.querySelectorAll(`${s} .toast-text`)].some((e) => e.textContent === t),
    [sel, text],
  );
  return loc;
}

/** The room ids listed on the home view (rooms and direct messages). */
export function listedRooms(page) {
  return page.$$eval('#room-list li, #dm-list li', (els) => els.map((e) => e.dataset.roomId));
}

/** The message the client shows for an address naming no room it may open. */
export function missingRoomText(room) {
  return `There is no room “${room}”: it does not exist, or it is private and you are not a member.`;
}

/** Waits until a notice with exactly this text is in the room's log. */
export async function waitNotice(page, text, timeout = 10_000) {
  await page.waitForFunction(
    (t) => [...document.querySelectorAll('#msg-list .notice')].some((e) => e.textContent === t),
    text,
    { timeout },
  );
}

/** A person in the open room's people panel. */
export function person(page, name) {
  return page.locator(`#people-list .person[data-username="${name}"]`);
}

/** The id of the room the page shows, from its address (/chat/<id>). */
export async function openRoomId(page) {
  await page.locator('#view-room').waitFor();
  await page.waitForFunction(() => /^\/chat\/./.test(location.pathname));
  return page.evaluate(() => decodeURIComponent(location.pathname.replace(/^\/chat\//, '')));
}

/** Waits until the connection indicator shows state. */
export async function waitConn(page, state, timeout = 15_000) {
  await page.locator(`#conn[data-state="${state}"]`).waitFor({ timeout });
}

/** The session token of a context (the HttpOnly chat_token cookie). */
export async function tokenOf(context) {
  const c = (await context.cookies(BASE)).find((x) => x.name === 'chat_token');
  assert.ok(c, 'chat_token cookie set by POST /api/join');
  assert.equal(c.httpOnly, true, 'chat_token is HttpOnly');
  return c.value;
}

/**
 * Moves the page to an address of the client without loading it again
 * (as a click on a link does: history.pushState, then popstate).
 */
export async function navigate(page, urlPath) {
  await page.evaluate((p) => {
    history.pushState(null, '', p);
    dispatchEvent(new PopStateEvent('popstate'));
  }, urlPath);
}

/** Opens a room in the page and waits until its history is shown and the people list loaded. */
export async function openRoom(page, roomId) {
  await navigate(page, `/chat/${encodeURIComponent(roomId)}`);
  await page.locator('#view-room').waitFor();
  await page.waitForFunction(
    () => !document.getElementById('history-start').hidden || !document.getElementById('load-older').hidden,
  );
  await page.locator('#people-list .person').first().waitFor();
}

/** Types and sends a message through the composer. */
export async function sendUi(page, text) {
  await page.locator('#msg-input').fill(text);
  await page.locator('#msg-input').press('Enter');
}

/** The texts of the confirmed messages shown, in order. */
export function shownTexts(page) {
  return page.$$eval('#msg-list .msg .msg-text', (els) => els.map((e) => e.textContent));
}

/** The seqs of the confirmed messages shown, in order. */
export function shownSeqs(page) {
  return page.$$eval('#msg-list .msg', (els) => els.map((e) => Number(e.dataset.seq)));
}

/** Waits until a confirmed message with exactly this text is shown; returns its locator. */
export async function waitMessage(page, text, timeout = 10_000) {
  const loc = page.locator('#msg-list .msg .msg-text').filter({ hasText: text });
  await page.waitForFunction(
    (t) => [...document.querySelectorAll('#msg-list .msg .msg-text')].some((e) => e.textContent === t),
    text,
    { timeout },
  );
  return loc;
}

/** Waits until message id shows as a tombstone (DESIGN §8: "message deleted", class deleted). */
export async function waitTomb(page, id, timeout = 10_000) {
  await page.waitForFunction(
    (i) => {
      const li = document.querySelector(`#msg-list li.msg[data-id="${i}"]`);
      return li && li.classList.contains('deleted') && li.querySelector('.msg-text').textContent === 'message deleted';
    },
    id,
    { timeout },
  );
}

/**
 * Keeps the user's message budget (CHAT_MSG_RATE, spent by sends over REST
 * and the socket and by edits) empty: fillers ("filler TAG.N") go over REST
 * until stop(), 400 at most. limited resolves at the first 429 (or when
 * the fillers run out).
 */
export function drainSendBudget(token, roomId, tag) {
  let draining = true;
  let onLimited;
  const limited = new Promise((res) => {
    onLimited = res;
  });
  const done = (async () => {
    for (let i = 0; i < 400 && draining; i++) {
      const r = await api('POST', `/api/messages/${encodeURIComponent(roomId)}`, { token, body: { message: `filler ${tag}.${i}` } });
      if (r.status === 429) onLimited();
    }
    onLimited();
  })();
  return {
    limited,
    stop: async () => {
      draining = false;
      await done;
    },
  };
}

/**
 * Collects the payloads of the Socket.IO events named name that a page
 * sends (join_room, send_message, ...), in order, into the returned array.
 */
export function recordEvents(page, name) {
  const events = [];
  const record = (packet) => {
    const m = /^42\d*(\[.*)$/s.exec(packet);
    if (!m) return;
    try {
      const [event, payload] = JSON.parse(m[1]);
      if (event === name) events.push(payload);
    } catch {
      // not an event
    }
  };
  // The client starts on long-polling (packets in POST bodies, joined by
  // \x1e) and upgrades to a WebSocket (one packet per frame).
  page.on('request', (req) => {
    if (req.method() === 'POST' && req.url().includes('/socket.io/')) {
      for (const packet of (req.postData() ?? '').split('\x1e')) record(packet);
    }
  });
  page.on('websocket', (ws) => {
    ws.on('framesent', (f) => record(typeof f.payload === 'string' ? f.payload : ''));
  });
  return events;
}

/** Saves a screenshot under build/screenshots/NAME.png. */
export async function screenshot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  const file = path.join(SHOTS, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

// ---------------------------------------------------------------- REST

export async function api(method, urlPath, { body, token } = {}) {
  const headers = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(BASE + urlPath, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

function ok(r, status) {
  assert.equal(r.status, status, `HTTP ${r.status} ${r.text}`);
  assert.equal(r.json.success, true, r.text);
  return r.json.data;
}

/** Joins over REST (no browser): {user, token}. */
export async function joinRest(prefix = 'r', room_id) {
  const body = { username: uniqueName(prefix) };
  if (room_id) body.room_id = room_id;
  const d = ok(await api('POST', '/api/join', { body }), 201);
  return { user: d.user, token: d.token };
}

/** Registers an account over REST: {user, token, password}. */
export async function registerRest(prefix = 'acct', password = `pw-${randomBytes(6).toString('hex')}`) {
  const d = ok(await api('POST', '/api/register', { body: { username: uniqueName(prefix), password } }), 201);
  return { user: d.user, token: d.token, password };
}

/** Makes each of users ({user, token}) a member of a public room over REST. */
export async function joinRoomRest(users, roomId) {
  for (const u of users) {
    ok(await api('POST', '/api/join', { token: u.token, body: { username: u.user.username, room_id: roomId } }), 201);
  }
}

/** Adds a member (by name) to a room as its owner or a moderator. */
export async function addMemberRest(token, roomId, username) {
  return ok(await api('POST', `/api/rooms/${encodeURIComponent(roomId)}/members`, { token, body: { username } }), 201).user;
}

export async function createRoomRest(token, name, description, visibility) {
  const body = { room_name: name ?? uniqueName('room') };
  if (description) body.description = description;
  if (visibility) body.visibility = visibility;
  return ok(await api('POST', '/api/rooms', { token, body }), 201).room;
}

export async function sendRest(token, roomId, message) {
  return ok(await api('POST', `/api/messages/${encodeURIComponent(roomId)}`, { token, body: { message } }), 201).message;
}

export async function historyRest(token, roomId, query = 'limit=200') {
  return ok(await api('GET', `/api/messages/${encodeURIComponent(roomId)}?${query}`, { token }), 200);
}

// ---------------------------------------------------------------- the stack

/** Runs deploy/local/stack.sh with the suite's environment; returns its output. */
export function stack(...args) {
  const r = spawnSync(path.join(REPO, 'deploy/local/stack.sh'), args, {
    cwd: REPO,
    env: process.env,
    encoding: 'utf8',
    timeout: 60_000,
  });
  const out = `${r.stdout || ''}${r.stderr || ''}`;
  if (r.error) throw new Error(`stack.sh ${args.join(' ')}: ${r.error.message}\n${out}`);
  if (r.status !== 0) throw new Error(`stack.sh ${args.join(' ')} exited ${r.status}:\n${out}`);
  return out;
}

/** Checks nothing went wrong inside a page: no dialog, no uncaught error. */
export function assertClean(s, label = 'page') {
  assert.deepEqual(s.dialogs, [], `${label}: no dialog may open`);
  assert.deepEqual(s.pageErrors, [], `${label}: uncaught errors in the page`);
}
