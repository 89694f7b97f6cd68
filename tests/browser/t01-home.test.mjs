// The join and home views: errors from the API are shown, the room list
// has member and online counts, a room created in one browser appears in
// another (room_created), and hostile names stay text.
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

test('the page is served by nginx from the same origin, with the socket.io bundle', async () => {
  const s = await L.newPage(browser);
  try {
    const res = await s.page.goto(`${L.BASE}/`);
    assert.equal(res.status(), 200);
    assert.match(res.headers()['content-type'], /^text\/html/);
    assert.match(res.headers()['content-security-policy'] || '', /script-src 'self'/);
    await s.page.locator('#view-join').waitFor();
    const bundle = await s.page.request.get(`${L.BASE}/vendor/socket.io.esm.min.js`);
    assert.equal(bundle.status(), 200, 'web/build.sh copied the socket.io client into web/vendor/');
    assert.match(bundle.headers()['content-type'], /javascript/);
    // Build inputs are not served.
    for (const p of ['/package.json', '/package-lock.json', '/build.sh', '/node_modules/socket.io-client/package.json']) {
      const r = await s.page.request.get(`${L.BASE}${p}`);
      assert.equal(r.status(), 404, `${p} must not be served`);
    }
    L.assertClean(s);
  } finally {
    await s.context.close();
  }
});

test('join errors from the API are shown to the person', async () => {
  const holder = await L.signIn(browser, { prefix: 'holder' });
  const s = await L.newPage(browser, { viewport: L.PHONE, isMobile: true });
  try {
    await s.page.goto(`${L.BASE}/`);
    await L.screenshot(s.page, 'join-phone');

    // An invalid name: the server's validation message, visibly.
    const bad = 'no spaces allowed!';
    const expected = (await L.api('POST', '/api/join', { body: { username: bad } })).json.error.message;
    assert.ok(expected.length > 0);
    await s.page.locator('#join-name').fill(bad);
    await s.page.locator('#join-submit').click();
    const err = s.page.locator('#join-error');
    await err.waitFor({ state: 'visible' });
    assert.equal(await err.textContent(), expected);
    assert.equal(await s.page.locator('#view-join').isVisible(), true, 'still on the join view');

    // A name another live session holds: 409 username_taken, shown. The
    // client clears the message while the request is in flight, so wait for
    // the API's own text rather than for any change.
    const r409 = await L.api('POST', '/api/join', { body: { username: holder.name } });
    assert.equal(r409.status, 409, r409.text);
    await s.page.locator('#join-name').fill(holder.name);
    await s.page.locator('#join-submit').click();
    await s.page.waitForFunction(
      (want) => document.getElementById('join-error').textContent === want,
      r409.json.error.message,
    );
    assert.equal(await err.textContent(), r409.json.error.message);
    assert.equal(await err.isVisible(), true);
    L.assertClean(s);
    L.assertClean(holder, 'holder');
  } finally {
    await s.context.close();
    await holder.context.close();
  }
});

test('the home view lists rooms with member and online counts', async () => {
  const owner = await L.joinRest('owner');
  const room = await L.createRoomRest(owner.token, L.uniqueName('counts'), 'counting people');
  const a = await L.signIn(browser, { prefix: 'homea' });
  try {
    const item = a.page.locator(`#room-list li[data-room-id="${room.id}"]`);
    await item.waitFor();
    assert.equal(await item.locator('.room-name-text').textContent(), room.name);
    assert.equal(await item.locator('.room-item-desc').textContent(), 'counting people');
    // The owner joined over REST only: a member, not online.
    assert.equal(await item.locator('.members').textContent(), '1 member');
    assert.equal(await item.locator('.online').textContent(), '0 online');

    // Enter the room (a new member, online), come back: the counts moved.
    await item.locator('a').click();
    await a.page.locator('#view-room').waitFor();
    await a.page.locator(`#people-list .person[data-username="${a.name}"][data-online="true"]`).waitFor();
    await a.page.locator('#room-back').click();
    await a.page.locator('#view-home').waitFor();
    await a.page.waitForFunction(
      (id) => {
        const li = document.querySelector(`#room-list li[data-room-id="${id}"]`);
        return li && li.querySelector('.members').textContent === '2 members' && li.querySelector('.online').textContent === '1 online';
      },
      room.id,
    );
    assert.equal(await item.locator('.member-badge').textContent(), 'joined');
    L.assertClean(a);
  } finally {
    await a.context.close();
  }
});

