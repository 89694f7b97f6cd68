// The room's address (issue 14 item 4): /chat/<room> opens that room on a
// fresh page load (nginx serves the client there), by id or by a public
// room's name in any case (then rewritten to /chat/<id>); the address bar
// follows the room the user is in (history.pushState, no page load; Back
// and Forward move between rooms); the old #/room/<id> still opens the
// room and is rewritten; an unknown room (or a private room of others)
// says so clearly and lands on the home view.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as L from './lib.mjs';

let browser;
before(async () => {
  browser = await L.launch();
});
after(async () => {
  await browser?.close();
});

const pathOf = (page) => page.evaluate(() => location.pathname + location.hash);

async function waitPath(page, p) {
  await page.waitForFunction((want) => location.pathname + location.hash === want, p);
}

/** Waits until the room view shows the room called name. */
async function waitRoomShown(page, name) {
  await page.locator('#view-room').waitFor();
  await page.waitForFunction((n) => document.getElementById('room-name').textContent === n, name);
}

test('nginx serves the client at /chat/<room>; /api/ and unknown paths are untouched', async () => {
  for (const p of ['/chat/general', '/chat/No%20Such%20Room', '/chat/general/']) {
    const r = await fetch(L.BASE + p);
    assert.equal(r.status, 200, p);
    const body = await r.text();
    assert.match(body, /<script type="module" src="\/js\/app.js">/, p);
    assert.match(r.headers.get('content-security-policy') || '', /script-src 'self'/, `${p}: same CSP as /`);
  }
  const api = await L.api('GET', '/api/no-such-endpoint');
  assert.equal(api.status, 404);
  assert.equal(api.json.success, false, 'the API still answers in its envelope');
  const other = await fetch(`${L.BASE}/no/such/file.js`);
  assert.equal(other.status, 404, 'other paths are not the client');
});

test('a fresh load of /chat/<id> and /chat/<Name> opens the room; the name becomes the id in the address', async () => {
  const owner = await L.registerRest('rowner');
  const name = L.uniqueName('Route');
  const room = await L.createRoomRest(owner.token, name, 'a room with an address');
  await L.sendRest(owner.token, room.id, 'hello from the address');
  const s = await L.openAs(browser, owner.token, { hash: `chat/${encodeURIComponent(room.id)}` });
  // Every asset loads from below /chat/ (the API's 404s of a name looked up as an id aside).
  const failed = [];
  s.page.on('response', (res) => {
    if (res.status() >= 400 && !new URL(res.url()).pathname.startsWith('/api/')) failed.push(`${res.status()} ${res.url()}`);
  });
  try {
    await waitRoomShown(s.page, name);
    await L.waitMessage(s.page, 'hello from the address');
    assert.equal(await pathOf(s.page), `/chat/${room.id}`);
    assert.equal(await s.page.title(), `${name} · Chat`);
    // The stylesheet loaded from below /chat/ (assets are linked from the root).
    assert.notEqual(await s.page.evaluate(() => getComputedStyle(document.body).margin), '8px', 'app.css applies');

    // By name, in another case: opens the same room, the address becomes its id.
    await s.page.goto(`${L.BASE}/chat/${encodeURIComponent(name.toLowerCase())}`);
    await L.waitConn(s.page, 'online');
    await waitRoomShown(s.page, name);
    await waitPath(s.page, `/chat/${room.id}`);
    await L.waitMessage(s.page, 'hello from the address');
    await s.page.goto(`${L.BASE}/chat/${encodeURIComponent(name.toUpperCase())}`);
    await waitRoomShown(s.page, name);
    await waitPath(s.page, `/chat/${room.id}`);
    L.assertClean(s);
    assert.deepEqual(failed, [], 'nothing but the API answered an error');
  } finally {
    await s.context.close();
  }
});