test('a room created in one browser shows in the other at once; names stay text', async () => {
  const a = await L.signIn(browser, { prefix: 'creator' });
  const b = await L.signIn(browser, { prefix: 'watcher', viewport: L.PHONE, isMobile: true });
  try {
    await b.page.locator('#room-list li').first().waitFor();
    const tail = L.uniqueName('r');
    const name = `<b>bold</b> <img src=x onerror=alert(2)> & "q" ${tail}`;
    await a.page.locator('#create-name').fill(name);
    await a.page.locator('#create-desc').fill('<script>alert(3)</script>');
    await a.page.locator('#create-submit').click();
    // The creator lands in the new room.
    await a.page.locator('#view-room').waitFor();
    await a.page.waitForFunction((n) => document.getElementById('room-name').textContent === n, name);

    // The other browser did not reload: room_created put it in its list.
    const item = b.page.locator('#room-list li').filter({ hasText: tail });
    await item.waitFor({ timeout: 10_000 });
    assert.equal(await item.locator('.room-name-text').textContent(), name);
    assert.equal(await item.locator('.room-item-desc').textContent(), '<script>alert(3)</script>');
    assert.equal(await b.page.locator('#room-list b, #room-list img, #room-list script').count(), 0);
    assert.equal(await b.page.locator('img').count(), 0);

    // Creating it again fails with room_exists, shown in the form.
    await a.page.locator('#room-back').click();
    await a.page.locator('#view-home').waitFor();
    await a.page.locator('#create-name').fill(name.toUpperCase());
    await a.page.locator('#create-submit').click();
    const err = a.page.locator('#create-error');
    await err.waitFor({ state: 'visible' });
    assert.match(await err.textContent(), /exist/i);

    await L.screenshot(a.page, 'home-desktop');
    await L.screenshot(b.page, 'home-phone');
    L.assertClean(a, 'creator');
    L.assertClean(b, 'watcher');
  } finally {
    await a.context.close();
    await b.context.close();
  }
});

test('the phone layout fits 360 px without sideways scrolling', async () => {
  const s = await L.signIn(browser, { prefix: 'narrow', viewport: L.PHONE, isMobile: true });
  try {
    await s.page.locator('#room-list li').first().waitFor();
    const overflow = await s.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `home view is ${overflow}px wider than the screen`);
    await L.openRoom(s.page, 'general');
    const o2 = await s.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(o2 <= 0, `room view is ${o2}px wider than the screen`);
    // The composer is on screen; the people list is off screen until asked for.
    const box = await s.page.locator('#composer').boundingBox();
    assert.ok(box && box.y + box.height <= L.PHONE.height + 1 && box.x >= 0 && box.x + box.width <= L.PHONE.width + 1, `composer at ${JSON.stringify(box)}`);
    assert.equal(await s.page.locator('#people').evaluate((el) => el.getBoundingClientRect().left >= window.innerWidth), true, 'people panel hidden');
    await s.page.locator('#people-toggle').click();
    await s.page.waitForFunction(() => document.getElementById('people').getBoundingClientRect().right <= window.innerWidth + 1);
    await s.page.locator('#people-close').click();
    L.assertClean(s);
  } finally {
    await s.context.close();
  }
});

test('the session survives a reload (HttpOnly cookie), and signing out ends it', async () => {
  const s = await L.signIn(browser, { prefix: 'reload' });
  try {
    await L.openRoom(s.page, 'general');
    const token = await L.tokenOf(s.context);
    assert.equal(await s.page.evaluate(() => document.cookie.includes('chat_token')), false, 'not readable by scripts');
    await s.page.reload();
    await s.page.locator('#view-room').waitFor();
    await L.waitConn(s.page, 'online');
    assert.equal(await s.page.locator('#view-join').isVisible(), false);
    assert.equal(await s.page.locator('#me-name').textContent(), s.name);
    await s.page.locator('#people-list .person').filter({ hasText: s.name }).waitFor();

    await s.page.locator('#logout').click();
    await s.page.locator('#view-join').waitFor();
    // Every chat-fcgi worker drops its cached copy of the session when the
    // logout's NOTIFY reaches it (CHAT_SESSION_CACHE_MS, docs/security.md):
    // within milliseconds, so poll briefly rather than expect it at once.
    let me = await L.api('GET', '/api/me', { token });
    for (const end = Date.now() + 5_000; me.status !== 401 && Date.now() < end;) {
      await new Promise((res) => setTimeout(res, 20));
      me = await L.api('GET', '/api/me', { token });
    }
    assert.equal(me.status, 401, 'the token is revoked');
    await s.page.reload();
    await s.page.locator('#view-join').waitFor();
    L.assertClean(s);
  } finally {
    await s.context.close();
  }
});