test('the address follows the room: links and the create form push it, Back and Forward move between rooms, no page load', async () => {
  const me = await L.registerRest('rnav');
  const first = await L.createRoomRest(me.token, L.uniqueName('first'));
  const s = await L.openAs(browser, me.token, { hash: `chat/${first.id}` });
  try {
    await waitRoomShown(s.page, first.name);
    await s.page.evaluate(() => {
      window.noReload = 'still the same page';
    });
    // The back link: home, at /.
    await s.page.locator('#room-back').click();
    await s.page.locator('#view-home').waitFor();
    assert.equal(await pathOf(s.page), '/');
    // A room of the list: its address.
    const item = s.page.locator('#room-list li').first();
    await item.waitFor();
    const listedId = await item.getAttribute('data-room-id');
    await item.locator('a').click();
    await s.page.locator('#view-room').waitFor();
    await waitPath(s.page, `/chat/${encodeURIComponent(listedId)}`);
    // Home again, create a room: its address.
    await s.page.locator('#room-back').click();
    await s.page.locator('#view-home').waitFor();
    const second = L.uniqueName('second');
    await s.page.locator('#create-name').fill(second);
    await s.page.locator('#create-submit').click();
    await waitRoomShown(s.page, second);
    const secondId = await L.openRoomId(s.page);
    assert.notEqual(secondId, first.id);
    await waitPath(s.page, `/chat/${secondId}`);

    // Back: home, then the listed room, then home, then the first room; Forward again.
    await s.page.goBack();
    await s.page.locator('#view-home').waitFor();
    assert.equal(await pathOf(s.page), '/');
    await s.page.goBack();
    await s.page.locator('#view-room').waitFor();
    await waitPath(s.page, `/chat/${encodeURIComponent(listedId)}`);
    await s.page.goBack();
    await s.page.locator('#view-home').waitFor();
    await s.page.goBack();
    await waitRoomShown(s.page, first.name);
    assert.equal(await pathOf(s.page), `/chat/${first.id}`);
    await s.page.goForward();
    await s.page.locator('#view-home').waitFor();
    assert.equal(await pathOf(s.page), '/');
    assert.equal(await s.page.evaluate(() => window.noReload), 'still the same page', 'no page was loaded');
    L.assertClean(s);
  } finally {
    await s.context.close();
  }
});

test('the old #/room/<id> still opens the room and is rewritten to /chat/<id>', async () => {
  const me = await L.registerRest('rold');
  const room = await L.createRoomRest(me.token, L.uniqueName('old'));
  const s = await L.openAs(browser, me.token, { hash: `#/room/${room.id}` });
  try {
    await waitRoomShown(s.page, room.name);
    await waitPath(s.page, `/chat/${room.id}`);
    // Typed into the address bar of an open page (hashchange).
    const other = await L.createRoomRest(me.token, L.uniqueName('old2'));
    await s.page.evaluate((id) => {
      location.hash = `#/room/${id}`;
    }, other.id);
    await waitRoomShown(s.page, other.name);
    await waitPath(s.page, `/chat/${other.id}`);
    L.assertClean(s);
  } finally {
    await s.context.close();
  }
});

test('an unknown room, or someone else\'s private room by id or name, says so and lands home', async () => {
  const owner = await L.registerRest('rpriv');
  const secret = await L.createRoomRest(owner.token, L.uniqueName('Secret'), undefined, 'private');
  const me = await L.registerRest('rnone');
  const s = await L.openAs(browser, me.token, { hash: 'chat/no-such-room-at-all' });
  try {
    await L.waitToast(s.page, L.missingRoomText('no-such-room-at-all'));
    await s.page.locator('#view-home').waitFor();
    await waitPath(s.page, '/');
    for (const target of [secret.id, secret.name]) {
      await L.navigate(s.page, `/chat/${encodeURIComponent(target)}`);
      await L.waitToast(s.page, L.missingRoomText(target));
      await s.page.locator('#view-home').waitFor();
      await waitPath(s.page, '/');
    }
    await L.navigate(s.page, `/chat/${encodeURIComponent(secret.id)}`);
    await s.page.locator('#view-home').waitFor();
    assert.notEqual(await s.page.locator('#room-name').textContent(), secret.name, 'by id, its name never shows');
    // Hostile text in the address is shown as text.
    const evil = '<img src=x onerror=alert(1)>';
    await L.navigate(s.page, `/chat/${encodeURIComponent(evil)}`);
    await L.waitToast(s.page, L.missingRoomText(evil));
    assert.equal(await s.page.locator('#toasts img').count(), 0);
    L.assertClean(s);
  } finally {
    await s.context.close();
  }
});

test('signed out, /chat/<room> shows the join form and then opens the room', async () => {
  const owner = await L.joinRest('rjoin');
  const room = await L.createRoomRest(owner.token, L.uniqueName('joinme'));
  const s = await L.signIn(browser, { prefix: 'rjoiner', hash: `chat/${room.id}` });
  try {
    await waitRoomShown(s.page, room.name);
    assert.equal(await pathOf(s.page), `/chat/${room.id}`);
    await L.sendUi(s.page, 'arrived by address');
    await L.waitMessage(s.page, 'arrived by address');
    L.assertClean(s);
  } finally {
    await s.context.close();
  }
});
